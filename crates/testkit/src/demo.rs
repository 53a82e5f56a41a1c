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

/// The demo's two tenants: name, the tenant header it sends, and its protocol.
const TENANTS: [(&str, &str, Protocol); 2] = [
    ("tenant-a", "THANOS-TENANT", Protocol::V1),
    ("tenant-b", "X-Scope-OrgID", Protocol::V2),
];

/// Replication factor of the demo's gateway.
const RF: usize = 2;

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
    let dir = tempfile::Builder::new()
        .prefix("rwgate-demo-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let path = dir.path().join("hashrings.json");
    std::fs::write(&path, &hashrings).map_err(|e| e.to_string())?;
    let gw = RunningGateway::start(&path).await?;

    let mut report = String::new();
    let _ = writeln!(
        report,
        "rwgate demo: gateway on http://{}/api/v1/receive, admin on http://{}",
        gw.addr, gw.admin_addr
    );
    for (i, u) in urls.iter().enumerate() {
        let _ = writeln!(report, "  receiver-{i}: {u}");
    }
    let _ = writeln!(
        report,
        "  hashrings.json: {}\n  replication factor {RF}, write quorum 1\n",
        path.display()
    );

    rwgate_gateway::tls::install_crypto_provider();
    let client = reqwest::Client::new();
    send_traffic(&client, &gw, series_per_tenant, requests, &mut report).await?;
    tally(&receivers, &mut report);
    let rings =
        Hashrings::from_json(hashrings.as_bytes(), &gw.ring_options).map_err(|e| e.to_string())?;
    let (checked, misplaced) = check_placement(rings, &receivers, series_per_tenant, requests)?;
    let _ = writeln!(
        report,
        "\nplacement check: {checked} series x 3 receivers, {misplaced} mismatches against `rwgate ring lookup`"
    );
    metrics_excerpt(&client, &gw, &mut report).await;
    gw.stop().await;
    if misplaced == 0 {
        Ok(report)
    } else {
        Err(report)
    }
}

/// The gateway of the demo, serving on loopback until stopped.
struct RunningGateway {
    addr: std::net::SocketAddr,
    admin_addr: std::net::SocketAddr,
    ring_options: rwgate_ring::BuildOptions,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), rwgate_gateway::server::StartError>>,
}

impl RunningGateway {
    /// Starts the gateway on `hashrings` with replication factor [`RF`].
    async fn start(hashrings: &std::path::Path) -> Result<RunningGateway, String> {
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let mut cfg = Config {
            hashrings: Some(hashrings.to_path_buf()),
            replication_factor: RF,
            listen: loopback,
            admin_listen: loopback,
            ..Config::default()
        };
        cfg.forward.deadline = Duration::from_secs(3);
        // Named in config, so the metrics below label them by name: a tenant not named
        // anywhere is counted as `other`, which bounds the metric's cardinality.
        for (tenant, _, _) in TENANTS {
            cfg.tenants.insert(tenant.to_string(), Default::default());
        }
        let cfg = cfg.validate().map_err(|e| e.to_string())?;
        let ring_options = cfg.ring_options();
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
        Ok(RunningGateway {
            addr,
            admin_addr,
            ring_options,
            stop,
            server,
        })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}

/// Sends `requests` requests of `series` series for each tenant and reports the
/// statuses.
async fn send_traffic(
    client: &reqwest::Client,
    gw: &RunningGateway,
    series: usize,
    requests: usize,
    report: &mut String,
) -> Result<(), String> {
    let mut statuses = std::collections::BTreeMap::new();
    for (tenant, header, protocol) in TENANTS {
        for r in 0..requests {
            let body = request_body(tenant, series, r as i64, protocol)?;
            let resp = client
                .post(format!("http://{}/api/v1/receive", gw.addr))
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
    Ok(())
}

/// The table of what each receiver got, per tenant.
fn tally(receivers: &[DevReceiver], report: &mut String) {
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
}

/// Checks every series against the ring: each of its [`RF`] replicas got all
/// `requests` samples, and no other receiver got any. Returns (series checked,
/// mismatches).
fn check_placement(
    rings: Hashrings,
    receivers: &[DevReceiver],
    series: usize,
    requests: usize,
) -> Result<(usize, usize), String> {
    let handle = Arc::new(RingHandle::with(rings));
    let rings = handle.load().ok_or("ring not loaded")?;
    let mut misplaced = 0usize;
    let mut checked = 0usize;
    for (tenant, _, _) in TENANTS {
        let ring = rings.for_tenant(tenant).ok_or("no ring")?;
        for s in 0..series {
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
            let placement = ring.placement(tenant).map_err(|e| e.to_string())?;
            let want: Vec<String> = (0..RF)
                .map(|n| {
                    ring.endpoints()[placement.replica(hash, n)]
                        .target
                        .to_string()
                })
                .collect();
            let key = series_key(tenant, &refs);
            for r in receivers {
                let expected = if want.contains(&r.url()) {
                    requests as u64
                } else {
                    0
                };
                if r.series_samples(key) != expected {
                    misplaced += 1;
                }
            }
            checked += 1;
        }
    }
    Ok((checked, misplaced))
}

/// The request and sample counters from the gateway's `/metrics`.
async fn metrics_excerpt(client: &reqwest::Client, gw: &RunningGateway, report: &mut String) {
    let url = format!("http://{}/metrics", gw.admin_addr);
    let Ok(resp) = client.get(&url).send().await else {
        return;
    };
    let Ok(text) = resp.text().await else {
        return;
    };
    let _ = writeln!(report, "\nfrom {url}:");
    for line in text.lines().filter(|l| {
        l.starts_with("rwgate_requests_total") || l.starts_with("rwgate_received_samples_total")
    }) {
        let _ = writeln!(report, "  {line}");
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
