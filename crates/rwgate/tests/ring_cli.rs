//! The `rwgate ring` output contract, through the binary: `lookup` prints the replica
//! addresses as written, one per line, replica 0 first (Thanos' ketama vector);
//! `check` exits 0/1 listing every problem; `diff` prints shares per endpoint.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn rwgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rwgate"))
        .args(args)
        .output()
        .unwrap()
}

fn file(name: &str, body: &str) -> String {
    let dir = std::env::temp_dir().join(format!("rwgate-ring-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

#[test]
fn lookup_prints_thanos_replicas_in_order() {
    let rings = file(
        "three.json",
        r#"[{"endpoints": ["node-1", "node-2", "node-3"], "algorithm": "ketama"}]"#,
    );
    for series in [r#"{pod="nginx"}"#, r#"{ pod = "nginx" }"#] {
        let out = rwgate(&[
            "ring",
            "lookup",
            "--hashrings",
            &rings,
            "--tenant",
            "tenant",
            "--replication-factor",
            "3",
            "--sections-per-node",
            "10",
            "--series",
            series,
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "node-2\nnode-1\nnode-3\n"
        );
    }
    let out = rwgate(&[
        "ring",
        "lookup",
        "--hashrings",
        &rings,
        "--tenant",
        "tenant",
        "--sections-per-node",
        "10",
        "--series",
        r#"{pod="thanos"}"#,
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "node-3\n");
}

#[test]
fn lookup_accepts_metric_name_form_and_reports_config_errors() {
    let rings = file("hm.json", r#"[{"endpoints": ["a:1", "b:1"]}]"#);
    let a = rwgate(&[
        "ring",
        "lookup",
        "--hashrings",
        &rings,
        "--tenant",
        "t",
        "--series",
        r#"up{job="x"}"#,
    ]);
    let b = rwgate(&[
        "ring",
        "lookup",
        "--hashrings",
        &rings,
        "--tenant",
        "t",
        "--series",
        r#"{__name__="up",job="x"}"#,
    ]);
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(a.stdout, b.stdout, "both forms name the same series");
    let bad = file(
        "bad.json",
        r#"[{"endpoints": []}, {"hashring": "z", "endpoints": [{"address": "x", "az": "1"}]}]"#,
    );
    let out = rwgate(&[
        "ring",
        "lookup",
        "--hashrings",
        &bad,
        "--tenant",
        "t",
        "--series",
        "up",
    ]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hashring #0: no endpoints") && err.contains("hashring z: Hashmod"),
        "{err}"
    );
}

#[test]
fn check_exits_0_or_1() {
    let good = file("good.json", r#"[{"endpoints": ["a:1", "b:1", "c:1"]}]"#);
    let out = rwgate(&[
        "ring",
        "check",
        "--hashrings",
        &good,
        "--replication-factor",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("OK\n"));
    let out = rwgate(&[
        "ring",
        "check",
        "--hashrings",
        &good,
        "--replication-factor",
        "4",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs at least 4 endpoints"));
}

#[test]
fn diff_shows_what_moves_per_endpoint() {
    let old = file(
        "old.json",
        r#"[{"endpoints": ["a:1", "b:1", "c:1"], "algorithm": "ketama"}]"#,
    );
    let new = file(
        "new.json",
        r#"[{"endpoints": ["a:1", "b:1", "c:1", "d:1"], "algorithm": "ketama"}]"#,
    );
    let out = rwgate(&["ring", "diff", &old, &new, "--series", "4000"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let row = |ep: &str| -> Vec<f64> {
        let line = text.lines().find(|l| l.starts_with(ep)).unwrap();
        line.split_whitespace()
            .skip(1)
            .map(|v| v.trim_end_matches('%').parse().unwrap())
            .collect()
    };
    let d = row("d:1");
    assert_eq!(d[0], 0.0, "d owns nothing before");
    assert!(
        (15.0..35.0).contains(&d[1]),
        "d owns about a quarter after: {text}"
    );
    assert_eq!(d[2], 0.0, "nothing moves away from the new endpoint");
    let moved: f64 = text
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(
        (moved - d[1]).abs() < 0.01,
        "everything that moves goes to d: {text}"
    );
}
