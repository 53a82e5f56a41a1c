//! One test per validation reason: send the bad input, assert the reason id and status.
//! Per-series problems refuse only that series (the good one beside it is kept, as
//! Prometheus' and Mimir's receivers do); request-level problems refuse everything.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure

mod common;

use common::*;
use prost::Message;
use rwgate_proto::prometheus as v1;
use rwgate_wire::{Limits, NameValidation, Reason, WriteBatch};

const GOOD: &[(&str, &str)] = &[("__name__", "up"), ("job", "node")];

/// Decodes `[good, bad]` and asserts that exactly `bad` was refused for `reason`.
fn assert_rejects_with(bad: v1::TimeSeries, reason: &str, limits: &Limits) -> WriteBatch {
    let req = request(vec![series(GOOD, &[(1.0, NOW)]), bad]);
    let batch = decode_v1_with(&req, limits).expect("request-level decode succeeds");
    assert_eq!(batch.len(), 1, "the good series is kept");
    let rej = batch.rejected();
    assert_eq!(rej.series, 1, "exactly one series refused");
    let got = rej.first_reason().expect("a reason");
    assert_eq!(got.id(), reason);
    assert_eq!(got.status(), 400);
    let msg = rej.first.as_deref().expect("a message");
    assert!(msg.contains(reason), "message names the reason: {msg}");
    batch
}

fn assert_rejects(bad: v1::TimeSeries, reason: &str) -> WriteBatch {
    assert_rejects_with(bad, reason, &Limits::default())
}

#[test]
fn empty_label_set() {
    assert_rejects(series(&[], &[(1.0, NOW)]), "empty_label_set");
}

#[test]
fn missing_metric_name() {
    assert_rejects(
        series(&[("job", "x")], &[(1.0, NOW)]),
        "missing_metric_name",
    );
}

fn legacy() -> Limits {
    Limits {
        name_validation: NameValidation::Legacy,
        ..Limits::default()
    }
}

#[test]
fn invalid_metric_name_under_legacy_validation() {
    assert_rejects_with(
        series(&[("__name__", "http.requests")], &[(1.0, NOW)]),
        "invalid_metric_name",
        &legacy(),
    );
}

#[test]
fn invalid_label_name_under_legacy_validation() {
    assert_rejects_with(
        series(&[("__name__", "up"), ("a-b", "x")], &[(1.0, NOW)]),
        "invalid_label",
        &legacy(),
    );
}

#[test]
fn utf8_names_are_accepted_by_default() {
    let names: &[&[(&str, &str)]] = &[
        &[("__name__", "resource.cpu.usage"), ("job.name", "x")],
        &[("__name__", "température_°C"), ("région", "île-de-france")],
        &[("__name__", "resource cpu usage"), ("job name", "x")],
    ];
    let req = request(names.iter().map(|l| series(l, &[(1.0, NOW)])).collect());
    let batch = decode_v1(&req).unwrap();
    assert!(batch.rejected().is_empty(), "{:?}", batch.rejected());
    assert_eq!(batch.len(), 3);
}

#[test]
fn utf8_mode_accepts_dotted_names() {
    let limits = Limits {
        name_validation: NameValidation::Utf8,
        ..Limits::default()
    };
    let req = request(vec![series(
        &[("__name__", "http.requests"), ("k8s.pod", "a")],
        &[(1.0, NOW)],
    )]);
    let batch = decode_v1_with(&req, &limits).unwrap();
    assert_eq!(batch.len(), 1);
    assert!(batch.rejected().is_empty());
}

#[test]
fn empty_label_name() {
    assert_rejects(
        series(&[("", "x"), ("__name__", "up")], &[(1.0, NOW)]),
        "empty_label_name",
    );
}

#[test]
fn empty_label_value() {
    assert_rejects(
        series(&[("__name__", "up"), ("job", "")], &[(1.0, NOW)]),
        "empty_label_value",
    );
}

#[test]
fn duplicate_label_names_sorted_and_unsorted() {
    assert_rejects(
        series(
            &[("__name__", "up"), ("job", "a"), ("job", "b")],
            &[(1.0, NOW)],
        ),
        "duplicate_label_names",
    );
    assert_rejects(
        series(
            &[("job", "a"), ("__name__", "up"), ("job", "b")],
            &[(1.0, NOW)],
        ),
        "duplicate_label_names",
    );
}

