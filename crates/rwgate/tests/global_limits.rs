//! `limits.rate_limit_strategy: global` with two `rwgate` processes that find each
//! other through one name (a hosts-format file listing two addresses): each enforces
//! half of the tenant's rate, so the tenant's combined accepted rate stays within 10%
//! of its limit; the replica count is exported.
#![allow(clippy::unwrap_used)]

mod common;
mod e2e;

use std::time::{Duration, Instant};

use e2e::{Gateway, TempDir};
use rwgate_testkit::receiver::DevReceiver;

const RATE: f64 = 2000.0;
const BURST: f64 = 2000.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_a_tenants_rate() {
    rwgate_gateway::tls::install_crypto_provider();
    let sink = DevReceiver::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let shared = TempDir::new("global-limits");
    let rings = shared.join("hashrings.json");
    e2e::procs::write_hashrings(&rings, &[("all", &[], "hashmod", vec![sink.url()])]);
    let hosts = shared.join("hosts");
    std::fs::write(&hosts, "127.0.0.1 rwgate-peers\n127.0.0.2 rwgate-peers\n").unwrap();
    let config = format!(
        "hashrings: {}\nlimits:\n  rate_limit_strategy: global\n  peers_dns: rwgate-peers\n  peers_hosts_file: {}\n  peers_refresh: 1s\ntenants:\n  tenant-a:\n    limits: {{ingestion_rate: {RATE}, ingestion_burst: {BURST}}}\n",
        rings.display(),
        hosts.display()
    );
    let (gws, _dirs) = tokio::task::spawn_blocking(move || {
        let dirs = [TempDir::new("global-a"), TempDir::new("global-b")];
        let gws: Vec<Gateway> = dirs.iter().map(|d| Gateway::start(d, &config)).collect();
        (gws, dirs)
    })
    .await
    .unwrap();
    for gw in &gws {
        let ok = e2e::wait_until(Duration::from_secs(20), || {
            gw.metrics().contains("rwgate_rate_limit_peers 2")
        });
        assert!(ok, "replica count not 2\n{}", gw.log_tail());
    }

    // 100-sample requests, alternating between the two replicas, for 5 s.
    let body = {
        use prost::Message;
        common::snappy(&common::request(100, 1).encode_to_vec())
    };
    let client = reqwest::Client::new();
    let urls: Vec<String> = gws.iter().map(Gateway::url).collect();
    let start = Instant::now();
    let (mut accepted, mut limited) = (0u64, 0u64);
    let mut k = 0;
    while start.elapsed() < Duration::from_secs(5) {
        let resp = client
            .post(&urls[k % 2])
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("THANOS-TENANT", "tenant-a")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            200 => accepted += 100,
            429 => limited += 1,
            other => panic!("status {other}"),
        }
        k += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    // What one limit admits in that time: the burst, then the rate.
    let allowed = BURST + RATE * elapsed;
    let error = (accepted as f64 - allowed).abs() / allowed;
    assert!(limited > 0, "the limit was reached");
    assert!(
        error <= 0.10,
        "accepted {accepted} samples in {elapsed:.2}s across two replicas; one limit admits {allowed:.0} ({:.1}% off)",
        error * 100.0
    );
}
