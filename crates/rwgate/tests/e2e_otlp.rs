//! The real OpenTelemetry Python SDK (PyPI `opentelemetry-sdk` with
//! `opentelemetry-exporter-otlp-proto-http`) exports a counter, a gauge, an explicit
//! histogram and an exponential histogram through the `rwgate` binary into three
//! receivers at RF 2: every series arrives under Prometheus' name for it, with its
//! values, on exactly the receivers `rwgate ring lookup` names, under the tenant of the
//! exporter's header.
#![allow(clippy::unwrap_used)]

mod e2e;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use e2e::*;
use rwgate_proto::prometheus as pb;
use rwgate_testkit::receiver::DevReceiver;
use rwgate_testkit::ring::lookup_indexes;

type Labels = BTreeMap<String, String>;
/// Each series (labels in wire order) with its last write and the receivers that got it.
type Received = BTreeMap<Vec<(String, String)>, (pb::TimeSeries, BTreeSet<usize>)>;

/// The last write of each series and the receivers (by index) that got it.
fn collect(receivers: &[DevReceiver]) -> Received {
    let mut out = Received::new();
    for (i, r) in receivers.iter().enumerate() {
        for w in r.take_captured() {
            for ts in w.timeseries {
                let key: Vec<(String, String)> = ts
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect();
                let e = out
                    .entry(key)
                    .or_insert_with(|| (ts.clone(), BTreeSet::new()));
                e.0 = ts;
                e.1.insert(i);
            }
        }
    }
    out
}

fn find<'a>(got: &'a Received, want: &[(&str, &str)]) -> &'a (pb::TimeSeries, BTreeSet<usize>) {
    let want: Labels = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    got.iter()
        .find(|(k, _)| k.iter().cloned().collect::<Labels>() == want)
        .map(|(_, v)| v)
        .unwrap_or_else(|| {
            panic!(
                "no series {want:?}; got {:#?}",
                got.keys().collect::<Vec<_>>()
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opentelemetry_sdk_export_lands_on_the_right_receivers_under_the_right_names() {
    let python = otel_python();
    let tmp = TempDir::new("otlp");
    let mut receivers = Vec::new();
    for _ in 0..3 {
        let r = DevReceiver::start(([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        r.capture();
        receivers.push(r);
    }
    let urls: Vec<String> = receivers.iter().map(DevReceiver::url).collect();
    let rings = tmp.join("hashrings.json");
    procs::write_hashrings(&rings, &[("default", &[], "hashmod", urls.clone())]);
    let config = format!("hashrings: {}\nreplication_factor: 2\n", rings.display());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/otel_export.py");
    let (gw, out, tmp) = tokio::task::spawn_blocking(move || {
        let gw = Gateway::start(&tmp, &config);
        let out = Command::new(python)
            .arg(script)
            .arg(gw.url_of("/v1/metrics"))
            .arg("tenant-a")
            .output()
            .unwrap();
        (gw, out, tmp)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the SDK's export failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.log_tail()
    );

    let got = collect(&receivers);
    let id = [("instance", "pod-1"), ("job", "shop/checkout")];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        let mut v = id.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let value = |labels: &[(&str, &str)]| {
        let (ts, _) = find(&got, labels);
        ts.samples.last().map(|s| s.value).unwrap()
    };
    assert_eq!(
        value(&with(&[
            ("__name__", "http_requests_total"),
            ("http_route", "/a")
        ])),
        5.0
    );
    assert_eq!(
        value(&with(&[
            ("__name__", "http_requests_total"),
            ("http_route", "/b")
        ])),
        2.0
    );
    assert_eq!(
        value(&with(&[("__name__", "queue_size_bytes"), ("queue", "q1")])),
        42.0
    );
    let b = "request_latency_seconds_bucket";
    assert_eq!(value(&with(&[("__name__", b), ("le", "0.1")])), 1.0);
    assert_eq!(value(&with(&[("__name__", b), ("le", "1")])), 2.0);
    assert_eq!(value(&with(&[("__name__", b), ("le", "+Inf")])), 3.0);
    assert_eq!(
        value(&with(&[("__name__", "request_latency_seconds_count")])),
        3.0
    );
    assert!((value(&with(&[("__name__", "request_latency_seconds_sum")])) - 2.55).abs() < 1e-9);
    // target_info: the resource's other attributes, the SDK's own `telemetry.sdk.*`
    // among them, and not the ones that became job and instance.
    let info: Vec<_> = got
        .iter()
        .filter(|(k, _)| k.contains(&("__name__".into(), "target_info".into())))
        .collect();
    assert_eq!(info.len(), 1);
    let (labels, (ts, _)) = info[0];
    let labels: Labels = labels.iter().cloned().collect();
    for (k, v) in [
        ("k8s_pod_name", "checkout-7d9"),
        ("telemetry_sdk_language", "python"),
        ("job", "shop/checkout"),
        ("instance", "pod-1"),
    ] {
        assert_eq!(labels.get(k).map(String::as_str), Some(v), "{labels:?}");
    }
    assert!(!labels.contains_key("service_name"), "{labels:?}");
    assert_eq!(ts.samples.last().map(|s| s.value), Some(1.0));
    let (native, _) = find(&got, &with(&[("__name__", "request_size_bytes")]));
    let h = native.histograms.last().unwrap();
    assert_eq!(h.count, Some(pb::histogram::Count::CountInt(3)));
    assert_eq!(h.sum, 11100.0);
    assert!((-4..=8).contains(&h.schema), "schema {}", h.schema);
    let buckets: i64 = h
        .positive_deltas
        .iter()
        .scan(0i64, |c, d| {
            *c += d;
            Some(*c)
        })
        .sum();
    assert_eq!(buckets, 3, "three observations in the positive buckets");

    // Two counter series, the gauge, three buckets, _count, _sum, the native histogram,
    // target_info.
    assert_eq!(
        got.len(),
        10,
        "nothing else: {:#?}",
        got.keys().collect::<Vec<_>>()
    );
    for (labels, (_, on)) in &got {
        let algorithm = rwgate_ring::Algorithm::Hashmod;
        let want = lookup_indexes(&rings, "tenant-a", labels, 2, algorithm, &urls);
        assert_eq!(on, &want, "{labels:?}");
    }
    for (i, r) in receivers.iter().enumerate() {
        let tenants: Vec<String> = r.tenants().into_keys().collect();
        assert_eq!(tenants, vec!["tenant-a".to_string()], "receiver {i}");
    }
    tokio::task::spawn_blocking(move || drop((gw, tmp)))
        .await
        .unwrap();
}