#[test]
fn max_label_names_per_series() {
    let names: Vec<String> = (0..30).map(|i| format!("l{i:02}")).collect();
    let mut labels = vec![("__name__", "up")];
    labels.extend(names.iter().map(|n| (n.as_str(), "v")));
    assert_eq!(labels.len(), 31);
    assert_rejects(series(&labels, &[(1.0, NOW)]), "max_label_names_per_series");
    // 30 is fine.
    let ok = request(vec![series(&labels[..30], &[(1.0, NOW)])]);
    assert_eq!(decode_v1(&ok).unwrap().len(), 1);
}

#[test]
fn label_name_too_long() {
    let name = "a".repeat(1025);
    assert_rejects(
        series(&[("__name__", "up"), (&name, "v")], &[(1.0, NOW)]),
        "label_name_too_long",
    );
}

#[test]
fn label_value_too_long() {
    let value = "v".repeat(2049);
    assert_rejects(
        series(&[("__name__", "up"), ("job", &value)], &[(1.0, NOW)]),
        "label_value_too_long",
    );
    let ok = "v".repeat(2048);
    let req = request(vec![series(
        &[("__name__", "up"), ("job", &ok)],
        &[(1.0, NOW)],
    )]);
    assert_eq!(decode_v1(&req).unwrap().len(), 1);
}

#[test]
fn a_valid_series_without_data_is_dropped_not_refused() {
    let req = request(vec![
        series(GOOD, &[(1.0, NOW)]),
        series(&[("__name__", "metadata_only")], &[]),
    ]);
    let batch = decode_v1(&req).unwrap();
    assert!(batch.rejected().is_empty());
    assert_eq!(batch.len(), 1);
    assert_eq!(batch.series(0).label(b"__name__"), Some(&b"up"[..]));
}

#[test]
fn invalid_utf8_value() {
    // prost refuses to build a non-UTF-8 string, so write the series by hand:
    // TimeSeries { labels: [{__name__, up}, {job, 0xff}] }
    let mut ts = Vec::new();
    ts.extend_from_slice(&series(&[("__name__", "up")], &[]).encode_to_vec());
    ts.extend_from_slice(&[0x0a, 0x08, 0x0a, 0x03, b'j', b'o', b'b', 0x12, 0x01, 0xff]);
    let mut body = request(vec![series(GOOD, &[(1.0, NOW)])]).encode_to_vec();
    body.push(0x0a);
    body.push(ts.len() as u8);
    body.extend_from_slice(&ts);
    let batch = rwgate_wire::decode_request(
        None,
        Some(b"snappy"),
        &snappy(&body),
        &Limits::default(),
        NOW,
    )
    .unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch.rejected().first_reason(), Some(Reason::InvalidUtf8));
    // The message escapes the bad byte instead of echoing it.
    let msg = batch.rejected().first.clone().unwrap();
    assert!(msg.contains("job=\"\u{fffd}\""), "{msg}");
}

#[test]
fn sample_too_far_in_future() {
    let limits = Limits {
        max_future_ms: Some(600_000),
        ..Limits::default()
    };
    assert_rejects_with(
        series(&[("__name__", "x")], &[(1.0, NOW + 600_001)]),
        "sample_too_far_in_future",
        &limits,
    );
}

#[test]
fn sample_too_old() {
    let limits = Limits {
        max_age_ms: Some(3_600_000),
        ..Limits::default()
    };
    assert_rejects_with(
        series(&[("__name__", "x")], &[(1.0, NOW - 3_600_001)]),
        "sample_too_old",
        &limits,
    );
}

#[test]
fn time_window_off_by_default() {
    let req = request(vec![series(
        &[("__name__", "x")],
        &[(1.0, 0), (2.0, i64::MAX)],
    )]);
    assert_eq!(decode_v1(&req).unwrap().accepted().samples, 2);
}

#[test]
fn invalid_native_histogram_count() {
    let mut bad = series(&[("__name__", "h")], &[]);
    bad.histograms = vec![int_histogram(7, NOW)];
    assert_rejects(bad, "invalid_native_histogram");

    let mut good = series(&[("__name__", "h")], &[]);
    good.histograms = vec![int_histogram(6, NOW)];
    let batch = decode_v1(&request(vec![good])).unwrap();
    assert_eq!(batch.accepted().histograms, 1);
}

