//! Round trips: what rwgate forwards decodes (with prost) to what was sent, labels sorted.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure

mod common;

use common::*;
use proptest::prelude::*;
use rwgate_proto::prometheus as v1;
use rwgate_wire::{Encoder, Limits};

fn sorted(mut ts: v1::TimeSeries) -> v1::TimeSeries {
    ts.labels.sort_by(|a, b| a.name.cmp(&b.name));
    ts
}

#[test]
fn v1_sorted_series_are_forwarded_byte_for_byte() {
    use prost::Message;
    let req = request(vec![
        series(
            &[("__name__", "up"), ("instance", "a:9100"), ("job", "node")],
            &[(1.0, NOW)],
        ),
        series(
            &[("__name__", "up"), ("instance", "b:9100"), ("job", "node")],
            &[(0.0, NOW)],
        ),
    ]);
    let batch = decode_v1(&req).unwrap();
    assert_eq!(batch.sorted_series(), 0);
    let raw = Encoder::new().encode_raw(&batch, 0..batch.len()).to_vec();
    assert_eq!(raw, req.encode_to_vec());
}

#[test]
fn v1_unsorted_labels_are_sorted_and_counted() {
    let ts = series(
        &[("job", "node"), ("__name__", "up"), ("a", "1")],
        &[(2.0, NOW)],
    );
    let mut with_exemplar = ts.clone();
    with_exemplar.exemplars = vec![v1::Exemplar {
        labels: vec![label("trace_id", "t")],
        value: 1.0,
        timestamp: NOW,
    }];
    let batch = decode_v1(&request(vec![with_exemplar.clone()])).unwrap();
    assert_eq!(batch.sorted_series(), 1);
    assert_eq!(forwarded(&batch).timeseries, vec![sorted(with_exemplar)]);
}

#[test]
fn subsets_encode_only_their_series() {
    let req = request(
        (0..10)
            .map(|i| {
                series(
                    &[("__name__", "m"), ("i", &i.to_string())],
                    &[(i as f64, NOW)],
                )
            })
            .collect(),
    );
    let batch = decode_v1(&req).unwrap();
    let odd: Vec<usize> = (0..10).filter(|i| i % 2 == 1).collect();
    let bytes = Encoder::new().encode(&batch, odd.iter().copied()).unwrap();
    let raw = rwgate_wire::decompress(&bytes, &Limits::default()).unwrap();
    let out = <v1::WriteRequest as prost::Message>::decode(raw).unwrap();
    let want: Vec<_> = odd.iter().map(|&i| req.timeseries[i].clone()).collect();
    assert_eq!(out.timeseries, want);
}

/// `encode` compresses a request a 64 KiB block at a time, straight from the body
/// where series follow each other there; the bytes must be exactly those of snappy
/// over the whole request: for requests of under one block, of several and of none,
/// for every series, for subsets (runs broken at every series or now and then), with
/// series re-encoded because their labels came unsorted, and with metadata between
/// series in the body.
#[test]
fn blockwise_compression_gives_snappys_bytes() {
    for n in [0usize, 1, 300, 2_000] {
        let mut req = request(
            (0..n)
                .map(|i| {
                    let (ns, pod) = (
                        format!("ns-{}", i % 7),
                        format!("pod-{i}-{}", i * 7919 % 1000),
                    );
                    let mut labels = vec![
                        ("__name__", "kube_pod_container_status_ready"),
                        ("namespace", ns.as_str()),
                        ("pod", pod.as_str()),
                    ];
                    if i % 97 == 5 {
                        labels.reverse();
                    }
                    series(&labels, &[(i as f64, NOW)])
                })
                .collect(),
        );
        if n > 1 {
            req.metadata = vec![v1::MetricMetadata {
                r#type: 1,
                metric_family_name: "kube_pod_container_status_ready".into(),
                help: "h".into(),
                unit: String::new(),
            }];
        }
        let batch = decode_v1(&req).unwrap();
        assert_eq!(
            batch.sorted_series() as usize,
            (0..n).filter(|i| i % 97 == 5).count()
        );
        let selections: [Vec<usize>; 4] = [
            (0..n).collect(),
            (0..n).filter(|i| i % 2 == 1).collect(),
            (0..n).filter(|i| i % 50 != 7).collect(),
            (0..n / 2).collect(),
        ];
        let mut encoder = Encoder::new();
        for (k, sel) in selections.iter().enumerate() {
            let raw = encoder.encode_raw(&batch, sel.iter().copied()).to_vec();
            if n == 2_000 && k == 0 {
                assert!(
                    raw.len() > 3 * 65_536,
                    "spans several blocks: {}",
                    raw.len()
                );
            }
            let whole = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
            let blockwise = encoder.encode(&batch, sel.iter().copied()).unwrap();
            assert_eq!(&blockwise[..], &whole[..], "{n} series, selection {k}");
        }
    }
}

