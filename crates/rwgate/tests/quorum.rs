//! Placement and quorum against in-process receivers that answer 2xx/409/5xx, hang or
//! refuse connections. Statuses follow the table in docs/operations.md.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use rwgate_testkit::receiver::Mode;
use rwgate_testkit::ring::lookup_indexes;

const TENANT: &str = "tenant-a";

fn status(code: u16) -> Mode {
    Mode {
        status: code,
        ..Mode::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_of_every_series_equals_ring_lookup() {
    for (rf, ketama) in [(1, false), (2, true), (3, true), (2, false)] {
        let mut b = Harness::builder().receivers(4).rf(rf);
        if ketama {
            b = b.ketama();
        }
        let h = b.start().await;
        let n = 200;
        let answer = h.send(TENANT, &request(n, 2)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        for i in 0..n {
            let l = labels(i);
            let algorithm = if ketama {
                rwgate_ring::Algorithm::Ketama
            } else {
                rwgate_ring::Algorithm::Hashmod
            };
            let urls: Vec<String> = h.receivers.iter().map(|r| r.url()).collect();
            let want: Vec<usize> = lookup_indexes(&h.hashrings, TENANT, &l, rf, algorithm, &urls)
                .into_iter()
                .collect();
            assert_eq!(want.len(), rf);
            assert_eq!(
                h.holders(TENANT, &as_refs(&l)),
                want,
                "series {i} with rf {rf}"
            );
        }
        let total: u64 = h.receivers.iter().map(|r| r.tenant(TENANT).samples).sum();
        assert_eq!(total, (n * 2 * rf) as u64, "every replica got both samples");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rf3_one_receiver_down_is_200_and_the_others_have_everything() {
    let h = Harness::builder().receivers(3).rf(3).start().await;
    h.receivers[1].stop();
    let answer = h.send(TENANT, &request(100, 1)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    for i in 0..100 {
        assert_eq!(
            h.holders(TENANT, &as_refs(&labels(i))),
            vec![0, 2],
            "series {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rf3_two_receivers_down_is_503_with_retry_after() {
    let h = Harness::builder().receivers(3).rf(3).start().await;
    h.receivers[0].stop();
    h.receivers[2].set_mode(status(503));
    let answer = h.send(TENANT, &request(50, 1)).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.retry_after.as_deref(), Some("2"));
    assert!(
        answer.body.contains("quorum not reached for 50 series"),
        "{}",
        answer.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_receivers_409_is_409() {
    let h = Harness::builder().receivers(3).rf(3).start().await;
    for r in &h.receivers {
        r.set_mode(status(409));
    }
    let answer = h.send(TENANT, &request(20, 1)).await;
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert!(answer.retry_after.is_none());
    // 409 is final: no retries were sent.
    assert!(h.receivers.iter().all(|r| r.attempts() == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_conflicts_and_failures_follow_the_table() {
    // (modes of the three replicas, expected status), RF=3, quorum 2.
    let cases: [([u16; 3], u16); 5] = [
        ([200, 200, 409], 200), // quorum written
        ([200, 409, 503], 503), // neither writes nor conflicts reach quorum: retry
        ([409, 409, 503], 409), // conflicts reach quorum: final
        ([409, 409, 200], 409),
        ([503, 503, 200], 503),
    ];
    for (modes, want) in cases {
        let h = Harness::builder().receivers(3).rf(3).start().await;
        for (r, m) in h.receivers.iter().zip(modes) {
            r.set_mode(status(m));
        }
        let answer = h.send(TENANT, &request(10, 1)).await;
        assert_eq!(answer.status, want, "{modes:?}: {}", answer.body);
        assert_eq!(answer.retry_after.is_some(), want == 503, "{modes:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failures_are_retried_within_the_deadline() {
    let h = Harness::builder().receivers(1).rf(1).start().await;
    h.receivers[0].set_mode(status(500));
    let answer = h.send(TENANT, &request(5, 1)).await;
    assert_eq!(answer.status, 503);
    // max_attempts (3) tries, then give up.
    assert_eq!(h.receivers[0].attempts(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_receiver_is_503_within_the_deadline() {
    let h = Harness::builder()
        .receivers(1)
        .rf(1)
        .config(|c| {
            c.forward.deadline = Duration::from_millis(800);
            c.forward.attempt_timeout = Duration::from_millis(300);
        })
        .start()
        .await;
    h.receivers[0].set_mode(Mode {
        hang: true,
        ..Mode::default()
    });
    let started = Instant::now();
    let answer = h.send(TENANT, &request(5, 1)).await;
    let took = started.elapsed();
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(
        took < Duration::from_millis(1500),
        "answered after {took:?}"
    );
    assert!(
        took >= Duration::from_millis(300),
        "answered after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_series_are_400_and_valid_ones_are_written() {
    let h = Harness::builder().receivers(2).rf(1).start().await;
    let mut req = request(4, 1);
    req.timeseries[2].labels.retain(|l| l.name != "__name__");
    let answer = h.send(TENANT, &req).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(
        answer.body.contains("missing_metric_name"),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("1 of 4 series rejected"),
        "{}",
        answer.body
    );
    let written: u64 = h.receivers.iter().map(|r| r.tenant(TENANT).samples).sum();
    assert_eq!(written, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_success_is_204_with_exact_written_headers() {
    use rwgate_proto::v2;
    let h = Harness::builder().receivers(2).rf(2).start().await;
    let req = v2::Request {
        symbols: vec![
            "".into(),
            "__name__".into(),
            "up".into(),
            "job".into(),
            "a".into(),
        ],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1, 2, 3, 4],
            samples: vec![
                v2::Sample {
                    value: 1.0,
                    timestamp: 1,
                    start_timestamp: 0,
                },
                v2::Sample {
                    value: 2.0,
                    timestamp: 2,
                    start_timestamp: 0,
                },
            ],
            ..Default::default()
        }],
    };
    let answer = send_v2(&h, &req).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(
        answer.headers["x-prometheus-remote-write-samples-written"],
        "2"
    );
    assert_eq!(
        answer.headers["x-prometheus-remote-write-histograms-written"],
        "0"
    );
    assert_eq!(
        answer.headers["x-prometheus-remote-write-exemplars-written"],
        "0"
    );
    assert_eq!(
        h.holders(TENANT, &[("__name__", "up"), ("job", "a")]),
        vec![0, 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_level_refusals() {
    let h = Harness::builder().receivers(1).rf(1).start().await;
    let body = snappy(&[]);
    assert_eq!(
        h.send_raw(TENANT, "application/json", body.clone())
            .await
            .status,
        415
    );
    let resp = h
        .client
        .post(h.url())
        .header("Content-Encoding", "gzip")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let a = h
        .send_raw("../../etc", "application/x-protobuf", body.clone())
        .await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("invalid_tenant"), "{}", a.body);
    // Claimed decoded size over the limit: 413 before allocating.
    let mut huge = vec![0x80, 0x80, 0x80, 0x40]; // 128 MiB
    huge.extend_from_slice(&[0; 8]);
    let a = h.send_raw(TENANT, "application/x-protobuf", huge).await;
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(a.body.contains("decoded_body_too_large"), "{}", a.body);
    assert_eq!(h.receivers[0].attempts(), 0, "nothing was forwarded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_header_is_forwarded() {
    let h = Harness::builder().receivers(1).rf(1).start().await;
    assert_eq!(h.send("tenant-x", &request(3, 1)).await.status, 200);
    assert_eq!(h.receivers[0].tenant("tenant-x").series, 3);
    // No header: the default tenant.
    let resp = h
        .client
        .post(h.url())
        .header("Content-Encoding", "snappy")
        .body(snappy(&prost::Message::encode_to_vec(&request(2, 1))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(h.receivers[0].tenant("default-tenant").series, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_partial_write_counts_only_the_series_that_reached_quorum() {
    use rwgate_proto::v2;
    // RF 1 on two receivers, the second refusing for good: the series placed on the
    // first are written, the others conflict, and the written headers count the first
    // receiver's samples only (series carry 1, 2 or 3 samples, so a wrong series
    // counted shows).
    let h = Harness::builder().receivers(2).rf(1).start().await;
    h.receivers[1].set_mode(status(409));
    let n = 40;
    let mut symbols: Vec<String> = vec!["".into(), "__name__".into(), "up".into(), "job".into()];
    let mut timeseries = Vec::new();
    for i in 0..n {
        symbols.push(format!("job-{i}"));
        let samples = (0..1 + i % 3)
            .map(|t| v2::Sample {
                value: 1.0,
                timestamp: 1 + t as i64,
                start_timestamp: 0,
            })
            .collect();
        timeseries.push(v2::TimeSeries {
            labels_refs: vec![1, 2, 3, symbols.len() as u32 - 1],
            samples,
            ..Default::default()
        });
    }
    let total: u64 = (0..n).map(|i| 1 + i % 3).sum();
    let req = v2::Request {
        symbols,
        timeseries,
    };
    let answer = send_v2(&h, &req).await;
    assert_eq!(answer.status, 409, "{}", answer.body);
    let first = h.receivers[0].tenant(TENANT).samples;
    assert!(
        first > 0 && first < total,
        "{first} of {total} on the first"
    );
    assert_eq!(
        answer.headers["x-prometheus-remote-write-samples-written"],
        first.to_string()
    );
}

/// Sends a remote write 2.0 request for [`TENANT`].
async fn send_v2(h: &Harness, req: &rwgate_proto::v2::Request) -> Answer {
    use prost::Message;
    h.send_raw(
        TENANT,
        "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        snappy(&req.encode_to_vec()),
    )
    .await
}
