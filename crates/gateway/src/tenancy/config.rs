//! The tenancy part of the configuration: `tenancy:`, `tenant_defaults:`, `tenants:`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::names::validate_tenant;
pub use crate::tls::CertField;

/// How the tenant of a request is decided, and what may claim which tenant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tenancy {
    /// Headers read in order; the first present one names the tenant.
    pub headers: Vec<String>,
    /// Header carrying the tenant to receivers.
    pub forward_header: String,
    /// Tenant of requests that name none.
    pub default_tenant: String,
    /// A request that names no tenant (no certificate, token, header) is refused with 401
    /// instead of going to the default tenant.
    pub require_tenant: bool,
    /// A request without a valid client certificate or bearer token is refused with 401,
    /// whatever headers it carries.
    pub require_auth: bool,
    /// Requests for tenants not listed under `tenants:` (nor given a token) are allowed;
    /// when false they are refused with 403.
    pub allow_unknown_tenants: bool,
    /// Series label that carries a tenant.
    pub tenant_label: String,
    /// What to do with a series whose tenant label disagrees with the request's tenant.
    pub tenant_label_policy: LabelPolicy,
    /// Bearer tokens: token → tenant (or `{tenant, allow_split}`). Secret: never logged.
    /// A token listed twice is an error (the last entry would silently win).
    #[serde(deserialize_with = "unique_tokens")]
    pub tokens: BTreeMap<Token, TokenSpec>,
    /// A YAML file with more tokens in the same form, reloaded when it changes.
    pub tokens_file: Option<PathBuf>,
    /// Which field of a client certificate's subject names the tenant.
    pub cert_field: CertField,
}

impl Default for Tenancy {
    fn default() -> Self {
        Tenancy {
            headers: vec!["THANOS-TENANT".into(), "X-Scope-OrgID".into()],
            forward_header: "THANOS-TENANT".into(),
            default_tenant: "default-tenant".into(),
            require_tenant: false,
            require_auth: false,
            allow_unknown_tenants: true,
            tenant_label: "tenant".into(),
            tenant_label_policy: LabelPolicy::Reject,
            tokens: BTreeMap::new(),
            tokens_file: None,
            cert_field: CertField::Cn,
        }
    }
}

/// `tenancy.tenant_label_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelPolicy {
    /// Refuse the whole request (400) when a series' label names another tenant.
    #[default]
    Reject,
    /// Set the label to the request's tenant.
    Overwrite,
    /// Thanos' split-tenant mode: the label's value is the series' tenant, and the label
    /// is removed before hashing. Only for unauthenticated requests and tokens with
    /// `allow_split`.
    Split,
}

/// A bearer token. Its `Debug` says `[REDACTED]` (secrecy's `SecretString`): a config
/// or tenancy state printed whole cannot show one. Compared, ordered and hashed by
/// its text, and looked up by `&str` (`Borrow<str>`).
#[derive(Debug, Clone)]
pub struct Token(SecretString);

impl Token {
    /// The token's text, for comparing with what a request presents.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<&str> for Token {
    fn from(s: &str) -> Token {
        Token(SecretString::from(s))
    }
}

impl From<String> for Token {
    fn from(s: String) -> Token {
        Token(SecretString::from(s))
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Token) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Token {}

impl PartialOrd for Token {
    fn partial_cmp(&self, other: &Token) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Token {
    fn cmp(&self, other: &Token) -> std::cmp::Ordering {
        self.expose().cmp(other.expose())
    }
}

impl std::hash::Hash for Token {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.expose().hash(state);
    }
}

impl std::borrow::Borrow<str> for Token {
    fn borrow(&self) -> &str {
        self.expose()
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Token, D::Error> {
        String::deserialize(d).map(Token::from)
    }
}

/// The start of the error for a token listed twice; it names the entry, never the
/// token.
const DUPLICATE_TOKEN: &str = "duplicate token";

/// Deserializes a map of token → grant, refusing a token that appears twice.
fn unique_tokens<'de, D>(d: D) -> Result<BTreeMap<Token, TokenSpec>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = BTreeMap<Token, TokenSpec>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map of token to tenant")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            let mut entry = 0usize;
            while let Some(token) = map.next_key::<Token>()? {
                entry += 1;
                let spec = map.next_value::<TokenSpec>()?;
                if out.insert(token, spec).is_some() {
                    return Err(serde::de::Error::custom(format_args!(
                        "{DUPLICATE_TOKEN}: entry #{entry} repeats an earlier token"
                    )));
                }
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique)
}

/// A bearer token's grant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum TokenSpec {
    /// Just the tenant.
    Tenant(String),
    /// The tenant and options.
    Full {
        /// Tenant the token writes as.
        tenant: String,
        /// May use the `split` label policy to write for other tenants.
        #[serde(default)]
        allow_split: bool,
    },
}

