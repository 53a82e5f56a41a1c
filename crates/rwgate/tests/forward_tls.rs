//! Forwarding to `https://` endpoints: an rwgate forwards over TLS, with a client
//! certificate, to a second rwgate that terminates TLS and requires client certificates
//! from its CA. Without the CA, or without the certificate, the forward fails (503).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use rwgate_gateway::config::{ClientAuth, ForwardTls, TlsConfig};
use rwgate_testkit::pki::{leaf, pki};

async fn downstream(listener: TlsConfig) -> Harness {
    Harness::builder()
        .receivers(1)
        .config(move |c| {
            c.tls = Some(listener);
        })
        .start()
        .await
}

async fn upstream(target: String, tls: ForwardTls) -> Harness {
    Harness::builder()
        .receivers(0)
        .hashrings(move |_| serde_json::json!([{ "endpoints": [target.clone()] }]))
        .config(move |c| c.forward.tls = tls.clone())
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_over_tls_with_a_client_certificate() {
    let p = pki("fwd");
    // The upstream's client certificate names tenant-a: the downstream takes its tenant
    // from it, and the forwarded THANOS-TENANT header agrees.
    let (cert, key, _, _) = leaf(&p.server_ca, "tenant-a", false);
    std::fs::write(p.dir.join("client.crt"), cert).unwrap();
    std::fs::write(p.dir.join("client.key"), key).unwrap();
    let down = downstream(p.listener_tls(ClientAuth::Require)).await;
    let https = format!("https://localhost:{}/api/v1/receive", down.addr.port());

    let full = ForwardTls {
        ca_file: Some(p.dir.join("ca.crt")),
        cert_file: Some(p.dir.join("client.crt")),
        key_file: Some(p.dir.join("client.key")),
    };
    let up = upstream(https.clone(), full).await;
    let a = up.send("tenant-a", &request(7, 1)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(down.receivers[0].tenant("tenant-a").series, 7);

    // No client certificate: the downstream refuses the handshake.
    let no_cert = ForwardTls {
        ca_file: Some(p.dir.join("ca.crt")),
        ..ForwardTls::default()
    };
    let up = upstream(https.clone(), no_cert).await;
    let a = up.send("tenant-a", &request(2, 1)).await;
    assert_eq!(a.status, 503, "{}", a.body);

    // System roots do not know the test CA: the certificate is not trusted.
    let up = upstream(https, ForwardTls::default()).await;
    let a = up.send("tenant-a", &request(2, 1)).await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(
        down.receivers[0].tenant("tenant-a").series,
        7,
        "nothing more arrived"
    );
    let _ = std::fs::remove_dir_all(&p.dir);
}
