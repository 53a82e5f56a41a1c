//! A config reload swaps the runtime snapshot as one (tenancy and request limits) and
//! names the static settings it ignored until a restart, against the `rwgate` binary.
#![allow(clippy::unwrap_used)]

mod common;
mod e2e;

use std::time::{Duration, Instant};

use rwgate_testkit::receiver::DevReceiver;

fn config(gw: &e2e::Gateway, body: &str) -> String {
    format!(
        "listen: 127.0.0.1:{}\nadmin_listen: 127.0.0.1:{}\nshutdown_grace: 10s\n{body}",
        gw.port, gw.admin
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_changes_request_limits_and_names_the_ignored_static_settings() {
    let receiver = DevReceiver::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let tmp = e2e::TempDir::new("reload");
    let rings = tmp.join("hashrings.json");
    std::fs::write(
        &rings,
        serde_json::json!([{ "endpoints": [receiver.url()] }]).to_string(),
    )
    .unwrap();
    let first = format!("hashrings: {}\n", rings.display());
    let first_yaml = first.clone();
    // Starting waits for readiness with blocking requests.
    let (tmp, gw) = tokio::task::spawn_blocking(move || {
        let gw = e2e::Gateway::start(&tmp, &first_yaml);
        (tmp, gw)
    })
    .await
    .unwrap();
    let body = common::snappy(&prost::Message::encode_to_vec(&common::request(200, 1)));
    assert!(body.len() > 1000, "{}", body.len());
    rwgate_gateway::tls::install_crypto_provider();
    let client = reqwest::Client::new();
    let send = || {
        client
            .post(gw.url())
            .header("Content-Encoding", "snappy")
            .body(body.clone())
            .send()
    };
    assert_eq!(send().await.unwrap().status().as_u16(), 200);
    let mut written = 1;

    // Lower the body limit (reloadable) and change the replication factor (static).
    std::fs::write(
        tmp.join("rwgate.yaml"),
        config(
            &gw,
            &format!("{first}replication_factor: 2\nlimits:\n  max_body_bytes: 1000\n"),
        ),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = send().await.unwrap().status().as_u16();
        if status == 413 {
            break;
        }
        assert_eq!(status, 200);
        written += 1;
        assert!(Instant::now() < deadline, "the new limit never applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = gw.log_tail();
    assert!(
        log.contains("take effect only on a restart") && log.contains("replication_factor"),
        "{log}"
    );
    // One forward per written request: the replication factor stayed at 1.
    assert_eq!(receiver.attempts(), written);
}
