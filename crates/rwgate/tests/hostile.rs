//! Hostile clients on raw TCP: trickled bodies, idle and half-sent connections, a
//! connection flood past the cap, and `Expect: 100-continue` on a refused request. Each
//! case failed before the connection layer bounded what a client can hold.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn head(addr: SocketAddr, len: usize, extra: &str) -> String {
    format!(
        "POST /api/v1/receive HTTP/1.1\r\nHost: {addr}\r\nContent-Encoding: snappy\r\nContent-Type: application/x-protobuf\r\nTHANOS-TENANT: t\r\nContent-Length: {len}\r\n{extra}\r\n"
    )
}

/// Everything the server sends until it closes or `within` passes, and whether it
/// closed.
async fn read_until_close(s: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_bodies_hold_no_slot_and_are_cut_off() {
    let cap = 8;
    let h = Harness::builder()
        .receivers(1)
        .config(move |c| {
            c.overload.max_inflight_requests = cap;
            c.limits.body_rate_grace = Duration::from_secs(3);
            c.limits.body_min_rate = 1000;
        })
        .start()
        .await;
    // Four times the slot cap of senders that announce 100 KB and send one byte.
    let mut trickles = Vec::new();
    for _ in 0..cap * 4 {
        let mut s = TcpStream::connect(h.addr).await.unwrap();
        s.write_all(head(h.addr, 100_000, "").as_bytes())
            .await
            .unwrap();
        s.write_all(b"x").await.unwrap();
        trickles.push(s);
    }
    // A normal client is served while they hang (it used to get 503: every slot was
    // held by a body that was still arriving).
    let started = Instant::now();
    for _ in 0..5 {
        let a = h.send("t", &request(10, 1)).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    // Had they waited for slots, they would have waited until the trickles were cut
    // off, 3s in.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "normal requests waited behind the trickles: {:?}",
        started.elapsed()
    );
    // Each trickle is cut off with 408 once it falls behind the minimum rate
    // (3s grace + 1 byte / 1000 B/s), not after the 30s body timeout.
    for mut s in trickles {
        let (text, closed) = read_until_close(&mut s, Duration::from_secs(8)).await;
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(
            text.contains("body_too_slow") || text.contains("slower than"),
            "{text}"
        );
        assert!(closed, "a cut-off trickle stays open");
    }
    let (_, metrics) = h.get(h.admin, "/metrics").await;
    assert!(
        metrics.contains(&format!(
            "rwgate_slow_bodies_total{{kind=\"min_rate\"}} {}",
            cap * 4
        )),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_half_sent_connections_are_closed_at_the_header_timeout() {
    let h = Harness::builder()
        .receivers(1)
        .config(|c| c.limits.header_read_timeout = Duration::from_millis(500))
        .start()
        .await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(h.addr).await.unwrap();
    let mut half = TcpStream::connect(h.addr).await.unwrap();
    half.write_all(b"POST /api/v1/receive HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    for s in [&mut silent, &mut half] {
        let (text, closed) = read_until_close(s, Duration::from_secs(5)).await;
        assert!(closed, "still open after 5s: {text:?}");
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "closed after {took:?}, header timeout 500ms"
    );
    let (_, metrics) = h.get(h.admin, "/metrics").await;
    assert!(
        metrics.contains("rwgate_connections_closed_total{reason=\"header_timeout\"} 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_connection_is_closed_after_the_idle_timeout_not_before() {
    let h = Harness::builder()
        .receivers(1)
        .config(|c| {
            c.limits.idle_timeout = Duration::from_millis(1500);
            c.limits.header_read_timeout = Duration::from_millis(300);
        })
        .start()
        .await;
    let body = snappy(&prost::Message::encode_to_vec(&request(3, 1)));
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(head(h.addr, body.len(), "").as_bytes())
        .await
        .unwrap();
    s.write_all(&body).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let answered = Instant::now();
    // Idle on keep-alive: the idle timeout applies, not the (shorter) header timeout.
    let (_, closed) = read_until_close(&mut s, Duration::from_secs(5)).await;
    assert!(closed);
    let idle = answered.elapsed();
    assert!(
        idle >= Duration::from_millis(1400) && idle < Duration::from_secs(4),
        "closed after {idle:?} idle, idle timeout 1.5s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_get_503_with_retry_after_not_a_reset() {
    let h = Harness::builder()
        .receivers(1)
        .config(|c| c.overload.max_connections = 4)
        .start()
        .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(h.addr).await.unwrap());
    }
    // The accept loop counts a connection once it has accepted it; wait until it has
    // seen all four.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, metrics) = h.get(h.admin, "/metrics").await;
        if metrics.contains("rwgate_connections_open 4") {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut extra = TcpStream::connect(h.addr).await.unwrap();
    let body = snappy(&prost::Message::encode_to_vec(&request(3, 1)));
    let _ = extra
        .write_all(head(h.addr, body.len(), "").as_bytes())
        .await;
    let (text, closed) = read_until_close(&mut extra, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("Retry-After: 1"), "{text}");
    assert!(text.contains("too many connections"), "{text}");
    assert!(closed);
    // One closes, and a new connection is served.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let a = h.send("t", &request(3, 1)).await;
        if a.status == 200 {
            break;
        }
        assert_eq!(a.status, 503, "{}", a.body);
        assert!(Instant::now() < deadline, "never served again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_expect_continue_request_gets_413_without_100_continue() {
    let h = Harness::builder()
        .receivers(1)
        .config(|c| c.limits.max_body_bytes = 1000)
        .start()
        .await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(head(h.addr, 5000, "Expect: 100-continue\r\n").as_bytes())
        .await
        .unwrap();
    let (text, _) = read_until_close(&mut s, Duration::from_secs(3)).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    assert_eq!(h.receiver_attempts(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_cannot_hold_every_slot() {
    use rwgate_testkit::receiver::Mode;
    let h = std::sync::Arc::new(
        Harness::builder()
            .receivers(1)
            .config(|c| {
                c.overload.max_inflight_requests = 4;
                c.overload.max_inflight_requests_per_tenant = 2;
                c.forward.attempt_timeout = Duration::from_secs(5);
                c.forward.deadline = Duration::from_secs(6);
            })
            .start()
            .await,
    );
    h.receivers[0].set_mode(Mode {
        delay: Duration::from_secs(1),
        ..Mode::default()
    });
    let mut greedy = Vec::new();
    for _ in 0..2 {
        let h = h.clone();
        greedy.push(tokio::spawn(async move {
            h.send("greedy", &request(3, 1)).await
        }));
    }
    while h.receiver_attempts() < 2 {
        tokio::task::yield_now().await;
    }
    // Its third request is refused, another tenant's is served.
    let third = h.send("greedy", &request(3, 1)).await;
    assert_eq!(third.status, 503, "{}", third.body);
    assert!(
        third.body.contains("requests of this tenant"),
        "{}",
        third.body
    );
    assert_eq!(third.retry_after.as_deref(), Some("1"));
    let other = h.send("polite", &request(3, 1)).await;
    assert_eq!(other.status, 200, "{}", other.body);
    for g in greedy {
        assert_eq!(g.await.unwrap().status, 200);
    }
}
