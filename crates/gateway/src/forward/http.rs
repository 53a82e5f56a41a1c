//! Forwarding over HTTP remote write: a snappy v1 `WriteRequest` POSTed to the
//! endpoint's URL, the tenant in the configured header.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::{Attempt, ForwardSetupError, Outcome, error_chain};
use crate::config::Forward as ForwardConfig;

/// A keep-alive pool per endpoint (reqwest), with TLS for `https://` endpoints.
#[derive(Debug, Clone)]
pub(super) struct HttpClient {
    client: reqwest::Client,
    tenant_header: axum::http::HeaderName,
}

impl HttpClient {
    pub(super) fn new(
        cfg: &ForwardConfig,
        tenant_header: axum::http::HeaderName,
    ) -> Result<Self, ForwardSetupError> {
        crate::tls::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .pool_max_idle_per_host(cfg.pool_max_idle_per_endpoint)
            .pool_idle_timeout(Duration::from_secs(90))
            .connect_timeout(cfg.attempt_timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("rwgate/", env!("CARGO_PKG_VERSION")));
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| ForwardSetupError(format!("reading {}: {e}", p.display())))
        };
        if let Some(ca) = &cfg.tls.ca_file {
            let certs = reqwest::Certificate::from_pem_bundle(&read(ca)?)
                .map_err(|e| ForwardSetupError(format!("{}: {e}", ca.display())))?;
            builder = builder.tls_certs_only(certs);
        }
        if let (Some(cert), Some(key)) = (&cfg.tls.cert_file, &cfg.tls.key_file) {
            let mut pem = read(cert)?;
            pem.push(b'\n');
            pem.extend(read(key)?);
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                ForwardSetupError(format!("{} and {}: {e}", cert.display(), key.display()))
            })?;
            builder = builder.identity(id);
        }
        let client = builder
            .build()
            .map_err(|e| ForwardSetupError(format!("building the HTTP client: {e}")))?;
        Ok(HttpClient {
            client,
            tenant_header,
        })
    }

    /// One POST of `body` to `endpoint`, answered within `budget`.
    pub(super) async fn call(
        &self,
        endpoint: &Endpoint,
        tenant: &str,
        body: Bytes,
        budget: Duration,
    ) -> Attempt {
        let url = match &endpoint.url {
            Ok(url) => url.clone(),
            Err(e) => return Attempt::Retry(e.clone()),
        };
        let tenant = match HeaderValue::from_str(tenant) {
            Ok(v) => v,
            Err(_) => return Attempt::Retry("the tenant is not a valid header value".into()),
        };
        let mut headers = endpoint.headers.clone();
        headers.insert(self.tenant_header.clone(), tenant);
        let req = self.client.post(url).headers(headers).body(body);
        let result = tokio::time::timeout(budget, async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let text = if resp.status().is_success() {
                // Drain so the connection goes back to the pool.
                let _ = resp.bytes().await;
                String::new()
            } else {
                let bytes = resp.bytes().await.unwrap_or_default();
                String::from_utf8_lossy(&bytes[..bytes.len().min(512)])
                    .trim()
                    .to_string()
            };
            Ok::<_, reqwest::Error>((status, text))
        })
        .await;
        match result {
            Err(_) => Attempt::Retry(format!("no answer within {budget:?}")),
            Ok(Err(e)) => Attempt::Retry(error_chain(&e)),
            Ok(Ok((status, text))) => classify(status, text),
        }
    }
}

/// An HTTP endpoint, parsed once: its URL and the headers every request to it carries
/// (parsing both per request showed in profiles).
#[derive(Debug)]
pub(super) struct Endpoint {
    url: Result<reqwest::Url, String>,
    headers: HeaderMap,
}

impl Endpoint {
    pub(super) fn new(url: &str) -> Self {
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            HeaderName::from_static("x-prometheus-remote-write-version"),
            HeaderValue::from_static("0.1.0"),
        );
        Endpoint {
            url: reqwest::Url::parse(url).map_err(|e| format!("endpoint URL {url:?}: {e}")),
            headers,
        }
    }
}

fn classify(status: u16, text: String) -> Attempt {
    match status {
        200..=299 => Attempt::Done(Outcome::Written),
        409 => Attempt::Done(Outcome::Conflict(format!("409 {text}"))),
        408 | 429 | 500..=599 => Attempt::Retry(format!("{status} {text}")),
        _ => Attempt::Done(Outcome::Rejected(status, format!("{status} {text}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert!(matches!(
            classify(204, String::new()),
            Attempt::Done(Outcome::Written)
        ));
        assert!(matches!(
            classify(409, "dup".into()),
            Attempt::Done(Outcome::Conflict(_))
        ));
        assert!(matches!(
            classify(400, "bad".into()),
            Attempt::Done(Outcome::Rejected(400, _))
        ));
        for s in [408, 429, 500, 503] {
            assert!(
                matches!(classify(s, String::new()), Attempt::Retry(_)),
                "{s}"
            );
        }
    }
}
