//! Turning a hashring `address` into where and how rwgate forwards to it.
//!
//! Thanos routers hash the address as written (usually the gRPC address,
//! `ingestor-0.receive:10901`) and forward over gRPC to exactly that address. rwgate
//! does the same by default ([`Protocol::Grpc`]). An address that is an `http://` or
//! `https://` URL is always sent HTTP remote write, as it is. With [`Protocol::Http`]
//! any other address goes through the URL template, where `{host}` is the address
//! without its port and `{address}` the address as written.

/// How bare `host:port` addresses are forwarded to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// `thanos.WriteableStore/RemoteWrite` at the address as written, as a router does.
    #[default]
    Grpc,
    /// HTTP remote write at the URL the template makes of the address.
    Http,
}

impl Protocol {
    /// `grpc` or `http`, as in configuration and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Http => "http",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "grpc" => Ok(Protocol::Grpc),
            "http" => Ok(Protocol::Http),
            other => Err(format!("unknown forward protocol {other:?} (grpc or http)")),
        }
    }
}

/// Where rwgate sends one endpoint's share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// HTTP remote write (snappy v1 body) to this URL.
    Http(String),
    /// gRPC `RemoteWrite` to this `host:port`.
    Grpc(String),
}

impl Target {
    /// The target for `address` under `protocol`, with `template` for HTTP.
    pub fn resolve(protocol: Protocol, template: &str, address: &str) -> Target {
        if address.starts_with("http://") || address.starts_with("https://") {
            return Target::Http(address.to_string());
        }
        match protocol {
            Protocol::Grpc => Target::Grpc(address.to_string()),
            Protocol::Http => Target::Http(forward_url(template, address)),
        }
    }

    /// The protocol spoken to it.
    pub fn protocol(&self) -> Protocol {
        match self {
            Target::Http(_) => Protocol::Http,
            Target::Grpc(_) => Protocol::Grpc,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Http(url) => f.write_str(url),
            Target::Grpc(address) => write!(f, "grpc://{address}"),
        }
    }
}

/// The default template: Thanos Receive's HTTP remote-write port and path.
pub const DEFAULT_TEMPLATE: &str = "http://{host}:19291/api/v1/receive";

/// Resolves `address` to a forward URL with `template`.
pub fn forward_url(template: &str, address: &str) -> String {
    if address.starts_with("http://") || address.starts_with("https://") {
        return address.to_string();
    }
    template
        .replace("{host}", host_of(address))
        .replace("{address}", address)
}

/// The host part of `host:port`, `[v6]:port` or a bare host.
pub fn host_of(address: &str) -> &str {
    if address.starts_with('[') {
        return match address.find(']') {
            Some(end) => &address[..=end],
            None => address,
        };
    }
    match address.rsplit_once(':') {
        Some((host, port))
            if !host.contains(':')
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => address,
    }
}

/// Checks that a template names `{host}` or `{address}` and yields an HTTP URL.
pub fn validate_template(template: &str) -> Result<(), String> {
    if !template.contains("{host}") && !template.contains("{address}") {
        return Err(format!(
            "forward URL template {template:?} contains neither {{host}} nor {{address}}"
        ));
    }
    if !template.starts_with("http://") && !template.starts_with("https://") {
        return Err(format!(
            "forward URL template {template:?} must start with http:// or https://"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_resolve() {
        assert_eq!(
            forward_url(DEFAULT_TEMPLATE, "ingestor-0.receive:10901"),
            "http://ingestor-0.receive:19291/api/v1/receive"
        );
        assert_eq!(
            forward_url("http://{address}/api/v1/receive", "10.0.0.1:19291"),
            "http://10.0.0.1:19291/api/v1/receive"
        );
        assert_eq!(
            forward_url(DEFAULT_TEMPLATE, "https://r.example:443/api/v1/receive"),
            "https://r.example:443/api/v1/receive"
        );
        assert_eq!(
            forward_url(DEFAULT_TEMPLATE, "[::1]:10901"),
            "http://[::1]:19291/api/v1/receive"
        );
        assert_eq!(
            forward_url(DEFAULT_TEMPLATE, "node-1"),
            "http://node-1:19291/api/v1/receive"
        );
    }

    #[test]
    fn targets_follow_the_protocol_and_urls_stay_http() {
        let t = |p, a| Target::resolve(p, DEFAULT_TEMPLATE, a);
        assert_eq!(
            t(Protocol::Grpc, "ingestor-0.receive:10901"),
            Target::Grpc("ingestor-0.receive:10901".into())
        );
        assert_eq!(
            t(Protocol::Http, "ingestor-0.receive:10901"),
            Target::Http("http://ingestor-0.receive:19291/api/v1/receive".into())
        );
        for p in [Protocol::Grpc, Protocol::Http] {
            assert_eq!(
                t(p, "https://r.example/api/v1/receive"),
                Target::Http("https://r.example/api/v1/receive".into())
            );
        }
        assert_eq!(
            t(Protocol::Grpc, "[::1]:10901").to_string(),
            "grpc://[::1]:10901"
        );
    }

    #[test]
    fn template_validation() {
        assert!(validate_template(DEFAULT_TEMPLATE).is_ok());
        assert!(validate_template("http://fixed:19291/").is_err());
        assert!(validate_template("{host}:19291").is_err());
    }
}
