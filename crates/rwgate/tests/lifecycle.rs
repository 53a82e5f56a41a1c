//! Readiness and graceful shutdown, in process and with a real SIGTERM to `rwgate serve`.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rwgate_testkit::receiver::{DevReceiver, Mode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_503_before_the_ring_loads_then_200() {
    let h = Harness::builder().receivers(1).without_ring().start().await;
    for addr in [h.addr, h.admin] {
        assert_eq!(h.get(addr, "/-/ready").await, (503, "NOT OK\n".into()));
        assert_eq!(h.get(addr, "/-/healthy").await.0, 200);
    }
    let a = h.send("t", &request(1, 1)).await;
    assert_eq!(a.status, 503);
    assert!(a.body.contains("no hashring loaded"), "{}", a.body);
    rwgate_ring::reload::reload(&h.hashrings, &h.ring_opts, &h.rings).unwrap();
    for addr in [h.addr, h.admin] {
        assert_eq!(h.get(addr, "/-/ready").await, (200, "OK\n".into()));
    }
    assert_eq!(h.send("t", &request(1, 1)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_in_flight_at_shutdown_completes_and_ready_turns_503() {
    let mut h = Harness::builder().receivers(2).rf(2).start().await;
    for r in &h.receivers {
        r.set_mode(Mode {
            // Below the harness' 500ms attempt timeout.
            delay: Duration::from_millis(350),
            ..Mode::default()
        });
    }
    let (client, url) = (h.client.clone(), h.url());
    let body = snappy(&prost::Message::encode_to_vec(&request(50, 1)));
    let in_flight = tokio::spawn(async move {
        let resp = client
            .post(url)
            .header("Content-Encoding", "snappy")
            .header("THANOS-TENANT", "t")
            .body(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let server = h.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Draining: both ports still answer, and say not ready (the ingest port used to
    // refuse connections here).
    assert_eq!(h.get(h.admin, "/-/ready").await.0, 503);
    assert_eq!(h.get(h.addr, "/-/ready").await, (503, "NOT OK\n".into()));
    let (status, text) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{text}");
    server.await.unwrap();
    for i in 0..50 {
        assert_eq!(h.holders("t", &as_refs(&labels(i))), vec![0, 1]);
    }
    // The listener is closed.
    assert!(
        h.client
            .get(format!("http://{}/-/ready", h.addr))
            .send()
            .await
            .is_err()
    );
}

fn free_port() -> u16 {
    rwgate_testkit::net::free_port().expect("a free loopback port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_to_the_binary_drains_in_flight_requests_and_exits_0() {
    let receiver = DevReceiver::start(LOOPBACK.into()).await.unwrap();
    receiver.set_mode(Mode {
        delay: Duration::from_millis(800),
        ..Mode::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let hashrings = dir.join("hashrings.json");
    std::fs::write(
        &hashrings,
        serde_json::json!([{ "endpoints": [receiver.url()] }]).to_string(),
    )
    .unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_rwgate"))
        .args(["serve", "--hashrings"])
        .arg(&hashrings)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin_port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = client
            .get(format!("http://127.0.0.1:{admin_port}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "rwgate did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = snappy(&prost::Message::encode_to_vec(&request(30, 1)));
    let in_flight = tokio::spawn(
        client
            .post(format!("http://127.0.0.1:{port}/api/v1/receive"))
            .header("Content-Encoding", "snappy")
            .header("THANOS-TENANT", "t")
            .body(body)
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let resp = in_flight.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(receiver.tenant("t").series, 30);
    let exited = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(exited.code(), Some(0));
}

#[test]
fn bad_config_exits_64_with_every_problem() {
    let out = Command::new(env!("CARGO_BIN_EXE_rwgate"))
        .args([
            "serve",
            "--replication-factor",
            "0",
            "--forward-url-template",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for p in [
        "hashrings file is required",
        "replication_factor must be at least 1",
        "forward_url_template",
    ] {
        assert!(err.contains(p), "missing {p:?} in {err}");
    }
}