#[test]
fn metadata_is_counted_not_forwarded() {
    let mut req = request(vec![series(&[("__name__", "up")], &[(1.0, NOW)])]);
    req.metadata = vec![v1::MetricMetadata {
        r#type: 1,
        metric_family_name: "up".into(),
        help: "h".into(),
        unit: String::new(),
    }];
    let batch = decode_v1(&req).unwrap();
    assert_eq!(batch.metadata(), 1);
    assert!(forwarded(&batch).metadata.is_empty());
}

fn label_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,12}".prop_filter("reserved", |s| s != "__name__")
}

fn series_strategy() -> impl Strategy<Value = v1::TimeSeries> {
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
        prop::collection::btree_map(label_name(), "\\PC{1,16}", 0..8),
        prop::collection::vec((any::<f64>(), any::<i64>()), 0..5),
        any::<bool>(),
    )
        .prop_map(|(name, labels, samples, shuffle)| {
            let mut all: Vec<(String, String)> = labels.into_iter().collect();
            all.push(("__name__".into(), name));
            if shuffle {
                all.reverse();
            } else {
                all.sort();
            }
            let refs: Vec<(&str, &str)> =
                all.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            series(&refs, &samples)
        })
}

/// Bit-exact sample equality, except that proto3 cannot carry -0.0 through prost (it
/// omits a field equal to the default, so -0.0 arrives as 0.0).
fn same_samples(a: &[v1::Sample], b: &[v1::Sample]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.timestamp == y.timestamp
                && (x.value.to_bits() == y.value.to_bits() || (x.value == 0.0 && y.value == 0.0))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn v1_roundtrip(input in prop::collection::vec(series_strategy(), 0..20)) {
        let batch = decode_v1(&request(input.clone())).unwrap();
        prop_assert!(batch.rejected().is_empty(), "{:?}", batch.rejected());
        let out = forwarded(&batch);
        // A series without samples carries nothing to write and is not forwarded.
        let input: Vec<_> = input.into_iter().filter(|t| !t.samples.is_empty()).collect();
        prop_assert_eq!(out.timeseries.len(), input.len());
        for (got, want) in out.timeseries.iter().zip(input) {
            let want = sorted(want);
            prop_assert_eq!(&got.labels, &want.labels);
            prop_assert!(same_samples(&got.samples, &want.samples));
        }
    }

    #[test]
    fn v2_roundtrip(input in prop::collection::vec(series_strategy(), 0..20)) {
        let mut b = V2Builder::new();
        for ts in &input {
            let labels: Vec<(&str, &str)> = ts.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
            let samples: Vec<(f64, i64)> = ts.samples.iter().map(|s| (s.value, s.timestamp)).collect();
            b.series(&labels, &samples);
        }
        let batch = decode_v2(&b.req).unwrap();
        prop_assert!(batch.rejected().is_empty(), "{:?}", batch.rejected());
        prop_assert_eq!(batch.accepted().samples, input.iter().map(|t| t.samples.len() as u64).sum::<u64>());
        let out = forwarded(&batch);
        let input: Vec<_> = input.into_iter().filter(|t| !t.samples.is_empty()).collect();
        prop_assert_eq!(out.timeseries.len(), input.len());
        for (got, want) in out.timeseries.iter().zip(input) {
            let want = sorted(want);
            prop_assert_eq!(&got.labels, &want.labels);
            prop_assert!(same_samples(&got.samples, &want.samples));
        }
    }

    /// Arbitrary bytes never panic the decoder, and whatever it accepts re-encodes to
    /// something prost can read.
    #[test]
    fn arbitrary_bytes_decode_or_fail_cleanly(body in prop::collection::vec(any::<u8>(), 0..512), v2 in any::<bool>()) {
        let protocol = if v2 { rwgate_wire::Protocol::V2 } else { rwgate_wire::Protocol::V1 };
        if let Ok(batch) = rwgate_wire::decode(protocol, body.into(), &Limits::default(), NOW) {
            let out = forwarded(&batch);
            prop_assert_eq!(out.timeseries.len(), batch.len());
        }
    }
}

