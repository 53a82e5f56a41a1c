//! The gateway's lifecycle: building it from config, the ingest and admin routers, the
//! listeners (plain or TLS), config and tokens reload, readiness and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use rwgate_ring::RingHandle;
use rwgate_ring::reload;

use crate::watch::{self, WatchGuard};
use tokio::sync::Semaphore;

use crate::admission::TenantSlots;
use crate::app::{App, Readiness, Runtime};
use crate::config::Config;
use crate::conn::{self, ConnSettings, OpenConnections};
use crate::events;
use crate::forward::Forwarder;
use crate::ingest::{ingest, otlp_metrics};
use crate::metrics as m;
use crate::tenancy::RateLimiter;

/// Decompression buffers and batch indexes kept for reuse, and the largest one kept: the
/// pool holds at most 64 MiB when idle (part of the fixed base in docs/operations.md'
/// memory formula); larger ones get a fresh allocation that is freed after the request.
const BODY_BUFFERS: usize = 16;
const BODY_BUFFER_MAX: usize = 4 << 20;

/// Errors starting the gateway.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The forwarding client could not be built.
    #[error(transparent)]
    Client(#[from] crate::forward::ForwardSetupError),
    /// A listener could not be bound or served.
    #[error("listener {addr}: {source}")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// Tenancy or TLS could not be set up.
    #[error("{0}")]
    Config(String),
}

/// Where the configuration came from, so tenancy settings and tokens can be reloaded:
/// the file (if any) and the flags that override it.
#[derive(Clone)]
pub struct ConfigSource {
    /// The YAML file.
    pub path: Option<PathBuf>,
    /// Applies command-line flags over the file.
    pub overrides: Arc<dyn Fn(&mut Config) + Send + Sync>,
}

impl std::fmt::Debug for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSource")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A configured gateway, ready to serve.
pub struct Gateway {
    app: Arc<App>,
    metrics: Option<PrometheusHandle>,
    watches: Vec<WatchGuard>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the gateway from a validated config: loads the hashrings (a failure is
    /// logged and the gateway starts not ready, retrying on change) and starts the
    /// hashrings watcher.
    pub fn new(cfg: Config) -> Result<Gateway, StartError> {
        let rings = Arc::new(RingHandle::new());
        let opts = cfg.ring_options();
        let watch = cfg.hashrings.as_ref().map(|path| {
            let _ = reload::reload(path, &opts, &rings);
            watch::watch_hashrings(
                path.clone(),
                opts.clone(),
                rings.clone(),
                cfg.hashrings_reload_interval,
                Duration::from_millis(200),
            )
        });
        Self::with_rings(cfg, rings, watch)
    }

    /// Builds the gateway around an existing ring handle (tests, embedding).
    pub fn with_rings(
        cfg: Config,
        rings: Arc<RingHandle>,
        watch: Option<WatchGuard>,
    ) -> Result<Gateway, StartError> {
        let forward_header = axum::http::HeaderName::try_from(cfg.tenancy.forward_header.as_str())
            .map_err(|_| {
                StartError::Config("tenancy.forward_header is not a valid header name".into())
            })?;
        let forwarder = Forwarder::new(cfg.forward.clone(), forward_header)?;
        let runtime = Runtime::build(&cfg).map_err(StartError::Config)?;
        let ready = Arc::new(Readiness {
            rings: rings.clone(),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
        });
        let app = App {
            runtime: ArcSwap::from_pointee(runtime),
            limiter: RateLimiter::new(),
            inflight_requests: Semaphore::new(cfg.overload.max_inflight_requests),
            inflight_bytes: Semaphore::new(cfg.overload.max_inflight_bytes),
            rings,
            forwarder,
            ready,
            buffers: rwgate_wire::BufferPool::new(BODY_BUFFERS, BODY_BUFFER_MAX),
            tenant_slots: TenantSlots::new(cfg.overload.per_tenant_requests()),
            stats: crate::stats::Stats::default(),
            peers: crate::peers::Peers::default(),
            cfg,
        };
        Ok(Gateway {
            app: Arc::new(app),
            metrics: m::install(),
            watches: watch.into_iter().collect(),
        })
    }

    /// Reloads tenancy settings, tenant rules and limits, and tokens when the config
    /// file or the tokens file changes. A file that fails keeps the settings in force.
    pub fn reload_config_from(mut self, source: ConfigSource) -> Self {
        let mut paths: Vec<PathBuf> = source.path.iter().cloned().collect();
        paths.extend(self.app.cfg.tenancy.tokens_file.iter().cloned());
        if paths.is_empty() {
            return self;
        }
        let app = self.app.clone();
        let interval = self.app.cfg.hashrings_reload_interval;
        let mut last_failure = None;
        self.watches.push(watch::watch_paths(
            paths,
            interval,
            Duration::from_millis(200),
            move || reload_tenancy(&app, &source, &mut last_failure),
        ));
        self
    }

    /// Readiness, for shutdown and probes.
    pub fn readiness(&self) -> Arc<Readiness> {
        self.app.ready.clone()
    }

    /// The ingest router: `/api/v1/receive`, `/api/v1/write`, the OTLP metrics paths
    /// (`/api/v1/otlp/v1/metrics`, `/otlp/v1/metrics`, `/v1/metrics`), and the probes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/receive", post(ingest))
            .route("/api/v1/write", post(ingest))
            .route("/api/v1/otlp/v1/metrics", post(otlp_metrics))
            .route("/otlp/v1/metrics", post(otlp_metrics))
            .route("/v1/metrics", post(otlp_metrics))
            .route("/-/ready", get(ready))
            .route("/-/healthy", get(healthy))
            .with_state(self.app.clone())
    }

