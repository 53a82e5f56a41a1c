//! The gateway's configuration: a YAML file whose every key can also be a flag.
//!
//! Defaults live in one `impl Default` per section; [`Config::validate`] collects every
//! problem before failing, so an operator fixes a file in one pass.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rwgate_ring::Algorithm;
use rwgate_ring::url::Protocol;
use rwgate_wire::{Limits, NameValidation};
use serde::Deserialize;

pub use crate::tenancy::config::{
    CertField, LabelPolicy, Tenancy, TenantLimits, TenantSpec, TokenSpec,
};
pub use crate::tls::{ClientAuth, TlsConfig};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Remote-write listener.
    pub listen: SocketAddr,
    /// Admin listener: `/metrics`, `/-/ready`, `/-/healthy`.
    pub admin_listen: SocketAddr,
    /// Path of `hashrings.json`.
    pub hashrings: Option<PathBuf>,
    /// Replicas per series.
    pub replication_factor: usize,
    /// Algorithm for hashrings that name none.
    pub hashring_algorithm: Algorithm,
    /// Ketama sections per endpoint (Thanos: 1000; change only to match a patched router).
    pub ketama_sections_per_node: usize,
    /// How bare endpoint addresses become URLs under `forward.protocol: http`; see
    /// `rwgate_ring::url`. Unset: `http://{host}:19291/api/v1/receive`. Setting it
    /// without `forward.protocol` selects `http` (what it meant before gRPC).
    pub forward_url_template: Option<String>,
    /// Re-read the hashrings file this often even without a change event.
    #[serde(with = "humantime_serde")]
    pub hashrings_reload_interval: Duration,
    /// How long in-flight requests may take to finish after SIGTERM.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Tenant resolution and isolation.
    pub tenancy: Tenancy,
    /// Rules and limits that apply to every tenant without its own.
    pub tenant_defaults: TenantSpec,
    /// Per-tenant rules and limits.
    pub tenants: BTreeMap<String, TenantSpec>,
    /// TLS on the remote-write listener.
    pub tls: Option<TlsConfig>,
    /// Request limits and validation.
    pub limits: LimitsConfig,
    /// Overload protection.
    pub overload: Overload,
    /// Forwarding to receivers.
    pub forward: Forward,
    /// Relabeling for every tenant, in Prometheus' syntax; a tenant's own
    /// `relabel_configs` run after these. Reloaded with the config.
    pub relabel_configs: Vec<crate::relabel::RuleConfig>,
    /// Memory for the relabel cache, all worker threads and both generations together
    /// (about 110 bytes per distinct relabeled series; 0 turns the cache off).
    /// Reloaded with the config.
    pub relabel_cache_bytes: usize,
    /// OTLP ingest: name translation and promoted resource attributes. Reloaded with
    /// the config.
    pub otlp: crate::otlp::OtlpConfig,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Per-request limits and validation rules (see [`rwgate_wire::Limits`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest compressed body, bytes.
    pub max_body_bytes: usize,
    /// Largest decoded body, bytes.
    pub max_decoded_body_bytes: usize,
    /// Most series per request.
    pub max_series_per_request: usize,
    /// Most samples (float plus histogram) per request.
    pub max_samples_per_request: usize,
    /// Most labels per series.
    pub max_label_names_per_series: usize,
    /// Longest label name, bytes.
    pub max_label_name_length: usize,
    /// Longest label value, bytes.
    pub max_label_value_length: usize,
    /// `legacy` or `utf8`.
    pub name_validation: NameValidationConfig,
    /// Refuse samples further ahead of now than this.
    #[serde(with = "humantime_serde")]
    pub max_sample_future: Option<Duration>,
    /// Refuse samples older than this.
    #[serde(with = "humantime_serde")]
    pub max_sample_age: Option<Duration>,
    /// Memory, all worker threads and both generations together, for label sets seen
    /// before: they are not validated again and keep their placement hash (see
    /// `rwgate_wire::seen`); about 64 bytes per distinct series. 0 turns it off.
    pub series_cache_bytes: usize,
    /// Longest time a client may take to send its body, however fast it sends.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Slowest body transfer allowed, bytes per second (0: no minimum). A body must
    /// have arrived by `body_rate_grace` + received bytes / `body_min_rate` after its
    /// headers, or the request is cut off with 408 (Apache's `RequestReadTimeout
    /// body=…,MinRate=…`).
    pub body_min_rate: u64,
    /// Time a body gets before `body_min_rate` applies.
    #[serde(with = "humantime_serde")]
    pub body_rate_grace: Duration,
    /// Time from a new connection, or from the first byte of a request, until its
    /// headers are complete; then the connection is closed (nginx
    /// `client_header_timeout`).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request (nginx
    /// `keepalive_timeout`).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// `local`: each replica enforces every tenant's `ingestion_rate` on its own (N
    /// replicas admit N times the rate); `global`: each divides the rate and burst by
    /// the number of live replicas found at `peers_dns` (Mimir's global strategy).
    pub rate_limit_strategy: RateLimitStrategy,
    /// `global`: a DNS name that resolves to every rwgate replica (a headless Service),
    /// re-resolved every `peers_refresh`.
    pub peers_dns: Option<String>,
    /// `global`: a hosts-format file (`address name...`) read instead of DNS: the
    /// replicas are the distinct addresses listed for `peers_dns`. For tests and for
    /// setups without DNS.
    pub peers_hosts_file: Option<PathBuf>,
    /// How often the replicas are counted again.
    #[serde(with = "humantime_serde")]
    pub peers_refresh: Duration,
}

/// How per-tenant ingestion rates hold across gateway replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitStrategy {
    /// Each replica enforces the whole rate.
    #[default]
    Local,
    /// Each replica enforces rate / live replicas.
    Global,
}

