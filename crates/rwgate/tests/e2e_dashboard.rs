//! The dashboard and the alerts against live data: Debian's Prometheus scrapes a
//! running rwgate (in process) while remote-write and OTLP traffic flows, with one
//! receiver failing and one tenant over its rate limit. Every dashboard panel's query, evaluated through the
//! Prometheus HTTP API, returns data; the alert rules (their `for:` shortened to 2s)
//! fire for the two induced failures. A query over a metric that does not exist is
//! reported as empty, so a renamed metric fails this test.
#![allow(clippy::unwrap_used)]

mod common;
mod e2e;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::request;
use e2e::{PromScraper, TempDir, urlencode};

fn deploy(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy")
            .join(path),
    )
    .unwrap()
}

/// Every panel's title and target expressions, `$__rate_interval` set to 15s.
fn panels() -> Vec<(String, Vec<String>)> {
    let dash: serde_json::Value =
        serde_json::from_str(&deploy("overlays/central/rwgate-dashboard.json")).unwrap();
    let mut out = Vec::new();
    let mut stack: Vec<serde_json::Value> = dash["panels"].as_array().cloned().unwrap_or_default();
    while let Some(p) = stack.pop() {
        if let Some(inner) = p["panels"].as_array() {
            stack.extend(inner.iter().cloned());
        }
        let exprs: Vec<String> = p["targets"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|t| t["expr"].as_str())
                    .map(|e| e.replace("$__rate_interval", "15s"))
                    .collect()
            })
            .unwrap_or_default();
        if !exprs.is_empty() {
            out.push((p["title"].as_str().unwrap_or("?").to_string(), exprs));
        }
    }
    out
}

/// An OTLP export of one gauge point with an attribute, stamped now.
fn otlp_body() -> Vec<u8> {
    use rwgate_proto::otlp::*;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let point = NumberDataPoint {
        attributes: vec![KeyValue {
            key: "queue".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue("q1".into())),
            }),
        }],
        time_unix_nano: now,
        value: Some(NumberValue::AsDouble(1.0)),
        ..Default::default()
    };
    let metric = Metric {
        name: "queue.size".into(),
        unit: String::new(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![point],
        })),
    };
    prost::Message::encode_to_vec(&ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: None,
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric],
            }],
        }],
    })
}

/// The alert rules with every `for:` shortened to 2s.
fn fast_rules() -> String {
    deploy("base/rwgate/rwgate-alerts.yaml")
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 2s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The number of series `expr` returns now; an invalid query fails the test.
fn series_of(prom: &PromScraper, expr: &str) -> usize {
    let v = prom.api(&format!("query?query={}", urlencode(expr)));
    assert_eq!(v["status"], "success", "{expr}: {v}");
    v["data"]["result"].as_array().map_or(0, Vec::len)
}

fn firing(prom: &PromScraper) -> Vec<(String, serde_json::Value)> {
    let v = prom.api("alerts");
    v["data"]["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["state"] == "firing")
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                a["labels"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_returns_data_and_the_induced_alerts_fire() {
    // The breaker's default cooldown: the failing receiver is probed again and stays
    // down, so `rwgate_endpoint_up` stays 0.
    let (mut h, failing) = common::one_receiver_failing_one_tenant_limited(
        50.0,
        Duration::from_secs(1),
        rwgate_gateway::config::Forward::default().breaker_cooldown,
    )
    .await;
    let tmp = TempDir::new("dashboard");
    let target = h.admin.to_string();
    let rules = fast_rules();
    let prom = tokio::task::spawn_blocking(move || {
        let p = PromScraper::start(&tmp, &[target], &rules);
        (p, tmp)
    })
    .await
    .unwrap();
    let (prom, _tmp) = (Arc::new(prom.0), prom.1);

    // Traffic: tenant-b within its (absent) limit, tenant-a at 300 samples per 200ms
    // against 50/s.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (stop, client, url) = (stop.clone(), h.client.clone(), h.url());
        let otlp_url = format!("http://{}/v1/metrics", h.addr);
        tokio::spawn(async move {
            let body = |n| common::snappy(&prost::Message::encode_to_vec(&request(n, 1)));
            while !stop.load(Ordering::Relaxed) {
                let _ = client
                    .post(&otlp_url)
                    .header("Content-Type", "application/x-protobuf")
                    .header("THANOS-TENANT", "tenant-b")
                    .body(otlp_body())
                    .send()
                    .await;
                for (tenant, n) in [("tenant-b", 20), ("tenant-a", 300)] {
                    let _ = client
                        .post(&url)
                        .header("Content-Type", "application/x-protobuf")
                        .header("Content-Encoding", "snappy")
                        .header("THANOS-TENANT", tenant)
                        .body(body(n))
                        .send()
                        .await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    // Wait for several scrapes with traffic in them.
    let p = prom.clone();
    let ready = tokio::task::spawn_blocking(move || {
        e2e::wait_until(Duration::from_secs(60), || {
            series_of(&p, "rate(rwgate_received_samples_total[15s]) > 0") >= 2
                && series_of(&p, "rwgate_endpoint_up == 0") == 1
        })
    })
    .await
    .unwrap();
    assert!(
        ready,
        "no live data reached Prometheus\n{}",
        prom.log_tail()
    );

    let p = prom.clone();
    let empty = tokio::task::spawn_blocking(move || {
        let mut empty = Vec::new();
        for (title, exprs) in panels() {
            let rows: usize = exprs.iter().map(|e| series_of(&p, e)).sum();
            if rows == 0 {
                empty.push(format!("{title}: {exprs:?}"));
            }
        }
        // The check itself can fail: a metric that does not exist has no data.
        assert_eq!(
            series_of(&p, "sum(rate(rwgate_no_such_metric_total[15s]))"),
            0
        );
        empty
    })
    .await
    .unwrap();
    assert!(
        empty.is_empty(),
        "panels without data:\n{}",
        empty.join("\n")
    );

    let p = prom.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let alerts = loop {
        let pp = p.clone();
        let now = tokio::task::spawn_blocking(move || firing(&pp))
            .await
            .unwrap();
        let endpoint_down = now.iter().any(|(name, labels)| {
            name == "RwgateEndpointDown" && labels["endpoint"] == failing.as_str()
        });
        let discarding = now.iter().any(|(name, labels)| {
            name == "RwgateDiscardingSamples"
                && labels["tenant"] == "tenant-a"
                && labels["reason"] == "rate_limited"
        });
        if endpoint_down && discarding {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "the induced alerts did not fire; firing: {now:?}\n{}",
            prom.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Nothing else is wrong: no other alert fires.
    let others: Vec<_> = alerts
        .iter()
        .filter(|(n, _)| n != "RwgateEndpointDown" && n != "RwgateDiscardingSamples")
        .collect();
    assert!(others.is_empty(), "unexpected alerts: {others:?}");
    stop.store(true, Ordering::Relaxed);
    let _ = sender.await;
    h.shutdown().await;
}
