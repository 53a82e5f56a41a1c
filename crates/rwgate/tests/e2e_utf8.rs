//! UTF-8 metric and label names through the `rwgate` binary with its default
//! `limits.name_validation: utf8`, into real receivers: victoria-metrics stores them
//! as sent, and so does Debian's Prometheus 2.42 receiver, whose PromQL selects them
//! by `__name__`.
#![allow(clippy::unwrap_used)]

mod e2e;

use e2e::*;

const NAMES: &[(&str, &str)] = &[
    ("__name__", "resource.cpu.usage"),
    ("job.name", "testjob"),
    ("région", "île-de-france"),
];

fn write_request() -> Vec<u8> {
    use prost::Message;
    use rwgate_proto::prometheus as v1;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let req = v1::WriteRequest {
        timeseries: vec![v1::TimeSeries {
            labels: NAMES
                .iter()
                .map(|(n, v)| v1::Label {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            samples: vec![v1::Sample {
                value: 42.0,
                timestamp: now,
            }],
            ..Default::default()
        }],
        metadata: vec![],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

/// Posts the request as a remote-write 1.0 sender would; status and body.
fn post(url: &str, tenant: &str) -> (u16, String) {
    post_remote_write(url, tenant, write_request())
}

#[test]
fn utf8_names_reach_victoria_metrics_as_sent() {
    let tmp = TempDir::new("utf8");
    let vm = Vm::start(&tmp, "vm");
    let rings = tmp.join("hashrings.json");
    procs::write_hashrings(&rings, &[("all", &[], "hashmod", vec![vm.write_url()])]);
    let gw = Gateway::start(&tmp, &format!("hashrings: {}\n", rings.display()));
    let (status, body) = post(&gw.url(), "tenant-a");
    assert_eq!(status, 200, "{body}\n{}", gw.log_tail());
    // victoria-metrics makes new series searchable within seconds, not at once.
    let mut stored = Vec::new();
    wait_until(std::time::Duration::from_secs(30), || {
        stored = vm.export(r#"{__name__="resource.cpu.usage"}"#);
        !stored.is_empty()
    });
    assert_eq!(stored.len(), 1, "{stored:?}");
    let labels = &stored[0].labels;
    assert_eq!(labels.get("job.name").map(String::as_str), Some("testjob"));
    assert_eq!(
        labels.get("région").map(String::as_str),
        Some("île-de-france")
    );
    assert_eq!(stored[0].samples.len(), 1);
    // Its log went to a file, not a terminal: plain text, no colour codes.
    let log = gw.log_tail();
    assert!(log.contains("rwgate serving"), "{log}");
    assert!(!log.contains('\x1b'), "ANSI codes in a log file: {log:?}");
}

#[test]
fn prometheus_2_42_receiver_stores_utf8_names_and_promql_selects_them() {
    let tmp = TempDir::new("utf8-prom");
    let prom = PromReceiver::start(&tmp, "prom");
    let rings = tmp.join("hashrings.json");
    procs::write_hashrings(&rings, &[("all", &[], "hashmod", vec![prom.write_url()])]);
    let gw = Gateway::start(&tmp, &format!("hashrings: {}\n", rings.display()));
    let (status, body) = post(&gw.url(), "tenant-a");
    assert_eq!(status, 200, "{body}\n{}", prom.log_tail());
    // Prometheus 2 PromQL has no quoted metric names, but selects by `__name__`.
    let query = format!(
        "http://127.0.0.1:{}/api/v1/query?query={}",
        prom.port,
        urlencode(r#"{__name__="resource.cpu.usage"}"#)
    );
    let (code, answer) = http_get(&query).unwrap();
    assert_eq!(code, 200, "{answer}");
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
    assert_eq!(result.len(), 1, "{answer}");
    assert_eq!(result[0]["metric"]["région"], "île-de-france", "{answer}");
    assert_eq!(result[0]["metric"]["job.name"], "testjob", "{answer}");
    assert_eq!(result[0]["value"][1], "42", "{answer}");
}
