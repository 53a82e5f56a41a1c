//! The checked-in benchmark fixtures: the captured agent request decodes cleanly, and
//! the synthetic ones equal what `rwgate_wire_fixtures` generates (run with
//! `RWGATE_REGENERATE=1` to rewrite them).
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../benches/fixtures.rs"]
mod fixtures;

use rwgate_wire::{Limits, Protocol};

fn path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

#[test]
fn captured_prometheus_agent_request_decodes_cleanly() {
    let body = std::fs::read(path(fixtures::AGENT)).unwrap();
    let batch =
        rwgate_wire::decode_request(None, Some(b"snappy"), &body, &Limits::default(), 0).unwrap();
    assert!(batch.len() > 500, "{} series", batch.len());
    assert!(batch.rejected().is_empty(), "{:?}", batch.rejected());
    assert_eq!(batch.sorted_series(), 0, "Prometheus sends sorted labels");
    // The write relabel and external labels of the capture config are on every series.
    for s in batch.iter() {
        assert_eq!(s.label(b"tenant"), Some(&b"tenant-a"[..]));
        assert_eq!(s.label(b"cluster"), Some(&b"cluster-02"[..]));
    }
}

#[test]
fn synthetic_fixtures_are_current() {
    let regenerate = std::env::var_os("RWGATE_REGENERATE").is_some();
    for (name, body, protocol) in [
        (
            fixtures::SYNTHETIC_V1,
            fixtures::synthetic_v1(),
            Protocol::V1,
        ),
        (
            fixtures::SYNTHETIC_V2,
            fixtures::synthetic_v2(),
            Protocol::V2,
        ),
    ] {
        if regenerate {
            std::fs::write(path(name), &body).unwrap();
        }
        let on_disk = std::fs::read(path(name)).unwrap();
        assert!(
            on_disk == body,
            "{name} is stale: rerun with RWGATE_REGENERATE=1"
        );
        let batch = rwgate_wire::decode_request(
            Some(protocol.content_type().as_bytes()),
            Some(b"snappy"),
            &on_disk,
            &Limits::default(),
            0,
        )
        .unwrap();
        assert_eq!(batch.len(), fixtures::SYNTHETIC_SERIES);
    }
}

#[test]
fn fuzz_seed_is_current_and_decodes_cleanly() {
    let seed = fixtures::fuzz_seed_v2();
    if std::env::var_os("RWGATE_REGENERATE").is_some() {
        std::fs::write(path(fixtures::FUZZ_SEED_V2), &seed).unwrap();
    }
    let on_disk = std::fs::read(path(fixtures::FUZZ_SEED_V2)).unwrap();
    assert!(
        on_disk == seed,
        "{} is stale: rerun with RWGATE_REGENERATE=1",
        fixtures::FUZZ_SEED_V2
    );
    // Selector byte 1 is v2; the rest is the raw request, every series valid.
    let batch = rwgate_wire::decode(
        Protocol::V2,
        on_disk[1..].to_vec().into(),
        &Limits::default(),
        0,
    )
    .unwrap();
    assert!(batch.rejected().is_empty(), "{:?}", batch.rejected());
    assert_eq!(batch.len(), 3);
    let acc = batch.accepted();
    assert_eq!((acc.samples, acc.histograms, acc.exemplars), (1, 2, 3));
    assert_eq!(batch.metadata(), 3);
}
