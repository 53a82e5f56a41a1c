//! Criterion benchmarks of the hot path on checked-in fixtures:
//! decompress, decode + validate, and split + encode for three receivers at RF 2.
//! Peer in the same run: prost decoding the same body into owned messages.
//!
//! `cargo bench -p rwgate-wire --bench wire`

mod fixtures;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use rwgate_proto::prometheus as v1;
use rwgate_wire::{Encoder, Limits, Protocol};

fn load(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read(p).expect("fixture")
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let cases = [
        ("agent", load(fixtures::AGENT), Protocol::V1),
        (
            "synthetic5000_v1",
            load(fixtures::SYNTHETIC_V1),
            Protocol::V1,
        ),
        (
            "synthetic5000_v2",
            load(fixtures::SYNTHETIC_V2),
            Protocol::V2,
        ),
    ];
    for (name, compressed, protocol) in &cases {
        let decoded = rwgate_wire::decompress(compressed, &limits).expect("fixture decompresses");
        let batch =
            rwgate_wire::decode(*protocol, decoded.clone(), &limits, 0).expect("fixture decodes");
        let series = batch.len();
        eprintln!(
            "{name}: {series} series, {} bytes compressed, {} bytes decoded",
            compressed.len(),
            decoded.len()
        );
        let mut g = c.benchmark_group(*name);
        g.throughput(Throughput::Bytes(decoded.len() as u64));
        g.bench_function("decompress", |b| {
            b.iter(|| rwgate_wire::decompress(black_box(compressed), &limits).expect("ok"))
        });
        g.bench_function("decode_validate", |b| {
            b.iter(|| {
                rwgate_wire::decode(*protocol, black_box(decoded.clone()), &limits, 0).expect("ok")
            })
        });
        if *protocol == Protocol::V1 {
            g.bench_function("prost_decode_peer", |b| {
                b.iter(|| v1::WriteRequest::decode(black_box(decoded.clone())).expect("ok"))
            });
        }
        // Three receivers, RF 2: every series lands in two of three requests.
        let groups: Vec<Vec<usize>> = (0..3)
            .map(|r| (0..series).filter(|i| i % 3 != r).collect())
            .collect();
        let mut encoder = Encoder::new();
        g.bench_function("split_encode_3x_rf2", |b| {
            b.iter(|| {
                for grp in &groups {
                    black_box(encoder.encode(&batch, grp.iter().copied()).expect("ok"));
                }
            })
        });
        g.bench_function("whole_path_rf2", |b| {
            b.iter(|| {
                let body = rwgate_wire::decompress(black_box(compressed), &limits).expect("ok");
                let batch = rwgate_wire::decode(*protocol, body, &limits, 0).expect("ok");
                for grp in &groups {
                    black_box(encoder.encode(&batch, grp.iter().copied()).expect("ok"));
                }
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
