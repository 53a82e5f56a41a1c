//! The cases of the Prometheus remote-write receiver compliance suite
//! (prometheus/compliance, `remotewrite/receiver/*_test.go`), written again as data and
//! run against rwgate in process with one embedded receiver (RF 1).
//!
//! Each test is one group of the suite at one RFC level (`must_`, `should_`, `may_` in
//! its name) and runs every case of the group, reporting each failed case by name. A
//! case asserts what the suite asserts:
//! - on 2xx: the case expected success, and the `X-Prometheus-Remote-Write-*-Written`
//!   headers equal what was sent (a missing header counts 0); at SHOULD level the
//!   status is exactly 204;
//! - on 4xx: the case expected failure, the status is 400 unless another is named, and
//!   the headers claim no more than was sent;
//! - 5xx and other statuses fail.
//!
//! Beyond the suite, every accepted request is checked field by field against what
//! the receiver got: labels (sorted), sample values (bit for bit, so StaleNaN stays
//! StaleNaN), timestamps, histograms and exemplars. Cases the suite's newer draft
//! expects (UTF-8 names answer 204) and Prometheus' stricter custom-bucket rules are
//! included as SHOULD cases.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure
#![allow(clippy::type_complexity)] // case tables are tuples of label slices

#[path = "../common/mod.rs"]
mod common;
mod spec;

use common::Harness;
use rwgate_proto::v2::metadata::MetricType;
use spec::*;

/// The RFC level of a case.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Level {
    Must,
    Should,
    May,
}

/// What a case expects.
#[derive(Clone, Copy, Debug, Default)]
struct Expect {
    success: bool,
    samples: u64,
    histograms: u64,
    exemplars: u64,
    /// The exact status, when the suite names one.
    status: Option<u16>,
}

fn ok(samples: u64, histograms: u64, exemplars: u64) -> Expect {
    Expect {
        success: true,
        samples,
        histograms,
        exemplars,
        status: None,
    }
}

fn refused(samples: u64, histograms: u64, exemplars: u64) -> Expect {
    Expect {
        success: false,
        samples,
        histograms,
        exemplars,
        status: None,
    }
}

/// How the request is sent.
#[derive(Clone, Debug)]
enum Body {
    /// A v2 request of these series.
    V2(Vec<Series>),
    /// A v1 request (no version header), optionally with the first byte corrupted.
    V1 { series: Vec<Series>, corrupt: bool },
    /// A v2 request with other headers and a corrupted body.
    Corrupt {
        content_type: &'static str,
        content_encoding: &'static str,
    },
}

struct Case {
    name: String,
    level: Level,
    body: Body,
    expect: Expect,
}

/// The suite's `runComplianceTest`: a SHOULD case that must answer 204 for requests
/// expected to succeed, and a MUST case for every request.
fn compliance(name: &str, series: Vec<Series>, expect: Expect) -> Vec<Case> {
    let mut out = Vec::new();
    if expect.success {
        out.push(Case {
            name: format!("{name} returns 204"),
            level: Level::Should,
            body: Body::V2(series.clone()),
            expect,
        });
    }
    out.push(Case {
        name: name.to_string(),
        level: Level::Must,
        body: Body::V2(series),
        expect,
    });
    out
}

fn single(level: Level, name: &str, series: Vec<Series>, expect: Expect) -> Case {
    Case {
        name: name.to_string(),
        level,
        body: Body::V2(series),
        expect,
    }
}