    /// The admin router: `/metrics`, the probes, and the status page (`/`,
    /// `/api/v1/status`).
    pub fn admin_router(&self) -> Router {
        let handle = self.metrics.clone();
        Router::new()
            .route(
                "/metrics",
                get(move || {
                    let handle = handle.clone();
                    async move {
                        match handle {
                            Some(h) => (
                                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                                h.render(),
                            )
                                .into_response(),
                            None => (
                                StatusCode::SERVICE_UNAVAILABLE,
                                "metrics recorder not installed\n",
                            )
                                .into_response(),
                        }
                    }
                }),
            )
            .route("/-/ready", get(ready))
            .route("/-/healthy", get(healthy))
            .route("/", get(crate::status::page))
            .route("/api/v1/status", get(crate::status::json))
            .with_state(self.app.clone())
    }

    /// Serves ingest on `listener` (with TLS when configured) and admin on `admin` (its
    /// own thread and runtime, so it answers while ingest is saturated) until `shutdown`
    /// resolves; then readiness turns 503 (on both ports: the listener keeps accepting,
    /// so probes see 503, and new remote writes get 503 to go elsewhere), open
    /// connections close after the request they are handling, and those requests get
    /// `shutdown_grace` to finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        admin: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
        let admin_addr = admin
            .local_addr()
            .map_err(|source| StartError::Listen { addr, source })?;
        let admin_router = self.admin_router();
        let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("rwgate-admin".into())
            .spawn(move || serve_admin(admin, admin_router, admin_stopped))
            .map_err(|source| StartError::Listen {
                addr: admin_addr,
                source,
            })?;

