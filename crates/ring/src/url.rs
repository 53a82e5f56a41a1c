//! Turning a hashring `address` into the HTTP URL rwgate forwards to.
//!
//! Thanos routers hash the address as written (usually the gRPC address,
//! `ingestor-0.receive:10901`) and forward over gRPC; rwgate forwards over HTTP remote
//! write, so it needs a URL per endpoint. An address that already is an `http://` or
//! `https://` URL is used as it is; any other goes through the template, where
//! `{host}` is the address without its port and `{address}` the address as written.

/// The default template: Thanos Receive's HTTP remote-write port and path.
pub const DEFAULT_TEMPLATE: &str = "http://{host}:19291/api/v1/receive";

/// Resolves `address` to a forward URL with `template`.
pub fn forward_url(template: &str, address: &str) -> String {
    if address.starts_with("http://") || address.starts_with("https://") {
        return address.to_string();
    }
    template
        .replace("{host}", host_of(address))
        .replace("{address}", address)
}

/// The host part of `host:port`, `[v6]:port` or a bare host.
pub fn host_of(address: &str) -> &str {
    if address.starts_with('[') {
        return match address.find(']') {
            Some(end) => &address[..=end],
            None => address,
        };
    }
    match address.rsplit_once(':') {
        Some((host, port))
            if !host.contains(':')
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => address,
    }
}

/// Checks that a template names `{host}` or `{address}` and yields an HTTP URL.
pub fn validate_template(template: &str) -> Result<(), String> {
    if !template.contains("{host}") && !template.contains("{address}") {
        return Err(format!(
            "forward URL template {template:?} contains neither {{host}} nor {{address}}"
        ));
    }
    if !template.starts_with("http://") && !template.starts_with("https://") {
        return Err(format!(
            "forward URL template {template:?} must start with http:// or https://"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_resolve() {
        assert_eq!(
            forward_url(DEFAULT_TEMPLATE, "ingestor-0.receive:10901"),
            "http://ingestor-0.receive:19291/api/v1/receive"
        );
        assert_eq!(
            forward_url("http://{address}/api/v1/receive", "10.0.0.1:19291"),
            "http://10.0.0.1:19291/api/v1/receive"
        );
        assert_eq!(
            forward_url(DEFAULT_TEMPLATE, "https://r.example:443/api/v1/receive"),
            "https://r.example:443/api/v1/receive"
        );
        assert_eq!(
            forward_url(DEFAULT_TEMPLATE, "[::1]:10901"),
            "http://[::1]:19291/api/v1/receive"
        );
        assert_eq!(
            forward_url(DEFAULT_TEMPLATE, "node-1"),
            "http://node-1:19291/api/v1/receive"
        );
    }

    #[test]
    fn template_validation() {
        assert!(validate_template(DEFAULT_TEMPLATE).is_ok());
        assert!(validate_template("http://fixed:19291/").is_err());
        assert!(validate_template("{host}:19291").is_err());
    }
}
