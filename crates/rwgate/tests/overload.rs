//! Overload: with receivers stalled, ten times the in-flight cap of concurrent requests
//! get fast 503s, and memory stays bounded. RSS is per process, so this file holds this
//! one test only.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use rwgate_testkit::receiver::Mode;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// RSS may grow by at most this much. Measured: ~50 MiB for the 8 admitted requests of
/// ~1.4 MiB decoded each (body, label index, per-receiver encodings) plus the 72 refused
/// ones' connections. Without the cap all 80 would be admitted: ~480 MiB.
const RSS_GROWTH_BOUND: u64 = 80 << 20;

/// How long the admitted requests wait for the stalled receivers.
const FORWARD_DEADLINE: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_times_the_inflight_cap_gets_fast_503s_and_memory_stays_flat() {
    let cap = 8;
    let h = Arc::new(
        Harness::builder()
            .receivers(2)
            .rf(2)
            .config(|c| {
                c.overload.max_inflight_requests = cap;
                // One tenant sends everything: its fair share is the whole cap here.
                c.overload.max_inflight_requests_per_tenant = cap;
                c.forward.deadline = FORWARD_DEADLINE;
                c.forward.attempt_timeout = FORWARD_DEADLINE;
            })
            .start()
            .await,
    );
    for r in &h.receivers {
        r.set_mode(Mode {
            hang: true,
            ..Mode::default()
        });
    }
    let body = bytes::Bytes::from(snappy(&prost::Message::encode_to_vec(&request(20_000, 1))));
    let before = rss_bytes();
    let peak = Arc::new(AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let mut tasks = Vec::new();
    for _ in 0..cap * 10 {
        let (h, body) = (h.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let resp = h
                .client
                .post(h.url())
                .header("Content-Encoding", "snappy")
                .header("THANOS-TENANT", "t")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (status, text, started.elapsed())
        }));
    }
    let mut overloaded = 0;
    let mut slow = 0;
    for t in tasks {
        let (status, text, took) = t.await.unwrap();
        assert_eq!(status, 503, "{text}");
        if text.contains("overloaded") {
            overloaded += 1;
            // It does not wait for the stalled receivers: the admitted requests end
            // at the 3s forward deadline. (A refused request's body is read first, so
            // that the sender reads the 503 instead of a reset; on a busy machine
            // reading 72 bodies at once took up to 1.25s in a debug build.)
            assert!(
                took < FORWARD_DEADLINE,
                "an overload answer took {took:?}, as long as a forward"
            );
        } else {
            slow += 1;
        }
    }
    sampler.abort();
    assert_eq!(
        slow, cap,
        "exactly the cap was admitted (and timed out on stalled receivers)"
    );
    assert_eq!(overloaded, cap * 9);
    let growth = peak.load(Ordering::Relaxed).saturating_sub(before);
    assert!(
        growth < RSS_GROWTH_BOUND,
        "RSS grew by {} MiB",
        growth >> 20
    );
}
