//! OTLP metrics through the gateway: the three paths, protobuf and JSON, gzip; series
//! land where `ring lookup` says under Prometheus' names; refused points come back in
//! `partial_success` and are counted; bodies over a limit, bombs, unknown media types
//! and malformed bodies get the OTLP/HTTP status with a `google.rpc.Status`; retryable
//! failures say when to retry.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write as _;

use common::Harness;
use prost::Message as _;
use rwgate_gateway::config::LabelPolicy;
use rwgate_proto::otlp::*;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn gauge(name: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: points,
        })),
    }
}

fn sum(name: &str, temporality: i32, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: String::new(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality,
            is_monotonic: true,
        })),
    }
}

fn point(attrs: Vec<KeyValue>, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: now_ns(),
        value: Some(NumberValue::AsDouble(v)),
        ..Default::default()
    }
}

fn export(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
            }),
            scope_metrics: vec![ScopeMetrics { metrics }],
        }],
    }
}

struct Reply {
    status: u16,
    retry_after: Option<String>,
    content_type: String,
    body: Vec<u8>,
}

async fn post(h: &Harness, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
    let mut r = h.client.post(format!("http://{}{path}", h.addr)).body(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.unwrap();
    let header = |name| {
        resp.headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_string())
    };
    Reply {
        status: resp.status().as_u16(),
        retry_after: header("retry-after"),
        content_type: header("content-type").unwrap_or_default(),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

async fn post_pb(h: &Harness, tenant: &str, req: &ExportMetricsServiceRequest) -> Reply {
    post(
        h,
        "/v1/metrics",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("THANOS-TENANT", tenant),
        ],
        req.encode_to_vec(),
    )
    .await
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn partial(r: &Reply) -> Option<ExportMetricsPartialSuccess> {
    ExportMetricsServiceResponse::decode(&r.body[..])
        .unwrap()
        .partial_success
}

fn status_of(r: &Reply) -> Status {
    Status::decode(&r.body[..]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_places_translated_series_where_ring_lookup_says() {
    let h = Harness::builder().receivers(3).rf(2).start().await;
    let resource = vec![
        kv("service.name", "checkout"),
        kv("service.instance.id", "pod-1"),
    ];
    for (i, path) in ["/api/v1/otlp/v1/metrics", "/otlp/v1/metrics", "/v1/metrics"]
        .into_iter()
        .enumerate()
    {
        let points = (0..20)
            .map(|p| point(vec![kv("http.route", &format!("/r{p}"))], p as f64))
            .collect();
        let req = export(
            resource.clone(),
            vec![sum(&format!("http.requests.{i}"), CUMULATIVE, points)],
        );
        let r = post(
            &h,
            path,
            &[
                ("Content-Type", "application/x-protobuf"),
                ("THANOS-TENANT", "tenant-a"),
            ],
            req.encode_to_vec(),
        )
        .await;
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.content_type, "application/x-protobuf");
        assert_eq!(partial(&r), None, "{path}: nothing refused");
        for p in 0..20 {
            let name = format!("http_requests_{i}_total");
            let route = format!("/r{p}");
            let labels = [
                ("__name__", name.as_str()),
                ("http_route", route.as_str()),
                ("instance", "pod-1"),
                ("job", "checkout"),
            ];
            let holders = h.holders("tenant-a", &labels);
            assert_eq!(holders.len(), 2, "{path}: {labels:?} on RF 2 receivers");
            assert_eq!(
                holders,
                h.lookup("tenant-a", &labels, 2),
                "{path}: {labels:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzipped_json_lands_with_its_values_and_gets_a_json_answer() {
    let h = Harness::builder().receivers(1).start().await;
    h.receivers[0].capture();
    let body = format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"api"}}}}]}},
        "scopeMetrics":[{{"metrics":[{{"name":"queue.size","unit":"{{item}}","gauge":{{"dataPoints":[
          {{"timeUnixNano":"{}","asInt":"42","attributes":[{{"key":"queue","value":{{"stringValue":"q1"}}}}]}}]}}}}]}}]}}]}}"#,
        now_ns()
    );
    let r = post(
        &h,
        "/v1/metrics",
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
            ("THANOS-TENANT", "tenant-a"),
        ],
        gzip(body.as_bytes()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.content_type, "application/json");
    assert_eq!(r.body, b"{}");
    let got = h.receivers[0].take_captured();
    let series: Vec<_> = got.iter().flat_map(|w| &w.timeseries).collect();
    assert_eq!(series.len(), 1);
    let labels: Vec<(&str, &str)> = series[0]
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(
        labels,
        [("__name__", "queue_size"), ("job", "api"), ("queue", "q1")]
    );
    assert_eq!(series[0].samples[0].value, 42.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_points_come_back_in_partial_success_and_are_counted() {
    let h = Harness::builder().receivers(1).start().await;
    let mut stale = point(vec![kv("k", "stale")], 1.0);
    stale.flags = NO_RECORDED_VALUE;
    let req = export(
        vec![],
        vec![
            sum(
                "deltas",
                DELTA,
                vec![point(vec![], 1.0), point(vec![kv("k", "v")], 2.0)],
            ),
            sum("nan.counter", CUMULATIVE, vec![point(vec![], f64::NAN)]),
            gauge("fine", "", vec![point(vec![], 3.0), stale]),
        ],
    );
    let r = post_pb(&h, "tenant-a", &req).await;
    assert_eq!(r.status, 200);
    let p = partial(&r).expect("partial success");
    assert_eq!(p.rejected_data_points, 3);
    assert!(
        p.error_message.contains("otlp_delta_temporality"),
        "{}",
        p.error_message
    );
    assert_eq!(
        h.receivers[0].tenant("tenant-a").samples,
        2,
        "the good point and the stale marker"
    );
    let (_, metrics) = h.get(h.admin, "/metrics").await;
    for line in [
        r#"rwgate_discarded_samples_total{reason="otlp_delta_temporality",tenant="other"} 2"#,
        r#"rwgate_discarded_samples_total{reason="otlp_nan_count",tenant="other"} 1"#,
        r#"rwgate_otlp_data_points_total{outcome="stale_marker"} 1"#,
        r#"rwgate_otlp_data_points_total{outcome="refused"} 3"#,
    ] {
        assert!(metrics.contains(line), "missing {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_refused_by_validation_are_partial_success_too() {
    let h = Harness::builder()
        .receivers(1)
        .config(|c| c.limits.max_label_value_length = 8)
        .start()
        .await;
    let req = export(
        vec![],
        vec![gauge(
            "g",
            "",
            vec![
                point(vec![kv("k", "short")], 1.0),
                point(vec![kv("k", "much-too-long")], 2.0),
            ],
        )],
    );
    let r = post_pb(&h, "tenant-a", &req).await;
    assert_eq!(r.status, 200);
    let p = partial(&r).expect("partial success");
    assert_eq!(p.rejected_data_points, 1);
    assert!(
        p.error_message.contains("label_value_too_long"),
        "{}",
        p.error_message
    );
    assert_eq!(h.receivers[0].tenant("tenant-a").samples, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_request_refusals_answer_with_a_status_body() {
    let h = Harness::builder()
        .receivers(1)
        .config(|c| {
            c.limits.max_body_bytes = 64 << 10;
            c.limits.max_decoded_body_bytes = 256 << 10;
        })
        .start()
        .await;
    let pb = [
        ("Content-Type", "application/x-protobuf"),
        ("THANOS-TENANT", "t"),
    ];

    let r = post(
        &h,
        "/v1/metrics",
        &[("Content-Type", "text/plain")],
        b"x".to_vec(),
    )
    .await;
    assert_eq!(r.status, 415);
    assert!(status_of(&r).message.contains("text/plain"));

    let r = post(&h, "/v1/metrics", &pb, b"\x0a\xff\xff\xff\xff\x0f".to_vec()).await;
    assert_eq!(r.status, 400);
    let s = status_of(&r);
    assert_eq!(s.code, 3);
    assert!(s.message.contains("malformed_otlp"), "{}", s.message);

    let r = post(&h, "/v1/metrics", &pb, vec![0; 65 << 10]).await;
    assert_eq!(r.status, 413, "over max_body_bytes");

    let bomb = gzip(&vec![0u8; 8 << 20]);
    let mut gz = pb.to_vec();
    gz.push(("Content-Encoding", "gzip"));
    let r = post(&h, "/v1/metrics", &gz, bomb).await;
    assert_eq!(r.status, 413, "a gzip bomb stops at max_decoded_body_bytes");
    assert!(status_of(&r).message.contains("decoded_body_too_large"));

    let r = post(
        &h,
        "/v1/metrics",
        &[("Content-Type", "application/json")],
        b"{".to_vec(),
    )
    .await;
    assert_eq!(r.status, 400);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["code"], 3);
    assert_eq!(h.receiver_attempts(), 0, "nothing was forwarded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failures_say_when_to_retry() {
    let h = Harness::builder()
        .receivers(1)
        .config(|c| {
            let limits = &mut c.tenants.entry("tenant-slow".into()).or_default().limits;
            limits.ingestion_rate = Some(1.0);
            limits.ingestion_burst = Some(1);
        })
        .start()
        .await;
    let req = export(
        vec![],
        vec![gauge(
            "g",
            "",
            vec![point(vec![], 1.0), point(vec![kv("a", "b")], 1.0)],
        )],
    );
    assert_eq!(
        post_pb(&h, "tenant-slow", &req).await.status,
        200,
        "a full bucket"
    );
    let r = post_pb(&h, "tenant-slow", &req).await;
    assert_eq!(r.status, 429);
    assert!(r.retry_after.is_some());
    assert_eq!(status_of(&r).code, 8);

    h.receivers[0].stop();
    let r = post_pb(&h, "tenant-a", &req).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.retry_after.as_deref(), Some("2"));
    assert_eq!(status_of(&r).code, 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_resource_attribute_splits_series_by_tenant() {
    let h = Harness::builder()
        .receivers(1)
        .config(|c| c.tenancy.tenant_label_policy = LabelPolicy::Split)
        .start()
        .await;
    let mut req = export(
        vec![kv("service.name", "a"), kv("tenant", "tenant-a")],
        vec![gauge("g", "", vec![point(vec![], 1.0)])],
    );
    req.resource_metrics.push(ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![kv("service.name", "b"), kv("tenant", "tenant-b")],
        }),
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![gauge(
                "g",
                "",
                vec![point(vec![], 2.0), point(vec![kv("x", "y")], 3.0)],
            )],
        }],
    });
    let r = post(
        &h,
        "/otlp/v1/metrics",
        &[("Content-Type", "application/x-protobuf")],
        req.encode_to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Each resource also has a target_info series (its `tenant` attribute is not one
    // of the identifying ones), under its own tenant.
    let rx = &h.receivers[0];
    assert_eq!(rx.tenant("tenant-a").samples, 1 + 1);
    assert_eq!(rx.tenant("tenant-b").samples, 2 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_un_gzipped_body_and_its_translation_are_charged_to_the_in_flight_budget() {
    let h = Harness::builder()
        .receivers(1)
        .config(|c| {
            c.limits.max_body_bytes = 64 << 10;
            c.limits.max_decoded_body_bytes = 4 << 20;
            // The least the config allows: 64 KiB x 2 + 2 x 4 MiB.
            c.overload.max_inflight_bytes = (64 << 10) * 2 + (8 << 20);
        })
        .start()
        .await;
    // 3 MiB once un-gzipped: under max_decoded_body_bytes, but with its parse and
    // translation (about 4 times more) over the budget.
    let r = post(
        &h,
        "/v1/metrics",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
            ("THANOS-TENANT", "t"),
        ],
        gzip(&vec![0u8; 3 << 20]),
    )
    .await;
    assert_eq!(r.status, 503, "{}", status_of(&r).message);
    assert!(status_of(&r).message.contains("overloaded"));
    assert_eq!(r.retry_after.as_deref(), Some("1"));
    // A request within the budget still passes.
    let req = export(vec![], vec![gauge("g", "", vec![point(vec![], 1.0)])]);
    assert_eq!(post_pb(&h, "t", &req).await.status, 200);
}
