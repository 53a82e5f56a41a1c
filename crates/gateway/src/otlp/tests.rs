use std::io::Write as _;

use super::model::*;
use super::*;
use rwgate_proto::otlp as send;
use rwgate_proto::prometheus as send_prom;

#[test]
fn negotiation_takes_protobuf_or_json_plain_or_gzip() {
    let n = |ct: Option<&str>, ce: Option<&str>| {
        negotiate(ct.map(str::as_bytes), ce.map(str::as_bytes))
    };
    assert_eq!(
        n(Some("application/x-protobuf"), None).ok(),
        Some((Encoding::Protobuf, false))
    );
    assert_eq!(
        n(Some("application/json; charset=utf-8"), Some("gzip")).ok(),
        Some((Encoding::Json, true))
    );
    assert_eq!(
        n(Some("Application/JSON"), Some("identity")).ok(),
        Some((Encoding::Json, false))
    );
    let e = n(Some("text/plain"), None).unwrap_err();
    assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(e.to_string().contains("\"text/plain\""), "{e}");
    assert_eq!(
        n(None, None).unwrap_err().status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let e = n(Some("application/x-protobuf"), Some("snappy")).unwrap_err();
    assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(e.kind(), "unsupported_content_encoding");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("in memory");
    enc.finish().expect("in memory")
}

#[test]
fn gunzip_stops_a_bomb_at_the_limit() {
    let bomb = gzip(&vec![0u8; 10 << 20]);
    assert!(bomb.len() < 64 << 10, "10 MiB of zeros compress well");
    let mut asked = 0;
    let grow = |n| -> Result<(), OtlpError> {
        asked += n;
        Ok(())
    };
    match gunzip(&bomb, 1 << 20, grow) {
        Err(OtlpError::DecodedTooLarge { limit }) => assert_eq!(limit, 1 << 20),
        other => panic!("expected DecodedTooLarge, got {other:?}"),
    }
    assert!(
        asked <= (1 << 20) + 1,
        "no more memory than the limit was asked for: {asked}"
    );
    let ok = |_| -> Result<(), OtlpError> { Ok(()) };
    assert_eq!(gunzip(&gzip(b"hello"), 5, ok).expect("fits"), b"hello");
    let at_limit = vec![7u8; 3 * GUNZIP_CHUNK];
    assert_eq!(
        gunzip(&gzip(&at_limit), at_limit.len(), ok).expect("fits"),
        at_limit
    );
    let broken = gunzip(b"\x1f\x8b not gzip", 100, ok).unwrap_err();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    // The budget refuses as the body grows: here after the first chunk.
    let mut chunks = 0;
    let budget = |_| -> Result<(), OtlpError> {
        chunks += 1;
        if chunks > 1 {
            Err(OtlpError::DecodedTooLarge { limit: 0 })
        } else {
            Ok(())
        }
    };
    assert!(matches!(
        gunzip(&gzip(&at_limit), 64 << 20, budget),
        Err(OtlpError::DecodedTooLarge { limit: 0 })
    ));
}

#[test]
fn json_follows_the_otlp_json_encoding() {
    let body = r#"{"resourceMetrics":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"api"}},
        {"key":"n","value":{"intValue":"12"}}]},
      "scopeMetrics":[{"scope":{"name":"s"},"metrics":[
        {"name":"c","unit":"1","description":"ignored","sum":{"aggregationTemporality":2,"isMonotonic":true,
          "dataPoints":[{"timeUnixNano":"1700000000000000000","asInt":"5",
            "exemplars":[{"timeUnixNano":1,"asDouble":"NaN","traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"a1a2a3a4a5a6a7a8"}]}]}},
        {"name":"h","histogram":{"aggregationTemporality":2,"dataPoints":[{"count":"3","sum":1.5,
          "bucketCounts":["1",2],"explicitBounds":[1.0],"timeUnixNano":"5"}]}},
        {"name":"unknownKind","somethingNew":{}}
      ]}]}]}"#;
    let req = parse(Encoding::Json, body.as_bytes()).expect("valid OTLP/JSON");
    let rm = &req.resource_metrics[0];
    assert_eq!(rm.resource.as_ref().map(|r| r.attributes.len()), Some(2));
    let metrics = &rm.scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 3);
    let Some(Data::Sum(sum)) = &metrics[0].data else {
        panic!("a sum");
    };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, CUMULATIVE);
    let p = &sum.data_points[0];
    assert_eq!(p.time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(p.value, Some(NumberValue::AsInt(5)));
    let e = &p.exemplars[0];
    assert_eq!(e.trace_id, (1..=16).collect::<Vec<u8>>());
    assert_eq!(
        e.span_id,
        vec![0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8]
    );
    assert!(matches!(e.value, Some(NumberValue::AsDouble(v)) if v.is_nan()));
    let Some(Data::Histogram(h)) = &metrics[1].data else {
        panic!("a histogram");
    };
    assert_eq!(h.data_points[0].bucket_counts, vec![1, 2]);
    assert_eq!(h.data_points[0].count, 3);
    assert_eq!(h.data_points[0].sum, Some(1.5));
    assert_eq!(metrics[2].data, None);
}

#[test]
fn malformed_bodies_are_400_with_the_parsers_reason() {
    for (encoding, body) in [
        (Encoding::Json, &b"{\"resourceMetrics\": 5}"[..]),
        (Encoding::Json, &b"{\"resourceMetrics\": [{\"resource\": {\"attributes\": [{\"key\": \"k\", \"value\": {\"intValue\": \"x1\"}}]}}]}"[..]),
        (Encoding::Protobuf, &b"\x0a\xff\xff\xff\xff\x0f"[..]),
    ] {
        let e = parse(encoding, body).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(e.kind(), "malformed_otlp");
    }
}

#[test]
fn protobuf_decodes_what_a_sender_encodes() {
    let kv = |k: &str, v| send::KeyValue {
        key: k.into(),
        value: Some(send::AnyValue { value: Some(v) }),
    };
    let req = send::ExportMetricsServiceRequest {
        resource_metrics: vec![send::ResourceMetrics {
            resource: Some(send::Resource {
                attributes: vec![
                    kv("s", send::Value::StringValue("x".into())),
                    kv("b", send::Value::BoolValue(true)),
                    kv("i", send::Value::IntValue(-3)),
                    kv(
                        "arr",
                        send::Value::ArrayValue(send::ArrayValue {
                            values: vec![send::AnyValue {
                                value: Some(send::Value::DoubleValue(0.5)),
                            }],
                        }),
                    ),
                ],
            }),
            scope_metrics: vec![send::ScopeMetrics {
                metrics: vec![
                    send::Metric {
                        name: "g".into(),
                        unit: "s".into(),
                        data: Some(send::Data::Sum(send::Sum {
                            data_points: vec![send::NumberDataPoint {
                                time_unix_nano: 7,
                                value: Some(send::NumberValue::AsInt(-9)),
                                flags: 1,
                                exemplars: vec![send::Exemplar {
                                    span_id: vec![1; 8],
                                    value: Some(send::ExemplarValue::AsDouble(2.0)),
                                    ..Default::default()
                                }],
                                ..Default::default()
                            }],
                            aggregation_temporality: CUMULATIVE,
                            is_monotonic: true,
                        })),
                    },
                    send::Metric {
                        name: "h".into(),
                        unit: String::new(),
                        data: Some(send::Data::Histogram(send::Histogram {
                            data_points: vec![send::HistogramDataPoint {
                                count: 3,
                                sum: Some(1.5),
                                bucket_counts: vec![1, 2],
                                explicit_bounds: vec![0.25],
                                ..Default::default()
                            }],
                            aggregation_temporality: DELTA,
                        })),
                    },
                    send::Metric {
                        name: "e".into(),
                        unit: String::new(),
                        data: Some(send::Data::ExponentialHistogram(
                            send::ExponentialHistogram {
                                data_points: vec![send::ExponentialHistogramDataPoint {
                                    scale: -3,
                                    positive: Some(send::Buckets {
                                        offset: -2,
                                        bucket_counts: vec![4, 5],
                                    }),
                                    ..Default::default()
                                }],
                                aggregation_temporality: CUMULATIVE,
                            },
                        )),
                    },
                ],
            }],
        }],
    };
    let raw = req.encode_to_vec();
    let got = parse(Encoding::Protobuf, &raw).expect("decodes");
    let rm = &got.resource_metrics[0];
    let attrs = &rm.resource.as_ref().expect("resource").attributes;
    assert_eq!(attrs[0].key, "s");
    assert_eq!(
        attrs[0].value.as_ref().and_then(|v| v.value.clone()),
        Some(Value::StringValue("x".into()))
    );
    assert_eq!(
        attrs[1].value.as_ref().and_then(|v| v.value.clone()),
        Some(Value::BoolValue(true))
    );
    assert_eq!(
        attrs[2].value.as_ref().and_then(|v| v.value.clone()),
        Some(Value::IntValue(-3))
    );
    assert_eq!(
        attrs[3].value.as_ref().and_then(|v| v.value.clone()),
        Some(Value::ArrayValue(vec![AnyValue {
            value: Some(Value::DoubleValue(0.5))
        }]))
    );
    let m = &rm.scope_metrics[0].metrics;
    assert_eq!((m[0].name.as_ref(), m[0].unit.as_ref()), ("g", "s"));
    let Some(Data::Sum(sum)) = &m[0].data else {
        panic!("a sum")
    };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, CUMULATIVE);
    let p = &sum.data_points[0];
    assert_eq!(
        (p.time_unix_nano, p.value, p.flags),
        (7, Some(NumberValue::AsInt(-9)), 1)
    );
    assert_eq!(p.exemplars[0].span_id.as_ref(), [1; 8]);
    assert_eq!(p.exemplars[0].value, Some(NumberValue::AsDouble(2.0)));
    let Some(Data::Histogram(h)) = &m[1].data else {
        panic!("a histogram")
    };
    assert_eq!(h.aggregation_temporality, DELTA);
    let hp = &h.data_points[0];
    assert_eq!((hp.count, hp.sum), (3, Some(1.5)));
    assert_eq!(
        (hp.bucket_counts.as_slice(), hp.explicit_bounds.as_slice()),
        (&[1, 2][..], &[0.25][..])
    );
    let Some(Data::ExponentialHistogram(e)) = &m[2].data else {
        panic!("exponential")
    };
    let ep = &e.data_points[0];
    assert_eq!(ep.scale, -3);
    assert_eq!(
        ep.positive,
        Some(Buckets {
            offset: -2,
            bucket_counts: vec![4, 5]
        })
    );
}