/// Label name charset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameValidationConfig {
    /// Classic Prometheus charset, for ingestors that refuse other names.
    Legacy,
    /// Any non-empty UTF-8, as Prometheus 3 accepts by default.
    #[default]
    Utf8,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = Limits::default();
        LimitsConfig {
            max_body_bytes: l.max_compressed_bytes,
            max_decoded_body_bytes: l.max_decoded_bytes,
            max_series_per_request: l.max_series,
            max_samples_per_request: l.max_samples,
            max_label_names_per_series: l.max_label_names,
            max_label_name_length: l.max_label_name_len,
            max_label_value_length: l.max_label_value_len,
            name_validation: NameValidationConfig::Utf8,
            max_sample_future: None,
            max_sample_age: None,
            series_cache_bytes: 64 << 20,
            body_read_timeout: Duration::from_secs(30),
            body_min_rate: 4096,
            body_rate_grace: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            rate_limit_strategy: RateLimitStrategy::Local,
            peers_dns: None,
            peers_hosts_file: None,
            peers_refresh: Duration::from_secs(5),
        }
    }
}

/// What one remembered label set costs, hash-map overhead included (an upper bound).
const SEEN_ENTRY_BYTES: usize = 64;

impl LimitsConfig {
    /// The wire crate's view of these limits.
    pub fn wire(&self) -> Limits {
        let ms = |d: Option<Duration>| d.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Limits {
            max_compressed_bytes: self.max_body_bytes,
            max_decoded_bytes: self.max_decoded_body_bytes,
            max_series: self.max_series_per_request,
            max_samples: self.max_samples_per_request,
            max_label_names: self.max_label_names_per_series,
            max_label_name_len: self.max_label_name_length,
            max_label_value_len: self.max_label_value_length,
            name_validation: match self.name_validation {
                NameValidationConfig::Legacy => NameValidation::Legacy,
                NameValidationConfig::Utf8 => NameValidation::Utf8,
            },
            max_future_ms: ms(self.max_sample_future),
            max_age_ms: ms(self.max_sample_age),
            seen_entries: crate::relabel::cache::per_thread_generation_bytes(
                self.series_cache_bytes,
            ) / SEEN_ENTRY_BYTES,
        }
    }
}

/// Global caps past which requests are refused at once (503) instead of queued.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Overload {
    /// Requests being handled at once.
    pub max_inflight_requests: usize,
    /// Bytes (compressed plus decoded bodies) held by requests being handled. A body
    /// is charged as its bytes arrive, so a slow sender holds only what it has sent.
    pub max_inflight_bytes: usize,
    /// Requests one tenant may have in flight at once, so that one client cannot hold
    /// every slot (0: half of `max_inflight_requests`).
    pub max_inflight_requests_per_tenant: usize,
    /// Open connections on the remote-write listener; past it a new connection gets
    /// 503 with `Retry-After` and is closed. Keep it below the process' open-files
    /// limit.
    pub max_connections: usize,
}

impl Default for Overload {
    fn default() -> Self {
        Overload {
            max_inflight_requests: 256,
            max_inflight_bytes: 256 << 20,
            max_inflight_requests_per_tenant: 0,
            max_connections: 16_384,
        }
    }
}