fn header(h: &reqwest::header::HeaderMap, what: &str) -> u64 {
    h.get(format!("X-Prometheus-Remote-Write-{what}-Written"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Sends one case; returns why it failed, if it did.
async fn run_case(h: &Harness, case: &Case) -> Result<(), String> {
    let now = now_ms();
    let (content_type, encoding, raw, series) = match &case.body {
        Body::V2(s) => (
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            "snappy",
            common::snappy(&v2_request(s, now)),
            Some(s.as_slice()),
        ),
        Body::V1 { series, corrupt } => {
            let mut body = common::snappy(&v1_request(series, now));
            if *corrupt {
                body[0] = 0xff;
            }
            (
                "application/x-protobuf",
                "snappy",
                body,
                Some(series.as_slice()),
            )
        }
        Body::Corrupt {
            content_type,
            content_encoding,
        } => {
            let mut body = common::snappy(&v2_request(&[sample(&[("__name__", "up")], 1.0)], now));
            body[0] = b'0';
            (*content_type, *content_encoding, body, None)
        }
    };
    let mut req = h
        .client
        .post(h.url())
        .header("Content-Type", content_type)
        .header("Content-Encoding", encoding)
        .body(raw);
    if matches!(case.body, Body::V2(_)) {
        req = req.header("X-Prometheus-Remote-Write-Version", "2.0.0");
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let written = (
        header(&headers, "Samples"),
        header(&headers, "Histograms"),
        header(&headers, "Exemplars"),
    );
    let e = case.expect;
    let sent = (e.samples, e.histograms, e.exemplars);
    let arrived = h.receivers[0].take_captured();
    if let Some(want) = e.status
        && status != want
    {
        return Err(format!("status {status}, want {want}: {text}"));
    }
    match status / 100 {
        2 => {
            if !e.success {
                return Err(format!("answered {status} to a request that must fail"));
            }
            if written != sent {
                return Err(format!("written {written:?}, want {sent:?}"));
            }
            if case.level == Level::Should && status != 204 {
                return Err(format!("status {status}, SHOULD be 204"));
            }
            if let (Some(series), Body::V2(_)) = (series, &case.body) {
                check_arrived(series, now, &arrived)?;
            }
            Ok(())
        }
        4 => {
            if e.status.is_none() && status != 400 {
                return Err(format!("status {status}, want 400: {text}"));
            }
            if written.0 > sent.0 || written.1 > sent.1 || written.2 > sent.2 {
                return Err(format!("written {written:?} is more than sent {sent:?}"));
            }
            if e.success {
                return Err(format!("refused a valid request with {status}: {text}"));
            }
            Ok(())
        }
        _ => Err(format!("status {status}: {text}")),
    }
}

/// The receiver got exactly the series that carry data, field by field.
fn check_arrived(
    series: &[Series],
    now: i64,
    arrived: &[rwgate_proto::prometheus::WriteRequest],
) -> Result<(), String> {
    let with_data: Vec<Series> = series
        .iter()
        .filter(|s| s.sample.is_some() || s.histogram.is_some() || !s.exemplars.is_empty())
        .cloned()
        .collect();
    let mut want = expected_v1(&with_data, now);
    let mut got: Vec<_> = arrived.iter().flat_map(|r| r.timeseries.clone()).collect();
    let key = |t: &rwgate_proto::prometheus::TimeSeries| format!("{:?}", t.labels);
    want.sort_by_key(key);
    got.sort_by_key(key);
    for t in got.iter_mut().chain(want.iter_mut()) {
        for e in &mut t.exemplars {
            e.labels.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }
    // Compare floats by bits: NaN != NaN, and StaleNaN must stay StaleNaN.
    let bits = |ts: &[rwgate_proto::prometheus::TimeSeries]| {
        ts.iter()
            .map(|t| {
                let mut t = t.clone();
                let values: Vec<u64> = t.samples.iter().map(|s| s.value.to_bits()).collect();
                let ex: Vec<u64> = t.exemplars.iter().map(|e| e.value.to_bits()).collect();
                t.samples.iter_mut().for_each(|s| s.value = 0.0);
                t.exemplars.iter_mut().for_each(|e| e.value = 0.0);
                (t, values, ex)
            })
            .collect::<Vec<_>>()
    };
    let (got, want) = (bits(&got), bits(&want));
    if got != want {
        return Err(format!("the receiver got\n  {got:?}\nwant\n  {want:?}"));
    }
    Ok(())
}

/// Runs every case of a group on one gateway; fails listing each failed case.
async fn run(group: &str, cases: Vec<Case>) {
    let mut h = Harness::builder().receivers(1).rf(1).start().await;
    h.receivers[0].capture();
    let mut failed = Vec::new();
    for case in &cases {
        if let Err(why) = run_case(&h, case).await {
            failed.push(format!("{:?} {group}/{}: {why}", case.level, case.name));
        }
    }
    h.shutdown().await;
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

fn at(level: Level, cases: Vec<Case>) -> Vec<Case> {
    cases.into_iter().filter(|c| c.level == level).collect()
}

// ---- request_test.go -----------------------------------------------------------

fn request_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for content_type in ["application/json", "image/png"] {
        out.push(Case {
            name: format!("bad content type {content_type}"),
            level: Level::Must,
            body: Body::Corrupt {
                content_type,
                content_encoding: "snappy",
            },
            expect: Expect {
                status: Some(415),
                ..Expect::default()
            },
        });
    }
    for content_encoding in ["gzip", "deflate"] {
        out.push(Case {
            name: format!("bad content encoding {content_encoding}"),
            level: Level::Must,
            body: Body::Corrupt {
                content_type: "application/x-protobuf;proto=io.prometheus.write.v2.Request",
                content_encoding,
            },
            expect: Expect {
                status: Some(415),
                ..Expect::default()
            },
        });
    }
    out.push(Case {
        name: "corrupt request body".into(),
        level: Level::Must,
        body: Body::Corrupt {
            content_type: "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            content_encoding: "snappy",
        },
        expect: Expect::default(),
    });
    out
}

#[tokio::test]
async fn must_request() {
    run("request", at(Level::Must, request_cases())).await;
}

// ---- metric_test.go ------------------------------------------------------------

const VALUES: [(&str, u64); 5] = [
    ("1.0", 0x3ff0_0000_0000_0000),
    ("StaleNaN", STALE_NAN),
    ("NaN", NORMAL_NAN),
    ("Inf", 0x7ff0_0000_0000_0000),
    ("-Inf", 0xfff0_0000_0000_0000),
];

const UP: &[(&str, &str)] = &[
    ("__name__", "up"),
    ("job", "testjob"),
    ("instance", "localhost:9090"),
];

fn metric_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (vname, bits) in VALUES {
        let v = f64::from_bits(bits);
        let singles: [(&str, &[(&str, &str)], bool); 7] = [
            ("simple metric", &[("__name__", "up")], true),
            ("simple metric with multiple labels", UP, true),
            (
                "simple metric with newlines",
                &[
                    ("__name__", "up"),
                    ("job", "test\njob\n"),
                    ("instance", "localhost:9090"),
                ],
                true,
            ),
            (
                "simple metric with dots",
                &[
                    ("__name__", "resource.cpu.usage"),
                    ("job.name", "testjob"),
                    ("instance.name", "localhost:9090"),
                ],
                true,
            ),
            (
                "simple metric with spaces",
                &[
                    ("__name__", "resource cpu usage"),
                    ("job name", "testjob"),
                    ("instance name", "localhost:9090"),
                ],
                true,
            ),
            (
                "simple metric without name label",
                &[("job", "testjob"), ("instance", "localhost:9090")],
                false,
            ),
            ("empty metric", &[], false),
        ];
        for (name, labels, good) in singles {
            let expect = if good { ok(1, 0, 0) } else { refused(1, 0, 0) };
            out.extend(compliance(
                &format!("single metric {vname}/{name}"),
                vec![sample(labels, v)],
                expect,
            ));
        }
        let up = |instance: &'static str| -> Series {
            sample(
                &[
                    ("__name__", "up"),
                    ("job", "testjob"),
                    ("instance", instance),
                ],
                v,
            )
        };
        let nameless = |instance: &'static str| -> Series {
            sample(&[("job", "testjob"), ("instance", instance)], v)
        };
        out.extend(compliance(
            &format!("multiple metrics {vname}/multiple metrics"),
            vec![
                up("localhost:9090"),
                up("localhost:9091"),
                up("localhost:9092"),
                up("localhost:9093"),
            ],
            ok(4, 0, 0),
        ));
        out.extend(compliance(
            &format!("multiple metrics {vname}/without name label"),
            vec![
                nameless("localhost:9090"),
                nameless("localhost:9091"),
                nameless("localhost:9092"),
                nameless("localhost:9093"),
            ],
            refused(0, 0, 0),
        ));
        out.extend(compliance(
            &format!("multiple metrics {vname}/1 without name label"),
            vec![
                nameless("localhost:9090"),
                up("localhost:9091"),
                up("localhost:9092"),
                up("localhost:9093"),
            ],
            refused(3, 0, 0),
        ));
    }
    out.extend(compliance(
        "counter with created timestamp",
        vec![
            sample(
                &[("__name__", "http_requests_total"), ("job", "api")],
                100.0,
            )
            .started(3_600_000),
        ],
        ok(1, 0, 0),
    ));
    out
}

#[tokio::test]
async fn must_metrics() {
    run("metric", at(Level::Must, metric_cases())).await;
}

#[tokio::test]
async fn should_metrics_return_204() {
    run("metric", at(Level::Should, metric_cases())).await;
}

// ---- histograms_test.go ----------------------------------------------------------

fn histogram_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let name = |n| [("__name__", n)];
    let cases: [(&str, Vec<(&'static str, &'static str)>, [bool; 5], bool); 6] = [
        (
            "basic_histogram",
            name("test_histogram").to_vec(),
            [true, true, true, false, false],
            true,
        ),
        (
            "custom_buckets_histogram",
            name("test_histogram").to_vec(),
            [true, false, false, true, false],
            true,
        ),
        (
            "positive_only_histogram",
            vec![("__name__", "test_histogram"), ("job", "test")],
            [true, false, true, false, false],
            true,
        ),
        (
            "negative_only_histogram",
            vec![("__name__", "test_histogram"), ("instance", "localhost")],
            [false, true, false, false, false],
            true,
        ),
        (
            "minimal_histogram",
            name("minimal_hist").to_vec(),
            [false, false, true, false, false],
            true,
        ),
        (
            "bad_count_histogram",
            name("minimal_hist").to_vec(),
            [true, false, false, false, true],
            false,
        ),
    ];
    for (case, labels, [p, n, z, c, bad], good) in cases {
        let h = test_histogram(1.0, p, n, z, c, bad);
        let expect = if good { ok(0, 1, 0) } else { refused(0, 1, 0) };
        out.extend(compliance(case, vec![hist(&labels, h)], expect));
    }
    let rd = [("__name__", "request_duration_seconds"), ("job", "api")];
    out.extend(compliance(
        "histogram with created timestamp",
        vec![hist(&rd, test_histogram(1.5, true, true, true, false, false)).started(1_800_000)],
        ok(0, 1, 0),
    ));
    out.extend(compliance(
        "multiple histograms",
        vec![
            hist(
                &[("__name__", "hist1"), ("job", "test")],
                test_histogram(10.5, true, false, true, false, false),
            ),
            hist(
                &[("__name__", "hist2"), ("job", "test")],
                test_histogram(5.2, false, true, false, false, false),
            ),
        ],
        ok(0, 2, 0),
    ));
    out.extend(compliance(
        "empty histogram",
        vec![hist(
            &[("__name__", "empty_hist")],
            test_histogram(0.0, false, false, false, false, false),
        )],
        ok(0, 1, 0),
    ));
    out.extend(compliance(
        "histogram with metadata",
        vec![
            hist(&rd, test_histogram(2.5, true, true, true, false, false)).metadata(
                MetricType::Histogram,
                "HTTP request duration in seconds",
                "seconds",
            ),
        ],
        ok(0, 1, 0),
    ));
    let get = [
        ("__name__", "http_request_duration_seconds"),
        ("method", "GET"),
    ];
    out.extend(compliance(
        "histogram with exemplar",
        vec![
            hist(&get, test_histogram(1.23, true, false, true, false, false)).exemplar(
                &[("trace_id", "abc123def456"), ("span_id", "span789")],
                1.23,
            ),
        ],
        ok(0, 1, 1),
    ));
    out.extend(compliance(
        "histogram with metadata and exemplar",
        vec![
            hist(
                &[("__name__", "response_size_bytes"), ("service", "upload")],
                test_histogram(10485760.0, true, true, true, false, false),
            )
            .metadata(
                MetricType::Histogram,
                "HTTP response size in bytes",
                "bytes",
            )
            .exemplar(
                &[("trace_id", "large_upload_trace"), ("user_id", "user456")],
                10485760.0,
            ),
        ],
        ok(0, 1, 1),
    ));
    out.extend(compliance(
        "multiple histograms with metadata",
        vec![
            hist(
                &[("__name__", "cpu_usage_histogram"), ("instance", "server1")],
                test_histogram(0.75, true, false, true, false, false),
            )
            .metadata(MetricType::Histogram, "CPU usage distribution", "ratio"),
            hist(
                &[
                    ("__name__", "memory_usage_histogram"),
                    ("instance", "server1"),
                ],
                test_histogram(8589934592.0, true, true, false, false, false),
            )
            .metadata(MetricType::Histogram, "Memory usage distribution", "bytes"),
        ],
        ok(0, 2, 0),
    ));
    out
}

/// Stricter than the suite: Prometheus' custom-bucket rules (model/histogram
/// `Validate`) and the schema range.
fn histogram_validation_cases() -> Vec<Case> {
    let nhcb = |f: fn(&mut rwgate_proto::v2::Histogram)| {
        let mut h = test_histogram(0.05, false, false, false, true, false);
        f(&mut h);
        vec![hist(&[("__name__", "custom_latency_hist")], h)]
    };
    let cases: Vec<(&str, fn(&mut rwgate_proto::v2::Histogram))> = vec![
        ("custom buckets with negative buckets", |h| {
            h.negative_spans = vec![rwgate_proto::v2::BucketSpan {
                offset: 0,
                length: 2,
            }];
            h.negative_deltas = vec![1, 1];
            h.count = Some(rwgate_proto::v2::histogram::Count::CountInt(33));
        }),
        ("custom buckets with bounds not increasing", |h| {
            h.custom_values = vec![0.1, 0.5, 0.4, 2.5, 5.0, 10.0];
        }),
        ("custom buckets with a +Inf bound", |h| {
            h.custom_values = vec![0.1, 0.5, 1.0, 2.5, 5.0, f64::INFINITY];
        }),
        ("custom buckets with a zero count", |h| {
            h.zero_count = Some(rwgate_proto::v2::histogram::ZeroCount::ZeroCountInt(1));
            h.count = Some(rwgate_proto::v2::histogram::Count::CountInt(31));
        }),
        ("custom buckets with a zero threshold", |h| {
            h.zero_threshold = 0.001
        }),
        ("schema 9", |h| {
            h.schema = 9;
            h.custom_values.clear();
        }),
    ];
    cases
        .into_iter()
        .map(|(name, f)| single(Level::Should, name, nhcb(f), refused(0, 1, 0)))
        .collect()
}

#[tokio::test]
async fn must_histograms() {
    run("histograms", at(Level::Must, histogram_cases())).await;
}

#[tokio::test]
async fn should_histograms_return_204() {
    run("histograms", at(Level::Should, histogram_cases())).await;
}

#[tokio::test]
async fn should_refuse_invalid_histograms_as_prometheus() {
    run("histogram validation", histogram_validation_cases()).await;
}

// ---- exemplar_test.go ------------------------------------------------------------

fn exemplar_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let cases: [(&str, &[(&str, &str)], &[(&str, &str)], f64); 7] = [
        (
            "basic_exemplar",
            &[("__name__", "http_requests_total"), ("job", "api")],
            &[("trace_id", "abc123def456")],
            1.0,
        ),
        (
            "exemplar_with_span_id",
            &[("__name__", "request_duration_seconds"), ("method", "GET")],
            &[("trace_id", "xyz789"), ("span_id", "span123")],
            0.125,
        ),
        (
            "exemplar_without_trace_id",
            &[("__name__", "cpu_usage"), ("instance", "host1")],
            &[("user_id", "user123")],
            0.85,
        ),
        (
            "exemplar_with_multiple_labels",
            &[("__name__", "request_latency"), ("service", "auth")],
            &[
                ("trace_id", "trace456"),
                ("user", "admin"),
                ("endpoint", "/login"),
            ],
            0.05,
        ),
        (
            "exemplar_no_labels",
            &[("__name__", "simple_counter")],
            &[],
            1.0,
        ),
        (
            "exemplar_with_special_chars",
            &[("__name__", "test_metric")],
            &[("trace_id", "trace-with-dashes_and_underscores.123")],
            42.0,
        ),
        (
            "exemplar_with_unicode",
            &[("__name__", "unicode_test"), ("region", "🌍")],
            &[("trace_id", "unicode_trace_测试")],
            100.0,
        ),
    ];
    for (name, labels, ex, v) in cases {
        out.extend(compliance(
            name,
            vec![sample(labels, v).exemplar(ex, v)],
            ok(1, 0, 1),
        ));
    }
    let api = [("__name__", "http_requests_total"), ("job", "api")];
    out.extend(compliance(
        "exemplar with created timestamp",
        vec![
            sample(&api, 250.0)
                .started(7_200_000)
                .exemplar(&[("trace_id", "abc123"), ("span_id", "span456")], 250.0),
        ],
        ok(1, 0, 1),
    ));
    out.extend(compliance(
        "multiple exemplars",
        vec![
            sample(&[("__name__", "request_duration"), ("method", "GET")], 0.1)
                .exemplar(&[("trace_id", "trace1"), ("span_id", "span1")], 0.1),
            sample(
                &[("__name__", "request_duration"), ("method", "POST")],
                0.25,
            )
            .exemplar(&[("trace_id", "trace2"), ("span_id", "span2")], 0.25),
            sample(&[("__name__", "error_count"), ("service", "payment")], 1.0)
                .exemplar(&[("trace_id", "trace3"), ("user", "test_user")], 1.0),
        ],
        ok(3, 0, 3),
    ));
    // Three samples of one series at different times, an exemplar on each.
    let mut timed = sample(&[("__name__", "latency_hist")], 0.05).offset(-3_600_000);
    timed.exemplars.push(Ex {
        labels: vec![("trace_id", "old_trace")],
        value: 0.05,
        offset_ms: -3_600_000,
    });
    let mut recent = sample(&[("__name__", "latency_hist")], 0.15).offset(-60_000);
    recent.exemplars.push(Ex {
        labels: vec![("trace_id", "recent_trace")],
        value: 0.15,
        offset_ms: -60_000,
    });
    let current = sample(&[("__name__", "latency_hist")], 0.08)
        .exemplar(&[("trace_id", "current_trace")], 0.08);
    out.extend(compliance(
        "exemplar timestamps",
        vec![timed, recent, current],
        ok(3, 0, 3),
    ));
    let specials: [(&str, f64); 7] = [
        ("zero_value", 0.0),
        ("negative_value", -123.456),
        ("large_value", 1e10),
        ("small_value", 1e-10),
        ("nan_value", f64::from_bits(NORMAL_NAN)),
        ("inf_value", f64::INFINITY),
        ("-inf_value", f64::NEG_INFINITY),
    ];
    for (name, v) in specials {
        out.extend(compliance(
            name,
            vec![
                sample(&[("__name__", "test_metric")], v)
                    .exemplar(&[("trace_id", "special_value_trace")], v),
            ],
            ok(1, 0, 1),
        ));
    }
    // TestExemplarValidation (SHOULD, one request each).
    let validation: [(&str, &[(&str, &str)], bool); 3] = [
        ("exemplar_without_name_label", &[("job", "test")], false),
        ("exemplar_with_empty_name", &[("__name__", "")], false),
        (
            "exemplar_with_valid_name",
            &[("__name__", "valid_metric")],
            true,
        ),
    ];
    for (name, labels, good) in validation {
        let expect = if good { ok(1, 0, 1) } else { refused(1, 0, 1) };
        out.push(single(
            Level::Should,
            &format!("validation/{name}"),
            vec![sample(labels, 1.0).exemplar(&[("trace_id", "test_trace")], 1.0)],
            expect,
        ));
    }
    out
}