#[test]
fn protobuf_refuses_what_is_broken_and_skips_what_is_unknown() {
    // Field 1 (resource_metrics) claims 255 bytes, 0 follow.
    assert_eq!(
        pb::decode(b"\x0a\xff\x01"),
        Err(pb::PbError::Truncated("ExportMetricsServiceRequest"))
    );
    // resource_metrics as a varint.
    assert!(matches!(
        pb::decode(b"\x08\x01"),
        Err(pb::PbError::WireType { field: 1, .. })
    ));
    // Eleven continuation bytes.
    assert_eq!(pb::decode(&[0x80; 11]), Err(pb::PbError::VarintTooLong));
    // Unknown fields of every wire type are skipped.
    let unknown = [
        0x10, 0x05, 0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0x22, 0x01, 0xff, 0x2d, 0, 0, 0, 0,
    ];
    assert_eq!(
        pb::decode(&unknown)
            .expect("skipped")
            .resource_metrics
            .len(),
        0
    );
    // Invalid UTF-8 in a metric name.
    let bad = send::ExportMetricsServiceRequest {
        resource_metrics: vec![send::ResourceMetrics {
            resource: None,
            scope_metrics: vec![send::ScopeMetrics {
                metrics: vec![send::Metric {
                    name: "NAME".into(),
                    ..Default::default()
                }],
            }],
        }],
    };
    let mut raw = bad.encode_to_vec();
    let at = raw.windows(4).position(|w| w == b"NAME").expect("present");
    raw[at] = 0xff;
    assert_eq!(pb::decode(&raw), Err(pb::PbError::Utf8("Metric")));
    // Arrays nested past the limit.
    let mut v = send::AnyValue {
        value: Some(send::Value::IntValue(1)),
    };
    for _ in 0..=pb::MAX_DEPTH + 1 {
        v = send::AnyValue {
            value: Some(send::Value::ArrayValue(send::ArrayValue {
                values: vec![v],
            })),
        };
    }
    let deep = send::ExportMetricsServiceRequest {
        resource_metrics: vec![send::ResourceMetrics {
            resource: Some(send::Resource {
                attributes: vec![send::KeyValue {
                    key: "k".into(),
                    value: Some(v),
                }],
            }),
            scope_metrics: vec![],
        }],
    };
    assert_eq!(pb::decode(&deep.encode_to_vec()), Err(pb::PbError::TooDeep));
}