#[test]
fn invalid_native_histogram_spans_and_negative_buckets() {
    let mut spans = int_histogram(6, NOW);
    spans.positive_spans[0].length = 3;
    let mut bad = series(&[("__name__", "h")], &[]);
    bad.histograms = vec![spans];
    let batch = assert_rejects(bad, "invalid_native_histogram");
    assert!(batch.rejected().first.as_ref().unwrap().contains("span"));

    let mut negative = int_histogram(1, NOW);
    negative.positive_deltas = vec![2, -3];
    negative.zero_count = Some(v1::histogram::ZeroCount::ZeroCountInt(0));
    let mut bad = series(&[("__name__", "h")], &[]);
    bad.histograms = vec![negative];
    assert_rejects(bad, "invalid_native_histogram");
}

/// A valid custom-buckets histogram (schema -53): bounds 0.1, 0.5, 1 (+Inf implied),
/// buckets 2, 3, 2.
fn custom_histogram() -> v1::Histogram {
    v1::Histogram {
        count: Some(v1::histogram::Count::CountInt(7)),
        sum: 3.0,
        schema: -53,
        positive_spans: vec![v1::BucketSpan {
            offset: 0,
            length: 3,
        }],
        positive_deltas: vec![2, 1, -1],
        custom_values: vec![0.1, 0.5, 1.0],
        timestamp: NOW,
        ..Default::default()
    }
}

fn histogram_series(h: v1::Histogram) -> v1::TimeSeries {
    let mut s = series(&[("__name__", "h")], &[]);
    s.histograms = vec![h];
    s
}

#[test]
fn custom_buckets_histogram_is_accepted() {
    let batch = decode_v1(&request(vec![histogram_series(custom_histogram())])).unwrap();
    assert!(batch.rejected().is_empty(), "{:?}", batch.rejected());
    assert_eq!(batch.accepted().histograms, 1);
}

#[test]
fn invalid_custom_buckets() {
    type Break = fn(&mut v1::Histogram);
    let cases: &[(&str, Break)] = &[
        ("not strictly increasing", |h| {
            h.custom_values = vec![0.5, 0.1, 1.0]
        }),
        ("not strictly increasing", |h| {
            h.custom_values = vec![0.1, 0.1, 1.0]
        }),
        ("finite", |h| {
            h.custom_values = vec![0.1, 0.5, f64::INFINITY]
        }),
        ("finite", |h| h.custom_values = vec![f64::NAN, 0.5, 1.0]),
        ("zero bucket", |h| {
            h.zero_count = Some(v1::histogram::ZeroCount::ZeroCountInt(1));
            h.count = Some(v1::histogram::Count::CountInt(8));
        }),
        ("zero threshold", |h| h.zero_threshold = 1e-128),
        ("negative spans or buckets", |h| {
            h.negative_spans = vec![v1::BucketSpan {
                offset: 0,
                length: 1,
            }];
            h.negative_deltas = vec![1];
            h.count = Some(v1::histogram::Count::CountInt(8));
        }),
        ("negative offset", |h| h.positive_spans[0].offset = -1),
        ("fewer custom bounds", |h| h.custom_values = vec![0.1]),
    ];
    for (detail, brk) in cases {
        let mut h = custom_histogram();
        brk(&mut h);
        let batch = assert_rejects(histogram_series(h), "invalid_custom_buckets");
        let msg = batch.rejected().first.clone().unwrap();
        assert!(msg.contains(detail), "{detail}: {msg}");
    }
    // A custom-buckets histogram with a negative bucket count is still refused.
    let mut h = custom_histogram();
    h.positive_deltas = vec![2, -3, 2];
    assert_rejects(histogram_series(h), "invalid_native_histogram");
}

#[test]
fn invalid_histogram_schema() {
    for schema in [9, -5, -52, -54] {
        let mut h = int_histogram(6, NOW);
        h.schema = schema;
        assert_rejects(histogram_series(h), "invalid_histogram_schema");
    }
    for schema in [-4, 8] {
        let mut h = int_histogram(6, NOW);
        h.schema = schema;
        let batch = decode_v1(&request(vec![histogram_series(h)])).unwrap();
        assert!(batch.rejected().is_empty(), "schema {schema}");
    }
    // Custom bounds belong to schema -53 only.
    let mut h = int_histogram(6, NOW);
    h.custom_values = vec![1.0];
    assert_rejects(histogram_series(h), "invalid_custom_buckets");
}

#[test]
fn nan_sum_histogram_allows_larger_count() {
    let mut h = int_histogram(9, NOW);
    h.sum = f64::NAN;
    let mut s = series(&[("__name__", "h")], &[]);
    s.histograms = vec![h];
    assert_eq!(decode_v1(&request(vec![s])).unwrap().len(), 1);
}

