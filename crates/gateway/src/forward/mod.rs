//! Sending one encoded request to one receiver: bounded concurrency per endpoint,
//! retries with full-jitter backoff inside a deadline, and a breaker that fails a
//! receiver fast after repeated failures (it is never skipped: its replicas count as
//! failed, so placement stays consistent and quorum decides). The exchange itself is
//! gRPC ([`grpc`], as a Thanos router) or HTTP remote write ([`http`]), by the
//! endpoint's [`Target`]; everything around it is the same for both.

pub mod grpc;
mod http;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use rwgate_ring::url::Target;
use tokio::sync::Semaphore;

use crate::config::Forward as ForwardConfig;
use crate::events;
use crate::stats::{EndpointCounters, unix_secs};

/// The forwarding client could not be set up (TLS files, client).
#[derive(Debug, thiserror::Error)]
#[error("forward: {0}")]
pub struct ForwardSetupError(pub String);

/// How one forward ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Written,
    /// 409: the receiver refuses these samples for good (out of order, duplicate, ...).
    Conflict(String),
    /// Another 4xx (not 408/429): the receiver will never accept this request.
    Rejected(u16, String),
    /// Could not be written within the deadline; may pass later.
    Unavailable(String),
}

impl Outcome {
    /// Its `result` label of `rwgate_forward_requests_total`, as an index into
    /// [`events::RESULTS`].
    pub fn result_index(&self) -> usize {
        match self {
            Outcome::Written => 0,
            Outcome::Conflict(_) => 1,
            Outcome::Rejected(..) => 2,
            Outcome::Unavailable(_) => 3,
        }
    }
}

/// One attempt's classification.
enum Attempt {
    Done(Outcome),
    Retry(String),
}

#[derive(Debug, Default)]
struct Breaker {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    trips: u32,
}

/// Per-endpoint state: concurrency permits, breaker, and what the status page shows.
#[derive(Debug)]
struct EndpointState {
    permits: Semaphore,
    breaker: Mutex<Breaker>,
    inflight: std::sync::atomic::AtomicU64,
    counters: Mutex<EndpointCounters>,
    connection: Connection,
    metrics: events::EndpointMetrics,
}

/// How an endpoint is spoken to, by its [`Target`].
#[derive(Debug)]
enum Connection {
    /// The connections of a gRPC endpoint.
    Grpc(grpc::Pool),
    /// The parsed URL and fixed headers of an HTTP endpoint.
    Http(http::Endpoint),
}

/// An endpoint as the status page shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EndpointReport {
    /// Answering, or backed off after repeated failures.
    pub up: bool,
    /// Seconds until the breaker lets a request through again (0 when up).
    pub backed_off_for_seconds: f64,
    /// Forwards to it under way.
    pub inflight: u64,
    /// Series sent to it in the last minute.
    pub series_last_minute: u64,
    /// When it last answered with a final status (Unix seconds).
    pub last_success: Option<u64>,
    /// Its last failure.
    pub last_error: Option<String>,
    /// When that failure happened (Unix seconds).
    pub last_error_at: Option<u64>,
}

/// Sends requests to receivers.
#[derive(Debug, Clone)]
pub struct Forwarder {
    http: http::HttpClient,
    grpc: grpc::GrpcClient,
    cfg: ForwardConfig,
    endpoints: Arc<Mutex<HashMap<Target, Arc<EndpointState>>>>,
    messages: Arc<rwgate_wire::BufferPool>,
}

/// Buffers of uncompressed gRPC messages kept for reuse, and the largest kept: a few
/// requests' worth of messages, at most 32 MiB idle in all.
const MESSAGE_BUFFERS: usize = 16;
const MESSAGE_BUFFER_MAX: usize = 2 << 20;

impl Forwarder {
    /// A forwarder: for HTTP endpoints a keep-alive pool per endpoint and TLS for
    /// `https://` ones; for gRPC endpoints a few HTTP/2 connections each, with TLS when
    /// `forward.grpc_tls` (or a CA or client certificate) is set. TLS trusts
    /// `forward.tls.ca_file`, else the system's roots, and presents the client
    /// certificate when one is set.
    pub fn new(
        cfg: ForwardConfig,
        tenant_header: axum::http::HeaderName,
    ) -> Result<Self, ForwardSetupError> {
        Ok(Forwarder {
            http: http::HttpClient::new(&cfg, tenant_header)?,
            grpc: grpc::GrpcClient::new(&cfg)?,
            cfg,
            endpoints: Arc::default(),
            messages: Arc::new(rwgate_wire::BufferPool::new(
                MESSAGE_BUFFERS,
                MESSAGE_BUFFER_MAX,
            )),
        })
    }

