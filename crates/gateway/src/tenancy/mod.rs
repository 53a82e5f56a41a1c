//! Who is writing, and what they may write.
//!
//! A request's tenant comes from, in order: a verified client certificate (its subject
//! field `tenancy.cert_field`), a bearer token (`tenancy.tokens`, `tokens_file`), the
//! configured headers, and the default tenant. [`TenancyState::resolve`] enforces who may
//! claim what (see docs/tenancy.md); [`rules::route`] then applies the tenant-label
//! policy and per-tenant label rules and splits the batch by tenant; [`RateLimiter`]
//! holds per-tenant ingestion rates. The state is rebuilt on config reload and swapped
//! atomically.

pub mod config;
pub mod names;
pub mod ratelimit;
pub mod rules;

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::http::{HeaderMap, HeaderName, header};

pub use self::config::{
    CertField, LabelPolicy, Tenancy, TenantLimits, TenantSpec, Token, TokenSpec,
};
pub use self::names::{TenantError, escape, validate_tenant};
pub use self::ratelimit::RateLimiter;
use crate::relabel::{RelabelError, RuleConfig, RuleSet};
use crate::tls::PeerIdentity;

/// Why a request may not write, or not write as the tenant it names. The error module
/// maps it to an HTTP status, with every other outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenancyError {
    /// The tenant header or certificate names an invalid tenant.
    #[error("invalid_tenant: {0}")]
    Invalid(#[from] TenantError),
    /// No valid certificate or token where one is required, or an invalid token.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The authenticated writer may not write as the tenant it claims.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A series' tenant label names another tenant (policy `reject`).
    #[error("tenant_label_mismatch: {0}")]
    LabelMismatch(String),
}

/// How a request proved its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Nothing: a header or the default tenant.
    None,
    /// A bearer token.
    Token,
    /// A verified client certificate.
    Certificate,
}

/// The resolved writer of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The request's tenant.
    pub tenant: String,
    /// How it was proven.
    pub auth: Auth,
    /// Whether the `split` label policy may route series to other tenants.
    pub can_split: bool,
}

/// Each tenant's relabeling: the global rules, then its own (or `tenant_defaults`'),
/// compiled once per config load.
#[derive(Debug, Clone, Default)]
pub struct TenantRelabel {
    default: RuleSet,
    tenants: HashMap<String, RuleSet>,
}

