//! mTLS: certificates made with rcgen. The client certificate's CN picks the tenant; a
//! certificate from another CA is refused; with `client_auth: optional` a client
//! without a certificate may use a token.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rwgate_gateway::config::ClientAuth;
use rwgate_gateway::tenancy::TokenSpec;
use rwgate_testkit::pki::{ca, leaf, pki};

/// Sends one remote-write request over TLS; `Err` when the connection is refused.
async fn send_tls(
    addr: std::net::SocketAddr,
    ca_pem: &str,
    client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    headers: &[(&str, &str)],
) -> Result<(u16, String), String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match client {
        Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let body = snappy(&prost::Message::encode_to_vec(&request(5, 1)));
    let mut req = hyper::Request::post("/api/v1/receive")
        .header("host", "localhost")
        .header("content-encoding", "snappy");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let text = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&text).into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_cn_picks_the_tenant_and_other_cas_are_refused() {
    let p = pki("require");
    let listener = p.listener_tls(ClientAuth::Require);
    let h = Harness::builder()
        .receivers(1)
        .config(move |c| {
            c.tls = Some(listener);
        })
        .start()
        .await;
    let (_, _, cert, key) = leaf(&p.server_ca, "tenant-a", false);
    let (status, body) = send_tls(
        h.addr,
        &p.server_ca.pem,
        Some((cert.clone(), key.clone_key())),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        h.receivers[0].tenant("tenant-a").series,
        5,
        "the CN is the tenant"
    );

    // The certificate's tenant cannot be overridden by a header.
    let (status, _) = send_tls(
        h.addr,
        &p.server_ca.pem,
        Some((cert, key)),
        &[("THANOS-TENANT", "tenant-b")],
    )
    .await
    .unwrap();
    assert_eq!(status, 403);

    // A certificate from another CA: the handshake is refused, nothing is forwarded.
    let other = ca("someone else's CA");
    let (_, _, cert, key) = leaf(&other, "tenant-a", false);
    let refused = send_tls(h.addr, &p.server_ca.pem, Some((cert, key)), &[]).await;
    assert!(refused.is_err(), "{refused:?}");
    // No certificate at all under `require`: refused too.
    let refused = send_tls(
        h.addr,
        &p.server_ca.pem,
        None,
        &[("THANOS-TENANT", "tenant-a")],
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(h.receivers[0].attempts(), 1);
    let _ = std::fs::remove_dir_all(&p.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_client_auth_lets_token_clients_in() {
    let p = pki("optional");
    let listener = p.listener_tls(ClientAuth::Optional);
    let h = Harness::builder()
        .receivers(1)
        .config(move |c| {
            c.tls = Some(listener);
            c.tenancy.require_auth = true;
            c.tenancy.tokens.insert(
                "token-tenant-b-000000001".into(),
                TokenSpec::Tenant("tenant-b".into()),
            );
        })
        .start()
        .await;
    let (status, _) = send_tls(
        h.addr,
        &p.server_ca.pem,
        None,
        &[("Authorization", "Bearer token-tenant-b-000000001")],
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(h.receivers[0].tenant("tenant-b").series, 5);
    let (status, _) = send_tls(
        h.addr,
        &p.server_ca.pem,
        None,
        &[("THANOS-TENANT", "tenant-b")],
    )
    .await
    .unwrap();
    assert_eq!(status, 401, "require_auth: a header alone proves nothing");
    let _ = std::fs::remove_dir_all(&p.dir);
}