    /// Where uncompressed gRPC messages are written (see [`grpc::frame`]).
    pub fn messages(&self) -> &Arc<rwgate_wire::BufferPool> {
        &self.messages
    }

    /// How gRPC messages are compressed.
    pub fn grpc_compression(&self) -> crate::config::GrpcCompression {
        self.cfg.grpc_compression
    }

    /// Asks a gRPC endpoint's health service whether it serves (for `doctor`).
    pub async fn grpc_health(&self, authority: &str, budget: Duration) -> Result<bool, String> {
        self.grpc.health(authority, budget).await
    }

    fn state(&self, address: &str, target: &Target) -> Arc<EndpointState> {
        let mut map = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get(target) {
            return s.clone();
        }
        let s = Arc::new(EndpointState {
            permits: Semaphore::new(self.cfg.max_concurrency_per_endpoint),
            breaker: Mutex::default(),
            inflight: std::sync::atomic::AtomicU64::new(0),
            counters: Mutex::default(),
            connection: match target {
                Target::Grpc(authority) => Connection::Grpc(self.grpc.pool(authority)),
                Target::Http(url) => Connection::Http(http::Endpoint::new(url)),
            },
            metrics: events::EndpointMetrics::new(address, target.protocol().as_str()),
        });
        map.insert(target.clone(), s.clone());
        s
    }

    /// The status page's view of the endpoint at `target`; `None` before the first
    /// forward to it.
    pub fn endpoint_report(&self, target: &Target) -> Option<EndpointReport> {
        let state = self
            .endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(target)
            .cloned()?;
        let now = Instant::now();
        let backed_off = state
            .open_until()
            .and_then(|t| t.checked_duration_since(now))
            .unwrap_or_default();
        let mut c = state.counters.lock().unwrap_or_else(|e| e.into_inner());
        Some(EndpointReport {
            up: backed_off.is_zero(),
            backed_off_for_seconds: backed_off.as_secs_f64(),
            inflight: state.inflight.load(std::sync::atomic::Ordering::Relaxed),
            series_last_minute: c.series.last_minute(now),
            last_success: c.last_success.map(unix_secs),
            last_error: c.last_error.as_ref().map(|(_, e)| e.clone()),
            last_error_at: c.last_error.as_ref().map(|(t, _)| unix_secs(*t)),
        })
    }

