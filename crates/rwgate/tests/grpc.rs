//! Forwarding over gRPC to a router's hashrings.json as it is: bare `host:port`
//! addresses, nothing else configured. The receivers are the embedded ones speaking
//! `thanos.WriteableStore/RemoteWrite`; `e2e_grpc.rs` does the same against grpcio.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, as_refs, labels, request};
use rwgate_gateway::config::GrpcCompression;
use rwgate_testkit::receiver::{Mode, series_key};

/// The endpoints `rwgate ring lookup` names for a series, in replica order.
fn replicas_in_order(h: &Harness, tenant: &str, l: &[(&str, &str)], rf: usize) -> Vec<usize> {
    let selector = format!(
        "{{{}}}",
        l.iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let out = rwgate_gateway::cli::ring_lookup(&rwgate_gateway::cli::LookupArgs {
        hashrings: h.hashrings.clone(),
        tenant: tenant.into(),
        series: selector,
        wire_order: false,
        ring: rwgate_gateway::cli::RingOpts {
            replication_factor: rf,
            algorithm: rwgate_ring::Algorithm::Hashmod,
            sections_per_node: 1000,
        },
    })
    .unwrap();
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|a| h.index_of_url(a))
        .collect()
}

/// Every series is on exactly the receivers ring lookup names, in a request whose
/// tenant field is the tenant and whose replica field is its replica number plus one.
async fn placed_like_a_router(compression: GrpcCompression) {
    let h = Harness::builder()
        .receivers(3)
        .rf(2)
        .grpc()
        .config(move |c| c.forward.grpc_compression = compression)
        .start()
        .await;
    assert!(
        h.endpoints.iter().all(|e| !e.contains("://")),
        "{:?}",
        h.endpoints
    );
    let n = 60;
    // tenant-a twice, tenant-b between: the repeat and the other tenant take the
    // remembered label sets (and their placement hashes) and must place identically.
    for tenant in ["tenant-a", "tenant-b", "tenant-a"] {
        let a = h.send(tenant, &request(n, 2)).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    for i in 0..n {
        let l = labels(i);
        let refs = as_refs(&l);
        let mut want = replicas_in_order(&h, "tenant-b", &refs, 2);
        want.sort();
        let mut holders = h.holders("tenant-b", &refs);
        holders.sort();
        assert_eq!(holders, want, "tenant-b series {i}");
    }

    for i in 0..n {
        let l = labels(i);
        let refs = as_refs(&l);
        let key = series_key("tenant-a", &refs);
        let want = replicas_in_order(&h, "tenant-a", &refs, 2);
        assert_eq!(want.len(), 2);
        let mut holders = h.holders("tenant-a", &refs);
        holders.sort();
        let mut sorted = want.clone();
        sorted.sort();
        assert_eq!(holders, sorted, "series {i}");
        for (n, &r) in want.iter().enumerate() {
            let reqs: Vec<_> = h.receivers[r]
                .grpc_requests()
                .into_iter()
                .filter(|q| q.series.contains(&key))
                .collect();
            assert_eq!(
                reqs.len(),
                2,
                "series {i} reached receiver {r} once per push"
            );
            for q in reqs {
                assert_eq!(q.tenant, "tenant-a");
                assert_eq!(q.replica, n as i64 + 1, "series {i} replica {n}");
                assert_eq!(q.snappy, compression == GrpcCompression::Snappy);
            }
        }
        let samples: u64 = h.receivers.iter().map(|r| r.series_samples(key)).sum();
        assert_eq!(samples, 8, "2 pushes of 2 samples on each of 2 replicas");
    }
    // One request per (receiver, replica) that holds series: at most 2 per receiver
    // and push.
    for r in &h.receivers {
        let reqs = r.grpc_requests();
        assert!(!reqs.is_empty() && reqs.len() <= 6, "{}", reqs.len());
    }
}

#[tokio::test]
async fn bare_addresses_are_forwarded_over_grpc_uncompressed() {
    placed_like_a_router(GrpcCompression::None).await;
}

#[tokio::test]
async fn bare_addresses_are_forwarded_over_grpc_snappy_framed() {
    placed_like_a_router(GrpcCompression::Snappy).await;
}

#[tokio::test]
async fn one_of_three_down_at_rf3_loses_nothing_two_down_is_503() {
    let h = Harness::builder().receivers(3).rf(3).grpc().start().await;
    h.receivers[1].stop();
    let a = h.send("tenant-a", &request(20, 1)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    for i in 0..20 {
        let l = labels(i);
        let refs = as_refs(&l);
        assert_eq!(h.holders("tenant-a", &refs), vec![0, 2], "series {i}");
    }
    h.receivers[2].stop();
    let a = h.send("tenant-a", &request(20, 1)).await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(a.retry_after.is_some());
}

#[tokio::test]
async fn a_quorum_answering_already_exists_is_409() {
    let h = Harness::builder().receivers(3).rf(3).grpc().start().await;
    for r in &h.receivers[..2] {
        r.set_mode(Mode {
            status: 409,
            ..Default::default()
        });
    }
    let a = h.send("tenant-a", &request(5, 1)).await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(a.body.contains("AlreadyExists"), "{}", a.body);
    // Final: not retried (one request per replica number the receiver holds).
    for r in &h.receivers[..2] {
        assert_eq!(r.attempts(), r.grpc_requests().len() as u64);
    }
}

#[tokio::test]
async fn unavailable_is_retried_and_counted_with_the_protocol_label() {
    let h = Harness::builder().receivers(1).rf(1).grpc().start().await;
    h.receivers[0].set_mode(Mode {
        status: 503,
        ..Default::default()
    });
    let a = h.send("tenant-a", &request(5, 1)).await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(h.receivers[0].attempts() >= 2, "retried");
    let (_, metrics) = h.get(h.admin, "/metrics").await;
    let addr = &h.endpoints[0];
    let line = format!(
        "rwgate_forward_requests_total{{endpoint=\"{addr}\",protocol=\"grpc\",result=\"unavailable\"}} 1"
    );
    assert!(metrics.contains(&line), "{line} in\n{metrics}");
    assert!(
        metrics.contains(&format!(
            "rwgate_forward_retries_total{{endpoint=\"{addr}\",protocol=\"grpc\"}}"
        )),
        "{metrics}"
    );
}

/// A receiver that breaks HTTP/2 or gRPC never panics the gateway: the push is 503,
/// the failure is counted as an unavailable forward of the endpoint, and the next push
/// is handled the same way (the gateway is still there).
async fn misbehaving_receiver_is_counted(fault: rwgate_testkit::faulty::Fault, says: &str) {
    let bad = rwgate_testkit::faulty::FaultyReceiver::start(fault)
        .await
        .unwrap();
    let address = bad.address();
    let h = Harness::builder()
        .receivers(0)
        .rf(1)
        .hashrings(move |_| serde_json::json!([{ "endpoints": [address.clone()] }]))
        .config(|c| c.forward.max_attempts = 2)
        .start()
        .await;
    for round in 1..=2u64 {
        let a = h.send("tenant-a", &request(3, 1)).await;
        assert_eq!(a.status, 503, "{fault:?} round {round}: {}", a.body);
        let (_, metrics) = h.get(h.admin, "/metrics").await;
        let line = format!(
            "rwgate_forward_requests_total{{endpoint=\"{}\",protocol=\"grpc\",result=\"unavailable\"}} {round}",
            bad.address()
        );
        assert!(metrics.contains(&line), "{fault:?}: {line} in\n{metrics}");
    }
    assert!(bad.calls() >= 2, "{fault:?}: {} calls", bad.calls());
    let (_, status) = h.get(h.admin, "/api/v1/status").await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let last_error = status["hashrings"][0]["endpoints"][0]["forwarding"]["last_error"]
        .as_str()
        .unwrap_or_else(|| panic!("{status}"))
        .to_string();
    assert!(last_error.contains(says), "{fault:?}: {last_error}");
}

#[tokio::test]
async fn rst_stream_is_an_unavailable_forward() {
    misbehaving_receiver_is_counted(
        rwgate_testkit::faulty::Fault::RstStream,
        "stream error received",
    )
    .await;
}

#[tokio::test]
async fn goaway_mid_call_is_an_unavailable_forward() {
    misbehaving_receiver_is_counted(rwgate_testkit::faulty::Fault::GoAway, "connection").await;
}

#[tokio::test]
async fn garbage_frames_are_an_unavailable_forward() {
    misbehaving_receiver_is_counted(rwgate_testkit::faulty::Fault::Garbage, "http2 error").await;
}

#[tokio::test]
async fn an_answer_over_the_size_limit_is_an_unavailable_forward() {
    misbehaving_receiver_is_counted(
        rwgate_testkit::faulty::Fault::Oversize,
        "larger than the 65536-byte limit",
    )
    .await;
}

#[tokio::test]
async fn a_receiver_that_never_answers_is_an_unavailable_forward() {
    misbehaving_receiver_is_counted(rwgate_testkit::faulty::Fault::Silent, "no answer within")
        .await;
}
