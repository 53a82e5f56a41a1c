//! The state the ingest path shares across requests, and readiness: built by the
//! server, read by the ingest handler and the probes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use rwgate_ring::RingHandle;
use tokio::sync::Semaphore;

use crate::admission::TenantSlots;
use crate::config::{Config, LimitsConfig};
use crate::forward::Forwarder;
use crate::stats::Stats;
use crate::tenancy::{RateLimiter, TenancyState};

/// Everything a config reload may change, swapped as one: who may write as which
/// tenant (tokens, tenants, their rules and limits) and the request limits (body sizes
/// and pace). A request reads one snapshot from start to end. What is not here needs a
/// restart (see [`Config::static_changes`]).
#[derive(Debug)]
pub struct Runtime {
    /// Tenancy settings, tokens, per-tenant rules and limits.
    pub tenancy: Arc<TenancyState>,
    /// Request limits.
    pub limits: LimitsConfig,
    /// OTLP translation settings.
    pub otlp: crate::otlp::OtlpConfig,
}

impl Runtime {
    /// The snapshot of a validated configuration (reads the tokens file).
    pub fn build(cfg: &Config) -> Result<Runtime, String> {
        Ok(Runtime {
            tenancy: Arc::new(cfg.tenancy_state()?),
            limits: cfg.limits.clone(),
            otlp: cfg.otlp.clone(),
        })
    }
}

/// Shared state of the ingest path.
#[derive(Debug)]
pub struct App {
    /// The configuration the process started with: the static settings.
    pub(crate) cfg: Config,
    pub(crate) rings: Arc<RingHandle>,
    pub(crate) runtime: ArcSwap<Runtime>,
    pub(crate) limiter: RateLimiter,
    pub(crate) forwarder: Forwarder,
    pub(crate) inflight_requests: Semaphore,
    pub(crate) inflight_bytes: Semaphore,
    pub(crate) ready: Arc<Readiness>,
    pub(crate) buffers: rwgate_wire::BufferPool,
    pub(crate) tenant_slots: TenantSlots,
    /// Counters for the status page.
    pub(crate) stats: Stats,
    /// Live replicas, for `global` rate limits.
    pub(crate) peers: crate::peers::Peers,
}

/// Ready when rings are loaded and no shutdown has begun.
#[derive(Debug)]
pub struct Readiness {
    pub(crate) rings: Arc<RingHandle>,
    pub(crate) shutting_down: AtomicBool,
}

impl Readiness {
    /// True when `/-/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.rings.is_loaded() && !self.shutting_down.load(Ordering::SeqCst)
    }

    /// True once shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Marks the start of shutdown: `/-/ready` answers 503 from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }
}
