//! Tenant names, checked like Mimir's: at most 150 characters of `[A-Za-z0-9!_.*'()-]`,
//! never `.` or `..`, so a tenant never becomes a path; and escaping of client-supplied
//! strings for messages and logs.

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
    fn escape_quotes_control_characters() {
        assert_eq!(escape("a\nb"), "\"a\\nb\"");
        assert!(escape(&"x".repeat(1000)).len() < 170);
    }
}
