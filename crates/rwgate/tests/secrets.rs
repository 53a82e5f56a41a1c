//! Bearer tokens never appear in logs or metrics: everything the gateway logs at trace
//! level during authenticated, refused, failing and reloading requests is captured and
//! searched. One test per file: the log capture is process-wide.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rwgate_testkit::receiver::Mode;

const GOOD: &str = "s3cr3t-good-token-7f3a9c";
const WRONG: &str = "s3cr3t-wrong-token-0b1d2e";
const NEW: &str = "s3cr3t-new-token-55aa66";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits until the captured logs contain `needle` (the reload thread logs each
/// outcome), for at most 10s.
async fn wait_logged(capture: &Capture, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&capture.0.lock().unwrap()).contains(needle) {
        assert!(Instant::now() < deadline, "never logged: {needle}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_reach_logs_or_metrics() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.yaml");
    std::fs::write(&tokens, format!("{GOOD}: tenant-a\n")).unwrap();
    let tokens_path = tokens.clone();
    let h = Harness::builder()
        .receivers(2)
        .rf(2)
        .config(move |c| {
            c.tenancy.tokens_file = Some(tokens_path.clone());
            c.tenancy.require_auth = true;
        })
        .reload_config()
        .start()
        .await;
    let auth = |t: &str| format!("Bearer {t}");
    let req = request(3, 1);

    assert_eq!(
        h.send_with(&[("Authorization", &auth(GOOD))], &req)
            .await
            .status,
        200
    );
    let a = h.send_with(&[("Authorization", &auth(WRONG))], &req).await;
    assert_eq!(a.status, 401);
    assert!(!a.body.contains(WRONG));
    // A failing receiver makes the gateway log the forward failure at warn.
    h.receivers[0].set_mode(Mode {
        status: 503,
        ..Mode::default()
    });
    h.receivers[1].set_mode(Mode {
        status: 503,
        ..Mode::default()
    });
    assert_eq!(
        h.send_with(&[("Authorization", &auth(GOOD))], &req)
            .await
            .status,
        503
    );
    h.receivers[0].set_mode(Mode::default());
    h.receivers[1].set_mode(Mode::default());

    // A broken tokens file (the parser would quote the line) is refused and logged.
    std::fs::write(&tokens, format!("{NEW}: [unclosed\n")).unwrap();
    wait_logged(&capture, "is not a YAML map of token to tenant").await;
    assert_eq!(
        h.send_with(&[("Authorization", &auth(GOOD))], &req)
            .await
            .status,
        200,
        "old tokens kept"
    );
    // A token listed twice is a config error naming the entry and its line, never the
    // token; the tokens in force stay.
    std::fs::write(
        &tokens,
        format!("{GOOD}: tenant-a\n{NEW}: tenant-a\n{GOOD}: tenant-b\n"),
    )
    .unwrap();
    wait_logged(
        &capture,
        "duplicate token: entry #3 repeats an earlier token at line 3",
    )
    .await;
    assert_eq!(
        h.send_with(&[("Authorization", &auth(NEW))], &req)
            .await
            .status,
        401,
        "a file with a duplicate token was partly applied"
    );
    // A good file replaces the tokens.
    std::fs::write(&tokens, format!("{NEW}: tenant-a\n")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while h
        .send_with(&[("Authorization", &auth(NEW))], &req)
        .await
        .status
        != 200
    {
        assert!(Instant::now() < deadline, "new token not picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        h.send_with(&[("Authorization", &auth(GOOD))], &req)
            .await
            .status,
        401,
        "old token revoked"
    );

    let (_, metrics) = h.get(h.admin, "/metrics").await;
    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    // The forward failure is logged inside the request's span, with peer, protocol and
    // tenant.
    let failure = logs
        .lines()
        .find(|l| l.contains("remote write not fully written"))
        .unwrap_or_default();
    for field in [
        "remote_write{",
        "peer=127.0.0.1:",
        "protocol=\"v1\"",
        "tenant=\"tenant-a\"",
    ] {
        assert!(failure.contains(field), "{field} missing: {failure}");
    }
    assert!(
        logs.contains("config reload failed"),
        "the reload failure was logged"
    );
    assert!(
        logs.contains("invalid bearer token") || logs.contains("unauthorized"),
        "the 401 was logged"
    );
    for secret in [GOOD, WRONG, NEW, "s3cr3t"] {
        assert!(!logs.contains(secret), "{secret} in logs");
        assert!(!metrics.contains(secret), "{secret} in metrics");
    }
}