async fn body_of(resp: Response) -> (StatusCode, Option<String>, Vec<u8>) {
    let status = resp.status();
    let retry = resp
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("small body");
    (status, retry, bytes.to_vec())
}

#[tokio::test]
async fn answers_are_in_the_requests_encoding() {
    let (status, _, body) = body_of(respond(Encoding::Protobuf, StatusCode::OK, 0, "", None)).await;
    use send::{ExportMetricsServiceResponse, Status};
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ExportMetricsServiceResponse::decode(&body[..]).expect("pb"),
        ExportMetricsServiceResponse::default()
    );

    let (_, _, body) = body_of(respond(Encoding::Protobuf, StatusCode::OK, 3, "why", None)).await;
    let partial = ExportMetricsServiceResponse::decode(&body[..])
        .expect("pb")
        .partial_success
        .expect("set");
    assert_eq!(
        (partial.rejected_data_points, partial.error_message.as_str()),
        (3, "why")
    );

    let (_, _, body) = body_of(respond(Encoding::Json, StatusCode::OK, 2, "why", None)).await;
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"partialSuccess": {"rejectedDataPoints": "2", "errorMessage": "why"}})
    );

    let (status, retry, body) = body_of(respond(
        Encoding::Json,
        StatusCode::SERVICE_UNAVAILABLE,
        0,
        "quorum",
        Some(2),
    ))
    .await;
    assert_eq!(
        (status, retry.as_deref()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("2"))
    );
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v, serde_json::json!({"code": 14, "message": "quorum"}));

    let (status, _, body) = body_of(respond(
        Encoding::Protobuf,
        StatusCode::BAD_REQUEST,
        0,
        "bad",
        None,
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let s = Status::decode(&body[..]).expect("pb");
    assert_eq!((s.code, s.message.as_str()), (3, "bad"));
}

#[test]
fn request_refusal_ids_are_listed() {
    let all = [
        OtlpError::UnsupportedContentType(String::new()),
        OtlpError::UnsupportedContentEncoding(String::new()),
        OtlpError::MalformedGzip(String::new()),
        OtlpError::Malformed {
            encoding: "json",
            detail: String::new(),
        },
        OtlpError::DecodedTooLarge { limit: 1 },
        OtlpError::TranslatedTooLarge { limit: 1 },
    ];
    let shared = [
        "unsupported_content_type",
        "unsupported_content_encoding",
        "decoded_body_too_large",
    ];
    for e in all {
        assert!(
            REQUEST_REFUSALS.contains(&e.kind()) || shared.contains(&e.kind()),
            "{} is not listed",
            e.kind()
        );
    }
}

/// Attributes of the usual shape take a shortcut; UTF-8 keys and values and values
/// over 127 bytes take the general walk. Both read the same.
#[test]
fn string_attributes_read_the_same_on_both_paths() {
    let long = "v".repeat(300);
    let cases = [
        ("k", "v"),
        ("température_°C", "ünïcödé"),
        ("k", long.as_str()),
        ("", ""),
    ];
    let req = send::ExportMetricsServiceRequest {
        resource_metrics: vec![send::ResourceMetrics {
            resource: Some(send::Resource {
                attributes: cases
                    .iter()
                    .map(|(k, v)| send::KeyValue {
                        key: k.to_string(),
                        value: Some(send::AnyValue {
                            value: Some(send::Value::StringValue(v.to_string())),
                        }),
                    })
                    .collect(),
            }),
            scope_metrics: vec![],
        }],
    };
    let raw = req.encode_to_vec();
    let got = pb::decode(&raw).expect("decodes");
    let attrs = &got.resource_metrics[0]
        .resource
        .as_ref()
        .expect("resource")
        .attributes;
    let read: Vec<(&str, String)> = attrs
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.as_ref(), v)
        })
        .collect();
    let want: Vec<(&str, String)> = cases.iter().map(|(k, v)| (*k, v.to_string())).collect();
    assert_eq!(read, want);
}

