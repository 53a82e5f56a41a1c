//! The in-flight byte cap refuses a request that does not fit beside the ones in flight.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rwgate_testkit::receiver::Mode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inflight_byte_cap_refuses_what_does_not_fit() {
    let h = Arc::new(
        Harness::builder()
            .receivers(1)
            .rf(1)
            .config(|c| {
                c.limits.max_body_bytes = 512 << 10;
                c.limits.max_decoded_body_bytes = 2 << 20;
                // One request of 20,000 series is charged between 5 and 6 MiB
                // (compressed, twice the decoded size, its index of 72 bytes per
                // series and 16 per label, the re-encoded body): room for one, not two.
                c.overload.max_inflight_bytes = 6 << 20;
                // The receiver holds the first request for 1s: room for a debug-build
                // decode of 20,000 series on a busy machine inside one attempt.
                c.forward.attempt_timeout = Duration::from_secs(4);
                c.forward.deadline = Duration::from_secs(5);
            })
            .start()
            .await,
    );
    h.receivers[0].set_mode(Mode {
        delay: Duration::from_secs(1),
        ..Mode::default()
    });
    let body = snappy(&prost::Message::encode_to_vec(&request(20_000, 1)));
    let first = {
        let (h, body) = (h.clone(), body.clone());
        tokio::spawn(async move { h.send_raw("t", "application/x-protobuf", body).await })
    };
    // The first request holds its bytes once it reaches the receiver.
    while h.receivers[0].attempts() == 0 {
        // Refused before it reached the receiver: fail, do not wait forever.
        if first.is_finished() {
            let f = first.await.unwrap();
            panic!("the first request ended first: {} {}", f.status, f.body);
        }
        tokio::task::yield_now().await;
    }
    let second = h.send_raw("t", "application/x-protobuf", body).await;
    assert_eq!(second.status, 503, "{}", second.body);
    assert!(
        second.body.contains("too many bytes in flight"),
        "{}",
        second.body
    );
    assert_eq!(second.retry_after.as_deref(), Some("1"));
    let first = first.await.unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
}
