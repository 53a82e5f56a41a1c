//! The per-series tenancy step (`rules::route`) on 5,000 edge-cluster series, without
//! relabel rules and with the five typical ones of
//! `loadtest/scenarios/relabel-five-rules.yaml` adapted to these series: the cost
//! relabeling adds, and proof that a tenant without rules pays nothing for it.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rwgate_gateway::Config;
use rwgate_gateway::tenancy::{Auth, Identity, rules};
use rwgate_wire::{Limits, Protocol};

const RULES: &str = r#"
relabel_configs:
  - {regex: tenant, action: labeldrop}
  - {source_labels: [pod], regex: "(app-[0-9]+)-.*", target_label: app, replacement: "$1"}
  - {source_labels: [__name__], regex: "go_gc_.*", action: drop}
  - {source_labels: [pod], target_label: shard, modulus: 8, action: hashmod}
  - {source_labels: [cluster], target_label: cluster, action: keepequal}
"#;

fn bench(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wire/fixtures/synthetic-5000-v1.snappy");
    let body = std::fs::read(path).unwrap();
    let limits = Limits::default();
    let raw = rwgate_wire::decompress(&body, &limits).unwrap();
    let batch = rwgate_wire::decode(Protocol::V1, raw, &limits, 0).unwrap();
    let id = Identity {
        tenant: "tenant-a".into(),
        auth: Auth::None,
        can_split: false,
    };
    let mut g = c.benchmark_group("route_5000_series");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.sample_size(30);
    // `five_rules`: the series were seen before (the relabel cache answers, the steady
    // state of scraped series); `five_rules_first_sight`: the cache is emptied before
    // every iteration, so the rules run for every series.
    for (name, yaml, forget) in [
        ("no_rules", "hashrings: /x\n".to_string(), false),
        ("five_rules", format!("hashrings: /x\n{RULES}"), false),
        (
            "five_rules_first_sight",
            format!("hashrings: /x\n{RULES}"),
            true,
        ),
    ] {
        let cfg = Config::from_yaml(&yaml).unwrap().validate().unwrap();
        let state = cfg.tenancy_state().unwrap();
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    if forget {
                        rwgate_gateway::relabel::cache::with(state.relabel_cache_bytes(), |c| {
                            c.clear()
                        });
                    }
                    batch.clone()
                },
                |mut batch| {
                    let routed = rules::route(&state, &id, &mut batch, |_, _| {}).unwrap();
                    assert_eq!(routed.groups[0].1.len(), 5000);
                    batch
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
