//! Benchmark fixtures. The agent request is a real capture (see fixtures/README.md); the
//! synthetic ones are generated here, deterministically, and checked in.
#![allow(dead_code)]

use prost::Message;
use rwgate_proto::{prometheus as v1, v2};

/// A remote-write request captured from Prometheus 2.42 in agent mode.
pub const AGENT: &str = "prometheus-agent-2.42.snappy";
/// 5000 series, v1.
pub const SYNTHETIC_V1: &str = "synthetic-5000-v1.snappy";
/// The same 5000 series, v2.
pub const SYNTHETIC_V2: &str = "synthetic-5000-v2.snappy";
/// Series in the synthetic fixtures.
pub const SYNTHETIC_SERIES: usize = 5000;

/// Labels of synthetic series `i`, sorted: what a node-exporter-like edge cluster sends.
pub fn labels(i: usize) -> Vec<(String, String)> {
    let metrics = [
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_network_receive_bytes_total",
        "kube_pod_container_status_restarts_total",
        "container_cpu_usage_seconds_total",
    ];
    vec![
        ("__name__".into(), metrics[i % metrics.len()].into()),
        ("cluster".into(), "cluster-03".into()),
        ("container".into(), format!("app-{}", i % 40)),
        (
            "instance".into(),
            format!("10.0.{}.{}:9100", (i / 250) % 256, i % 250),
        ),
        ("job".into(), "kubernetes-pods".into()),
        ("namespace".into(), format!("team-{}", i % 12)),
        ("pod".into(), format!("app-{}-7d9f8b6c5-{:05}", i % 40, i)),
        ("tenant".into(), "tenant-a".into()),
    ]
}

fn sample(i: usize) -> (f64, i64) {
    ((i as f64) * 1.5, 1_700_000_000_000 + (i as i64 % 15) * 1000)
}

/// The v1 request, snappy-compressed.
pub fn synthetic_v1() -> Vec<u8> {
    let req = v1::WriteRequest {
        timeseries: (0..SYNTHETIC_SERIES)
            .map(|i| v1::TimeSeries {
                labels: labels(i)
                    .into_iter()
                    .map(|(name, value)| v1::Label { name, value })
                    .collect(),
                samples: vec![{
                    let (value, timestamp) = sample(i);
                    v1::Sample { value, timestamp }
                }],
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .expect("compress")
}

/// The v2 request, snappy-compressed, with a symbol table.
pub fn synthetic_v2() -> Vec<u8> {
    let mut table = rwgate_wire::SymbolTable::new();
    let timeseries = (0..SYNTHETIC_SERIES)
        .map(|i| v2::TimeSeries {
            labels_refs: table.refs(labels(i).iter().map(|(n, v)| (n.as_str(), v.as_str()))),
            samples: vec![{
                let (value, timestamp) = sample(i);
                v2::Sample {
                    value,
                    timestamp,
                    start_timestamp: 0,
                }
            }],
            ..Default::default()
        })
        .collect();
    let req = v2::Request {
        symbols: table.into_symbols(),
        timeseries,
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .expect("compress")
}

/// A seed for the `decode` fuzz target (`fuzz/`): selector byte 1 (v2) and a raw v2
/// request that reaches every histogram and exemplar path: an exponential histogram
/// with positive, negative and zero buckets, a custom-buckets one, float samples with
/// exemplars, and metadata.
pub const FUZZ_SEED_V2: &str = "fuzz-decode-v2-histograms-exemplars.bin";

/// The bytes of [`FUZZ_SEED_V2`].
pub fn fuzz_seed_v2() -> Vec<u8> {
    let mut table = rwgate_wire::SymbolTable::new();
    let exponential = v2::Histogram {
        count: Some(v2::histogram::Count::CountInt(27)),
        sum: 12.5,
        schema: 3,
        zero_threshold: 1e-128,
        zero_count: Some(v2::histogram::ZeroCount::ZeroCountInt(1)),
        negative_spans: vec![v2::BucketSpan {
            offset: 0,
            length: 2,
        }],
        negative_deltas: vec![1, 1],
        positive_spans: vec![
            v2::BucketSpan {
                offset: 0,
                length: 3,
            },
            v2::BucketSpan {
                offset: 2,
                length: 2,
            },
        ],
        positive_deltas: vec![1, 2, 1, 3, 1],
        timestamp: 1_700_000_000_000,
        ..Default::default()
    };
    let custom = v2::Histogram {
        count: Some(v2::histogram::Count::CountInt(30)),
        sum: 7.0,
        schema: -53,
        positive_spans: vec![v2::BucketSpan {
            offset: 0,
            length: 6,
        }],
        positive_deltas: vec![2, 1, 2, 3, -1, -2],
        custom_values: vec![0.1, 0.5, 1.0, 2.5, 5.0, 10.0],
        timestamp: 1_700_000_000_000,
        ..Default::default()
    };
    let exemplar = |table: &mut rwgate_wire::SymbolTable, trace: &str| v2::Exemplar {
        labels_refs: table.refs([("trace_id", trace)]),
        value: 0.25,
        timestamp: 1_700_000_000_000,
    };
    let metadata =
        |table: &mut rwgate_wire::SymbolTable, kind: v2::metadata::MetricType| v2::Metadata {
            r#type: kind as i32,
            help_ref: table.intern("help text"),
            unit_ref: table.intern("seconds"),
        };
    let mut timeseries = Vec::new();
    for (name, h) in [("latency_exp", exponential), ("latency_nhcb", custom)] {
        timeseries.push(v2::TimeSeries {
            labels_refs: table.refs([("__name__", name), ("job", "api")]),
            histograms: vec![h],
            exemplars: vec![exemplar(&mut table, "abc123")],
            metadata: Some(metadata(&mut table, v2::metadata::MetricType::Histogram)),
            ..Default::default()
        });
    }
    timeseries.push(v2::TimeSeries {
        labels_refs: table.refs([("__name__", "http_requests_total"), ("job", "api")]),
        samples: vec![v2::Sample {
            value: 1.0,
            timestamp: 1_700_000_000_000,
            start_timestamp: 1_699_999_000_000,
        }],
        exemplars: vec![exemplar(&mut table, "def456")],
        metadata: Some(metadata(&mut table, v2::metadata::MetricType::Counter)),
        ..Default::default()
    });
    let req = v2::Request {
        symbols: table.into_symbols(),
        timeseries,
    };
    let mut out = vec![1u8];
    out.extend(req.encode_to_vec());
    out
}