impl Overload {
    /// The per-tenant request cap in force.
    pub fn per_tenant_requests(&self) -> usize {
        match self.max_inflight_requests_per_tenant {
            0 => (self.max_inflight_requests / 2).max(1),
            n => n.min(self.max_inflight_requests),
        }
    }
}

/// Forwarding to receivers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Forward {
    /// Time budget for all attempts of one forward; keep it well below the senders'
    /// remote timeout (Prometheus: 30s).
    #[serde(with = "humantime_serde")]
    pub deadline: Duration,
    /// Timeout of one attempt.
    #[serde(with = "humantime_serde")]
    pub attempt_timeout: Duration,
    /// Attempts per forward (1 = no retry).
    pub max_attempts: u32,
    /// First retry backoff; doubles per attempt, with full jitter.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Largest retry backoff.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Requests in flight to one endpoint.
    pub max_concurrency_per_endpoint: usize,
    /// Consecutive failed attempts after which an endpoint is backed off.
    pub breaker_failures: u32,
    /// How long a backed-off endpoint is failed fast before it is tried again.
    #[serde(with = "humantime_serde")]
    pub breaker_cooldown: Duration,
    /// Idle keep-alive connections kept per endpoint.
    pub pool_max_idle_per_endpoint: usize,
    /// TLS to `https://` endpoints, and to gRPC endpoints when `grpc_tls` is on.
    pub tls: ForwardTls,
    /// `grpc` or `http` for bare `host:port` addresses; see
    /// [`Config::forward_protocol`] for the default.
    pub protocol: Option<Protocol>,
    /// gRPC message compression: `none` or `snappy` (the framing format, as Thanos).
    pub grpc_compression: GrpcCompression,
    /// HTTP/2 connections per gRPC endpoint; each carries many concurrent streams.
    pub grpc_connections_per_endpoint: usize,
    /// Speak TLS to gRPC endpoints (with `tls.ca_file`, or the system's roots).
    /// Defaults to on when `tls.ca_file` or `tls.cert_file` is set.
    pub grpc_tls: Option<bool>,
}

/// `forward.grpc_compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrpcCompression {
    /// Uncompressed messages: no compression CPU on either side.
    #[default]
    None,
    /// Snappy framing format, `grpc-encoding: snappy`, as Thanos'
    /// `--receive.grpc-compression=snappy`.
    Snappy,
}

impl Forward {
    /// Whether gRPC endpoints are dialed with TLS.
    pub fn grpc_uses_tls(&self) -> bool {
        self.grpc_tls
            .unwrap_or(self.tls.ca_file.is_some() || self.tls.cert_file.is_some())
    }
}

/// TLS for forwarding to endpoints written as `https://` URLs (or templated so).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardTls {
    /// Trust only this CA bundle (PEM); unset: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for receivers that require one, with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// Key of `cert_file` (PEM).
    pub key_file: Option<PathBuf>,
}

impl Default for Forward {
    fn default() -> Self {
        Forward {
            deadline: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(2),
            max_attempts: 3,
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            max_concurrency_per_endpoint: 64,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(2),
            pool_max_idle_per_endpoint: 64,
            tls: ForwardTls::default(),
            protocol: None,
            grpc_compression: GrpcCompression::None,
            grpc_connections_per_endpoint: 2,
            grpc_tls: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 19291)),
            admin_listen: SocketAddr::from(([0, 0, 0, 0], 10902)),
            hashrings: None,
            replication_factor: 1,
            hashring_algorithm: Algorithm::Hashmod,
            ketama_sections_per_node: 1000,
            forward_url_template: None,
            hashrings_reload_interval: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(25),
            log_format: LogFormat::Text,
            tenancy: Tenancy::default(),
            tenant_defaults: TenantSpec::default(),
            tenants: BTreeMap::new(),
            tls: None,
            limits: LimitsConfig::default(),
            overload: Overload::default(),
            forward: Forward::default(),
            relabel_configs: Vec::new(),
            relabel_cache_bytes: crate::relabel::cache::DEFAULT_BYTES,
            otlp: crate::otlp::OtlpConfig::default(),
        }
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n  - {}", problems.join("\n  - "))]
pub struct ConfigError {
    /// One line per problem.
    pub problems: Vec<String>,
}

