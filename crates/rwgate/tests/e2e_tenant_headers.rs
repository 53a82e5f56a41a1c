//! The same two real agents, into receivers that record the forwarded tenant header:
//! tenant-a's writes reach only tenant-a's hashring with `THANOS-TENANT: tenant-a`,
//! tenant-b's only the default one with `THANOS-TENANT: tenant-b`.
#![allow(clippy::unwrap_used)]

mod e2e;

use std::time::Duration;

use e2e::*;
use rwgate_testkit::receiver::DevReceiver;

const TOKEN: &str = "e2e-token-tenant-a-000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forwarded_tenant_header_matches_each_agents_tenant() {
    let tmp = TempDir::new("headers");
    let mut sinks = Vec::new();
    for _ in 0..4 {
        sinks.push(
            DevReceiver::start(([127, 0, 0, 1], 0).into())
                .await
                .unwrap(),
        );
    }
    let urls: Vec<String> = sinks.iter().map(|s| s.url()).collect();
    let rings = tmp.join("hashrings.json");
    procs::write_hashrings(
        &rings,
        &[
            ("tenant-a", &["tenant-a"], "hashmod", urls[0..2].to_vec()),
            ("default", &[], "hashmod", urls[2..4].to_vec()),
        ],
    );
    let config = format!(
        "hashrings: {}\nreplication_factor: 2\ntenancy:\n  tokens:\n    {TOKEN}: tenant-a\n",
        rings.display()
    );
    let (gw, prom, vma, target) = tokio::task::spawn_blocking(move || {
        let gw = Gateway::start(&tmp, &config);
        let target = SeqTarget::start(20);
        let prom = PromAgent::start(&tmp, &gw.url(), TOKEN, &[target.addr()]);
        let vma = VmAgent::start(&tmp, &gw.url(), &[target.addr()]);
        (gw, prom, vma, (target, tmp))
    })
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while sinks.iter().any(|s| s.tenants().is_empty()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "agents did not deliver\n{}",
            gw.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (i, s) in sinks.iter().enumerate() {
        let tenants: Vec<String> = s.tenants().into_keys().collect();
        let want = if i < 2 { "tenant-a" } else { "tenant-b" };
        assert_eq!(tenants, vec![want.to_string()], "receiver {i}");
    }
    tokio::task::spawn_blocking(move || drop((prom, vma, target, gw)))
        .await
        .unwrap();
}
