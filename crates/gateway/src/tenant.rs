//! Deciding the tenant of a request.
//!
//! Order: the configured headers (default `THANOS-TENANT`, then `X-Scope-OrgID`), else
//! the default tenant. Tenant names are checked like Mimir's: at most 150 characters of
//! `[A-Za-z0-9!_.*'()-]`, never `.` or `..` (so a tenant never becomes a path).

use axum::http::{HeaderMap, HeaderName};

use crate::config::Tenancy;

/// A tenant name that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// Empty.
    #[error("tenant name is empty")]
    Empty,
    /// Over 150 characters.
    #[error("tenant name is longer than 150 characters")]
    TooLong,
    /// `.` or `..`.
    #[error("tenant name may not be '.' or '..'")]
    Dots,
    /// A character outside the allowed set.
    #[error("tenant name {0} has a character outside [A-Za-z0-9!_.*'()-]")]
    BadChar(String),
}

/// Maximum tenant name length.
pub const MAX_TENANT_LEN: usize = 150;

/// Checks a tenant name.
pub fn validate_tenant(name: &str) -> Result<(), TenantError> {
    if name.is_empty() {
        return Err(TenantError::Empty);
    }
    if name.len() > MAX_TENANT_LEN {
        return Err(TenantError::TooLong);
    }
    if name == "." || name == ".." {
        return Err(TenantError::Dots);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!-_.*'()".contains(&b))
    {
        return Err(TenantError::BadChar(escape(name)));
    }
    Ok(())
}

/// A client-supplied string made safe for messages and logs: escaped, cut at 160 bytes.
pub fn escape(raw: &str) -> String {
    let cut = raw.char_indices().nth(160).map_or(raw, |(i, _)| &raw[..i]);
    format!("{:?}", cut)
}

/// Resolves tenants from headers.
#[derive(Debug, Clone)]
pub struct TenantResolver {
    headers: Vec<HeaderName>,
    default_tenant: String,
}

impl TenantResolver {
    /// From the tenancy config (header names were validated with the config).
    pub fn new(cfg: &Tenancy) -> Self {
        TenantResolver {
            headers: cfg
                .headers
                .iter()
                .filter_map(|h| HeaderName::try_from(h.as_str()).ok())
                .collect(),
            default_tenant: cfg.default_tenant.clone(),
        }
    }

    /// The request's tenant, validated.
    pub fn resolve(&self, headers: &HeaderMap) -> Result<String, TenantError> {
        for name in &self.headers {
            if let Some(v) = headers.get(name) {
                let s = std::str::from_utf8(v.as_bytes()).map_err(|_| {
                    TenantError::BadChar(escape(&String::from_utf8_lossy(v.as_bytes())))
                })?;
                let s = s.trim();
                validate_tenant(s)?;
                return Ok(s.to_string());
            }
        }
        Ok(self.default_tenant.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names() {
        assert!(validate_tenant("tenant-a").is_ok());
        assert!(validate_tenant("a.b_c!*'()").is_ok());
        assert_eq!(validate_tenant(""), Err(TenantError::Empty));
        assert_eq!(validate_tenant(".."), Err(TenantError::Dots));
        assert_eq!(validate_tenant(&"a".repeat(151)), Err(TenantError::TooLong));
        assert!(validate_tenant(&"a".repeat(150)).is_ok());
        assert!(matches!(
            validate_tenant("a/b"),
            Err(TenantError::BadChar(_))
        ));
        assert!(matches!(
            validate_tenant("a b"),
            Err(TenantError::BadChar(_))
        ));
    }

    #[test]
    fn header_order_and_default() {
        let r = TenantResolver::new(&Tenancy::default());
        let mut h = HeaderMap::new();
        assert_eq!(r.resolve(&h).unwrap(), "default-tenant");
        h.insert("x-scope-orgid", "b".parse().unwrap());
        assert_eq!(r.resolve(&h).unwrap(), "b");
        h.insert("thanos-tenant", "a".parse().unwrap());
        assert_eq!(r.resolve(&h).unwrap(), "a");
        h.insert("thanos-tenant", "../etc".parse().unwrap());
        assert!(r.resolve(&h).is_err());
    }

    #[test]
    fn escape_quotes_control_characters() {
        assert_eq!(escape("a\nb"), "\"a\\nb\"");
        assert!(escape(&"x".repeat(1000)).len() < 170);
    }
}
