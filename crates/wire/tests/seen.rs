//! The memory of label sets seen before (`rwgate_wire::seen`): a repeat decodes to
//! exactly what a fresh decode gives, stricter limits validate again, and only label
//! sets that validated and were sorted are remembered.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure

mod common;

use common::*;
use proptest::prelude::*;
use rwgate_proto::prometheus as v1;
use rwgate_wire::{Limits, WriteBatch, seen};

fn remembering() -> Limits {
    Limits {
        seen_entries: 1024,
        ..Limits::default()
    }
}

/// What a decode kept and refused, in a comparable form.
fn outcome(batch: &WriteBatch) -> (Vec<Vec<u8>>, u64, Option<String>) {
    (
        batch.iter().map(|s| s.encoded().to_vec()).collect(),
        batch.rejected().series,
        batch.rejected().first.clone(),
    )
}

#[test]
fn a_repeat_is_not_validated_again_and_decodes_the_same() {
    seen::clear();
    let req = request(vec![
        series(&[("__name__", "up"), ("job", "a")], &[(1.0, NOW)]),
        series(&[("job", "b"), ("__name__", "up")], &[(1.0, NOW)]),
        series(&[("__name__", "up"), ("a", "1"), ("a", "2")], &[(1.0, NOW)]),
    ]);
    let off = decode_v1_with(&req, &Limits::default()).unwrap();
    let first = decode_v1_with(&req, &remembering()).unwrap();
    let again = decode_v1_with(&req, &remembering()).unwrap();
    assert_eq!(outcome(&first), outcome(&off));
    assert_eq!(outcome(&again), outcome(&off));
    // The sorted, valid series is remembered; the unsorted one is re-sorted each time
    // and not remembered; the invalid one is refused each time.
    assert!(off.series(0).seen().is_none(), "off remembers nothing");
    let key = first.series(0).seen().unwrap().key;
    assert_eq!(again.series(0).seen().unwrap().key, key);
    assert!(again.series(1).seen().is_none());
    assert_eq!(again.rejected().series, 1);
    seen::clear();
}

#[test]
fn stricter_limits_validate_a_remembered_label_set_again() {
    seen::clear();
    let req = request(vec![series(
        &[("__name__", "up"), ("pod", "a-rather-long-pod-name")],
        &[(1.0, NOW)],
    )]);
    let batch = decode_v1_with(&req, &remembering()).unwrap();
    assert_eq!(batch.len(), 1);
    let strict = Limits {
        max_label_value_len: 8,
        ..remembering()
    };
    let batch = decode_v1_with(&req, &strict).unwrap();
    assert_eq!(batch.len(), 0);
    assert_eq!(
        batch.rejected().first_reason().map(|r| r.id()),
        Some("label_value_too_long")
    );
    seen::clear();
}

#[test]
fn placement_hashes_are_remembered_per_tenant() {
    seen::clear();
    let req = request(vec![series(&[("__name__", "up")], &[(1.0, NOW)])]);
    let batch = decode_v1_with(&req, &remembering()).unwrap();
    let key = batch.series(0).seen().unwrap().key;
    seen::set_hash(key, seen::tenant_seed(b"tenant-a"), 99);
    let again = decode_v1_with(&req, &remembering()).unwrap();
    let s = again.series(0).seen().unwrap();
    assert_eq!((s.tenant, s.hash), (seen::tenant_seed(b"tenant-a"), 99));
    seen::clear();
}

fn labels_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof!["[a-z_]{1,6}", "[a-z\u{0}.é]{0,4}"],
            prop_oneof!["[a-z0-9]{0,8}", ".{0,40}"],
        ),
        0..5,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// With the memory on, a request decodes the first and the second time exactly as
    /// with it off: the same series kept, byte for byte, and the same refusals.
    #[test]
    fn remembering_never_changes_a_decode(
        sets in prop::collection::vec(labels_strategy(), 1..8),
        value_limit in 4usize..64,
    ) {
        seen::clear();
        let all: Vec<v1::TimeSeries> = sets
            .iter()
            .map(|l| {
                let refs: Vec<(&str, &str)> = l.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                series(&refs, &[(1.0, NOW)])
            })
            .collect();
        let req = request(all);
        let base = Limits { max_label_value_len: value_limit, ..Limits::default() };
        let on = Limits { seen_entries: 4, ..base.clone() };
        let off = outcome(&decode_v1_with(&req, &base).unwrap());
        prop_assert_eq!(&outcome(&decode_v1_with(&req, &on).unwrap()), &off);
        prop_assert_eq!(&outcome(&decode_v1_with(&req, &on).unwrap()), &off);
        seen::clear();
    }
}
