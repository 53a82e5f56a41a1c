//! End-to-end support: real processes on loopback (Debian's `prometheus` in agent mode,
//! `vmagent`, `victoria-metrics` as receivers, the `rwgate` binary), each on a free port
//! with its own temporary directory, stopped when dropped. A missing binary fails the
//! test with the package to install; it never passes silently.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub mod procs;
pub mod target;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use procs::{Gateway, PromAgent, PromReceiver, PromScraper, Vm, VmAgent};
pub use target::SeqTarget;

/// The path of `bin`, or a failure naming the Debian package that ships it.
pub fn require(bin: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(bin))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => p,
        None => panic!(
            "end-to-end test needs `{bin}`: install the Debian package `{package}` (apt-get install {package}); .ci/run installs it"
        ),
    }
}

/// The Python with the OpenTelemetry SDK and its OTLP/HTTP exporter: `$RWGATE_OTEL_PYTHON`,
/// else the virtual environment `.ci/run` makes in `target/otel-venv`; a failure naming
/// the PyPI packages when neither is there.
pub fn otel_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/otel-venv/bin/python");
    let python = std::env::var_os("RWGATE_OTEL_PYTHON").map_or(venv, PathBuf::from);
    assert!(
        python.is_file(),
        "end-to-end test needs a Python with the PyPI packages grpcio, opentelemetry-sdk and \
         opentelemetry-exporter-otlp-proto-http at {}: .ci/run makes it \
         (python3 -m venv target/otel-venv && target/otel-venv/bin/pip install ...)",
        python.display()
    );
    python
}

/// A free loopback port (testkit's, failing the test when there is none).
pub fn free_port() -> u16 {
    rwgate_testkit::net::free_port().expect("a free loopback port")
}

/// A temporary directory removed on drop.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir(
            tempfile::Builder::new()
                .prefix(&format!("rwgate-e2e-{tag}-"))
                .tempdir()
                .unwrap(),
        )
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.path().join(p)
    }
}

/// Polls `f` every 200ms until it returns true or `timeout` passes; returns whether it
/// did.
pub fn wait_until(timeout: Duration, f: impl FnMut() -> bool) -> bool {
    rwgate_testkit::net::wait_until(timeout, Duration::from_millis(200), f)
}

/// Waits (up to `secs`) until `url` answers 200; fails the test naming `what` otherwise.
pub fn wait_ready(url: &str, secs: u64, what: &str) {
    assert!(
        wait_until(Duration::from_secs(secs), || http_get(url)
            .is_some_and(|(s, _)| s == 200)),
        "{what} did not become ready at {url}"
    );
}

/// The `/metrics` text of a process on a loopback port (empty when unreachable).
pub fn metrics_at(port: u16) -> String {
    http_get(&format!("http://127.0.0.1:{port}/metrics"))
        .map(|(_, b)| b)
        .unwrap_or_default()
}

/// Percent-encodes `q` for a query string (PromQL expressions).
pub fn urlencode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Posts a snappy remote-write 1.0 body for `tenant` (THANOS-TENANT), as a sender
/// would, and waits for the answer: status and body.
pub fn post_remote_write(url: &str, tenant: &str, snappy_body: Vec<u8>) -> (u16, String) {
    rwgate_gateway::tls::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(url)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("THANOS-TENANT", tenant)
            .body(snappy_body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    })
}

/// A blocking HTTP GET on loopback: status and body.
pub fn http_get(url: &str) -> Option<(u16, String)> {
    rwgate_testkit::net::http_get(url, Duration::from_secs(30))
}

/// Sum of every sample of `name` (with all label sets) in a Prometheus text exposition.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b'{') | Some(b' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// One exported series: labels and (timestamp → value).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub samples: BTreeMap<i64, f64>,
}

impl Series {
    /// Sorted `(name, value)` pairs.
    pub fn label_pairs(&self) -> Vec<(&str, &str)> {
        self.labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// `{a="b",...}` for `rwgate ring lookup`.
    pub fn selector(&self) -> String {
        let inner: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        format!("{{{}}}", inner.join(","))
    }
}