#[test]
fn set_label_overwrites_adds_and_removes_with_sorted_encoding() {
    let req = request(vec![series(
        &[("__name__", "up"), ("job", "node"), ("tenant", "tenant-b")],
        &[(1.0, NOW)],
    )]);
    let mut batch = decode_v1(&req).unwrap();

    assert!(batch.set_label(0, b"tenant", Some(b"tenant-a")));
    assert_eq!(batch.series(0).label(b"tenant"), Some(&b"tenant-a"[..]));
    assert_eq!(
        forwarded(&batch).timeseries[0],
        series(
            &[("__name__", "up"), ("job", "node"), ("tenant", "tenant-a")],
            &[(1.0, NOW)]
        )
    );

    assert!(batch.set_label(0, b"tenant", None));
    assert_eq!(batch.series(0).label(b"tenant"), None);
    assert_eq!(
        forwarded(&batch).timeseries[0],
        series(&[("__name__", "up"), ("job", "node")], &[(1.0, NOW)])
    );
    assert!(
        !batch.set_label(0, b"tenant", None),
        "nothing left to remove"
    );

    assert!(batch.set_label(0, b"cluster", Some(b"c1")));
    let labels: Vec<_> = batch.series(0).labels().map(|(n, _)| n.to_vec()).collect();
    assert_eq!(
        labels,
        vec![b"__name__".to_vec(), b"job".to_vec(), b"cluster".to_vec()],
        "wire order, added last"
    );
    assert_eq!(
        forwarded(&batch).timeseries[0],
        series(
            &[("__name__", "up"), ("cluster", "c1"), ("job", "node")],
            &[(1.0, NOW)]
        )
    );
}

#[test]
fn replace_labels_with_encoded_labels_keeps_samples_twice_over() {
    let req = request(vec![
        series(
            &[("__name__", "up"), ("job", "node")],
            &[(1.0, NOW), (2.0, NOW + 1)],
        ),
        series(&[("__name__", "down")], &[(3.0, NOW)]),
    ]);
    let mut batch = decode_v1(&req).unwrap();
    let first = rwgate_wire::EncodedLabels::new(&[("__name__", "up"), ("shard", "3")]);
    {
        use prost::Message;
        let labels_only = series(&[("__name__", "up"), ("shard", "3")], &[]).encode_to_vec();
        assert_eq!(
            first.fields(),
            &labels_only[..],
            "v1 Label fields, in order"
        );
    }
    // Once from the body, then again from scratch (the re-encoded copy).
    batch.replace_labels_with(0, &first);
    let second = rwgate_wire::EncodedLabels::new(&[("__name__", "up"), ("zone", "a")]);
    batch.replace_labels_with(0, &second);
    assert_eq!(batch.series(0).label(b"zone"), Some(&b"a"[..]));
    assert_eq!(batch.series(0).label(b"shard"), None);
    let out = forwarded(&batch);
    assert_eq!(
        out.timeseries[0],
        series(
            &[("__name__", "up"), ("zone", "a")],
            &[(1.0, NOW), (2.0, NOW + 1)]
        )
    );
    assert_eq!(
        out.timeseries[1],
        series(&[("__name__", "down")], &[(3.0, NOW)])
    );
}

