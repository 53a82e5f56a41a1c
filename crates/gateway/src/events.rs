//! What the gateway reports, one type per notable event. Each event's `emit` writes its
//! log line and its metric together, so the two cannot drift apart, and the lines a
//! client can cause at will are rate-limited here (the metric still counts every one).
//! The pattern is vector's `internal_events`. Metric names live in [`crate::metrics`].

use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::IngestError;
use crate::metrics as m;

/// A rate limit for log lines a client can cause at will: one line per period, the
/// metric counts every occurrence.
#[derive(Debug)]
pub struct LogEvery {
    period: Duration,
    last: Mutex<Option<Instant>>,
}

impl LogEvery {
    /// At most once per `period`.
    pub const fn new(period: Duration) -> Self {
        LogEvery {
            period,
            last: Mutex::new(None),
        }
    }

    /// True when a line may be logged now.
    pub fn due(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < self.period) {
            return false;
        }
        *last = Some(now);
        true
    }
}

static ACCEPT_ERRORS_LOG: LogEvery = LogEvery::new(Duration::from_secs(10));
static REFUSALS_LOG: LogEvery = LogEvery::new(Duration::from_secs(10));
static HEADER_TIMEOUTS_LOG: LogEvery = LogEvery::new(Duration::from_secs(10));
static OVERLOAD_LOG: LogEvery = LogEvery::new(Duration::from_secs(10));

// ---- connections ----------------------------------------------------------------

/// The number of open remote-write connections changed.
pub struct ConnectionsOpen(pub usize);

impl ConnectionsOpen {
    /// Sets the gauge.
    pub fn emit(self) {
        metrics::gauge!(m::CONNECTIONS_OPEN).set(self.0 as f64);
    }
}

/// A connection was accepted and is being served.
pub struct ConnectionAccepted;

impl ConnectionAccepted {
    /// Counts it.
    pub fn emit(self) {
        metrics::counter!(m::CONNECTIONS_ACCEPTED).increment(1);
    }
}

/// `accept` failed (EMFILE and friends).
pub struct AcceptFailed<'a>(pub &'a std::io::Error);

impl AcceptFailed<'_> {
    /// Counts it; logs at most every 10s.
    pub fn emit(self) {
        metrics::counter!(m::CONNECTIONS_REFUSED, "reason" => "accept_error").increment(1);
        if ACCEPT_ERRORS_LOG.due() {
            tracing::warn!(error = %self.0, "accepting a connection failed (logged at most every 10s)");
        }
    }
}

/// A connection past `overload.max_connections` is answered 503 and closed.
pub struct ConnectionRefused(pub SocketAddr);

impl ConnectionRefused {
    /// Counts it; logs at most every 10s.
    pub fn emit(self) {
        metrics::counter!(m::CONNECTIONS_REFUSED, "reason" => "max_connections").increment(1);
        if REFUSALS_LOG.due() {
            tracing::warn!(peer = %self.0, "connection refused: overload.max_connections reached (logged at most every 10s)");
        }
    }
}

/// rwgate closed a connection, or it ended with an error.
pub struct ConnectionClosed<'a> {
    /// The client.
    pub peer: SocketAddr,
    /// `header_timeout`, `idle_timeout`, `tls_handshake`, `bad_request` or `io_error`.
    pub reason: &'static str,
    /// What went wrong, when something did.
    pub error: Option<&'a dyn Display>,
}

impl ConnectionClosed<'_> {
    /// Counts it by reason. Header timeouts (slow or silent clients) are logged at info
    /// at most every 10s; the rest at debug.
    pub fn emit(self) {
        metrics::counter!(m::CONNECTIONS_CLOSED, "reason" => self.reason).increment(1);
        if self.reason == "header_timeout" {
            if HEADER_TIMEOUTS_LOG.due() {
                tracing::info!(peer = %self.peer, "connection closed: no complete request headers within limits.header_read_timeout (logged at most every 10s)");
            }
            return;
        }
        match self.error {
            Some(error) => {
                tracing::debug!(peer = %self.peer, reason = self.reason, error = %error, "connection closed");
            }
            None => tracing::debug!(peer = %self.peer, reason = self.reason, "connection closed"),
        }
    }
}

// ---- requests ---------------------------------------------------------------------

/// A remote-write request was answered.
pub struct RequestAnswered {
    /// The status sent.
    pub status: u16,
    /// `v1`, `v2` or `unknown`.
    pub protocol: &'static str,
    /// From the request's start to the answer.
    pub elapsed: Duration,
}