#[tokio::test]
async fn must_exemplars() {
    run("exemplars", at(Level::Must, exemplar_cases())).await;
}

#[tokio::test]
async fn should_exemplars() {
    run("exemplars", at(Level::Should, exemplar_cases())).await;
}

// ---- metadata_test.go ------------------------------------------------------------

fn metadata_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let types: [(&str, &'static str, MetricType, &'static str, &'static str); 10] = [
        (
            "counter_metadata",
            "http_requests_total",
            MetricType::Counter,
            "Total number of HTTP requests",
            "requests",
        ),
        (
            "gauge_metadata",
            "cpu_usage_percent",
            MetricType::Gauge,
            "Current CPU usage percentage",
            "percent",
        ),
        (
            "histogram_metadata",
            "request_duration_seconds",
            MetricType::Histogram,
            "Request duration in seconds",
            "seconds",
        ),
        (
            "metadata_no_help_no_unit",
            "simple_counter",
            MetricType::Counter,
            "",
            "",
        ),
        (
            "metadata_with_special_chars",
            "test_metric",
            MetricType::Gauge,
            "Test metric with\nnewlines and \"quotes\"",
            "bytes/sec",
        ),
        (
            "unspecified_metadata_type",
            "unknown_metric",
            MetricType::Unspecified,
            "Unknown metric type",
            "",
        ),
        (
            "info_metadata_type",
            "build_info",
            MetricType::Info,
            "Build information",
            "",
        ),
        (
            "stateset_metadata_type",
            "node_state",
            MetricType::Stateset,
            "Node state information",
            "",
        ),
        (
            "summary_metadata_type",
            "request_latency_summary",
            MetricType::Summary,
            "Request latency summary",
            "seconds",
        ),
        (
            "gauge_histogram_metadata_type",
            "temperature_histogram",
            MetricType::Gaugehistogram,
            "Temperature distribution gauge histogram",
            "celsius",
        ),
    ];
    for (case, metric, kind, help, unit) in types {
        let labels: Vec<(&'static str, &'static str)> = if case == "metadata_with_special_chars" {
            vec![("__name__", metric), ("job", "test")]
        } else {
            vec![("__name__", metric)]
        };
        let (series, expect) = if kind == MetricType::Histogram {
            (
                hist(&labels, test_histogram(1.0, true, true, true, false, false)),
                ok(0, 1, 0),
            )
        } else {
            (sample(&labels, 1.0), ok(1, 0, 0))
        };
        out.extend(compliance(
            case,
            vec![series.metadata(kind, help, unit)],
            expect,
        ));
    }
    let api = [("__name__", "http_requests_total"), ("job", "api")];
    out.extend(compliance(
        "counter metadata with created timestamp",
        vec![sample(&api, 150.0).started(3_600_000).metadata(
            MetricType::Counter,
            "Total HTTP requests",
            "requests",
        )],
        ok(1, 0, 0),
    ));
    out.extend(compliance(
        "metadata with samples",
        vec![
            sample(
                &[("__name__", "http_requests_total"), ("job", "test")],
                42.0,
            )
            .metadata(MetricType::Counter, "Total HTTP requests", "requests"),
        ],
        ok(1, 0, 0),
    ));
    out.extend(compliance(
        "multiple metadata",
        vec![
            sample(&[("__name__", "cpu_usage")], 85.5).metadata(
                MetricType::Gauge,
                "CPU usage percentage",
                "percent",
            ),
            sample(&[("__name__", "memory_usage")], 4096000000.0).metadata(
                MetricType::Gauge,
                "Memory usage in bytes",
                "bytes",
            ),
            sample(&[("__name__", "disk_usage"), ("device", "sda1")], 75.2).metadata(
                MetricType::Gauge,
                "Disk usage percentage",
                "percent",
            ),
        ],
        ok(3, 0, 0),
    ));
    out.extend(compliance(
        "metadata with complex labels",
        vec![
            hist(
                &[
                    ("__name__", "http_request_duration_seconds"),
                    ("job", "api-server"),
                    ("instance", "localhost:8080"),
                    ("method", "GET"),
                    ("status", "200"),
                    ("endpoint", "/api/v1/users"),
                ],
                test_histogram(0.250, true, true, true, false, false),
            )
            .metadata(
                MetricType::Histogram,
                "HTTP request duration in seconds",
                "seconds",
            ),
        ],
        ok(0, 1, 0),
    ));
    // TestMetadataValidation (SHOULD, one request each).
    let validation: [(&str, &[(&str, &str)], MetricType, bool); 3] = [
        (
            "metadata_without_name_label",
            &[("job", "test")],
            MetricType::Counter,
            false,
        ),
        (
            "metadata_with_empty_name",
            &[("__name__", "")],
            MetricType::Gauge,
            false,
        ),
        (
            "metadata_with_valid_name",
            &[("__name__", "valid_metric_name")],
            MetricType::Counter,
            true,
        ),
    ];
    for (name, labels, kind, good) in validation {
        let expect = if good { ok(1, 0, 0) } else { refused(1, 0, 0) };
        out.push(single(
            Level::Should,
            &format!("validation/{name}"),
            vec![sample(labels, 1.0).metadata(kind, "Test help", "unit")],
            expect,
        ));
    }
    out
}

