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
