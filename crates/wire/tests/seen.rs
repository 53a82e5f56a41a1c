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
            // The long values make label fields of over 127 bytes, whose length takes
            // two bytes: the decoder's fast paths stop there.
            prop_oneof!["[a-z0-9]{0,8}", ".{0,40}", "[a-z]{120,140}"],
        ),
        0..8,
    )
}

/// A v1 body of `sets`, one sample each; a series whose flag is set also carries a
/// label field after its sample (valid protobuf, which no sender writes).
fn body_of(sets: &[(Vec<(String, String)>, bool)]) -> Vec<u8> {
    use prost::Message;
    let mut raw = Vec::new();
    for (labels, trailing) in sets {
        let refs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let mut ts = series(&refs, &[(1.0, NOW)]).encode_to_vec();
        if *trailing {
            let extra = v1::TimeSeries {
                labels: vec![label("zz", "late")],
                ..Default::default()
            };
            ts.extend(extra.encode_to_vec());
        }
        raw.push(0x0a);
        prost::encoding::encode_varint(ts.len() as u64, &mut raw);
        raw.extend(ts);
    }
    raw
}

fn decode_raw(raw: &[u8], limits: &Limits) -> WriteBatch {
    rwgate_wire::decode_request(None, Some(b"snappy"), &snappy(raw), limits, NOW).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// With the memory on, a request decodes the first and the second time exactly as
    /// with it off: the same series kept, byte for byte, and the same refusals. The
    /// requests span several of the decoder's chunks of series, and hold label fields
    /// over 127 bytes, label sets over the limit and labels after a sample.
    #[test]
    fn remembering_never_changes_a_decode(
        sets in prop::collection::vec((labels_strategy(), prop::bool::weighted(0.1)), 1..80),
        value_limit in 4usize..200,
        names_limit in 1usize..8,
    ) {
        seen::clear();
        let raw = body_of(&sets);
        let base = Limits {
            max_label_value_len: value_limit,
            max_label_names: names_limit,
            ..Limits::default()
        };
        let on = Limits { seen_entries: 64, ..base.clone() };
        let off = outcome(&decode_raw(&raw, &base));
        prop_assert_eq!(&outcome(&decode_raw(&raw, &on)), &off);
        prop_assert_eq!(&outcome(&decode_raw(&raw, &on)), &off);
        seen::clear();
    }
}
