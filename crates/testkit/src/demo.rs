//! `rwgate demo`: the gateway end to end on one machine, nothing to install.
//!
//! Starts three embedded receivers, writes a hashrings file (tenant-a on a ketama ring
//! over all three, everyone else on a hashmod ring over two), starts the gateway with
//! replication factor 2, sends remote-write 1.0 and 2.0 traffic for tenant-a and
//! tenant-b, and prints what arrived where, checking each series against the ring.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use rwgate_proto::{prometheus as v1, v2};
use rwgate_ring::{Hashrings, RingHandle};
use rwgate_wire::{Encoder, Protocol};

use crate::receiver::{DevReceiver, series_key};
use rwgate_gateway::config::Config;
use rwgate_gateway::server::Gateway;

/// Runs the demo and returns its report; `Err` when any series is misplaced.
pub async fn run(series_per_tenant: usize, requests: usize) -> Result<String, String> {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let mut receivers = Vec::new();
    for _ in 0..3 {
        receivers.push(
            DevReceiver::start(loopback)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let urls: Vec<String> = receivers.iter().map(|r| r.url()).collect();
    let hashrings = serde_json::json!([
        {"hashring": "tenant-a", "tenants": ["tenant-a"], "algorithm": "ketama", "endpoints": urls},
        {"hashring": "default", "endpoints": [urls[1], urls[2]]},
    ])
    .to_string();
    let dir = std::env::temp_dir().join(format!("rwgate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("hashrings.json");
    std::fs::write(&path, &hashrings).map_err(|e| e.to_string())?;

    let mut cfg = Config {
        hashrings: Some(path.clone()),
        replication_factor: 2,
        listen: loopback,
        admin_listen: loopback,
        ..Config::default()
    };
    cfg.forward.deadline = Duration::from_secs(3);
    let cfg = cfg.validate().map_err(|e| e.to_string())?;
    let opts = cfg.ring_options();
    let gateway = Gateway::new(cfg).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(loopback)
        .await
        .map_err(|e| e.to_string())?;
    let admin = std::net::TcpListener::bind(loopback).map_err(|e| e.to_string())?;
    let (addr, admin_addr) = (
        listener.local_addr().map_err(|e| e.to_string())?,
        admin.local_addr().map_err(|e| e.to_string())?,
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway.serve(listener, admin, async {
        let _ = stopped.await;
    }));

    let mut report = String::new();
    let _ = writeln!(
        report,
        "rwgate demo: gateway on http://{addr}/api/v1/receive, admin on http://{admin_addr}"
    );
    for (i, u) in urls.iter().enumerate() {
        let _ = writeln!(report, "  receiver-{i}: {u}");
    }
    let _ = writeln!(
        report,
        "  hashrings.json: {}\n  replication factor 2, write quorum 1\n",
        path.display()
    );

    rwgate_gateway::tls::install_crypto_provider();
    let client = reqwest::Client::new();
    let tenants = [
        ("tenant-a", "THANOS-TENANT", Protocol::V1),
        ("tenant-b", "X-Scope-OrgID", Protocol::V2),
    ];
    let mut statuses = std::collections::BTreeMap::new();
    for (tenant, header, protocol) in tenants {
        for r in 0..requests {
            let body = request_body(tenant, series_per_tenant, r as i64, protocol)?;
            let resp = client
                .post(format!("http://{addr}/api/v1/receive"))
                .header("Content-Type", protocol.content_type())
                .header("Content-Encoding", "snappy")
                .header(header, tenant)
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            *statuses
                .entry((tenant, protocol.as_str(), resp.status().as_u16()))
                .or_insert(0u32) += 1;
        }
    }
    for ((tenant, proto, status), n) in &statuses {
        let _ = writeln!(
            report,
            "sent {n} {proto} requests for {tenant}: HTTP {status}"
        );
    }

    let _ = writeln!(
        report,
        "\nwhat arrived where (series counted once per request):"
    );
    let _ = writeln!(
        report,
        "  {:<12} {:<10} {:>9} {:>9}",
        "receiver", "tenant", "series", "samples"
    );
    for (i, r) in receivers.iter().enumerate() {
        let mut t: Vec<_> = r.tenants().into_iter().collect();
        t.sort_by(|a, b| a.0.cmp(&b.0));
        for (tenant, tally) in t {
            let _ = writeln!(
                report,
                "  receiver-{i:<3} {tenant:<10} {:>9} {:>9}",
                tally.series, tally.samples
            );
        }
    }

    // Check every series against the ring.
    let rings = Hashrings::from_json(hashrings.as_bytes(), &opts).map_err(|e| e.to_string())?;
    let handle = Arc::new(RingHandle::with(rings));
    let rings = handle.load().ok_or("ring not loaded")?;
    let mut misplaced = 0usize;
    let mut checked = 0usize;
    for (tenant, _, _) in tenants {
        let ring = rings.for_tenant(tenant).ok_or("no ring")?;
        for s in 0..series_per_tenant {
            let labels = series_labels(tenant, s);
            let refs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            let mut buf = Vec::new();
            let hash = rwgate_ring::series_hash(
                tenant.as_bytes(),
                refs.iter().map(|(a, b)| (a.as_bytes(), b.as_bytes())),
                &mut buf,
            );
            let want: Vec<&str> = (0..2)
                .map(|n| ring.endpoints()[ring.replica(hash, n)].url.as_str())
                .collect();
            let key = series_key(tenant, &refs);
            for r in &receivers {
                let got = r.series_samples(key);
                let expected = if want.contains(&r.url().as_str()) {
                    requests as u64
                } else {
                    0
                };
                if got != expected {
                    misplaced += 1;
                }
            }
            checked += 1;
        }
    }
    let _ = writeln!(
        report,
        "\nplacement check: {checked} series x 3 receivers, {misplaced} mismatches against `rwgate ring lookup`"
    );
    if let Ok(resp) = client
        .get(format!("http://{admin_addr}/metrics"))
        .send()
        .await
        && let Ok(text) = resp.text().await
    {
        let _ = writeln!(report, "\nfrom http://{admin_addr}/metrics:");
        for line in text.lines().filter(|l| {
            (l.starts_with("rwgate_requests_total")
                || l.starts_with("rwgate_received_samples_total"))
                && !l.starts_with('#')
        }) {
            let _ = writeln!(report, "  {line}");
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    if misplaced == 0 {
        Ok(report)
    } else {
        Err(report)
    }
}

fn series_labels(tenant: &str, i: usize) -> Vec<(String, String)> {
    vec![
        ("__name__".into(), "demo_requests_total".into()),
        ("cluster".into(), "cluster-02".into()),
        ("instance".into(), format!("node-{}", i % 50)),
        ("series".into(), i.to_string()),
        ("tenant".into(), tenant.into()),
    ]
}

fn request_body(
    tenant: &str,
    series: usize,
    step: i64,
    protocol: Protocol,
) -> Result<bytes::Bytes, String> {
    let ts = 1_700_000_000_000 + step * 15_000;
    let raw = match protocol {
        Protocol::V1 => v1::WriteRequest {
            timeseries: (0..series)
                .map(|i| v1::TimeSeries {
                    labels: series_labels(tenant, i)
                        .into_iter()
                        .map(|(name, value)| v1::Label { name, value })
                        .collect(),
                    samples: vec![v1::Sample {
                        value: step as f64,
                        timestamp: ts,
                    }],
                    ..Default::default()
                })
                .collect(),
            metadata: vec![],
        }
        .encode_to_vec(),
        Protocol::V2 => {
            let mut table = rwgate_wire::SymbolTable::new();
            let timeseries = (0..series)
                .map(|i| v2::TimeSeries {
                    labels_refs: table.refs(
                        series_labels(tenant, i)
                            .iter()
                            .map(|(n, v)| (n.as_str(), v.as_str())),
                    ),
                    samples: vec![v2::Sample {
                        value: step as f64,
                        timestamp: ts,
                        start_timestamp: 0,
                    }],
                    ..Default::default()
                })
                .collect();
            v2::Request {
                symbols: table.into_symbols(),
                timeseries,
            }
            .encode_to_vec()
        }
    };
    Encoder::new().compress(&raw).map_err(|e| e.to_string())
}
