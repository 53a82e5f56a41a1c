//! Resolution paths and conflicts, without the network.

use axum::http::HeaderMap;

use super::*;
use crate::config::Config;
use crate::error::IngestError;

/// The status the error module answers a tenancy refusal with.
trait Status {
    fn status(&self) -> axum::http::StatusCode;
}

impl Status for TenancyError {
    fn status(&self) -> axum::http::StatusCode {
        IngestError::from(self.clone()).status()
    }
}

const TOKEN_A: &str = "token-for-tenant-a-0001";
const TOKEN_B_SPLIT: &str = "token-for-tenant-b-0002";

fn state(yaml: &str) -> TenancyState {
    let base = format!(
        "hashrings: /x.json\ntenancy:\n  tokens:\n    {TOKEN_A}: tenant-a\n    {TOKEN_B_SPLIT}: {{tenant: tenant-b, allow_split: true}}\n{yaml}"
    );
    let cfg = Config::from_yaml(&base).unwrap().validate().unwrap();
    cfg.tenancy_state().unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            axum::http::HeaderName::try_from(*k).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

fn cert(tenant: Option<&str>) -> PeerIdentity {
    PeerIdentity {
        addr: ([127, 0, 0, 1], 1).into(),
        has_cert: true,
        cert_tenant: tenant.map(str::to_string),
    }
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

#[test]
fn header_default_and_order() {
    let s = state("");
    assert_eq!(
        s.resolve(&headers(&[]), None).unwrap().tenant,
        "default-tenant"
    );
    let id = s
        .resolve(
            &headers(&[("x-scope-orgid", "b"), ("thanos-tenant", "a")]),
            None,
        )
        .unwrap();
    assert_eq!(
        (id.tenant.as_str(), id.auth, id.can_split),
        ("a", Auth::None, true)
    );
}

#[test]
fn token_picks_the_tenant() {
    let s = state("");
    let id = s
        .resolve(&headers(&[("authorization", &bearer(TOKEN_A))]), None)
        .unwrap();
    assert_eq!(
        (id.tenant.as_str(), id.auth, id.can_split),
        ("tenant-a", Auth::Token, false)
    );
    let id = s
        .resolve(&headers(&[("authorization", &bearer(TOKEN_B_SPLIT))]), None)
        .unwrap();
    assert!(id.can_split);
}

#[test]
fn token_plus_other_tenant_header_is_403() {
    let s = state("");
    let h = headers(&[
        ("authorization", &bearer(TOKEN_A)),
        ("x-scope-orgid", "tenant-b"),
    ]);
    let err = s.resolve(&h, None).unwrap_err();
    assert!(matches!(err, TenancyError::Forbidden(_)), "{err}");
    assert_eq!(err.status().as_u16(), 403);
    // The same tenant in the header is fine.
    let h = headers(&[
        ("authorization", &bearer(TOKEN_A)),
        ("x-scope-orgid", "tenant-a"),
    ]);
    assert_eq!(s.resolve(&h, None).unwrap().tenant, "tenant-a");
}

#[test]
fn invalid_token_is_401_and_not_echoed() {
    let s = state("");
    let err = s
        .resolve(
            &headers(&[("authorization", "Bearer not-a-real-token-123")]),
            None,
        )
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 401);
    assert!(!err.to_string().contains("not-a-real-token"), "{err}");
    let err = s
        .resolve(&headers(&[("authorization", "Basic dXNlcjpwYXNz")]), None)
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 401);
}

#[test]
fn certificate_picks_the_tenant_and_beats_nothing_else() {
    let s = state("");
    let id = s
        .resolve(&headers(&[]), Some(&cert(Some("tenant-c"))))
        .unwrap();
    assert_eq!(
        (id.tenant.as_str(), id.auth, id.can_split),
        ("tenant-c", Auth::Certificate, false)
    );
    let err = s
        .resolve(
            &headers(&[("thanos-tenant", "tenant-d")]),
            Some(&cert(Some("tenant-c"))),
        )
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 403);
    let err = s
        .resolve(
            &headers(&[("authorization", &bearer(TOKEN_A))]),
            Some(&cert(Some("tenant-c"))),
        )
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 403, "certificate and token disagree");
    let err = s.resolve(&headers(&[]), Some(&cert(None))).unwrap_err();
    assert_eq!(err.status().as_u16(), 401, "certificate without the field");
    let err = s
        .resolve(&headers(&[]), Some(&cert(Some("a/b"))))
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 401);
}

