//! Remote write 2.0 decoding: symbol tables, label references, histogram/sample mixing,
//! and conversion to v1.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure

mod common;

use common::*;
use rwgate_proto::{prometheus as v1, v2};
use rwgate_wire::{Limits, Protocol, Reason};

#[test]
fn v2_converts_to_sorted_v1() {
    let mut b = V2Builder::new();
    b.series(
        &[("job", "api"), ("__name__", "http_requests_total")],
        &[(3.5, NOW)],
    );
    let s = b.series(
        &[("__name__", "up"), ("job", "api")],
        &[(1.0, NOW), (0.0, NOW + 15_000)],
    );
    s.samples[0].start_timestamp = NOW - 1000;
    let batch = decode_v2(&b.req).unwrap();
    assert_eq!(batch.protocol(), Protocol::V2);
    assert_eq!(batch.len(), 2);
    assert_eq!(batch.accepted().samples, 3);
    // Hashing sees wire order...
    let first: Vec<_> = batch.series(0).labels().map(|(n, _)| n.to_vec()).collect();
    assert_eq!(first, vec![b"job".to_vec(), b"__name__".to_vec()]);
    // ...receivers see sorted labels.
    let out = forwarded(&batch);
    assert_eq!(
        out.timeseries[0],
        series(
            &[("__name__", "http_requests_total"), ("job", "api")],
            &[(3.5, NOW)]
        )
    );
    assert_eq!(
        out.timeseries[1],
        series(
            &[("__name__", "up"), ("job", "api")],
            &[(1.0, NOW), (0.0, NOW + 15_000)]
        )
    );
}

#[test]
fn v2_exemplars_and_histograms_convert() {
    let mut b = V2Builder::new();
    let ex_refs = b.refs(&[("trace_id", "abc")]);
    let s = b.series(&[("__name__", "latency")], &[]);
    s.histograms = vec![v2::Histogram {
        count: Some(v2::histogram::Count::CountInt(6)),
        sum: 10.0,
        zero_threshold: 1e-128,
        zero_count: Some(v2::histogram::ZeroCount::ZeroCountInt(1)),
        positive_spans: vec![v2::BucketSpan {
            offset: 0,
            length: 2,
        }],
        positive_deltas: vec![2, 1],
        timestamp: NOW,
        start_timestamp: NOW - 5,
        ..Default::default()
    }];
    s.exemplars = vec![v2::Exemplar {
        labels_refs: ex_refs,
        value: 0.25,
        timestamp: NOW,
    }];
    let batch = decode_v2(&b.req).unwrap();
    assert_eq!(batch.accepted().histograms, 1);
    assert_eq!(batch.accepted().exemplars, 1);
    let out = forwarded(&batch);
    let ts = &out.timeseries[0];
    assert_eq!(ts.histograms, vec![int_histogram(6, NOW)]);
    assert_eq!(
        ts.exemplars,
        vec![v1::Exemplar {
            labels: vec![label("trace_id", "abc")],
            value: 0.25,
            timestamp: NOW
        }]
    );
}

#[test]
fn symbols_zero_must_be_empty() {
    let mut b = V2Builder::new();
    b.series(&[("__name__", "up")], &[(1.0, NOW)]);
    b.req.symbols[0] = "x".into();
    let err = decode_v2(&b.req).unwrap_err();
    assert_eq!(err.reason(), Reason::InvalidSymbolsTable);
    assert_eq!(err.status(), 400);
}

#[test]
fn label_refs_out_of_range_or_odd() {
    let mut b = V2Builder::new();
    b.series(&[("__name__", "up")], &[(1.0, NOW)]);
    b.series(&[("__name__", "bad")], &[(1.0, NOW)]).labels_refs[1] = 99;
    b.series(&[("__name__", "odd")], &[(1.0, NOW)])
        .labels_refs
        .push(1);
    let batch = decode_v2(&b.req).unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch.rejected().series, 2);
    assert_eq!(
        batch.rejected().by_reason,
        vec![(Reason::InvalidLabelRefs, 2)]
    );
}

#[test]
fn exemplar_label_refs_are_checked() {
    let mut b = V2Builder::new();
    let s = b.series(&[("__name__", "up")], &[(1.0, NOW)]);
    s.exemplars = vec![v2::Exemplar {
        labels_refs: vec![1, 500],
        value: 1.0,
        timestamp: NOW,
    }];
    let batch = decode_v2(&b.req).unwrap();
    assert_eq!(
        batch.rejected().first_reason(),
        Some(Reason::InvalidLabelRefs)
    );
}

#[test]
fn samples_and_histograms_in_one_series_is_400() {
    let mut b = V2Builder::new();
    let s = b.series(&[("__name__", "mixed")], &[(1.0, NOW)]);
    s.histograms = vec![v2::Histogram {
        count: Some(v2::histogram::Count::CountInt(0)),
        timestamp: NOW,
        ..Default::default()
    }];
    let batch = decode_v2(&b.req).unwrap();
    assert!(batch.is_empty());
    let reason = batch.rejected().first_reason().unwrap();
    assert_eq!(
        (reason.id(), reason.status()),
        ("samples_and_histograms", 400)
    );
}

#[test]
fn symbols_after_series_on_the_wire() {
    use prost::Message;
    let mut b = V2Builder::new();
    b.series(&[("__name__", "up")], &[(1.0, NOW)]);
    // Encode timeseries (field 5) before symbols (field 4).
    let mut body = Vec::new();
    for ts in &b.req.timeseries {
        prost::encoding::message::encode(5, ts, &mut body);
    }
    for sym in &b.req.symbols {
        prost::encoding::string::encode(4, sym, &mut body);
    }
    let decoded = v2::Request::decode(body.as_slice()).unwrap();
    assert_eq!(decoded.symbols, b.req.symbols);
    let batch = rwgate_wire::decode(Protocol::V2, body.into(), &Limits::default(), NOW).unwrap();
    assert_eq!(batch.len(), 1);
}

#[test]
fn metadata_only_request_is_accepted() {
    let mut b = V2Builder::new();
    let help = b.sym("help text");
    let s = b.series(&[("__name__", "up")], &[]);
    s.metadata = Some(v2::Metadata {
        r#type: 2,
        help_ref: help,
        unit_ref: 0,
    });
    let batch = decode_v2(&b.req).unwrap();
    assert_eq!(batch.metadata(), 1);
    assert_eq!(batch.accepted().samples, 0);
    assert!(batch.rejected().is_empty());
}