fn a_valid_request() -> Vec<u8> {
    let kv = |k: &str, v: &str| send::KeyValue {
        key: k.into(),
        value: Some(send::AnyValue {
            value: Some(send::Value::StringValue(v.into())),
        }),
    };
    let number = |v| send::NumberDataPoint {
        attributes: vec![kv("a", "b"), kv("c", "d")],
        time_unix_nano: 1_700_000_000_000_000_000,
        value: Some(send::NumberValue::AsDouble(v)),
        ..Default::default()
    };
    send::ExportMetricsServiceRequest {
        resource_metrics: vec![send::ResourceMetrics {
            resource: Some(send::Resource {
                attributes: vec![kv("service.name", "s"), kv("host", "h")],
            }),
            scope_metrics: vec![send::ScopeMetrics {
                metrics: vec![
                    send::Metric {
                        name: "g".into(),
                        unit: "s".into(),
                        data: Some(send::Data::Gauge(send::Gauge {
                            data_points: vec![number(1.0), number(2.0)],
                        })),
                    },
                    send::Metric {
                        name: "e".into(),
                        unit: String::new(),
                        data: Some(send::Data::ExponentialHistogram(
                            send::ExponentialHistogram {
                                data_points: vec![send::ExponentialHistogramDataPoint {
                                    scale: 3,
                                    count: 3,
                                    positive: Some(send::Buckets {
                                        offset: -2,
                                        bucket_counts: vec![1, 2],
                                    }),
                                    ..Default::default()
                                }],
                                aggregation_temporality: CUMULATIVE,
                            },
                        )),
                    },
                ],
            }],
        }],
    }
    .encode_to_vec()
}