impl RequestAnswered {
    /// Counts it by code and protocol and records its duration.
    pub fn emit(self) {
        metrics::counter!(m::REQUESTS, "code" => self.status.to_string(), "protocol" => self.protocol)
            .increment(1);
        metrics::histogram!(m::REQUEST_DURATION).record(self.elapsed.as_secs_f64());
    }
}

/// A request was refused or not fully written. Logged by kind: overload and shutdown
/// refusals at most every 10s (a client causes them at will and
/// `rwgate_overload_rejections_total` counts each), server-side failures at warn,
/// client errors at debug. The request counter is [`RequestAnswered`]'s.
pub struct RequestRefused<'a>(pub &'a IngestError);

impl RequestRefused<'_> {
    /// Logs it.
    pub fn emit(self) {
        let e = self.0;
        let (status, kind) = (e.status().as_u16(), e.kind());
        if matches!(e, IngestError::Overloaded(_) | IngestError::ShuttingDown) {
            if OVERLOAD_LOG.due() {
                tracing::warn!(status, kind, error = %e, "remote write refused (overload refusals are logged at most every 10s)");
            }
        } else if e.status().is_server_error() {
            tracing::warn!(status, kind, error = %e, "remote write not fully written");
        } else {
            tracing::debug!(status, kind, error = %e, "remote write refused");
        }
    }
}

/// A request was refused at once because an in-flight cap was reached.
pub struct OverloadRejected(pub &'static str);

impl OverloadRejected {
    /// Counts it by `limit` (`bytes`, `requests`, `tenant_requests`).
    pub fn emit(self) {
        metrics::counter!(m::OVERLOAD_REJECTIONS, "limit" => self.0).increment(1);
    }
}

/// What requests in flight hold now.
pub struct Inflight {
    /// Requests being handled.
    pub requests: usize,
    /// Bytes they hold.
    pub bytes: usize,
}

impl Inflight {
    /// Sets the gauges.
    pub fn emit(self) {
        metrics::gauge!(m::INFLIGHT_REQUESTS).set(self.requests as f64);
        metrics::gauge!(m::INFLIGHT_BYTES).set(self.bytes as f64);
    }
}

/// A body arrived too slowly: `timeout` (over `limits.body_read_timeout`) or `min_rate`.
pub struct SlowBody(pub &'static str);

impl SlowBody {
    /// Counts it by kind.
    pub fn emit(self) {
        metrics::counter!(m::SLOW_BODIES, "kind" => self.0).increment(1);
    }
}

/// A request failed authentication (`unauthorized`) or authorization (`forbidden`).
pub struct AuthFailed(pub &'static str);

impl AuthFailed {
    /// Counts it by kind; the request's own line is [`RequestRefused`]'s.
    pub fn emit(self) {
        metrics::counter!(m::AUTH_FAILURES, "kind" => self.0).increment(1);
    }
}

/// What a decoded request carried, for one tenant label.
pub struct BatchReceived<'a> {
    /// The tenant metric label (`other` for tenants not named in config).
    pub tenant: &'a str,
    /// Samples, histograms and exemplars accepted by decoding.
    pub accepted: rwgate_wire::Counts,
    /// Metadata entries (not forwarded).
    pub metadata: u64,
    /// Series that arrived with unsorted labels.
    pub sorted: u64,
}

impl BatchReceived<'_> {
    /// Counts it.
    pub fn emit(self) {
        let t = self.tenant.to_string();
        let acc = self.accepted;
        metrics::counter!(m::RECEIVED_SAMPLES, "tenant" => t.clone()).increment(acc.samples);
        metrics::counter!(m::RECEIVED_HISTOGRAMS, "tenant" => t.clone()).increment(acc.histograms);
        metrics::counter!(m::RECEIVED_EXEMPLARS, "tenant" => t).increment(acc.exemplars);
        metrics::counter!(m::RECEIVED_METADATA).increment(self.metadata);
        metrics::counter!(m::SORTED_SERIES).increment(self.sorted);
    }
}

/// Samples refused for a reason (validation, tenancy rules, rate limit).
pub struct SamplesDiscarded<'a> {
    /// The stable reason id.
    pub reason: &'static str,
    /// The tenant metric label.
    pub tenant: &'a str,
    /// Samples plus histogram samples.
    pub samples: u64,
}

impl SamplesDiscarded<'_> {
    /// Counts them; the request's own line is [`RequestRefused`]'s.
    pub fn emit(self) {
        metrics::counter!(m::DISCARDED_SAMPLES, "reason" => self.reason, "tenant" => self.tenant.to_string())
            .increment(self.samples);
    }
}

