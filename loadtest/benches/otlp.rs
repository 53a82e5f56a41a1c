//! OTLP ingest before routing, on the edge-cluster scenario sent as OTLP (5,000 series
//! of 10 labels, 2 points each: 10,000 data points per request): parse the protobuf,
//! translate as Prometheus does, and decode the translation as remote write 1.0, which
//! is what rwgate does with an OTLP body before its series take the remote-write path.
//! `gzip` adds un-gzipping the body as the Collector sends it. Criterion's per-element
//! time is per data point; 1 s divided by it is data points per CPU-second.
#![allow(missing_docs, clippy::unwrap_used)]

use std::io::Write as _;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;
use rwgate_gateway::otlp::{self, Encoding, Settings};
use rwgate_load::workload::{Workload, otlp_body};

fn bench(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/edge-cluster.yaml");
    let w = Workload::from_file(&path).unwrap();
    let ids: Vec<usize> = (0..w.batch).collect();
    let request = otlp_body(&w, &ids, 1_700_000_000_000);
    let raw = request.encode_to_vec();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&raw).unwrap();
    let gzipped = enc.finish().unwrap();
    let points = (w.batch * w.samples_per_series) as u64;
    let limits = rwgate_wire::Limits::default();
    // `first sight`: the translation cache off, every point translated from scratch.
    let settings = Settings::default();
    let warm = Settings {
        cache_bytes: 64 << 20,
        ..Settings::default()
    };
    let run = |raw: &[u8], settings: &Settings| {
        let req = otlp::parse(Encoding::Protobuf, raw).unwrap();
        let t = otlp::translate(&req, settings, limits.max_decoded_bytes).unwrap();
        let batch =
            rwgate_wire::decode(rwgate_wire::Protocol::V1, t.body.into(), &limits, 0).unwrap();
        assert_eq!(batch.accepted().samples, points);
        batch
    };
    let mut g = c.benchmark_group("otlp_edge_cluster");
    g.throughput(Throughput::Elements(points));
    g.sample_size(20);
    g.bench_function("parse_translate_decode", |b| {
        b.iter(|| run(&raw, &settings))
    });
    // The steady state: the same series exported again, the cache warm.
    g.bench_function("parse_translate_decode_cached", |b| {
        b.iter(|| run(&raw, &warm))
    });
    // The steps alone.
    g.bench_function("parse", |b| {
        b.iter(|| otlp::parse(Encoding::Protobuf, &raw).unwrap())
    });
    let parsed = otlp::parse(Encoding::Protobuf, &raw).unwrap();
    let translated = otlp::translate(&parsed, &settings, limits.max_decoded_bytes).unwrap();
    g.bench_function("translate", |b| {
        b.iter(|| otlp::translate(&parsed, &settings, limits.max_decoded_bytes).unwrap())
    });
    g.bench_function("translate_cached", |b| {
        b.iter(|| otlp::translate(&parsed, &warm, limits.max_decoded_bytes).unwrap())
    });
    let body = bytes::Bytes::from(translated.body);
    g.bench_function("decode_translation", |b| {
        b.iter(|| rwgate_wire::decode(rwgate_wire::Protocol::V1, body.clone(), &limits, 0).unwrap())
    });
    g.bench_function("gzip", |b| {
        let grow = |_| Ok::<(), otlp::OtlpError>(());
        b.iter(|| {
            run(
                &otlp::gunzip(&gzipped, limits.max_decoded_bytes, grow).unwrap(),
                &settings,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
