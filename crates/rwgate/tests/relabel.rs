//! Per-tenant relabeling in the gateway: a global rule for every tenant, a tenant's own
//! rules after it; dropped series are counted, not refused; changed series reach the
//! receivers `rwgate ring lookup` names for their new labels; a rule that makes a
//! series invalid refuses it with the decoder's reason; bad rules are named at load.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, request_of};
use rwgate_gateway::Config;
use rwgate_gateway::cli::{RelabelArgs, relabel};

const RULES: &str = r#"
relabel_configs:
  - {regex: prometheus_replica, action: labeldrop}
tenants:
  tenant-a:
    relabel_configs:
      - {source_labels: [__name__], regex: "noisy_.*", action: drop}
      - {source_labels: [cluster], target_label: edge_cluster}
      - {regex: cluster, action: labeldrop}
      - {source_labels: [pod], target_label: shard, modulus: 4, action: hashmod}
      - {source_labels: [pod], regex: "(.*)", target_label: pod, replacement: "${1}${1}${1}"}
  tenant-b: {}
"#;

fn with_rules(c: &mut Config) {
    let parsed = Config::from_yaml(RULES).unwrap();
    c.relabel_configs = parsed.relabel_configs;
    c.tenants = parsed.tenants;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_rules_change_what_reaches_the_receivers_and_where() {
    let h = Harness::builder()
        .receivers(4)
        .rf(2)
        .config(with_rules)
        .start()
        .await;
    let mut sent = Vec::new();
    for pod in 0..40 {
        let pod: &'static str = format!("p{pod}").leak();
        sent.push(vec![
            ("__name__", "up"),
            ("cluster", "c2"),
            ("pod", pod),
            ("prometheus_replica", "r0"),
        ]);
    }
    sent.push(vec![
        ("__name__", "noisy_total"),
        ("cluster", "c2"),
        ("pod", "x"),
    ]);
    let refs: Vec<&[(&str, &str)]> = sent.iter().map(Vec::as_slice).collect();
    let answer = h.send("tenant-a", &request_of(&refs)).await;
    assert_eq!(
        answer.status, 200,
        "a dropped series is not an error: {}",
        answer.body
    );
    for pod in 0..40 {
        let p = format!("p{pod}");
        let shard = relabel(&RelabelArgs {
            config: write_config(),
            tenant: "tenant-a".into(),
            series: format!(r#"up{{cluster="c2",pod="{p}",prometheus_replica="r0"}}"#),
        })
        .unwrap();
        let shard = shard
            .lines()
            .find_map(|l| l.strip_prefix("output: "))
            .and_then(|o| o.split("shard=\"").nth(1))
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_string();
        let tripled = p.repeat(3);
        let after = [
            ("__name__", "up"),
            ("edge_cluster", "c2"),
            ("pod", tripled.as_str()),
            ("shard", shard.as_str()),
        ];
        let want = h.lookup("tenant-a", &after, 2);
        assert_eq!(
            h.holders("tenant-a", &after),
            want,
            "pod {pod}: placed by its new labels"
        );
        let before = [
            ("__name__", "up"),
            ("cluster", "c2"),
            ("pod", p.as_str()),
            ("prometheus_replica", "r0"),
        ];
        assert!(
            h.holders("tenant-a", &before).is_empty(),
            "pod {pod}: old labels gone"
        );
    }
    assert!(
        h.holders(
            "tenant-a",
            &[("__name__", "noisy_total"), ("cluster", "c2"), ("pod", "x")]
        )
        .is_empty()
    );
    let written: u64 = h
        .receivers
        .iter()
        .map(|r| r.tenant("tenant-a").samples)
        .sum();
    assert_eq!(
        written,
        40 * 2,
        "40 series on 2 replicas; the noisy one dropped"
    );

    // tenant-b has no rules of its own: only the global one applies.
    let b = [("__name__", "up"), ("prometheus_replica", "r1")];
    let answer = h.send("tenant-b", &request_of(&[&b])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let stripped = [("__name__", "up")];
    assert_eq!(
        h.holders("tenant-b", &stripped),
        h.lookup("tenant-b", &stripped, 2)
    );

    let (_, metrics) = h.get(h.admin, "/metrics").await;
    assert!(
        metrics.contains(
            r#"rwgate_discarded_samples_total{reason="relabel_dropped",tenant="tenant-a"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_that_makes_a_series_invalid_refuses_it_with_the_decoders_reason() {
    let h = Harness::builder()
        .receivers(2)
        .rf(1)
        .config(|c| {
            with_rules(c);
            c.limits.max_label_value_length = 10;
        })
        .start()
        .await;
    // "p1234" tripled is 15 bytes: over the 10-byte limit after relabeling.
    let long = [("__name__", "up"), ("pod", "p1234")];
    let short = [("__name__", "up"), ("pod", "p1")];
    let answer = h.send("tenant-a", &request_of(&[&long, &short])).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(
        answer.body.contains("label_value_too_long"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("after relabeling"), "{}", answer.body);
    let written: u64 = h
        .receivers
        .iter()
        .map(|r| r.tenant("tenant-a").samples)
        .sum();
    assert_eq!(written, 1, "the valid series is written");
}

/// The rules as a config file, for the dry run (kept for the test process's life).
fn write_config() -> std::path::PathBuf {
    static FILE: std::sync::OnceLock<tempfile::TempPath> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let f = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
        std::fs::write(f.path(), format!("hashrings: /unused.json\n{RULES}")).unwrap();
        f.into_temp_path()
    })
    .to_path_buf()
}

#[test]
fn bad_rules_are_named_by_key_path_at_load() {
    let bad = "hashrings: /x.json\nrelabel_configs:\n  - {action: hashmod, target_label: s}\ntenants:\n  tenant-a:\n    relabel_configs:\n      - {action: keep}\n      - {source_labels: [a], regex: \"(unclosed\", action: drop}\n";
    let err = Config::from_yaml(bad)
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "relabel_configs[0]: relabel configuration for hashmod requires non-zero modulus"
        ),
        "{err}"
    );
    assert!(
        err.contains("tenants.tenant-a.relabel_configs[1]: regex \"(unclosed\" does not compile"),
        "{err}"
    );
}

#[test]
fn the_dry_run_names_the_rule_that_dropped_a_series() {
    let out = relabel(&RelabelArgs {
        config: write_config(),
        tenant: "tenant-a".into(),
        series: r#"noisy_total{cluster="c2"}"#.into(),
    })
    .unwrap();
    assert!(
        out.contains(
            r#"dropped by rule #1 (action: drop, source_labels: ["__name__"], regex: "noisy_.*")"#
        ),
        "{out}"
    );
}