/// What the translation of one OTLP request made of its data points.
pub struct OtlpPoints {
    /// Points translated to samples or histograms (stale markers included).
    pub translated: u64,
    /// Points refused (also counted in the discarded samples by reason).
    pub refused: u64,
    /// Points sent as stale markers: the no-recorded-value flag.
    pub stale: u64,
    /// Points whose labels the translation cache knew.
    pub cache_hits: u64,
    /// Points whose labels it did not.
    pub cache_misses: u64,
}

impl OtlpPoints {
    /// Counts them.
    pub fn emit(self) {
        for (outcome, n) in [
            ("translated", self.translated - self.stale),
            ("stale_marker", self.stale),
            ("refused", self.refused),
        ] {
            metrics::counter!(m::OTLP_DATA_POINTS, "outcome" => outcome).increment(n);
        }
        for (result, n) in [("hit", self.cache_hits), ("miss", self.cache_misses)] {
            metrics::counter!(m::OTLP_TRANSLATION_CACHE_LOOKUPS, "result" => result).increment(n);
        }
    }
}

/// Series whose tenant label was overwritten with the request's tenant.
pub struct TenantLabelOverwritten<'a> {
    /// The tenant metric label.
    pub tenant: &'a str,
    /// How many series.
    pub series: u64,
}

impl TenantLabelOverwritten<'_> {
    /// Counts them.
    pub fn emit(self) {
        metrics::counter!(m::TENANT_LABEL_OVERWRITES, "tenant" => self.tenant.to_string())
            .increment(self.series);
    }
}

/// How the relabel cache answered for one request's series.
pub struct RelabelCacheUsed(pub crate::relabel::cache::CacheStats);

impl RelabelCacheUsed {
    /// Counts hits and misses (nothing for requests without rules).
    pub fn emit(self) {
        let s = self.0;
        if s.hits > 0 {
            metrics::counter!(m::RELABEL_CACHE_LOOKUPS, "result" => "hit").increment(s.hits);
        }
        if s.misses > 0 {
            metrics::counter!(m::RELABEL_CACHE_LOOKUPS, "result" => "miss").increment(s.misses);
        }
    }
}