#[test]
fn require_auth_refuses_bare_headers() {
    let s = state("  require_auth: true\n");
    let err = s
        .resolve(&headers(&[("thanos-tenant", "tenant-a")]), None)
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 401);
    assert_eq!(
        s.resolve(&headers(&[]), None)
            .unwrap_err()
            .status()
            .as_u16(),
        401
    );
    assert!(
        s.resolve(&headers(&[("authorization", &bearer(TOKEN_A))]), None)
            .is_ok()
    );
}

#[test]
fn tenant_marked_require_auth_refuses_a_bare_header() {
    let s = state("tenants:\n  tenant-a:\n    require_auth: true\n");
    let err = s
        .resolve(&headers(&[("thanos-tenant", "tenant-a")]), None)
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 401);
    assert!(
        s.resolve(&headers(&[("thanos-tenant", "tenant-z")]), None)
            .is_ok()
    );
    assert!(
        s.resolve(&headers(&[("authorization", &bearer(TOKEN_A))]), None)
            .is_ok()
    );
}

#[test]
fn require_tenant_refuses_requests_naming_none() {
    let s = state("  require_tenant: true\n");
    let err = s.resolve(&headers(&[]), None).unwrap_err();
    assert_eq!(err.status().as_u16(), 401);
    assert!(s.resolve(&headers(&[("thanos-tenant", "t")]), None).is_ok());
}

#[test]
fn unknown_tenants_can_be_refused() {
    let s = state("  allow_unknown_tenants: false\ntenants:\n  tenant-c: {}\n");
    assert_eq!(
        s.resolve(&headers(&[("thanos-tenant", "tenant-z")]), None)
            .unwrap_err()
            .status()
            .as_u16(),
        403
    );
    assert!(
        s.resolve(&headers(&[("thanos-tenant", "tenant-c")]), None)
            .is_ok()
    );
    assert!(
        s.resolve(&headers(&[("authorization", &bearer(TOKEN_A))]), None)
            .is_ok(),
        "token tenants are known"
    );
    assert!(
        s.resolve(&headers(&[]), None).is_ok(),
        "the default tenant is known"
    );
}

#[test]
fn bad_tenant_names_are_400() {
    let s = state("");
    for bad in ["..", "a/b", "a b", &"x".repeat(151)] {
        let err = s
            .resolve(&headers(&[("thanos-tenant", bad)]), None)
            .unwrap_err();
        assert_eq!(err.status().as_u16(), 400, "{bad}");
    }
}

#[test]
fn limits_fall_back_from_tenant_to_defaults_to_global() {
    let s = state(
        "tenant_defaults:\n  limits:\n    ingestion_rate: 100\n    max_series_per_request: 50\ntenants:\n  tenant-a:\n    limits:\n      ingestion_rate: 1000\n      ingestion_burst: 5000\n",
    );
    assert_eq!(s.rate("tenant-a"), Some((1000.0, 5000)));
    assert_eq!(
        s.rate("other"),
        Some((100.0, 1000)),
        "burst defaults to 10 s of rate"
    );
    assert_eq!(
        s.wire_limits("tenant-a").max_series,
        50,
        "from tenant_defaults"
    );
    assert_eq!(
        s.wire_limits("x").max_samples,
        rwgate_wire::Limits::default().max_samples
    );
}

mod relabel_cache {
    use super::*;
    use rwgate_wire::{Limits, Protocol};

    fn fixture() -> rwgate_wire::WriteBatch {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../wire/fixtures/synthetic-5000-v1.snappy");
        let body = std::fs::read(path).unwrap();
        let limits = Limits::default();
        let raw = rwgate_wire::decompress(&body, &limits).unwrap();
        rwgate_wire::decode(Protocol::V1, raw, &limits, 0).unwrap()
    }

