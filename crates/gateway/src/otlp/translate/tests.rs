use prost::Message as _;
use rwgate_proto::otlp::*;
use rwgate_proto::prometheus as pb;

use super::{STALE_NAN, Settings, TooLarge, Translated, buckets_layout, translate};
use crate::otlp::{Encoding, model, parse};

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
    }
}

const T_NS: u64 = 1_700_000_000_123_456_789;
const T_MS: i64 = 1_700_000_000_123;

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
            }),
            scope_metrics: vec![ScopeMetrics { metrics }],
        }],
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(data),
    }
}

fn number(attrs: Vec<KeyValue>, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: T_NS,
        value: Some(NumberValue::AsDouble(v)),
        ..Default::default()
    }
}

/// Encodes `req` as a sender would, parses it as rwgate does, and translates it.
fn run(req: &ExportMetricsServiceRequest, s: &Settings) -> (pb::WriteRequest, Translated) {
    let raw = req.encode_to_vec();
    let parsed = parse(Encoding::Protobuf, &raw).expect("parses");
    let t = translate(&parsed, s, 1 << 20).expect("within the limit");
    let w = pb::WriteRequest::decode(&t.body[..]).expect("a valid WriteRequest");
    (w, t)
}

/// Series as `{name="v",...}` strings with their samples, sorted.
fn series(w: &pb::WriteRequest) -> Vec<(String, Vec<(f64, i64)>)> {
    let mut out: Vec<_> = w
        .timeseries
        .iter()
        .map(|ts| {
            let labels: Vec<String> = ts
                .labels
                .iter()
                .map(|l| format!("{}={:?}", l.name, l.value))
                .collect();
            let samples = ts.samples.iter().map(|s| (s.value, s.timestamp)).collect();
            (format!("{{{}}}", labels.join(",")), samples)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn service() -> Vec<KeyValue> {
    vec![
        kv("service.name", "checkout"),
        kv("service.namespace", "shop"),
        kv("service.instance.id", "pod-1"),
    ]
}

#[test]
fn gauge_and_counter_get_names_job_instance_and_values() {
    let req = request(
        service(),
        vec![
            metric(
                "memory.usage",
                "By",
                Data::Gauge(Gauge {
                    data_points: vec![number(vec![kv("state", "used")], 42.0)],
                }),
            ),
            metric(
                "http.requests",
                "{request}",
                Data::Sum(Sum {
                    data_points: vec![NumberDataPoint {
                        value: Some(NumberValue::AsInt(7)),
                        ..number(vec![kv("http.method", "GET")], 0.0)
                    }],
                    aggregation_temporality: CUMULATIVE,
                    is_monotonic: true,
                }),
            ),
            metric(
                "queue.depth",
                "",
                Data::Sum(Sum {
                    data_points: vec![number(vec![], -3.0)],
                    aggregation_temporality: CUMULATIVE,
                    is_monotonic: false,
                }),
            ),
        ],
    );
    let (w, t) = run(&req, &Settings::default());
    assert_eq!(t.points, 3);
    assert_eq!(t.refused_points(), 0);
    assert_eq!(
        series(&w),
        vec![
            (
                r#"{__name__="http_requests_total",http_method="GET",instance="pod-1",job="shop/checkout"}"#.into(),
                vec![(7.0, T_MS)]
            ),
            (
                r#"{__name__="memory_usage_bytes",instance="pod-1",job="shop/checkout",state="used"}"#.into(),
                vec![(42.0, T_MS)]
            ),
            (
                r#"{__name__="queue_depth",instance="pod-1",job="shop/checkout"}"#.into(),
                vec![(-3.0, T_MS)]
            ),
        ]
    );
}

#[test]
fn target_info_carries_the_other_resource_attributes_and_promotion_copies_them() {
    let mut resource = service();
    resource.push(kv("k8s.pod.name", "checkout-7d9"));
    resource.push(kv("tenant", "tenant-a"));
    let req = request(
        resource,
        vec![metric(
            "up",
            "",
            Data::Gauge(Gauge {
                data_points: vec![number(vec![], 1.0)],
            }),
        )],
    );
    let settings = crate::otlp::OtlpConfig {
        promote_resource_attributes: vec!["k8s.pod.name".into()],
        ..Default::default()
    }
    .settings("tenant");
    let (w, _) = run(&req, &settings);
    assert_eq!(
        series(&w),
        vec![
            (
                r#"{__name__="target_info",instance="pod-1",job="shop/checkout",k8s_pod_name="checkout-7d9",tenant="tenant-a"}"#.into(),
                vec![(1.0, T_MS)]
            ),
            (
                r#"{__name__="up",instance="pod-1",job="shop/checkout",k8s_pod_name="checkout-7d9",tenant="tenant-a"}"#.into(),
                vec![(1.0, T_MS)]
            ),
        ]
    );
}

#[test]
fn colliding_attribute_names_merge_with_semicolons_in_key_order() {
    let req = request(
        vec![],
        vec![metric(
            "g",
            "",
            Data::Gauge(Gauge {
                data_points: vec![number(
                    vec![kv("a/b", "2"), kv("a.b", "1"), kv("a_b", "3")],
                    1.0,
                )],
            }),
        )],
    );
    let (w, _) = run(&req, &Settings::default());
    // Keys sort as "a.b" < "a/b" < "a_b".
    assert_eq!(series(&w)[0].0, r#"{__name__="g",a_b="1;2;3"}"#);
}

#[test]
fn explicit_histogram_becomes_cumulative_buckets_sum_and_count_with_exemplars() {
    let req = request(
        vec![kv("service.name", "api")],
        vec![metric(
            "http.server.duration",
            "s",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: T_NS,
                    count: 6,
                    sum: Some(3.5),
                    bucket_counts: vec![1, 2, 3],
                    explicit_bounds: vec![0.1, 1.0],
                    exemplars: vec![Exemplar {
                        time_unix_nano: T_NS,
                        value: Some(ExemplarValue::AsDouble(0.5)),
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                aggregation_temporality: CUMULATIVE,
            }),
        )],
    );
    let (w, _) = run(&req, &Settings::default());
    let n = "http_server_duration_seconds";
    assert_eq!(
        series(&w),
        vec![
            (
                format!(r#"{{__name__="{n}_bucket",job="api",le="+Inf"}}"#),
                vec![(6.0, T_MS)]
            ),
            (
                format!(r#"{{__name__="{n}_bucket",job="api",le="0.1"}}"#),
                vec![(1.0, T_MS)]
            ),
            (
                format!(r#"{{__name__="{n}_bucket",job="api",le="1"}}"#),
                vec![(3.0, T_MS)]
            ),
            (
                format!(r#"{{__name__="{n}_count",job="api"}}"#),
                vec![(6.0, T_MS)]
            ),
            (
                format!(r#"{{__name__="{n}_sum",job="api"}}"#),
                vec![(3.5, T_MS)]
            ),
        ]
    );
    let with_exemplar: Vec<_> = w
        .timeseries
        .iter()
        .filter(|ts| !ts.exemplars.is_empty())
        .collect();
    assert_eq!(with_exemplar.len(), 1);
    assert!(
        with_exemplar[0]
            .labels
            .iter()
            .any(|l| l.name == "le" && l.value == "1")
    );
    let e = &with_exemplar[0].exemplars[0];
    assert_eq!(e.value, 0.5);
    assert_eq!(e.labels[0].name, "trace_id");
    assert_eq!(e.labels[0].value, "ab".repeat(16));
    assert_eq!(e.labels[1].value, "0101010101010101");
}

fn exp_point(
    scale: i32,
    pos: (i32, Vec<u64>),
    neg: (i32, Vec<u64>),
    count: u64,
) -> ExponentialHistogramDataPoint {
    ExponentialHistogramDataPoint {
        time_unix_nano: 500_000_000,
        count,
        sum: Some(10.1),
        scale,
        zero_count: 1,
        positive: Some(Buckets {
            offset: pos.0,
            bucket_counts: pos.1,
        }),
        negative: Some(Buckets {
            offset: neg.0,
            bucket_counts: neg.1,
        }),
        ..Default::default()
    }
}

fn exp_request(p: ExponentialHistogramDataPoint) -> ExportMetricsServiceRequest {
    request(
        vec![],
        vec![metric(
            "latency",
            "",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![p],
                aggregation_temporality: CUMULATIVE,
            }),
        )],
    )
}

fn spans(s: &[pb::BucketSpan]) -> Vec<(i32, u32)> {
    s.iter().map(|s| (s.offset, s.length)).collect()
}

/// Prometheus' `TestExponentialToNativeHistogram` cases.
#[test]
fn exponential_histograms_become_native_histograms_as_prometheus_converts_them() {
    let cases = [
        // (scale, positive, negative, count) -> (schema, pos spans, pos deltas, neg spans, neg deltas)
        (
            exp_point(1, (1, vec![1, 1]), (1, vec![1, 1]), 4),
            (1, vec![(2, 2)], vec![1, 0], vec![(2, 2)], vec![1, 0]),
        ),
        (
            exp_point(8, (1, vec![1, 1, 1]), (2, vec![1, 1, 1]), 6),
            (8, vec![(2, 3)], vec![1, 0, 0], vec![(3, 3)], vec![1, 0, 0]),
        ),
        (
            exp_point(9, (1, vec![1, 1, 1]), (2, vec![1, 1, 1]), 6),
            (8, vec![(1, 2)], vec![1, 1], vec![(2, 2)], vec![2, -1]),
        ),
    ];
    for (p, (schema, ps, pd, ns, nd)) in cases {
        let (w, _) = run(&exp_request(p), &Settings::default());
        assert_eq!(w.timeseries.len(), 1);
        let h = &w.timeseries[0].histograms[0];
        assert_eq!(h.schema, schema);
        assert_eq!(spans(&h.positive_spans), ps);
        assert_eq!(h.positive_deltas, pd);
        assert_eq!(spans(&h.negative_spans), ns);
        assert_eq!(h.negative_deltas, nd);
        assert_eq!(h.sum, 10.1);
        assert_eq!(h.zero_threshold, 1e-128);
        assert_eq!(
            h.zero_count,
            Some(pb::histogram::ZeroCount::ZeroCountInt(1))
        );
        assert_eq!(h.timestamp, 500);
    }
}

/// Prometheus' `TestConvertBucketsLayout` cases: (offset, counts, scale down, spans, deltas).
#[test]
fn bucket_layouts_match_prometheus() {
    type Case = (i32, Vec<u64>, i32, Vec<(i32, u32)>, Vec<i64>);
    let cases: Vec<Case> = vec![
        (0, vec![4, 3, 2, 1], 0, vec![(1, 4)], vec![4, -1, -1, -1]),
        (0, vec![4, 3, 2, 1], 1, vec![(1, 2)], vec![7, -4]),
        (0, vec![4, 3, 2, 1], 2, vec![(1, 1)], vec![10]),
        (1, vec![4, 3, 2, 1], 0, vec![(2, 4)], vec![4, -1, -1, -1]),
        (1, vec![4, 3, 2, 1], 1, vec![(1, 3)], vec![4, 1, -4]),
        (1, vec![4, 3, 2, 1], 2, vec![(1, 2)], vec![9, -8]),
        (
            4,
            vec![4, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            0,
            vec![(5, 4), (12, 1)],
            vec![4, -2, -2, 2, -1],
        ),
        (
            4,
            vec![4, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            1,
            vec![(3, 2), (6, 1)],
            vec![6, -4, -1],
        ),
        (
            4,
            vec![4, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            2,
            vec![(2, 1), (3, 1)],
            vec![8, -7],
        ),
        (
            4,
            vec![4, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            0,
            vec![(5, 4), (8, 1)],
            vec![4, -2, -2, 2, -1],
        ),
        (
            4,
            vec![4, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            1,
            vec![(3, 2), (4, 1)],
            vec![6, -4, -1],
        ),
        (
            4,
            vec![4, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            2,
            vec![(2, 4)],
            vec![8, -8, 0, 1],
        ),
        (
            -2,
            vec![3, 1, 0, 0, 0, 1],
            0,
            vec![(-1, 2), (3, 1)],
            vec![3, -2, 0],
        ),
        (-2, vec![3, 1, 0, 0, 0, 1], 1, vec![(0, 3)], vec![4, -4, 1]),
        (-2, vec![3, 1, 0, 0, 0, 1], 2, vec![(0, 2)], vec![4, -3]),
        (
            -2,
            vec![3, 1, 0, 1, 0, 1],
            0,
            vec![(-1, 6)],
            vec![3, -2, -1, 1, -1, 1],
        ),
        (-2, vec![3, 1, 0, 1, 0, 1], 1, vec![(0, 3)], vec![4, -3, 0]),
        (-2, vec![3, 1, 0, 1, 0, 1], 2, vec![(0, 2)], vec![4, -2]),
        (
            -2,
            vec![3, 0, 0, 1, 0, 0, 1],
            0,
            vec![(-1, 7)],
            vec![3, -3, 0, 1, -1, 0, 1],
        ),
        (
            -2,
            vec![3, 0, 0, 1, 0, 0, 1],
            1,
            vec![(0, 4)],
            vec![3, -2, -1, 1],
        ),
        (
            -2,
            vec![3, 0, 0, 1, 0, 0, 1],
            2,
            vec![(0, 3)],
            vec![3, -2, 0],
        ),
        (0, vec![], 0, vec![], vec![]),
    ];
    for (offset, counts, down, want_spans, want_deltas) in cases {
        let (s, d) = buckets_layout(&counts, offset, down);
        let got: Vec<(i32, u32)> = s.iter().map(|s| (s.offset, s.length)).collect();
        assert_eq!(
            (got, d),
            (want_spans, want_deltas),
            "offset {offset} counts {counts:?} down {down}"
        );
    }
}

#[test]
fn summary_becomes_quantiles_sum_and_count() {
    let req = request(
        vec![],
        vec![metric(
            "rpc.latency",
            "ms",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    time_unix_nano: T_NS,
                    count: 10,
                    sum: 55.0,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.5,
                            value: 4.0,
                        },
                        ValueAtQuantile {
                            quantile: 0.99,
                            value: 9.5,
                        },
                    ],
                    ..Default::default()
                }],
            }),
        )],
    );
    let (w, _) = run(&req, &Settings::default());
    let n = "rpc_latency_milliseconds";
    assert_eq!(
        series(&w),
        vec![
            (
                format!(r#"{{__name__="{n}",quantile="0.5"}}"#),
                vec![(4.0, T_MS)]
            ),
            (
                format!(r#"{{__name__="{n}",quantile="0.99"}}"#),
                vec![(9.5, T_MS)]
            ),
            (format!(r#"{{__name__="{n}_count"}}"#), vec![(10.0, T_MS)]),
            (format!(r#"{{__name__="{n}_sum"}}"#), vec![(55.0, T_MS)]),
        ]
    );
}

#[test]
fn refusals_are_counted_by_reason_and_named() {
    let sum = |temporality, monotonic, v| {
        Data::Sum(Sum {
            data_points: vec![number(vec![], v), number(vec![kv("x", "y")], v)],
            aggregation_temporality: temporality,
            is_monotonic: monotonic,
        })
    };
    let req = request(
        vec![],
        vec![
            metric("delta.requests", "", sum(DELTA, true, 1.0)),
            metric("unset.requests", "", sum(0, true, 1.0)),
            metric("nan.requests", "", sum(CUMULATIVE, true, f64::NAN)),
            metric("ok.requests", "", sum(CUMULATIVE, true, 2.0)),
            metric(
                "...",
                "",
                Data::Gauge(Gauge {
                    data_points: vec![number(vec![], 1.0)],
                }),
            ),
            metric(
                "too.coarse",
                "",
                Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![exp_point(-5, (0, vec![1]), (0, vec![]), 1)],
                    aggregation_temporality: CUMULATIVE,
                }),
            ),
        ],
    );
    let (w, t) = run(&req, &Settings::default());
    assert_eq!(t.points, 10);
    assert_eq!(
        t.refused
            .iter()
            .map(|(r, n)| (r.id(), *n))
            .collect::<Vec<_>>(),
        vec![
            ("otlp_delta_temporality", 2),
            ("otlp_unspecified_temporality", 2),
            ("otlp_nan_count", 2),
            ("otlp_invalid_scale", 1),
            ("otlp_invalid_metric", 1),
        ]
    );
    assert_eq!(
        t.first_refusal.as_deref(),
        Some(r#"otlp_delta_temporality: metric "delta.requests""#)
    );
    let names: Vec<_> = series(&w).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        names,
        vec![
            r#"{__name__="ok_requests_total",x="y"}"#,
            r#"{__name__="ok_requests_total"}"#
        ]
    );
}

#[test]
fn no_recorded_value_becomes_a_stale_marker() {
    let mut p = number(vec![], 5.0);
    p.flags = NO_RECORDED_VALUE;
    let req = request(
        vec![],
        vec![metric(
            "g",
            "",
            Data::Gauge(Gauge {
                data_points: vec![p],
            }),
        )],
    );
    let (w, t) = run(&req, &Settings::default());
    assert_eq!(t.stale, 1);
    assert_eq!(t.refused_points(), 0);
    assert_eq!(w.timeseries[0].samples[0].value.to_bits(), STALE_NAN);
}

#[test]
fn points_of_one_series_merge_into_one_series() {
    let p = |ns, v| NumberDataPoint {
        time_unix_nano: ns,
        ..number(vec![kv("a", "b")], v)
    };
    let req = request(
        vec![],
        vec![metric(
            "g",
            "",
            Data::Gauge(Gauge {
                data_points: vec![p(1_000_000, 1.0), p(2_000_000, 2.0)],
            }),
        )],
    );
    let (w, _) = run(&req, &Settings::default());
    assert_eq!(
        series(&w),
        vec![(
            r#"{__name__="g",a="b"}"#.to_string(),
            vec![(1.0, 1), (2.0, 2)]
        )]
    );
}

#[test]
fn output_over_the_limit_is_refused_before_it_grows() {
    let attrs: Vec<KeyValue> = (0..50)
        .map(|i| kv(&format!("attr{i}"), &"v".repeat(100)))
        .collect();
    let points: Vec<_> = (0..1000)
        .map(|i| number(vec![kv("i", &i.to_string())], 1.0))
        .collect();
    let req = request(
        attrs,
        vec![metric(
            "g",
            "",
            Data::Gauge(Gauge {
                data_points: points,
            }),
        )],
    );
    let settings = Settings {
        promote: (0..50).map(|i| format!("attr{i}")).collect(),
        ..Default::default()
    };
    let raw = req.encode_to_vec();
    let parsed = parse(Encoding::Protobuf, &raw).expect("parses");
    assert_eq!(
        translate(&parsed, &settings, 100_000).err(),
        Some(TooLarge { limit: 100_000 })
    );
}

#[test]
fn attribute_values_of_every_type_are_written_as_pdata_writes_them() {
    use model::{AnyValue, Value};
    use std::borrow::Cow;
    let s = |v| super::value_string(Some(&AnyValue { value: Some(v) }));
    assert_eq!(s(Value::BoolValue(true)), "true");
    assert_eq!(s(Value::IntValue(-12)), "-12");
    assert_eq!(s(Value::DoubleValue(1.5)), "1.5");
    assert_eq!(s(Value::DoubleValue(1e21)), "1e+21");
    assert_eq!(s(Value::DoubleValue(f64::INFINITY)), "+Inf");
    assert_eq!(s(Value::BytesValue(Cow::Borrowed(b"hi"))), "aGk=");
    let arr = Value::ArrayValue(vec![
        AnyValue {
            value: Some(Value::StringValue("a".into())),
        },
        AnyValue {
            value: Some(Value::IntValue(1)),
        },
    ]);
    assert_eq!(s(arr), r#"["a",1]"#);
    assert_eq!(super::value_string(None), "");
}

fn cached(bytes: usize) -> Settings {
    Settings {
        cache_bytes: bytes,
        ..Settings::default()
    }
}

/// The translation cache changes nothing but the work: the same request, translated
/// without it, with it cold and with it warm, gives the same bytes.
#[test]
fn the_translation_cache_gives_the_same_output_and_is_used() {
    let mut resource = service();
    resource.push(kv("k8s.pod.name", "p"));
    let points = |n: usize| -> Vec<NumberDataPoint> {
        (0..n)
            .map(|i| {
                number(
                    vec![kv("a", &format!("{i}")), kv("b", "x"), kv("zz", "y")],
                    i as f64,
                )
            })
            .collect()
    };
    let req = request(
        resource,
        vec![
            metric(
                "g",
                "",
                Data::Gauge(Gauge {
                    data_points: points(50),
                }),
            ),
            metric(
                "c",
                "",
                Data::Sum(Sum {
                    data_points: points(50),
                    aggregation_temporality: CUMULATIVE,
                    is_monotonic: true,
                }),
            ),
        ],
    );
    let (_, off) = run(&req, &cached(0));
    crate::otlp::translate::cache::with(64 << 20, |c| c.clear());
    let (_, cold) = run(&req, &cached(64 << 20));
    let (_, warm) = run(&req, &cached(64 << 20));
    assert_eq!(cold.body, off.body);
    assert_eq!(warm.body, off.body);
    assert_eq!(
        (cold.cache_hits, cold.cache_misses),
        (50, 50),
        "g and c share attribute runs"
    );
    assert_eq!((warm.cache_hits, warm.cache_misses), (100, 0));
    // Another resource's points with the same attribute bytes are not confused.
    let mut other = req.clone();
    other.resource_metrics[0].resource = Some(Resource {
        attributes: vec![kv("service.name", "other")],
    });
    let (w, _) = run(&other, &cached(64 << 20));
    assert!(series(&w).iter().all(|(l, _)| l.contains(r#"job="other""#)));
}

/// Attribute fields with other fields between them are decoded where they are.
#[test]
fn scattered_attribute_fields_are_read_too() {
    let a = KeyValue::encode_to_vec(&kv("a", "1"));
    let b = KeyValue::encode_to_vec(&kv("b", "2"));
    let mut point = Vec::new();
    point.push(0x3a); // field 7, attributes
    point.push(a.len() as u8);
    point.extend_from_slice(&a);
    point.push(0x21); // field 4, as_double
    point.extend_from_slice(&2.5f64.to_le_bytes());
    point.push(0x3a);
    point.push(b.len() as u8);
    point.extend_from_slice(&b);
    let raw = wrap_gauge_point(&point);
    let parsed = crate::otlp::pb::decode(&raw).expect("parses");
    let t = translate(&parsed, &Settings::default(), 1 << 20).expect("within the limit");
    let w = pb::WriteRequest::decode(&t.body[..]).expect("valid");
    assert_eq!(
        series(&w),
        vec![(r#"{__name__="g",a="1",b="2"}"#.to_string(), vec![(2.5, 0)])]
    );
}

/// A gauge `g` with one point whose encoding is `point`.
fn wrap_gauge_point(point: &[u8]) -> Vec<u8> {
    let field = |n: u8, inner: &[u8]| {
        let mut v = vec![n, inner.len() as u8];
        v.extend_from_slice(inner);
        v
    };
    let gauge = field(0x0a, point);
    let mut metric = field(0x0a, b"g");
    metric.extend(field(0x2a, &gauge));
    let scope = field(0x12, &metric);
    let rm = field(0x12, &scope);
    field(0x0a, &rm)
}

#[test]
fn malformed_attributes_refuse_their_point_only() {
    let bad = KeyValue::encode_to_vec(&kv("a", "x"))
        .into_iter()
        .map(|b| if b == b'x' { 0xff } else { b })
        .collect::<Vec<u8>>();
    let mut point = vec![0x3a, bad.len() as u8];
    point.extend_from_slice(&bad);
    let raw = wrap_gauge_point(&point);
    let parsed = crate::otlp::pb::decode(&raw).expect("attributes are read later");
    for s in [Settings::default(), cached(1 << 20)] {
        let t = translate(&parsed, &s, 1 << 20).expect("within the limit");
        assert_eq!(
            t.refused.get(&super::Refusal::MalformedAttributes),
            Some(&1)
        );
        assert_eq!(
            pb::WriteRequest::decode(&t.body[..])
                .expect("valid")
                .timeseries
                .len(),
            0
        );
    }
}

/// Offsets and scales at the ends of their range: the translation does not overflow
/// (the histogram checks after it refuse what Prometheus cannot hold).
#[test]
fn extreme_exponential_offsets_and_scales_do_not_panic() {
    for scale in [i32::MIN, -5, 8, 9, 20, 100, i32::MAX] {
        for offset in [i32::MIN, -1, 0, i32::MAX] {
            let p = exp_point(
                scale,
                (offset, vec![1, 0, 0, 0, 2, 3]),
                (offset, vec![7]),
                14,
            );
            let (w, t) = run(&exp_request(p), &Settings::default());
            let written = w
                .timeseries
                .iter()
                .map(|s| s.histograms.len())
                .sum::<usize>() as u64;
            assert_eq!(
                written + t.refused_points(),
                1,
                "scale {scale} offset {offset}"
            );
        }
    }
    let (s, d) = buckets_layout(&[1, 2], i32::MAX, 0);
    let got: Vec<(i32, u32)> = s.iter().map(|s| (s.offset, s.length)).collect();
    assert_eq!(
        (got, d),
        (vec![(i32::MAX, 2)], vec![1, 1]),
        "clamped, not wrapped"
    );
}