        let cfg = &self.app.cfg;
        let tls = match &cfg.tls {
            Some(tls) => Some((
                tls.server_config().map_err(StartError::Config)?,
                cfg.tenancy.cert_field,
            )),
            None => None,
        };
        let settings = ConnSettings {
            max_connections: cfg.overload.max_connections,
            header_read_timeout: cfg.limits.header_read_timeout,
            idle_timeout: cfg.limits.idle_timeout,
            tls,
        };
        warn_if_over_open_files_limit(settings.max_connections);
        tracing::info!(%addr, admin = %admin_addr, tls = settings.tls.is_some(), "rwgate serving");
        let open = Arc::new(OpenConnections::default());
        let (drain_tx, drain_rx) = tokio::sync::watch::channel(false);
        let peers = tokio::spawn({
            let app = self.app.clone();
            async move {
                loop {
                    let limits = app.runtime.load().limits.clone();
                    crate::peers::refresh(&app.peers, &limits).await;
                    tokio::time::sleep(limits.peers_refresh).await;
                }
            }
        });
        let accept = conn::serve(listener, self.router(), settings, open.clone(), drain_rx);
        let grace = cfg.shutdown_grace;
        let ready = self.app.ready.clone();
        // The accept loop runs through the drain, so that probes get 503 rather than a
        // refused connection; it ends when the drain does.
        let drained = async {
            shutdown.await;
            ready.begin_shutdown();
            tracing::info!(
                ?grace,
                open = open.count(),
                "shutdown: not ready, draining in-flight requests"
            );
            let _ = drain_tx.send(true);
            if tokio::time::timeout(grace, open.all_closed())
                .await
                .is_err()
            {
                tracing::warn!(
                    ?grace,
                    open = open.count(),
                    "shutdown grace exceeded; exiting with requests in flight"
                );
            }
        };
        tokio::select! {
            () = accept => {},
            () = drained => {},
        }
        let _ = admin_stop.send(());
        peers.abort();
        drop(self.watches);
        Ok(())
    }
}

/// Rebuilds the runtime snapshot from the files and swaps it in. Static settings that
/// changed are logged as ignored until a restart. A failure is logged and counted once
/// per distinct error (`last_failure`), not on every tick while the file stays bad.
fn reload_tenancy(app: &App, source: &ConfigSource, last_failure: &mut Option<String>) {
    let built = (|| {
        let mut cfg = match &source.path {
            Some(p) => Config::from_file(p).map_err(|e| e.to_string())?,
            None => app.cfg.clone(),
        };
        (source.overrides)(&mut cfg);
        let cfg = cfg.validate().map_err(|e| e.to_string())?;
        Ok::<_, String>((Runtime::build(&cfg)?, cfg))
    })();
    match built {
        Ok((runtime, cfg)) => {
            let ignored = app.cfg.static_changes(&cfg);
            *last_failure = None;
            app.runtime.store(Arc::new(runtime));
            app.stats.config_reloaded(None);
            events::ConfigReloaded { ignored: &ignored }.emit();
        }
        Err(e) => {
            let new = last_failure.as_deref() != Some(e.as_str());
            app.stats.config_reloaded(Some(e.clone()));
            events::ConfigReloadFailed { error: &e, new }.emit();
            if new {
                *last_failure = Some(e);
            }
        }
    }
}

fn serve_admin(
    listener: std::net::TcpListener,
    router: Router,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "admin runtime failed to start");
            return;
        }
    };
    rt.block_on(async move {
        let _ = listener.set_nonblocking(true);
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "admin listener failed");
                return;
            }
        };
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stop.await;
            })
            .await;
    });
}

async fn ready(State(app): State<Arc<App>>) -> (StatusCode, &'static str) {
    if app.ready.is_ready() {
        (StatusCode::OK, "OK\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "NOT OK\n")
    }
}

async fn healthy() -> &'static str {
    "OK\n"
}

/// Warns when `max_connections` cannot be reached because the process may open fewer
/// files (read from /proc, so nothing is logged where it is missing).
fn warn_if_over_open_files_limit(max_connections: usize) {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(soft) = soft
        && soft < max_connections + 64
    {
        tracing::warn!(
            max_connections,
            open_files_limit = soft,
            "overload.max_connections is above the open-files limit: raise the limit or lower the cap"
        );
    }
}