impl TokenSpec {
    /// The tenant.
    pub fn tenant(&self) -> &str {
        match self {
            TokenSpec::Tenant(t) | TokenSpec::Full { tenant: t, .. } => t,
        }
    }

    /// Whether the token may split.
    pub fn allow_split(&self) -> bool {
        matches!(
            self,
            TokenSpec::Full {
                allow_split: true,
                ..
            }
        )
    }
}

/// Rules and limits of one tenant (or, under `tenant_defaults`, of every tenant).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSpec {
    /// Labels every series must carry.
    pub required_labels: Vec<String>,
    /// For these labels, the only values allowed.
    pub allowed_label_values: BTreeMap<String, Vec<String>>,
    /// Refuse a bare header claiming this tenant: it must come with its certificate or
    /// token, even when `tenancy.require_auth` is off.
    pub require_auth: bool,
    /// Limits; unset ones fall back to `tenant_defaults`, then to the global `limits`.
    pub limits: TenantLimits,
    /// Relabeling (Prometheus syntax) after the global `relabel_configs`; unset: the
    /// `tenant_defaults` ones.
    pub relabel_configs: Option<Vec<crate::relabel::RuleConfig>>,
}

impl TenantSpec {
    /// Whether any label rule (required labels, allowed values) applies.
    pub fn has_label_rules(&self) -> bool {
        !self.required_labels.is_empty() || !self.allowed_label_values.is_empty()
    }
}

/// Per-tenant limit overrides.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantLimits {
    /// Samples (float plus histogram) per second, sustained. Unset: unlimited.
    pub ingestion_rate: Option<f64>,
    /// Samples allowed in a burst above the rate (bucket size). Default: 10 s of rate.
    pub ingestion_burst: Option<u64>,
    /// Largest compressed body.
    pub max_body_bytes: Option<usize>,
    /// Most series per request.
    pub max_series_per_request: Option<usize>,
    /// Most samples per request.
    pub max_samples_per_request: Option<usize>,
    /// Most labels per series.
    pub max_label_names_per_series: Option<usize>,
    /// Longest label name.
    pub max_label_name_length: Option<usize>,
    /// Longest label value.
    pub max_label_value_length: Option<usize>,
}

impl Tenancy {
    /// Every tenant a token names.
    pub fn token_tenants(&self) -> BTreeSet<&str> {
        self.tokens.values().map(TokenSpec::tenant).collect()
    }

    /// Appends every tenancy problem to `p`.
    pub fn check(
        &self,
        tenants: &BTreeMap<String, TenantSpec>,
        defaults: &TenantSpec,
        p: &mut Vec<String>,
    ) {
        if self
            .headers
            .iter()
            .any(|h| axum::http::HeaderName::try_from(h.as_str()).is_err())
        {
            p.push("tenancy.headers: every entry must be a valid HTTP header name".into());
        }
        if axum::http::HeaderName::try_from(self.forward_header.as_str()).is_err() {
            p.push("tenancy.forward_header must be a valid HTTP header name".into());
        }
        if let Err(e) = validate_tenant(&self.default_tenant) {
            p.push(format!("tenancy.default_tenant: {e}"));
        }
        if !rwgate_wire::is_legacy_label_name(self.tenant_label.as_bytes()) {
            p.push("tenancy.tenant_label must be a valid label name".into());
        }
        for (i, spec) in self.tokens.values().enumerate() {
            if let Err(e) = validate_tenant(spec.tenant()) {
                p.push(format!("tenancy.tokens: token #{i}: {e}"));
            }
        }
        if self.tokens.keys().any(|t| t.expose().len() < 16) {
            p.push("tenancy.tokens: tokens must be at least 16 characters".into());
        }
        for (name, spec) in tenants {
            if let Err(e) = validate_tenant(name) {
                p.push(format!("tenants.{name}: {e}"));
            }
            spec.check(&format!("tenants.{name}"), p);
        }
        defaults.check("tenant_defaults", p);
        if defaults.require_auth {
            p.push(
                "tenant_defaults.require_auth: use tenancy.require_auth for every tenant".into(),
            );
        }
    }
}

impl TenantSpec {
    fn check(&self, at: &str, p: &mut Vec<String>) {
        for l in self
            .required_labels
            .iter()
            .chain(self.allowed_label_values.keys())
        {
            if !rwgate_wire::is_legacy_label_name(l.as_bytes()) {
                p.push(format!("{at}: {l:?} is not a valid label name"));
            }
        }
        if let Some(rate) = self.limits.ingestion_rate
            && !(rate.is_finite() && rate > 0.0)
        {
            p.push(format!(
                "{at}.limits.ingestion_rate must be a positive number"
            ));
        }
        if self.limits.ingestion_burst == Some(0) {
            p.push(format!("{at}.limits.ingestion_burst must be positive"));
        }
    }
}