impl TenantRelabel {
    /// Compiles every rule list; each bad rule is named by its key path.
    pub fn build(
        global: &[RuleConfig],
        defaults: &TenantSpec,
        tenants: &BTreeMap<String, TenantSpec>,
    ) -> Result<TenantRelabel, Vec<RelabelError>> {
        let mut errors = Vec::new();
        let mut compile = |path: String, rules: &[RuleConfig]| {
            RuleSet::compile(&path, rules).unwrap_or_else(|e| {
                errors.extend(e);
                RuleSet::default()
            })
        };
        let global = compile("relabel_configs".into(), global);
        let default_own = compile(
            "tenant_defaults.relabel_configs".into(),
            defaults.relabel_configs.as_deref().unwrap_or_default(),
        );
        let mut out = TenantRelabel {
            default: global.then(&default_own),
            tenants: HashMap::new(),
        };
        for (name, spec) in tenants {
            if let Some(rules) = &spec.relabel_configs {
                let own = compile(format!("tenants.{name}.relabel_configs"), rules);
                out.tenants.insert(name.clone(), global.then(&own));
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// The rules that apply to `tenant`.
    pub fn for_tenant(&self, tenant: &str) -> &RuleSet {
        self.tenants.get(tenant).unwrap_or(&self.default)
    }

    /// True when no tenant has a rule (the ingest path skips relabeling).
    pub fn is_empty(&self) -> bool {
        self.default.is_empty() && self.tenants.values().all(RuleSet::is_empty)
    }
}

static NEXT_STATE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The tenancy configuration, ready to answer per request. Its `Debug` shows tokens as
/// `[REDACTED]`.
#[derive(Debug)]
pub struct TenancyState {
    cfg: Tenancy,
    headers: Vec<HeaderName>,
    tokens: HashMap<Token, TokenSpec>,
    tenants: BTreeMap<String, TenantSpec>,
    defaults: TenantSpec,
    global: rwgate_wire::Limits,
    known: HashSet<String>,
    relabel: TenantRelabel,
    id: u64,
    relabel_cache_bytes: usize,
}

impl TenancyState {
    /// Builds from the validated `tenancy`, `tenants` and `tenant_defaults` sections,
    /// reading `tokens_file` if set; `global` are the limits of tenants that set none,
    /// `relabel` the global `relabel_configs`.
    pub fn build(
        t: &Tenancy,
        tenants: &BTreeMap<String, TenantSpec>,
        defaults: &TenantSpec,
        global: rwgate_wire::Limits,
        relabel: &[RuleConfig],
    ) -> Result<TenancyState, String> {
        let relabel = TenantRelabel::build(relabel, defaults, tenants).map_err(|e| {
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let mut tokens: HashMap<Token, TokenSpec> = t.tokens.clone().into_iter().collect();
        if let Some(path) = &t.tokens_file {
            for (token, spec) in config::read_tokens_file(path)? {
                validate_tenant(spec.tenant()).map_err(|e| format!("{}: {e}", path.display()))?;
                if tokens.insert(token, spec).is_some() {
                    return Err(format!(
                        "{}: a token is listed both there and in tenancy.tokens",
                        path.display()
                    ));
                }
            }
        }
        let mut known: HashSet<String> = tenants.keys().cloned().collect();
        known.extend(tokens.values().map(|s| s.tenant().to_string()));
        known.insert(t.default_tenant.clone());
        Ok(TenancyState {
            headers: t
                .headers
                .iter()
                .filter_map(|h| HeaderName::try_from(h.as_str()).ok())
                .collect(),
            tokens,
            tenants: tenants.clone(),
            defaults: defaults.clone(),
            global,
            known,
            relabel,
            id: NEXT_STATE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            relabel_cache_bytes: crate::relabel::cache::DEFAULT_BYTES,
            cfg: t.clone(),
        })
    }

    /// The tenancy settings.
    pub fn settings(&self) -> &Tenancy {
        &self.cfg
    }

    /// Each tenant's relabeling.
    pub fn relabel(&self) -> &TenantRelabel {
        &self.relabel
    }

    /// Memory for the relabel cache, all threads together (0: no cache).
    pub fn relabel_cache_bytes(&self) -> usize {
        self.relabel_cache_bytes
    }

    /// Sets [`relabel_cache_bytes`](Self::relabel_cache_bytes).
    pub fn set_relabel_cache_bytes(&mut self, bytes: usize) {
        self.relabel_cache_bytes = bytes;
    }

    /// This state's id, unique in the process: results remembered under one state
    /// (the relabel cache) are never used under another.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The tenants named in config (listed, given a token, or the default), sorted.
    pub fn known_tenants(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.known.iter().map(String::as_str).collect();
        out.sort_unstable();
        out
    }

    /// Whether `tenant` is named in config (tenants, tokens or the default tenant).
    pub fn is_known(&self, tenant: &str) -> bool {
        self.known.contains(tenant)
    }

    /// The rules of `tenant`: its own, else `tenant_defaults`.
    pub fn spec(&self, tenant: &str) -> &TenantSpec {
        self.tenants.get(tenant).unwrap_or(&self.defaults)
    }

    fn limit<T: Copy>(&self, tenant: &str, f: impl Fn(&TenantLimits) -> Option<T>) -> Option<T> {
        self.tenants
            .get(tenant)
            .and_then(|s| f(&s.limits))
            .or_else(|| f(&self.defaults.limits))
    }

    /// The wire limits for `tenant`: its overrides, then `tenant_defaults`, then global.
    pub fn wire_limits(&self, tenant: &str) -> rwgate_wire::Limits {
        let mut l = self.global.clone();
        let or = |v: Option<usize>, d: usize| v.unwrap_or(d);
        l.max_compressed_bytes = or(
            self.limit(tenant, |t| t.max_body_bytes),
            l.max_compressed_bytes,
        );
        l.max_series = or(
            self.limit(tenant, |t| t.max_series_per_request),
            l.max_series,
        );
        l.max_samples = or(
            self.limit(tenant, |t| t.max_samples_per_request),
            l.max_samples,
        );
        l.max_label_names = or(
            self.limit(tenant, |t| t.max_label_names_per_series),
            l.max_label_names,
        );
        l.max_label_name_len = or(
            self.limit(tenant, |t| t.max_label_name_length),
            l.max_label_name_len,
        );
        l.max_label_value_len = or(
            self.limit(tenant, |t| t.max_label_value_length),
            l.max_label_value_len,
        );
        // A tenant's body cap never exceeds the global one (memory reservations use it).
        l.max_compressed_bytes = l.max_compressed_bytes.min(self.global.max_compressed_bytes);
        l
    }

    /// `(samples per second, burst)` for `tenant`, or `None` when unlimited.
    pub fn rate(&self, tenant: &str) -> Option<(f64, u64)> {
        let rate = self.limit(tenant, |t| t.ingestion_rate)?;
        let burst = self
            .limit(tenant, |t| t.ingestion_burst)
            .unwrap_or((rate * 10.0).ceil() as u64)
            .max(1);
        Some((rate, burst))
    }

    /// Decides the request's tenant and checks that it may write as that tenant.
    pub fn resolve(
        &self,
        headers: &HeaderMap,
        peer: Option<&PeerIdentity>,
    ) -> Result<Identity, TenancyError> {
        let cert_tenant = self.cert_tenant(peer)?;
        let token = self.token(headers)?;
        if let (Some(c), Some(t)) = (&cert_tenant, token)
            && c != t.tenant()
        {
            return Err(TenancyError::Forbidden(format!(
                "client certificate names tenant {c} but the bearer token is for {}",
                t.tenant()
            )));
        }
        let (authed, auth) = match (cert_tenant, token) {
            (Some(c), _) => (Some(c), Auth::Certificate),
            (None, Some(t)) => (Some(t.tenant().to_string()), Auth::Token),
            (None, None) => (None, Auth::None),
        };
        let claimed = self.claimed(headers)?;
        let tenant = match (authed, claimed) {
            (Some(a), Some((name, h))) if a != h => {
                return Err(TenancyError::Forbidden(format!(
                    "authenticated as tenant {a} but the {name} header claims tenant {h}"
                )));
            }
            (Some(a), _) => a,
            (None, claimed) => self.unauthenticated(claimed.map(|(_, h)| h))?,
        };
        if !self.cfg.allow_unknown_tenants && !self.is_known(&tenant) {
            return Err(TenancyError::Forbidden(format!("unknown tenant {tenant}")));
        }
        let can_split = match auth {
            Auth::None => true,
            Auth::Token => token.is_some_and(TokenSpec::allow_split),
            Auth::Certificate => false,
        };
        Ok(Identity {
            tenant,
            auth,
            can_split,
        })
    }

    /// The tenant a verified client certificate names, if the peer presented one.
    fn cert_tenant(&self, peer: Option<&PeerIdentity>) -> Result<Option<String>, TenancyError> {
        let Some(p) = peer.filter(|p| p.has_cert) else {
            return Ok(None);
        };
        match &p.cert_tenant {
            Some(t) if validate_tenant(t).is_ok() => Ok(Some(t.clone())),
            Some(t) => Err(TenancyError::Unauthorized(format!(
                "client certificate {:?} {} is not a valid tenant name",
                self.cfg.cert_field,
                escape(t)
            ))),
            None => Err(TenancyError::Unauthorized(format!(
                "client certificate has no {:?} in its subject",
                self.cfg.cert_field
            ))),
        }
    }

    /// The grant of the bearer token in `Authorization`, if any; an unknown token or
    /// another scheme is refused.
    fn token(&self, headers: &HeaderMap) -> Result<Option<&TokenSpec>, TenancyError> {
        let Some(v) = headers.get(header::AUTHORIZATION) else {
            return Ok(None);
        };
        let v = v.as_bytes();
        let secret = v
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case(b"bearer "))
            .map(|_| v[7..].trim_ascii())
            .ok_or_else(|| {
                TenancyError::Unauthorized(
                    "only bearer tokens are accepted in Authorization".into(),
                )
            })?;
        std::str::from_utf8(secret)
            .ok()
            .and_then(|s| self.tokens.get(s))
            .map(Some)
            .ok_or_else(|| TenancyError::Unauthorized("invalid bearer token".into()))
    }

    /// The first configured tenant header present: its name and the tenant it claims.
    fn claimed<'h>(
        &'h self,
        headers: &HeaderMap,
    ) -> Result<Option<(&'h HeaderName, String)>, TenancyError> {
        for name in &self.headers {
            if let Some(v) = headers.get(name) {
                let s = std::str::from_utf8(v.as_bytes())
                    .map_err(|_| {
                        TenantError::BadChar(escape(&String::from_utf8_lossy(v.as_bytes())))
                    })?
                    .trim();
                validate_tenant(s)?;
                return Ok(Some((name, s.to_string())));
            }
        }
        Ok(None)
    }

    /// The tenant of a request without certificate or token: the claimed one, or the
    /// default, unless authentication is required (globally or by that tenant).
    fn unauthenticated(&self, claimed: Option<String>) -> Result<String, TenancyError> {
        let unauthorized = |m: String| Err(TenancyError::Unauthorized(m));
        if self.cfg.require_auth {
            return unauthorized(
                "authentication required: a client certificate or a bearer token".into(),
            );
        }
        match claimed {
            Some(h) if self.spec(&h).require_auth && self.tenants.contains_key(&h) => unauthorized(
                format!("tenant {h} requires a client certificate or bearer token"),
            ),
            Some(h) => Ok(h),
            None if self.cfg.require_tenant => unauthorized(
                "no tenant: send a tenant header, a bearer token or a client certificate".into(),
            ),
            None => Ok(self.cfg.default_tenant.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
