//! Tenancy end to end through the gateway: resolution conflicts, label policies, split
//! routing, per-tenant rules and rate limits. Receivers record the forwarded tenant.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use rwgate_gateway::Config;
use rwgate_gateway::config::LabelPolicy;
use rwgate_gateway::tenancy::TokenSpec;

const TOKEN_A: &str = "tenant-a-token-0123456789";

/// Receivers 0,1 serve tenant-a; receiver 2 everyone else.
fn two_rings(urls: &[String]) -> serde_json::Value {
    serde_json::json!([
        {"hashring": "tenant-a", "tenants": ["tenant-a"], "endpoints": [urls[0], urls[1]]},
        {"hashring": "default", "endpoints": [urls[2]]},
    ])
}

fn with_token(c: &mut Config) {
    c.tenancy
        .tokens
        .insert(TOKEN_A.into(), TokenSpec::Tenant("tenant-a".into()));
}

fn bearer() -> String {
    format!("Bearer {TOKEN_A}")
}

const A_SERIES: &[(&str, &str)] = &[
    ("__name__", "up"),
    ("cluster", "cluster-02"),
    ("job", "a"),
    ("tenant", "tenant-a"),
];
const B_SERIES: &[(&str, &str)] = &[
    ("__name__", "up"),
    ("cluster", "cluster-02"),
    ("job", "b"),
    ("tenant", "tenant-b"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_for_a_with_header_b_is_403_and_nothing_is_forwarded() {
    let h = Harness::builder()
        .receivers(3)
        .hashrings(two_rings)
        .config(with_token)
        .start()
        .await;
    let a = h
        .send_with(
            &[("Authorization", &bearer()), ("X-Scope-OrgID", "tenant-b")],
            &request_of(&[A_SERIES]),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.body.contains("authenticated as tenant tenant-a"),
        "{}",
        a.body
    );
    assert!(!a.body.contains(TOKEN_A), "the token is never echoed");
    assert_eq!(h.receiver_attempts(), 0);
    // The token alone writes as tenant-a.
    let a = h
        .send_with(&[("Authorization", &bearer())], &request_of(&[A_SERIES]))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        h.receivers[0].tenant("tenant-a").series + h.receivers[1].tenant("tenant-a").series,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_policy_refuses_the_whole_request() {
    let h = Harness::builder()
        .receivers(3)
        .hashrings(two_rings)
        .start()
        .await;
    let a = h
        .send_with(
            &[("THANOS-TENANT", "tenant-a")],
            &request_of(&[A_SERIES, B_SERIES]),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    for part in [
        "tenant_label_mismatch",
        "tenant=\"tenant-b\"",
        "request is for tenant tenant-a",
        "job=\"b\"",
    ] {
        assert!(a.body.contains(part), "missing {part:?} in {}", a.body);
    }
    assert_eq!(
        h.receiver_attempts(),
        0,
        "nothing of that request was forwarded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_policy_sets_the_label_to_the_request_tenant() {
    let h = Harness::builder()
        .receivers(3)
        .hashrings(two_rings)
        .config(|c| c.tenancy.tenant_label_policy = LabelPolicy::Overwrite)
        .start()
        .await;
    let a = h
        .send_with(
            &[("THANOS-TENANT", "tenant-a")],
            &request_of(&[A_SERIES, B_SERIES]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let rewritten: &[(&str, &str)] = &[
        ("__name__", "up"),
        ("cluster", "cluster-02"),
        ("job", "b"),
        ("tenant", "tenant-a"),
    ];
    assert_eq!(
        h.holders("tenant-a", rewritten).len(),
        1,
        "stored with tenant=tenant-a"
    );
    assert!(h.holders("tenant-a", B_SERIES).is_empty());
    assert!(h.holders("tenant-b", B_SERIES).is_empty());
    assert_eq!(
        h.receivers[2].attempts(),
        0,
        "nothing went to the default ring"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_routes_each_series_to_its_tenants_hashring_without_the_label() {
    let h = Harness::builder()
        .receivers(3)
        .hashrings(two_rings)
        .config(|c| c.tenancy.tenant_label_policy = LabelPolicy::Split)
        .start()
        .await;
    let no_tenant: &[(&str, &str)] = &[("__name__", "up"), ("cluster", "cluster-02"), ("job", "c")];
    let a = h
        .send_with(
            &[("THANOS-TENANT", "tenant-a")],
            &request_of(&[A_SERIES, B_SERIES, no_tenant]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let strip = |l: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        l.iter().copied().filter(|(n, _)| *n != "tenant").collect()
    };
    // tenant-a's series on tenant-a's ring (receivers 0, 1), label removed.
    let a_holders = h.holders("tenant-a", &strip(A_SERIES));
    assert_eq!(a_holders.len(), 1);
    assert!(a_holders[0] < 2);
    // tenant-b's on the default ring, forwarded with THANOS-TENANT: tenant-b.
    assert_eq!(h.holders("tenant-b", &strip(B_SERIES)), vec![2]);
    assert_eq!(h.receivers[2].tenant("tenant-b").series, 1);
    // No label: the request's tenant.
    assert_eq!(h.holders("tenant-a", no_tenant).len(), 1);
    assert!(
        h.holders("tenant-a", A_SERIES).is_empty(),
        "the label never reaches a receiver"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_is_refused_to_tokens_not_allowed_to_split() {
    let h = Harness::builder()
        .receivers(3)
        .hashrings(two_rings)
        .config(|c| {
            with_token(c);
            c.tenancy.tenant_label_policy = LabelPolicy::Split;
        })
        .start()
        .await;
    let a = h
        .send_with(
            &[("Authorization", &bearer())],
            &request_of(&[A_SERIES, B_SERIES]),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(h.receiver_attempts(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_tenant_and_bad_names() {
    let h = Harness::builder()
        .receivers(3)
        .hashrings(two_rings)
        .config(|c| c.tenancy.require_tenant = true)
        .start()
        .await;
    let a = h.send_with(&[], &request_of(&[A_SERIES])).await;
    assert_eq!(a.status, 401, "{}", a.body);
    for bad in ["..", "a/b", "tenant a"] {
        let a = h
            .send_with(&[("THANOS-TENANT", bad)], &request_of(&[A_SERIES]))
            .await;
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
        assert!(a.body.contains("invalid_tenant"), "{}", a.body);
    }
    assert_eq!(h.receiver_attempts(), 0);
}

fn cluster_rules(c: &mut Config) {
    let yaml = r#"
tenants:
  tenant-a:
    required_labels: [cluster]
    allowed_label_values: {cluster: [cluster-02]}
  tenant-b:
    required_labels: [cluster]
    allowed_label_values: {cluster: [cluster-04]}
"#;
    let parsed = Config::from_yaml(yaml).unwrap();
    c.tenants = parsed.tenants;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_rules_are_enforced_per_tenant() {
    let h = Harness::builder()
        .receivers(3)
        .hashrings(two_rings)
        .config(cluster_rules)
        .start()
        .await;
    let ok: &[(&str, &str)] = &[("__name__", "up"), ("cluster", "cluster-02"), ("job", "x")];
    let wrong: &[(&str, &str)] = &[("__name__", "up"), ("cluster", "cluster-09"), ("job", "y")];
    let missing: &[(&str, &str)] = &[("__name__", "up"), ("job", "z")];
    let a = h
        .send_with(
            &[("THANOS-TENANT", "tenant-a")],
            &request_of(&[ok, wrong, missing]),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("label_value_not_allowed"), "{}", a.body);
    assert!(a.body.contains("2 of 3 series rejected"), "{}", a.body);
    assert_eq!(
        h.holders("tenant-a", ok).len(),
        1,
        "the valid series was written"
    );
    assert!(h.holders("tenant-a", wrong).is_empty());
    assert!(h.holders("tenant-a", missing).is_empty());
    // cluster-02 is not tenant-b's cluster.
    let a = h
        .send_with(&[("THANOS-TENANT", "tenant-b")], &request_of(&[ok]))
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let b_ok: &[(&str, &str)] = &[("__name__", "up"), ("cluster", "cluster-04")];
    let a = h
        .send_with(&[("THANOS-TENANT", "tenant-b")], &request_of(&[b_ok]))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // The missing label has its own reason.
    let a = h
        .send_with(&[("THANOS-TENANT", "tenant-b")], &request_of(&[missing]))
        .await;
    assert!(a.body.contains("missing_required_label"), "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_429_with_retry_after_and_recovers() {
    let h = Harness::builder()
        .receivers(3)
        .hashrings(two_rings)
        .config(|c| {
            c.tenants.insert(
                "tenant-a".into(),
                Config::from_yaml("tenants:\n  tenant-a:\n    limits:\n      ingestion_rate: 100\n      ingestion_burst: 100\n")
                    .unwrap()
                    .tenants["tenant-a"]
                    .clone(),
            );
        })
        .start()
        .await;
    let req = request(100, 1);
    assert_eq!(h.send("tenant-a", &req).await.status, 200);
    let a = h.send("tenant-a", &req).await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert_eq!(a.retry_after.as_deref(), Some("1"));
    let before = h.receiver_attempts();
    // Other tenants are not limited.
    assert_eq!(h.send("tenant-b", &req).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        h.send("tenant-a", &req).await.status,
        200,
        "recovered after the window"
    );
    assert!(h.receiver_attempts() > before);
}
