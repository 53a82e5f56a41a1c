//! Criterion benchmark of the series hash over 5000 edge-cluster-like series (eight
//! labels each), the per-series work of placement besides the ring lookup.
//! Peer in the same run: XXH64 of the same bytes already laid out (the floor).
//!
//! `cargo bench -p rwgate-ring --bench hash`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rwgate_ring::{series_hash, xxhash64};

fn series(i: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let metrics = ["node_cpu_seconds_total", "node_memory_MemAvailable_bytes"];
    [
        ("__name__", metrics[i % 2].to_string()),
        ("cluster", "cluster-03".into()),
        ("container", format!("app-{}", i % 40)),
        (
            "instance",
            format!("10.0.{}.{}:9100", (i / 250) % 256, i % 250),
        ),
        ("job", "kubernetes-pods".into()),
        ("namespace", format!("team-{}", i % 12)),
        ("pod", format!("app-{}-7d9f8b6c5-{:05}", i % 40, i)),
        ("tenant", "tenant-a".into()),
    ]
    .into_iter()
    .map(|(n, v)| (n.as_bytes().to_vec(), v.into_bytes()))
    .collect()
}

fn bench(c: &mut Criterion) {
    let all: Vec<_> = (0..5000).map(series).collect();
    let mut buf = Vec::new();
    let laid_out: Vec<Vec<u8>> = all
        .iter()
        .map(|s| {
            series_hash(
                b"tenant-a",
                s.iter().map(|(n, v)| (&n[..], &v[..])),
                &mut buf,
            );
            buf.clone()
        })
        .collect();
    let mut g = c.benchmark_group("series_hash_5000");
    g.throughput(Throughput::Elements(all.len() as u64));
    g.bench_function("series_hash", |b| {
        b.iter(|| {
            for s in &all {
                let labels = s.iter().map(|(n, v)| (&n[..], &v[..]));
                black_box(series_hash(b"tenant-a", labels, &mut buf));
            }
        })
    });
    g.bench_function("xxh64_of_laid_out_peer", |b| {
        b.iter(|| {
            for s in &laid_out {
                black_box(xxhash64(s));
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