#[tokio::test]
async fn must_metadata() {
    run("metadata", at(Level::Must, metadata_cases())).await;
}

#[tokio::test]
async fn should_metadata() {
    run("metadata", at(Level::Should, metadata_cases())).await;
}

// ---- combined_test.go ------------------------------------------------------------

fn combined_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let post = [
        ("__name__", "http_requests_total"),
        ("job", "api"),
        ("method", "POST"),
    ];
    out.extend(compliance(
        "samples with metadata and exemplars",
        vec![
            sample(&post, 1.0)
                .metadata(
                    MetricType::Counter,
                    "Total number of HTTP requests",
                    "requests",
                )
                .exemplar(
                    &[("trace_id", "request_trace_123"), ("user_id", "user789")],
                    1.0,
                ),
        ],
        ok(1, 0, 1),
    ));
    out.extend(compliance(
        "histograms with metadata and exemplars",
        vec![
            hist(
                &[
                    ("__name__", "request_duration_seconds"),
                    ("service", "auth"),
                ],
                test_histogram(0.456, true, true, true, false, false),
            )
            .metadata(
                MetricType::Histogram,
                "HTTP request duration distribution",
                "seconds",
            )
            .exemplar(
                &[("trace_id", "slow_request_trace"), ("endpoint", "/login")],
                0.456,
            ),
        ],
        ok(0, 1, 1),
    ));
    out.extend(compliance(
        "complex samples request",
        vec![
            sample(&[("__name__", "cpu_usage"), ("instance", "server1")], 0.85)
                .metadata(MetricType::Gauge, "CPU usage ratio", "ratio")
                .exemplar(
                    &[("trace_id", "high_cpu_trace"), ("process", "worker")],
                    0.85,
                ),
            sample(
                &[("__name__", "memory_usage"), ("instance", "server1")],
                8589934592.0,
            )
            .metadata(MetricType::Gauge, "Memory usage in bytes", "bytes"),
        ],
        ok(2, 0, 1),
    ));
    out.extend(compliance(
        "complex histograms request",
        vec![
            hist(
                &[
                    ("__name__", "response_time_hist"),
                    ("endpoint", "/api/v1/users"),
                ],
                test_histogram(0.125, true, false, true, false, false),
            )
            .metadata(
                MetricType::Histogram,
                "Response time distribution",
                "seconds",
            )
            .exemplar(&[("trace_id", "fast_response"), ("user", "premium")], 0.125),
            hist(
                &[("__name__", "request_size_hist"), ("method", "POST")],
                test_histogram(1024.0, false, true, true, false, false),
            )
            .metadata(MetricType::Histogram, "Request size distribution", "bytes"),
        ],
        ok(0, 2, 1),
    ));
    out.extend(compliance(
        "multiple metric families with samples",
        vec![
            sample(
                &[("__name__", "http_requests_total"), ("status", "200")],
                1000.0,
            )
            .metadata(MetricType::Counter, "Total HTTP requests", "requests")
            .exemplar(&[("trace_id", "successful_request")], 1000.0),
            sample(
                &[
                    ("__name__", "temperature_celsius"),
                    ("location", "datacenter1"),
                ],
                23.5,
            )
            .metadata(MetricType::Gauge, "Temperature in Celsius", "celsius"),
        ],
        ok(2, 0, 1),
    ));
    out.extend(compliance(
        "multiple metric families with histograms",
        vec![
            hist(
                &[
                    ("__name__", "request_duration_seconds"),
                    ("handler", "/metrics"),
                ],
                test_histogram(0.003, true, false, true, false, false),
            )
            .metadata(
                MetricType::Histogram,
                "Request duration in seconds",
                "seconds",
            )
            .exemplar(
                &[("trace_id", "metrics_scrape"), ("scraper", "prometheus")],
                0.003,
            ),
        ],
        ok(0, 1, 1),
    ));
    let many_samples = (0..50)
        .map(|i| {
            let name: &'static str = format!("counter_metric_{i}").leak();
            let series: &'static str = format!("series_{i}").leak();
            let trace: &'static str = format!("trace_{i}").leak();
            sample(&[("__name__", name), ("series", series)], (i * 100) as f64)
                .metadata(MetricType::Counter, "Counter metric", "count")
                .exemplar(&[("trace_id", trace)], (i * 100) as f64)
        })
        .collect();
    out.extend(compliance("many samples", many_samples, ok(50, 0, 50)));
    let many_histograms = (0..50)
        .map(|i| {
            let name: &'static str = format!("histogram_metric_{i}").leak();
            let bucket: &'static str = format!("bucket_{i}").leak();
            let trace: &'static str = format!("trace_{i}").leak();
            hist(
                &[("__name__", name), ("bucket", bucket)],
                test_histogram(i as f64 / 10.0, true, i % 2 == 0, true, false, false),
            )
            .metadata(MetricType::Histogram, "Histogram metric", "seconds")
            .exemplar(&[("trace_id", trace)], i as f64 / 10.0)
        })
        .collect();
    out.extend(compliance(
        "many histograms",
        many_histograms,
        ok(0, 50, 50),
    ));
    let special = [
        ("__name__", "test_metric"),
        ("job", "test-job_with.special@chars"),
        ("instance", "localhost:9090"),
        ("environment", "test🚀"),
    ];
    out.extend(compliance(
        "special characters combined",
        vec![
            sample(&special, 42.0)
                .metadata(
                    MetricType::Gauge,
                    "Test metric with special characters: äöü, newlines\nand \"quotes\"",
                    "special/units",
                )
                .exemplar(
                    &[
                        ("trace_id", "special_trace_äöü-123"),
                        ("span_id", "span_with.dots-and_underscores"),
                    ],
                    42.0,
                ),
        ],
        ok(1, 0, 1),
    ));
    out.extend(compliance(
        "custom buckets histogram with exemplar",
        vec![
            hist(
                &[("__name__", "custom_latency_hist"), ("version", "v2")],
                test_histogram(0.05, false, false, false, true, false),
            )
            .exemplar(
                &[("trace_id", "custom_bucket_trace"), ("bucket", "0.1")],
                0.05,
            ),
        ],
        ok(0, 1, 1),
    ));
    // TestEdgeCaseCombinations (SHOULD, one request each).
    let orphan_metadata = Series {
        labels: vec![("__name__", "orphan_metric")],
        metadata: Some((MetricType::Counter, "Orphaned metric metadata", "count")),
        ..Series::default()
    };
    out.push(single(
        Level::Should,
        "metadata without data",
        vec![orphan_metadata],
        ok(0, 0, 0),
    ));
    let orphan_exemplar = Series {
        labels: vec![("__name__", "orphan_metric")],
        ..Series::default()
    }
    .exemplar(&[("trace_id", "orphan_trace")], 42.0);
    out.push(single(
        Level::Should,
        "exemplars without data",
        vec![orphan_exemplar],
        ok(0, 0, 1),
    ));
    let mut old_exemplar = sample(&[("__name__", "old_metric")], 1.0).offset(-3_600_000);
    old_exemplar.exemplars.push(Ex {
        labels: vec![("trace_id", "old_trace")],
        value: 1.0,
        offset_ms: -1_800_000,
    });
    out.push(single(
        Level::Should,
        "mixed timestamp data",
        vec![old_exemplar, sample(&[("__name__", "new_metric")], 2.0)],
        ok(2, 0, 1),
    ));
    out
}

#[tokio::test]
async fn must_combined() {
    run("combined", at(Level::Must, combined_cases())).await;
}

#[tokio::test]
async fn should_combined() {
    run("combined", at(Level::Should, combined_cases())).await;
}

// ---- rw1_compat_test.go ----------------------------------------------------------

#[tokio::test]
async fn may_accept_remote_write_1_0() {
    let series = vec![
        sample(UP, 1.0),
        sample(&[("__name__", "http_requests_total")], 100.0),
    ];
    let cases = vec![
        Case {
            // A 1.0 receiver sends no written headers: the suite expects 0.
            name: "basic compatibility".into(),
            level: Level::May,
            body: Body::V1 {
                series: series.clone(),
                corrupt: false,
            },
            expect: ok(0, 0, 0),
        },
        Case {
            name: "corrupt snappy".into(),
            level: Level::May,
            body: Body::V1 {
                series: vec![sample(&[("__name__", "error_test")], 1.0)],
                corrupt: true,
            },
            expect: refused(0, 0, 0),
        },
    ];
    run("rw1 compat", cases).await;
}