/// Reads a tokens file: a YAML map of token → tenant or `{tenant, allow_split}`.
pub fn read_tokens_file(path: &std::path::Path) -> Result<BTreeMap<Token, TokenSpec>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    // The parser's message could quote a token: say where, not what.
    let de = serde_yaml_ng::Deserializer::from_str(&text);
    unique_tokens(de).map_err(|e| match duplicate_token_error(&text, &e) {
        Some(dup) => format!("{}: {dup}", path.display()),
        None => {
            let at = e
                .location()
                .map_or(String::new(), |l| format!(" at line {}", l.line()));
            format!(
                "{} is not a YAML map of token to tenant{at}",
                path.display()
            )
        }
    })
}

/// For a duplicate-token error, the message with the line of the repeated entry (the
/// parser only knows where the map starts): the entry-th key line at the map's
/// indentation. Block-style maps only; a flow-style map gets the map's line.
pub(crate) fn duplicate_token_error(text: &str, e: &serde_yaml_ng::Error) -> Option<String> {
    let msg = e.to_string();
    let ours = &msg[msg.find(DUPLICATE_TOKEN)?..];
    let ours = ours.split(" at line").next().unwrap_or(ours);
    let entry: usize = ours
        .split('#')
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    let map = e.location()?;
    let indent = map.column().saturating_sub(1);
    let line = text
        .lines()
        .enumerate()
        .skip(map.line().saturating_sub(1))
        .filter(|(_, l)| {
            let body = l.get(indent..).unwrap_or("");
            l.len() - l.trim_start().len() == indent && !body.is_empty() && !body.starts_with('#')
        })
        .nth(entry.saturating_sub(1))
        .map_or(map.line(), |(i, _)| i + 1);
    Some(format!("{ours} at line {line}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn full_tenancy_yaml() {
        let c = Config::from_yaml(
            r#"
hashrings: /x.json
tenancy:
  require_auth: true
  tenant_label_policy: split
  cert_field: OU
  tokens:
    "0123456789abcdef-a": tenant-a
    "0123456789abcdef-b": {tenant: tenant-b, allow_split: true}
tenant_defaults:
  limits:
    ingestion_rate: 10000
tenants:
  tenant-a:
    required_labels: [cluster]
    allowed_label_values: {cluster: [cluster-02]}
    require_auth: true
    limits:
      ingestion_burst: 50000
"#,
        )
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!(c.tenancy.tenant_label_policy, LabelPolicy::Split);
        assert_eq!(c.tenancy.cert_field, CertField::Ou);
        assert!(c.tenancy.tokens["0123456789abcdef-b"].allow_split());
        assert_eq!(c.tenants["tenant-a"].limits.ingestion_burst, Some(50000));
        assert_eq!(c.tenant_defaults.limits.ingestion_rate, Some(10000.0));
    }

    #[test]
    fn debug_output_redacts_tokens() {
        let mut t = Tenancy::default();
        t.tokens
            .insert("super-secret-token-1".into(), TokenSpec::Tenant("a".into()));
        let shown = format!("{t:?}");
        assert!(!shown.contains("super-secret"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }

    #[test]
    fn tenancy_problems_are_listed() {
        let c = Config::from_yaml(
            "hashrings: /x.json\ntenancy:\n  tenant_label: 'bad-name'\n  tokens:\n    short: tenant-a\n    '0123456789abcdefgh': 'bad/tenant'\ntenants:\n  'a b':\n    required_labels: ['9x']\n",
        )
        .unwrap();
        let err = c.validate().unwrap_err();
        let text = err.to_string();
        for want in [
            "tenant_label must be a valid label name",
            "at least 16 characters",
            "token #0",
            "tenants.a b",
            "\"9x\" is not a valid label name",
        ] {
            assert!(text.contains(want), "missing {want:?} in {text}");
        }
        assert!(
            !text.contains("0123456789abcdefgh"),
            "a token leaked into {text}"
        );
    }

    #[test]
    fn a_token_listed_twice_in_the_config_is_refused_with_its_line() {
        let err = Config::from_yaml(
            "tenancy:\n  tokens:\n    secret-token-aaaaaaaa: tenant-a\n    other-token-bbbbbbbbb: tenant-b\n    secret-token-aaaaaaaa: tenant-b\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("duplicate token: entry #3"), "{err}");
        assert!(err.contains("line 5"), "{err}");
        assert!(
            !err.contains("secret-token"),
            "the error quotes the token: {err}"
        );
    }

    #[test]
    fn a_token_listed_twice_in_the_tokens_file_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.yaml");
        std::fs::write(
            &path,
            "secret-token-aaaaaaaa: tenant-a\nsecret-token-aaaaaaaa: tenant-b\n",
        )
        .unwrap();
        let err = read_tokens_file(&path).unwrap_err();
        assert!(err.contains("duplicate token: entry #2"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(
            !err.contains("secret-token"),
            "the error quotes the token: {err}"
        );
        std::fs::write(&path, "secret-token-aaaaaaaa: tenant-a\n").unwrap();
        assert_eq!(read_tokens_file(&path).unwrap().len(), 1);
    }
}