    /// Sends `body` (of `series` series) for `tenant` to `target`, retrying retryable
    /// failures until `deadline`. The body is what the target's protocol carries: a
    /// snappy v1 WriteRequest for HTTP, a framed message from [`grpc::frame`] for
    /// gRPC. `address` labels the metrics.
    pub async fn send(
        &self,
        address: &str,
        target: &Target,
        tenant: &str,
        body: Bytes,
        series: u64,
        deadline: Instant,
    ) -> Outcome {
        let state = self.state(address, target);
        let started = Instant::now();
        let _inflight = state.metrics.forward_inflight();
        let _counted = Inflight::start(&state);
        state
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .series
            .add(series, started);
        let mut attempt = 0u32;
        let outcome = loop {
            attempt += 1;
            if let Some(until) = state.open_until()
                && until > Instant::now()
            {
                break Outcome::Unavailable(format!(
                    "endpoint {address} is backed off after repeated failures"
                ));
            }
            let result = self.attempt(&state, tenant, body.clone(), deadline).await;
            let reason = match result {
                Attempt::Done(outcome) => {
                    state.record(true, &self.cfg);
                    state.answered(&outcome);
                    break outcome;
                }
                Attempt::Retry(reason) => reason,
            };
            state.failed(&reason);
            state.record(false, &self.cfg);
            let backoff = self.backoff(attempt);
            let now = Instant::now();
            if attempt >= self.cfg.max_attempts || now + backoff >= deadline {
                break Outcome::Unavailable(format!("endpoint {address}: {reason}"));
            }
            state.metrics.forward_retried();
            tokio::time::sleep(backoff).await;
        };
        state
            .metrics
            .forward_done(outcome.result_index(), started.elapsed());
        outcome
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .cfg
            .backoff_initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.cfg.backoff_max);
        // Full jitter: uniform in [0, exp].
        let nanos = exp.as_nanos().min(u128::from(u64::MAX)) as u64;
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    async fn attempt(
        &self,
        state: &EndpointState,
        tenant: &str,
        body: Bytes,
        deadline: Instant,
    ) -> Attempt {
        let now = Instant::now();
        let Some(left) = deadline
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
        else {
            return Attempt::Retry("deadline exceeded".into());
        };
        let permit = match tokio::time::timeout(left, state.permits.acquire()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Attempt::Retry("endpoint closed".into()),
            Err(_) => {
                return Attempt::Retry(
                    "endpoint concurrency limit saturated until the deadline".into(),
                );
            }
        };
        let budget = deadline
            .saturating_duration_since(Instant::now())
            .min(self.cfg.attempt_timeout);
        let result = match &state.connection {
            Connection::Grpc(pool) => self.grpc.call(pool, body, budget).await,
            Connection::Http(endpoint) => self.http.call(endpoint, tenant, body, budget).await,
        };
        drop(permit);
        result
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// Counts a forward in `EndpointState::inflight` while it lives.
struct Inflight<'a>(&'a EndpointState);

impl<'a> Inflight<'a> {
    fn start(state: &'a EndpointState) -> Self {
        state
            .inflight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Inflight(state)
    }
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.0
            .inflight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl EndpointState {
    /// Records a final answer: a success, or a refusal as the last error.
    fn answered(&self, outcome: &Outcome) {
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::SystemTime::now();
        c.last_success = Some(now);
        match outcome {
            Outcome::Conflict(e) | Outcome::Rejected(_, e) | Outcome::Unavailable(e) => {
                c.last_error = Some((now, e.clone()));
            }
            Outcome::Written => {}
        }
    }

    /// Records a failed attempt as the last error.
    fn failed(&self, reason: &str) {
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        c.last_error = Some((std::time::SystemTime::now(), reason.to_string()));
    }

    fn open_until(&self) -> Option<Instant> {
        self.breaker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open_until
    }

    /// Records an attempt. `ok` means the receiver answered with a final status.
    fn record(&self, ok: bool, cfg: &ForwardConfig) {
        let mut b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        if ok {
            let recovered = b.open_until.is_some();
            *b = Breaker::default();
            self.metrics.up(recovered);
            return;
        }
        b.consecutive_failures += 1;
        if b.consecutive_failures >= cfg.breaker_failures {
            // Exponential cooldown, capped at 8× the base, with jitter so that gateways
            // do not all probe a returning receiver at once.
            let factor = 1u32 << b.trips.min(3);
            let base = cfg.breaker_cooldown.saturating_mul(factor);
            let jitter = rand::rng().random_range(0.8..1.2);
            let cooldown = base.mul_f64(jitter);
            let newly = b.open_until.is_none_or(|t| t <= Instant::now());
            if newly {
                b.trips += 1;
            }
            let failures = b.consecutive_failures;
            b.open_until = Some(Instant::now() + cooldown);
            b.consecutive_failures = 0;
            self.metrics.backed_off(failures, cooldown, newly);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_and_closes_on_success() {
        let cfg = ForwardConfig {
            breaker_failures: 3,
            ..ForwardConfig::default()
        };
        let s = EndpointState {
            permits: Semaphore::new(1),
            breaker: Mutex::default(),
            inflight: std::sync::atomic::AtomicU64::new(0),
            counters: Mutex::default(),
            connection: Connection::Http(http::Endpoint::new("http://e/api/v1/receive")),
            metrics: events::EndpointMetrics::new("e", "http"),
        };
        s.record(false, &cfg);
        s.record(false, &cfg);
        assert!(s.open_until().is_none());
        s.record(false, &cfg);
        assert!(s.open_until().is_some_and(|t| t > Instant::now()));
        s.record(true, &cfg);
        assert!(s.open_until().is_none());
    }
}
