//! The status page on the admin port, with one receiver failing (backed off) and one
//! tenant over its rate limit: `/api/v1/status` says so in JSON, and the HTML page,
//! rendered by headless Chromium (Debian `chromium`), shows it. The rendering is
//! saved as a screenshot; `RWGATE_REGENERATE=1` also writes it to
//! docs/status-page.png for the README.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::request;

fn chromium() -> PathBuf {
    let found = ["chromium", "chromium-browser"].iter().find_map(|b| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(b))
                .find(|p| p.is_file())
        })
    });
    found.unwrap_or_else(|| {
        panic!(
            "the status page test needs `chromium`: apt-get install chromium (.ci/run installs it)"
        )
    })
}

/// Runs headless Chromium on `url` with `args`; its stdout.
fn headless(url: &str, args: &[&str], profile: &Path) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_shows_a_backed_off_receiver_and_a_rate_limited_tenant() {
    let (mut h, failing) = common::one_receiver_failing_one_tenant_limited(
        10.0,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )
    .await;
    // tenant-b writes (the failing receiver's replicas still reach quorum 1 of 2);
    // tenant-a sends 500 samples twice against a burst of 100: a full bucket admits one
    // request whatever its size, the second is over the limit.
    for _ in 0..6 {
        let a = h.send("tenant-b", &request(40, 1)).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let first = h.send("tenant-a", &request(500, 1)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let limited = h.send("tenant-a", &request(500, 1)).await;
    assert_eq!(limited.status, 429, "{}", limited.body);

    let (code, json) = h.get(h.admin, "/api/v1/status").await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ready"], true, "{json}");
    let endpoints = v["hashrings"][0]["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 3, "{json}");
    let bad = endpoints
        .iter()
        .find(|e| e["url"] == failing.as_str())
        .unwrap();
    assert_eq!(bad["forwarding"]["up"], false, "{json}");
    assert!(
        bad["forwarding"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("503")),
        "{json}"
    );
    let good: Vec<_> = endpoints
        .iter()
        .filter(|e| e["url"] != failing.as_str())
        .collect();
    assert!(good.iter().all(|e| e["forwarding"]["up"] == true), "{json}");
    let shares: f64 = endpoints
        .iter()
        .map(|e| e["share_last_minute"].as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9, "shares add up to 1: {json}");
    let tenant = |name: &str| {
        v["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tenant"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing: {json}"))
    };
    let a = tenant("tenant-a");
    assert_eq!(a["refused"][0][0], "rate_limited", "{json}");
    assert_eq!(a["refused"][0][1], 500, "{json}");
    assert_eq!(a["rate_limit"][0], 10.0, "{json}");
    let b = tenant("tenant-b");
    assert!(b["samples_per_second"].as_f64().unwrap() > 0.0, "{json}");
    assert_eq!(b["hashring"], v["hashrings"][0]["name"], "{json}");

    // The page, as a browser renders it.
    let admin = format!("http://{}/", h.admin);
    let profile = tempfile::tempdir().unwrap();
    let shot_dir = tempfile::tempdir().unwrap();
    let shot = shot_dir.path().join("status-page.png");
    let (dom, shot) = tokio::task::spawn_blocking({
        let (admin, profile) = (admin.clone(), profile.path().to_path_buf());
        move || {
            let dom = headless(&admin, &["--dump-dom"], &profile);
            headless(
                &admin,
                &[
                    &format!("--screenshot={}", shot.display()),
                    "--window-size=1280,1100",
                ],
                &profile,
            );
            (dom, shot)
        }
    })
    .await
    .unwrap();
    assert!(dom.contains("<h1>rwgate "), "{dom}");
    // Plain server-rendered tables: nothing to run, nothing to fetch.
    assert!(!dom.contains("<script"), "{dom}");
    assert!(!dom.contains("src=\"http"), "{dom}");
    assert!(dom.contains(">ready<"), "{dom}");
    assert!(dom.contains("backed off</span> for"), "{dom}");
    let bad_address = failing.as_str();
    assert!(dom.contains(bad_address), "{dom}");
    assert!(dom.contains("503"), "the last error is shown: {dom}");
    assert!(dom.contains("rate_limited</span>: 500"), "{dom}");
    assert!(dom.contains("10/s, burst 100"), "{dom}");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.len() > 10_000, "screenshot of {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    if std::env::var_os("RWGATE_REGENERATE").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/status-page.png");
        std::fs::write(docs, &png).unwrap();
    }
    h.shutdown().await;
}
