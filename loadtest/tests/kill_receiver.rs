//! A 10-second `rwgate-load push` through the gateway (RF 3) while one of three
//! receivers is stopped half-way: for every series, the samples acknowledged equal the
//! samples present on at least a quorum (2) of receivers.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rwgate_gateway::{Config, Gateway};
use rwgate_load::workload::Workload;
use rwgate_ring::RingHandle;
use rwgate_testkit::receiver::{DevReceiver, series_key};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_samples_equal_samples_on_a_quorum() {
    let mut sinks = Vec::new();
    for _ in 0..3 {
        sinks.push(
            DevReceiver::start(([127, 0, 0, 1], 0).into())
                .await
                .unwrap(),
        );
    }
    let urls: Vec<String> = sinks.iter().map(|s| s.url()).collect();
    let dir = std::env::temp_dir().join(format!("rwgate-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rings_path = dir.join("hashrings.json");
    std::fs::write(
        &rings_path,
        serde_json::json!([{ "endpoints": urls }]).to_string(),
    )
    .unwrap();
    let mut cfg = Config {
        hashrings: Some(rings_path.clone()),
        replication_factor: 3,
        ..Config::default()
    };
    cfg.forward.deadline = Duration::from_secs(2);
    let cfg = cfg.validate().unwrap();
    let rings = Arc::new(RingHandle::new());
    rwgate_ring::reload::reload(&rings_path, &cfg.ring_options(), &rings).unwrap();
    let gateway = Gateway::with_rings(cfg, rings, None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/receive", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway.serve(listener, admin, async {
        let _ = stopped.await;
    }));

    let w = Workload {
        tenants: vec!["tenant-a".into()],
        series: 400,
        labels: 6,
        samples_per_series: 1,
        batch: 100,
        concurrency: 4,
        rate: 20_000.0,
        duration: Some(Duration::from_secs(10)),
        ..Workload::default()
    };
    let push = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_rwgate-load"))
                .args([
                    "push",
                    "--json",
                    "--track-acks",
                    "--url",
                    &url,
                    "--tenant",
                    "tenant-a",
                ])
                .args([
                    "--series",
                    "400",
                    "--labels",
                    "6",
                    "--samples-per-series",
                    "1",
                    "--batch",
                    "100",
                ])
                .args(["--concurrency", "4", "--rate", "20000", "--duration", "10s"])
                .output()
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    sinks[1].stop();
    let out = push.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let _ = stop.send(());
    let _ = server.await;

    let acked_total = report["samples_acked"].as_u64().unwrap();
    assert!(acked_total > 100_000, "{report}");
    assert_eq!(report["errors"], 0);
    let acked = report["acked_by_series"].as_object().unwrap();
    assert_eq!(acked.len(), 400);
    let mut on_quorum_total = 0;
    for (key, n) in acked {
        let id: usize = key.strip_prefix("tenant-a/").unwrap().parse().unwrap();
        let labels = w.labels_of(id);
        let refs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let k = series_key("tenant-a", &refs);
        let mut counts: Vec<u64> = sinks.iter().map(|s| s.series_samples(k)).collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        // Identical samples arrive in the same order at every receiver, so the second
        // largest count is what a quorum of two holds.
        let on_quorum = counts[1];
        on_quorum_total += on_quorum;
        assert_eq!(
            on_quorum,
            n.as_u64().unwrap(),
            "series {id}: {counts:?} vs acked {n}"
        );
    }
    assert_eq!(on_quorum_total, acked_total);
    // The stopped receiver really missed data: the test exercised the failure.
    assert!(sinks[1].stats(false).samples < sinks[0].stats(false).samples);
    let _ = std::fs::remove_dir_all(&dir);
}