/// A request in which some series missed its write quorum: `unavailable` or `conflict`.
pub struct QuorumFailed(pub &'static str);

impl QuorumFailed {
    /// Counts it by cause; the request's own line is [`RequestRefused`]'s.
    pub fn emit(self) {
        metrics::counter!(m::QUORUM_FAILURES, "cause" => self.0).increment(1);
    }
}

// ---- forwarding -------------------------------------------------------------------

/// One endpoint's forwarding metrics, registered once when the endpoint is first used.
/// Registering a labelled metric is a registry lookup and a copy of its labels; done
/// four times per forwarded request it was a measurable share of a relay's CPU.
#[derive(Clone)]
pub struct EndpointMetrics {
    endpoint: String,
    protocol: &'static str,
    inflight: metrics::Gauge,
    /// Registered at the first answer or back-off, not before: a gauge appears as 0
    /// once registered, and an endpoint not yet heard from is not down.
    up: std::sync::OnceLock<metrics::Gauge>,
    retries: metrics::Counter,
    duration: metrics::Histogram,
    /// `rwgate_forward_requests_total` by result, in [`RESULTS`] order.
    requests: [metrics::Counter; 4],
}

/// The `result` labels of `rwgate_forward_requests_total`: written, refused for good
/// (409), refused as invalid (another final 4xx), not written within the deadline.
pub const RESULTS: [&str; 4] = ["success", "conflict", "rejected", "unavailable"];

impl EndpointMetrics {
    /// Registers the metrics of the endpoint at `endpoint` spoken to over `protocol`
    /// (`grpc` or `http`).
    pub fn new(endpoint: &str, protocol: &'static str) -> Self {
        let e = || endpoint.to_string();
        EndpointMetrics {
            endpoint: endpoint.to_string(),
            protocol,
            inflight: metrics::gauge!(m::FORWARD_INFLIGHT, "endpoint" => e(), "protocol" => protocol),
            up: std::sync::OnceLock::new(),
            retries: metrics::counter!(m::FORWARD_RETRIES, "endpoint" => e(), "protocol" => protocol),
            duration: metrics::histogram!(m::FORWARD_DURATION, "endpoint" => e(), "protocol" => protocol),
            requests: RESULTS.map(|result| {
                metrics::counter!(m::FORWARD_REQUESTS, "endpoint" => e(), "protocol" => protocol, "result" => result)
            }),
        }
    }

    /// A forward to the endpoint ended (after its retries) with `result` (an index
    /// into [`RESULTS`]) after `elapsed`: counted by result, its duration recorded.
    pub fn forward_done(&self, result: usize, elapsed: Duration) {
        if let Some(counter) = self.requests.get(result) {
            counter.increment(1);
        }
        self.duration.record(elapsed.as_secs_f64());
    }

    /// A forward to the endpoint under way: `rwgate_forward_inflight_requests` is up
    /// while the guard lives (also when the forward is dropped half-way).
    pub fn forward_inflight(&self) -> ForwardInflight {
        self.inflight.increment(1.0);
        ForwardInflight(self.inflight.clone())
    }

    /// A forward attempt failed and will be retried.
    pub fn forward_retried(&self) {
        self.retries.increment(1);
    }

    /// The endpoint answered with a final status: it is up. Logged when it had been
    /// backed off (`recovered`).
    pub fn up(&self, recovered: bool) {
        if recovered {
            tracing::info!(endpoint = %self.endpoint, "endpoint answers again");
        }
        self.up_gauge().set(1.0);
    }

    /// The endpoint failed `failures` times in a row and is backed off for `cooldown`
    /// (its breaker opened). Logged when newly opened, not when extended.
    pub fn backed_off(&self, failures: u32, cooldown: Duration, newly: bool) {
        if newly {
            tracing::warn!(endpoint = %self.endpoint, failures, cooldown = ?cooldown, "endpoint backed off");
        }
        self.up_gauge().set(0.0);
    }

    fn up_gauge(&self) -> &metrics::Gauge {
        self.up.get_or_init(|| {
            metrics::gauge!(m::ENDPOINT_UP, "endpoint" => self.endpoint.clone(), "protocol" => self.protocol)
        })
    }
}

impl std::fmt::Debug for EndpointMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointMetrics")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Keeps `rwgate_forward_inflight_requests` of an endpoint up while it lives.
pub struct ForwardInflight(metrics::Gauge);

impl Drop for ForwardInflight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

// ---- peers ------------------------------------------------------------------------

static PEERS_LOG: LogEvery = LogEvery::new(Duration::from_secs(60));

/// The live replicas were counted (`global` rate limits divide by this).
pub struct Peers(pub u64);

impl Peers {
    /// Sets the gauge.
    pub fn emit(self) {
        metrics::gauge!(m::RATE_LIMIT_PEERS).set(self.0 as f64);
    }
}

/// The replicas could not be counted; the last good count stays.
pub struct PeersUnknown<'a>(pub &'a str);

impl PeersUnknown<'_> {
    /// Logs at most every minute.
    pub fn emit(self) {
        if PEERS_LOG.due() {
            tracing::warn!(error = %self.0, "counting rwgate replicas failed; keeping the last count (logged at most every 60s)");
        }
    }
}

// ---- reload -----------------------------------------------------------------------

/// The config (and tokens) reloaded.
pub struct ConfigReloaded<'a> {
    /// Restart-only settings that changed and were ignored.
    pub ignored: &'a [&'static str],
}

impl ConfigReloaded<'_> {
    /// Sets the success gauge and logs, warning about ignored settings.
    pub fn emit(self) {
        if !self.ignored.is_empty() {
            tracing::warn!(
                settings = ?self.ignored,
                "config reload: these settings changed but take effect only on a restart"
            );
        }
        metrics::gauge!(m::CONFIG_LAST_RELOAD_SUCCESSFUL).set(1.0);
        tracing::info!("tenancy settings, tokens and request limits reloaded");
    }
}

/// A config reload failed; the settings in force stay.
pub struct ConfigReloadFailed<'a> {
    /// Why.
    pub error: &'a str,
    /// False when this is the same error as the last attempt: counted and logged once
    /// per distinct error, not on every tick while the file stays bad.
    pub new: bool,
}

impl ConfigReloadFailed<'_> {
    /// Sets the success gauge to 0; counts and logs a new error.
    pub fn emit(self) {
        metrics::gauge!(m::CONFIG_LAST_RELOAD_SUCCESSFUL).set(0.0);
        if self.new {
            metrics::counter!(m::CONFIG_RELOAD_ERRORS).increment(1);
            tracing::error!(error = %self.error, "config reload failed; keeping the settings in force");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_every_allows_one_line_per_period() {
        let log = LogEvery::new(Duration::from_secs(3600));
        assert!(log.due());
        assert!(!log.due());
        let always = LogEvery::new(Duration::ZERO);
        assert!(always.due());
        assert!(always.due());
    }
}