    /// Routes the fixture (node-exporter-like series: `pod="app-<0..39>-7d9f8b6c5-<i>"`,
    /// five metric names); the bytes forwarded, what was refused and dropped, the stats.
    fn route_once(
        state: &TenancyState,
    ) -> (Vec<u8>, String, u64, crate::relabel::cache::CacheStats) {
        let id = Identity {
            tenant: "tenant-a".into(),
            auth: Auth::None,
            can_split: false,
        };
        let mut batch = fixture();
        let routed = rules::route(state, &id, &mut batch, |_, _| {}).unwrap();
        // A remembered placement hash is the hash of the labels the series now has.
        let mut buf = Vec::new();
        let mut memos = 0;
        for s in batch.iter() {
            if let Some(memo) = s.hash_memo() {
                memos += 1;
                assert_eq!(
                    memo,
                    rwgate_ring::series_hash(b"tenant-a", s.labels(), &mut buf)
                );
            }
        }
        assert!(
            routed.relabel_cache.hits + routed.relabel_cache.misses == 0 || memos > 3000,
            "{memos}"
        );
        let bytes = rwgate_wire::Encoder::new()
            .encode_raw(&batch, 0..batch.len())
            .to_vec();
        (
            bytes,
            format!("{:?}", routed.refused),
            routed.relabel_dropped.counts.total_samples(),
            routed.relabel_cache,
        )
    }

    const RULES: &str = r#"
limits: {max_label_value_length: 40}
relabel_configs:
  - {regex: tenant, action: labeldrop}
  - {source_labels: [__name__], regex: "node_memory_.*", action: drop}
  - {source_labels: [pod], regex: "app-[0-4]-(.*)", target_label: pod, replacement: "${1}${1}${1}"}
  - {source_labels: [pod], target_label: shard, modulus: 8, action: hashmod}
"#;

    #[test]
    fn a_remembered_verdict_writes_the_same_bytes_as_running_the_rules() {
        let s = state(RULES);
        let (cold, cold_refused, cold_dropped, stats) = route_once(&s);
        assert_eq!(stats.hits, 0);
        assert!(stats.misses > 4000, "{stats:?}");
        assert!(cold_dropped > 0, "the drop rule matched some series");
        assert!(
            cold_refused.contains("label_value_too_long"),
            "{cold_refused}"
        );
        let (warm, warm_refused, warm_dropped, stats) = route_once(&s);
        assert_eq!(stats.misses, 0, "{stats:?}");
        assert!(stats.hits > 4000, "{stats:?}");
        assert!(warm == cold, "the same series, labels and samples");
        assert_eq!(warm_refused, cold_refused);
        assert_eq!(warm_dropped, cold_dropped);
    }

    #[test]
    fn with_no_memory_for_the_cache_the_rules_run_for_every_series() {
        let mut s = state(RULES);
        let (first, ..) = route_once(&s);
        s.set_relabel_cache_bytes(0);
        let (again, _, _, stats) = route_once(&s);
        assert_eq!(stats, crate::relabel::cache::CacheStats::default());
        assert!(again == first, "the same result without the cache");
        // The config key reaches the state.
        let cfg = Config::from_yaml("hashrings: /x.json\nrelabel_cache_bytes: 0\n")
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(cfg.tenancy_state().unwrap().relabel_cache_bytes(), 0);
    }

    #[test]
    fn a_new_config_never_reuses_the_old_ones_verdicts() {
        let (first, ..) = route_once(&state(RULES));
        // The same rules loaded again (a reload): the rules run again.
        let (again, _, _, stats) = route_once(&state(RULES));
        assert_eq!(stats.hits, 0, "{stats:?}");
        assert!(again == first);
        // Other rules: other bytes, not the remembered ones.
        let other = RULES.replace("modulus: 8", "modulus: 3");
        let (changed, _, _, stats) = route_once(&state(&other));
        assert_eq!(stats.hits, 0, "{stats:?}");
        assert!(changed != first);
    }
}