impl Config {
    /// Parses YAML; unknown keys are errors.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_yaml_ng::from_str(text).map_err(|e| ConfigError {
            problems: vec![
                crate::tenancy::config::duplicate_token_error(text, &e)
                    .map_or_else(|| e.to_string(), |dup| format!("tenancy.tokens: {dup}")),
            ],
        })
    }

    /// Reads and parses a YAML file.
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            problems: vec![format!("reading {}: {e}", path.display())],
        })?;
        Self::from_yaml(&text)
    }

    /// The settings that differ between `self` (in force) and `new` but only take
    /// effect on a restart: everything except `tenancy`, `tenants`, `tenant_defaults`
    /// and the request limits of `limits` (the connection timeouts in it are static).
    pub fn static_changes(&self, new: &Config) -> Vec<&'static str> {
        let mut out = Vec::new();
        macro_rules! cmp {
            ($($field:ident).+) => {
                if self.$($field).+ != new.$($field).+ {
                    out.push(stringify!($($field).+));
                }
            };
        }
        cmp!(listen);
        cmp!(admin_listen);
        cmp!(hashrings);
        cmp!(replication_factor);
        cmp!(hashring_algorithm);
        cmp!(ketama_sections_per_node);
        cmp!(forward_url_template);
        cmp!(hashrings_reload_interval);
        cmp!(shutdown_grace);
        cmp!(log_format);
        cmp!(tls);
        cmp!(overload);
        cmp!(forward);
        cmp!(tenancy.forward_header);
        cmp!(tenancy.tokens_file);
        cmp!(limits.header_read_timeout);
        cmp!(limits.idle_timeout);
        out
    }

    /// The tenancy state of this configuration (reads the tokens file).
    pub fn tenancy_state(&self) -> Result<crate::tenancy::TenancyState, String> {
        let mut state = crate::tenancy::TenancyState::build(
            &self.tenancy,
            &self.tenants,
            &self.tenant_defaults,
            self.limits.wire(),
            &self.relabel_configs,
        )?;
        state.set_relabel_cache_bytes(self.relabel_cache_bytes);
        Ok(state)
    }

    /// Options the ring crate builds with.
    pub fn ring_options(&self) -> rwgate_ring::BuildOptions {
        rwgate_ring::BuildOptions {
            replication_factor: self.replication_factor,
            default_algorithm: self.hashring_algorithm,
            sections_per_node: self.ketama_sections_per_node,
            url_template: self.url_template().to_string(),
            protocol: self.forward_protocol(),
        }
    }

    /// The URL template in force.
    pub fn url_template(&self) -> &str {
        self.forward_url_template
            .as_deref()
            .unwrap_or(rwgate_ring::url::DEFAULT_TEMPLATE)
    }

    /// How bare addresses are forwarded to: `forward.protocol`, else `http` when a URL
    /// template is set, else `grpc` (as a Thanos router).
    pub fn forward_protocol(&self) -> Protocol {
        match (self.forward.protocol, &self.forward_url_template) {
            (Some(p), _) => p,
            (None, Some(_)) => Protocol::Http,
            (None, None) => Protocol::Grpc,
        }
    }

    /// Checks everything that can be checked without the network; collects every problem.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let mut p = Vec::new();
        if self.hashrings.is_none() {
            p.push("hashrings: a hashrings file is required (--hashrings FILE)".to_string());
        }
        if self.replication_factor == 0 {
            p.push("replication_factor must be at least 1".into());
        }
        if let Err(e) = rwgate_ring::url::validate_template(self.url_template()) {
            p.push(format!("forward_url_template: {e}"));
        }
        self.tenancy
            .check(&self.tenants, &self.tenant_defaults, &mut p);
        if self.limits.rate_limit_strategy == RateLimitStrategy::Global
            && self.limits.peers_dns.is_none()
        {
            p.push("limits.peers_dns: required by rate_limit_strategy: global (the headless Service of the rwgate Deployment)".into());
        }
        if self.limits.peers_refresh.is_zero() {
            p.push("limits.peers_refresh must be above 0".into());
        }
        if let Err(errors) = crate::tenancy::TenantRelabel::build(
            &self.relabel_configs,
            &self.tenant_defaults,
            &self.tenants,
        ) {
            p.extend(errors.iter().map(ToString::to_string));
        }
        if let Some(tls) = &self.tls {
            tls.check(&mut p);
        }
        let l = &self.limits;
        for (name, v) in [
            ("limits.max_body_bytes", l.max_body_bytes),
            ("limits.max_decoded_body_bytes", l.max_decoded_body_bytes),
            ("limits.max_series_per_request", l.max_series_per_request),
            ("limits.max_samples_per_request", l.max_samples_per_request),
            (
                "limits.max_label_names_per_series",
                l.max_label_names_per_series,
            ),
            ("limits.max_label_name_length", l.max_label_name_length),
            ("limits.max_label_value_length", l.max_label_value_length),
            (
                "overload.max_inflight_requests",
                self.overload.max_inflight_requests,
            ),
            ("overload.max_connections", self.overload.max_connections),
            (
                "forward.max_concurrency_per_endpoint",
                self.forward.max_concurrency_per_endpoint,
            ),
        ] {
            if v == 0 {
                p.push(format!("{name} must be greater than 0"));
            }
        }
        for (name, d) in [
            ("limits.body_read_timeout", l.body_read_timeout),
            ("limits.header_read_timeout", l.header_read_timeout),
            ("limits.idle_timeout", l.idle_timeout),
        ] {
            if d.is_zero() {
                p.push(format!("{name} must be greater than 0"));
            }
        }
        if l.max_decoded_body_bytes > 1 << 30 {
            p.push("limits.max_decoded_body_bytes may be at most 1 GiB".into());
        }
        if l.max_body_bytes > l.max_decoded_body_bytes {
            p.push("limits.max_body_bytes is larger than limits.max_decoded_body_bytes".into());
        }
        let largest =
            l.max_body_bytes * (1 + self.replication_factor) + 2 * l.max_decoded_body_bytes;
        if self.overload.max_inflight_bytes < largest {
            p.push(format!(
                "overload.max_inflight_bytes ({}) must hold at least one largest request (max_body_bytes x (1 + replication_factor) + 2 x max_decoded_body_bytes = {largest})",
                self.overload.max_inflight_bytes,
            ));
        }
        let f = &self.forward;
        if f.tls.cert_file.is_some() != f.tls.key_file.is_some() {
            p.push("forward.tls.cert_file and forward.tls.key_file go together".into());
        }
        for file in [&f.tls.ca_file, &f.tls.cert_file, &f.tls.key_file]
            .into_iter()
            .flatten()
        {
            if std::fs::metadata(file).is_err() {
                p.push(format!("forward.tls: cannot read {}", file.display()));
            }
        }
        if !(1..=64).contains(&f.grpc_connections_per_endpoint) {
            p.push("forward.grpc_connections_per_endpoint must be between 1 and 64".into());
        }
        if f.max_attempts == 0 {
            p.push("forward.max_attempts must be at least 1".into());
        }
        if f.attempt_timeout.is_zero() || f.deadline.is_zero() {
            p.push("forward.deadline and forward.attempt_timeout must be greater than 0".into());
        }
        if f.deadline >= Duration::from_secs(30) {
            p.push(format!(
                "forward.deadline ({:?}) must stay below the senders' 30s remote timeout",
                f.deadline
            ));
        }
        if p.is_empty() {
            Ok(self)
        } else {
            Err(ConfigError { problems: p })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_from_empty_yaml() {
        assert_eq!(Config::from_yaml("").unwrap(), Config::default());
        let c = Config::default();
        assert_eq!(c.listen.port(), 19291);
        assert_eq!(c.admin_listen.port(), 10902);
        assert_eq!(c.limits.max_decoded_body_bytes, 32 << 20);
    }

    #[test]
    fn yaml_keys_and_durations() {
        let c = Config::from_yaml(
            "hashrings: /etc/rwgate/hashrings.json\nreplication_factor: 3\nforward:\n  deadline: 4s\n  attempt_timeout: 1500ms\nlimits:\n  max_sample_age: 1h\ntenancy:\n  default_tenant: fallback\n",
        )
        .unwrap();
        assert_eq!(c.replication_factor, 3);
        assert_eq!(c.forward.deadline, Duration::from_secs(4));
        assert_eq!(c.forward.attempt_timeout, Duration::from_millis(1500));
        assert_eq!(c.limits.wire().max_age_ms, Some(3_600_000));
        assert_eq!(c.tenancy.default_tenant, "fallback");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::from_yaml("replicaton_factor: 3\n").unwrap_err();
        assert!(err.to_string().contains("replicaton_factor"), "{err}");
    }

    #[test]
    fn validate_lists_every_problem() {
        let mut c = Config {
            replication_factor: 0,
            ..Config::default()
        };
        c.forward.deadline = Duration::from_secs(60);
        c.tenancy.default_tenant = "a/b".into();
        c.forward_url_template = Some("http://fixed/".into());
        let err = c.validate().unwrap_err();
        assert_eq!(err.problems.len(), 5, "{err}");
    }
}
