//! `rwgate-load push` against `rwgate-load sink` directly: both sides report the same
//! sample count. Real processes, real ports.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn sink() -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rwgate-load"))
        .args(["sink", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    (child, addr)
}

fn stats(addr: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /stats HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    serde_json::from_str(out.split_once("\r\n\r\n").unwrap().1).unwrap()
}

#[test]
fn push_and_sink_agree_on_the_sample_count() {
    for protocol in ["v1", "v2"] {
        let (mut sink, addr) = sink();
        let out = Command::new(env!("CARGO_BIN_EXE_rwgate-load"))
            .args([
                "push",
                "--json",
                "--url",
                &format!("http://{addr}/api/v1/receive"),
            ])
            .args([
                "--tenant",
                "tenant-a,tenant-b",
                "--series",
                "1000",
                "--batch",
                "300",
            ])
            .args([
                "--samples-per-series",
                "3",
                "--requests",
                "40",
                "--concurrency",
                "4",
            ])
            .args(["--protocol", protocol])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let s = stats(&addr);
        let _ = Command::new("kill")
            .args(["-TERM", &sink.id().to_string()])
            .status();
        let _ = sink.wait();

        assert_eq!(report["requests"], 40);
        assert_eq!(report["errors"], 0);
        assert_eq!(report["status"]["200"], 40, "{report}");
        // 1000 series in batches of 300: 300, 300, 300, 100; 2 tenants interleaved.
        let acked = report["samples_acked"].as_u64().unwrap();
        assert_eq!(acked, report["samples_sent"].as_u64().unwrap());
        assert_eq!(
            s["samples"].as_u64().unwrap(),
            acked,
            "sink and generator agree ({protocol})"
        );
        let a = s["tenants"]["tenant-a"]["samples"].as_u64().unwrap();
        let b = s["tenants"]["tenant-b"]["samples"].as_u64().unwrap();
        assert_eq!(a + b, acked);
        assert_eq!(a, b, "tenants interleave evenly over 40 requests");
    }
}