/// Parse, translate (cache on and off) and decode the translation as the gateway
/// does; whatever the bytes, this returns.
fn ingest_path(body: &[u8]) {
    let Ok(req) = parse(Encoding::Protobuf, body) else {
        return;
    };
    for cache_bytes in [0, 1 << 20] {
        let settings = Settings {
            cache_bytes,
            ..Settings::default()
        };
        if let Ok(t) = translate(&req, &settings, 1 << 20) {
            let _ = rwgate_wire::decode(
                rwgate_wire::Protocol::V1,
                t.body.into(),
                &rwgate_wire::Limits::default(),
                0,
            );
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        ingest_path(&body);
    }

    #[test]
    fn mutated_valid_bodies_never_panic(flips in proptest::collection::vec((0usize..4096, proptest::num::u8::ANY), 1..8)) {
        let mut body = a_valid_request();
        for (at, byte) in flips {
            let n = body.len();
            body[at % n] = byte;
        }
        ingest_path(&body);
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // The first byte is the fuzz target's selector.
    bytes[1..].to_vec()
}

/// One request written by the reference implementation (Python's protobuf with the
/// opentelemetry-proto package: `SerializeToString` and `json_format.MessageToJson`,
/// trace ids turned to hex as OTLP/JSON asks), read by our protobuf and JSON paths:
/// every kind of point, exemplars, and the same translation from both encodings.
#[test]
fn the_reference_encodings_read_the_same() {
    let pb_body = fixture("fuzz-otlp-protobuf.bin");
    let json_body = fixture("fuzz-otlp-json.bin");
    let mut gz_body = fixture("fuzz-otlp-protobuf-gzip.bin");
    gz_body = gunzip(&gz_body, 1 << 20, |_| Ok::<(), OtlpError>(())).expect("gzip");
    assert_eq!(gz_body, pb_body);
    let settings = OtlpConfig::default().settings("tenant");
    let from_pb = parse(Encoding::Protobuf, &pb_body).expect("protobuf");
    let from_json = parse(Encoding::Json, &json_body).expect("json");
    let a = translate(&from_pb, &settings, 1 << 20).expect("translates");
    let b = translate(&from_json, &settings, 1 << 20).expect("translates");
    assert_eq!(a.points, 5);
    assert_eq!(a.refused_points(), 0);
    assert_eq!(a.body, b.body, "both encodings translate to the same bytes");
    let w = send_prom::WriteRequest::decode(&a.body[..]).expect("valid");
    let names: std::collections::BTreeSet<String> = w
        .timeseries
        .iter()
        .flat_map(|s| {
            s.labels
                .iter()
                .filter(|l| l.name == "__name__")
                .map(|l| l.value.clone())
        })
        .collect();
    let want = [
        "http_requests_total",
        "latency_seconds_bucket",
        "latency_seconds_count",
        "latency_seconds_sum",
        "queue_size_bytes",
        "rpc_milliseconds",
        "rpc_milliseconds_count",
        "rpc_milliseconds_sum",
        "size_bytes",
        "target_info",
    ];
    assert_eq!(names, want.iter().map(|s| s.to_string()).collect());
    let exemplars: usize = w.timeseries.iter().map(|s| s.exemplars.len()).sum();
    assert_eq!(exemplars, 1);
    let hist = w
        .timeseries
        .iter()
        .flat_map(|s| &s.histograms)
        .next()
        .expect("native");
    assert_eq!(hist.schema, 8, "scale 9 merged down to 8");
}