#[test]
fn special_float_values_are_valid() {
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let req = request(vec![series(
        &[("__name__", "x")],
        &[
            (stale, NOW),
            (f64::NAN, NOW + 1),
            (f64::INFINITY, NOW + 2),
            (f64::NEG_INFINITY, NOW + 3),
        ],
    )]);
    let batch = decode_v1(&req).unwrap();
    assert_eq!(batch.accepted().samples, 4);
    let out = forwarded(&batch);
    assert_eq!(
        out.timeseries[0].samples[0].value.to_bits(),
        0x7ff0_0000_0000_0002
    );
}

#[test]
fn too_many_series_is_413() {
    let limits = Limits {
        max_series: 2,
        ..Limits::default()
    };
    let req = request(vec![series(GOOD, &[]); 3]);
    let err = decode_v1_with(&req, &limits).unwrap_err();
    assert_eq!(err.reason(), Reason::TooManySeries);
    assert_eq!(err.status(), 413);
}

#[test]
fn too_many_samples_is_413() {
    let limits = Limits {
        max_samples: 3,
        ..Limits::default()
    };
    let req = request(vec![
        series(GOOD, &[(1.0, 1), (1.0, 2)]),
        series(&[("__name__", "b")], &[(1.0, 1), (1.0, 2)]),
    ]);
    let err = decode_v1_with(&req, &limits).unwrap_err();
    assert_eq!(err.reason(), Reason::TooManySamples);
    assert_eq!(err.status(), 413);
}

#[test]
fn malformed_protobuf_is_400() {
    // A TimeSeries field whose length runs past the end of the body.
    let err = rwgate_wire::decode_request(
        None,
        Some(b"snappy"),
        &snappy(&[0x0a, 0x10, 0x0a]),
        &Limits::default(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(err.reason(), Reason::MalformedProtobuf);
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("prometheus.WriteRequest"), "{err}");
}

#[test]
fn malformed_snappy_is_400() {
    let err = rwgate_wire::decode_request(
        None,
        Some(b"snappy"),
        b"\x10garbage",
        &Limits::default(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(err.reason(), Reason::MalformedSnappy);
    assert_eq!(err.status(), 400);
}

#[test]
fn request_body_too_large_is_413() {
    let limits = Limits {
        max_compressed_bytes: 10,
        ..Limits::default()
    };
    let body = snappy(&request(vec![series(GOOD, &[(1.0, NOW)])]).encode_to_vec());
    let err = rwgate_wire::decode_request(None, Some(b"snappy"), &body, &limits, NOW).unwrap_err();
    assert_eq!(err.reason(), Reason::RequestBodyTooLarge);
    assert_eq!(err.status(), 413);
}

#[test]
fn unsupported_content_type_and_encoding_are_415() {
    let body = snappy(&request(vec![]).encode_to_vec());
    let err = rwgate_wire::decode_request(
        Some(b"application/json"),
        Some(b"snappy"),
        &body,
        &Limits::default(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        (err.reason(), err.status()),
        (Reason::UnsupportedContentType, 415)
    );
    let err = rwgate_wire::decode_request(None, Some(b"gzip"), &body, &Limits::default(), NOW)
        .unwrap_err();
    assert_eq!(
        (err.reason(), err.status()),
        (Reason::UnsupportedContentEncoding, 415)
    );
}

#[test]
fn rejection_message_escapes_and_truncates_labels() {
    let value = format!("evil\n\u{1b}[31m{}", "x".repeat(5000));
    let batch = assert_rejects(
        series(&[("job", &value)], &[(1.0, NOW)]),
        "label_value_too_long",
    );
    let msg = batch.rejected().first.clone().unwrap();
    assert!(!msg.contains('\n') && !msg.contains('\u{1b}'), "{msg}");
    assert!(msg.len() < 600, "{} bytes", msg.len());
}

#[test]
fn rejected_samples_are_counted_per_reason() {
    let req = request(vec![
        series(&[("job", "a")], &[(1.0, 1), (1.0, 2)]),
        series(&[("job", "b")], &[(1.0, 1)]),
        series(&[("__name__", "x"), ("job", "")], &[(1.0, 1)]),
    ]);
    let batch = decode_v1(&req).unwrap();
    assert!(batch.is_empty());
    assert_eq!(
        batch.rejected().by_reason,
        vec![(Reason::MissingMetricName, 3), (Reason::EmptyLabelValue, 1)]
    );
    assert_eq!(batch.rejected().counts.samples, 4);
}
