//! Decoding a scenario's requests over and over, as a relay sees a scraped series set:
//! every label set has been seen before, so this measures the decoder's per-series
//! cost with the memory of label sets warm and as large as the scenario's series set
//! (the cache misses of its lookups included). Criterion's per-element time is per
//! series.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rwgate_load::workload::{Workload, build};
use rwgate_wire::Protocol;
use rwgate_wire::pool::BufferPool;

const SCENARIOS: [&str; 2] = ["edge-cluster", "kube-state-metrics"];

/// Label sets remembered per thread and generation: about what the default
/// `limits.series_cache_bytes` (64 MiB) gives each thread on 2 cores.
const SEEN_ENTRIES: usize = 1 << 18;

/// Inside every scenario's window of valid timestamps.
const NOW_MS: i64 = 1_700_000_000_000;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_repeat");
    g.sample_size(20);
    for name in SCENARIOS {
        let w = Workload::shipped(name).unwrap();
        // The memory on (`Limits::default()` has it off), with room for every series
        // of the scenario, as the gateway's default `limits.series_cache_bytes` gives.
        let limits = rwgate_wire::Limits {
            seen_entries: SEEN_ENTRIES,
            ..rwgate_wire::Limits::default()
        };
        let bodies: Vec<_> = build(&w)
            .into_iter()
            .map(|p| rwgate_wire::decompress(&p.body, &limits).unwrap())
            .collect();
        let pool = BufferPool::new(64, 1 << 30);
        let mut series = 0;
        for b in &bodies {
            let batch = pool
                .decode(Protocol::V1, b.clone(), &limits, NOW_MS)
                .unwrap();
            assert!(batch.rejected().is_empty(), "{name}: every series valid");
            series += batch.len() as u64;
            pool.recycle_batch(batch);
        }
        let warm = pool
            .decode(Protocol::V1, bodies[0].clone(), &limits, NOW_MS)
            .unwrap();
        assert!(
            warm.iter().all(|s| s.seen().is_some()),
            "{name}: every label set found in the memory"
        );
        pool.recycle_batch(warm);
        g.throughput(Throughput::Elements(series));
        g.bench_function(name, |bench| {
            bench.iter(|| {
                for b in &bodies {
                    let batch = pool
                        .decode(Protocol::V1, b.clone(), &limits, NOW_MS)
                        .unwrap();
                    pool.recycle_batch(std::hint::black_box(batch));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
