//! The snappy floor of each scenario: decompressing one of its request bodies and
//! compressing the same bytes again, which any relay of remote write over HTTP pays.
//! docs/benchmarks.md sets rwgate's CPU per sample beside it. Criterion's per-element
//! time, multiplied by 1M, is the floor in CPU-seconds per 1M samples.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rwgate_load::workload::{Workload, build};

const SCENARIOS: [&str; 4] = [
    "edge-cluster",
    "kube-state-metrics",
    "node-exporter",
    "histogram-heavy",
];

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("snappy_floor");
    g.sample_size(30);
    for name in SCENARIOS {
        let w = Workload::shipped(name).unwrap();
        let payload = build(&w).into_iter().next().unwrap();
        let body = payload.body.to_vec();
        g.throughput(Throughput::Elements(payload.samples));
        let limits = rwgate_wire::Limits::default();
        let mut out = Vec::new();
        g.bench_function(name, |b| {
            b.iter(|| {
                // The relay's own decompression (length capped before allocating).
                let raw = rwgate_wire::decompress(&body, &limits).unwrap();
                out.resize(snap::raw::max_compress_len(raw.len()), 0);
                let m = snap::raw::Encoder::new().compress(&raw, &mut out).unwrap();
                std::hint::black_box(m)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