#[test]
fn a_label_after_the_samples_is_read_and_replaced_like_the_others() {
    use prost::Message;
    // Repeated fields may come in any order: labels, a sample, then another label.
    let head = series(&[("__name__", "up")], &[(1.0, NOW)]).encode_to_vec();
    let tail = series(&[("job", "node")], &[]).encode_to_vec();
    let mut ts = head;
    ts.extend_from_slice(&tail);
    let mut body = Vec::new();
    prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut body);
    prost::encoding::encode_varint(ts.len() as u64, &mut body);
    body.extend_from_slice(&ts);
    let mut batch = rwgate_wire::decode(
        rwgate_wire::Protocol::V1,
        body.into(),
        &Limits::default(),
        NOW,
    )
    .unwrap();
    assert_eq!(batch.series(0).label(b"job"), Some(&b"node"[..]));
    assert_eq!(
        batch.series(0).label_fields(),
        None,
        "labels are not together"
    );
    let labels: Vec<(&[u8], &[u8])> = batch.series(0).labels().collect();
    assert_eq!(
        labels,
        vec![(&b"__name__"[..], &b"up"[..]), (&b"job"[..], &b"node"[..])],
        "both labels, in wire order"
    );

    batch.replace_labels(0, &[("__name__", "up"), ("job", "api")]);
    let want = series(&[("__name__", "up"), ("job", "api")], &[(1.0, NOW)]);
    assert_eq!(forwarded(&batch).timeseries[0], want);
    let labels_only = series(&[("__name__", "up"), ("job", "api")], &[]).encode_to_vec();
    assert_eq!(
        batch.series(0).label_fields(),
        Some(&labels_only[..]),
        "re-encoded with the labels first"
    );
}

#[test]
fn label_fields_of_a_sorted_series_are_its_bytes_as_received() {
    use prost::Message;
    let ts = series(&[("__name__", "up"), ("job", "node")], &[(1.0, NOW)]);
    let batch = decode_v1(&request(vec![ts.clone()])).unwrap();
    let labels_only = v1::TimeSeries {
        samples: vec![],
        ..ts.clone()
    }
    .encode_to_vec();
    assert_eq!(batch.series(0).label_fields(), Some(&labels_only[..]));
}

#[test]
fn rewrite_label_fields_copies_own_runs_and_refuses_pieces_that_do_not_fit() {
    use rwgate_wire::{EncodedLabels, FieldPiece};
    let req = request(vec![series(
        &[("__name__", "up"), ("job", "node"), ("zone", "a")],
        &[(1.0, NOW)],
    )]);
    let mut batch = decode_v1(&req).unwrap();
    let ranges = batch.series(0).label_field_ranges().unwrap();
    assert_eq!(ranges.len(), 3);
    let new = EncodedLabels::new(&[("shard", "3")]);
    let own = |labels: std::ops::Range<usize>| FieldPiece::Own {
        bytes: ranges[labels.start].start..ranges[labels.end - 1].end,
        labels,
    };
    let before = forwarded(&batch);
    // Out of range: nothing changes.
    let bad = FieldPiece::Own {
        labels: 0..4,
        bytes: 0..1,
    };
    assert!(!batch.rewrite_label_fields(0, [own(0..1), bad]));
    assert!(!batch.rewrite_label_fields(0, [FieldPiece::New(&[0x0a, 0x05, 0x01])]));
    assert_eq!(forwarded(&batch), before);
    assert!(batch.rewrite_label_fields(0, [own(0..2), FieldPiece::New(new.fields()), own(2..3)]));
    assert_eq!(
        forwarded(&batch).timeseries[0],
        series(
            &[
                ("__name__", "up"),
                ("job", "node"),
                ("shard", "3"),
                ("zone", "a")
            ],
            &[(1.0, NOW)]
        )
    );
    assert_eq!(batch.series(0).label(b"shard"), Some(&b"3"[..]));
    assert_eq!(batch.series(0).label(b"zone"), Some(&b"a"[..]));
}
