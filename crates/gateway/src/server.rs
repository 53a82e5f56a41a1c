//! The HTTP side: the ingest handler, probes, the admin listener on its own thread, and
//! graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use metrics_exporter_prometheus::PrometheusHandle;
use rwgate_ring::RingHandle;
use rwgate_ring::reload::{self, WatchGuard};
use rwgate_wire::{Counts, Limits, Protocol, WriteBatch};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::Config;
use crate::error::{IngestError, Reply};
use crate::forward::Forwarder;
use crate::metrics::{self as m, TenantLabels};
use crate::replicate::replicate;
use crate::tenant::TenantResolver;

/// Ready when rings are loaded and no shutdown has begun.
#[derive(Debug)]
pub struct Readiness {
    rings: Arc<RingHandle>,
    shutting_down: AtomicBool,
}

impl Readiness {
    /// True when `/-/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.rings.is_loaded() && !self.shutting_down.load(Ordering::SeqCst)
    }

    /// Marks the start of shutdown: `/-/ready` answers 503 from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }
}

/// Shared state of the ingest path.
#[derive(Debug)]
pub struct App {
    cfg: Config,
    limits: Limits,
    rings: Arc<RingHandle>,
    forwarder: Forwarder,
    tenants: TenantResolver,
    tenant_labels: TenantLabels,
    inflight_requests: Semaphore,
    inflight_bytes: Semaphore,
    ready: Arc<Readiness>,
}

/// Errors starting the gateway.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// A listener could not be bound or served.
    #[error("listener {addr}: {source}")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// The forward tenant header is not a valid header name.
    #[error("tenancy.forward_header is not a valid header name")]
    ForwardHeader,
}

/// A configured gateway, ready to serve.
pub struct Gateway {
    app: Arc<App>,
    metrics: Option<PrometheusHandle>,
    _watch: Option<WatchGuard>,
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
    /// file watcher.
    pub fn new(cfg: Config) -> Result<Gateway, StartError> {
        let rings = Arc::new(RingHandle::new());
        let opts = cfg.ring_options();
        let watch = cfg.hashrings.as_ref().map(|path| {
            let _ = reload::reload(path, &opts, &rings);
            reload::watch(
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
            .map_err(|_| StartError::ForwardHeader)?;
        let forwarder = Forwarder::new(cfg.forward.clone(), forward_header)?;
        let ready = Arc::new(Readiness {
            rings: rings.clone(),
            shutting_down: AtomicBool::new(false),
        });
        let app = App {
            limits: cfg.limits.wire(),
            tenants: TenantResolver::new(&cfg.tenancy),
            tenant_labels: TenantLabels::new([cfg.tenancy.default_tenant.clone()]),
            inflight_requests: Semaphore::new(cfg.overload.max_inflight_requests),
            inflight_bytes: Semaphore::new(cfg.overload.max_inflight_bytes),
            rings,
            forwarder,
            ready,
            cfg,
        };
        Ok(Gateway {
            app: Arc::new(app),
            metrics: m::install(),
            _watch: watch,
        })
    }

    /// Readiness, for shutdown and probes.
    pub fn readiness(&self) -> Arc<Readiness> {
        self.app.ready.clone()
    }

    /// The ingest router: `/api/v1/receive`, `/api/v1/write`, and the probes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/receive", post(ingest))
            .route("/api/v1/write", post(ingest))
            .route("/-/ready", get(ready))
            .route("/-/healthy", get(healthy))
            .with_state(self.app.clone())
    }

    /// The admin router: `/metrics` and the probes.
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
            .with_state(self.app.clone())
    }

    /// Serves ingest on `listener` and admin on `admin` (its own thread and runtime, so
    /// it answers while ingest is saturated) until `shutdown` resolves; then readiness
    /// turns 503, the listener stops accepting, and in-flight requests get
    /// `shutdown_grace` to finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        admin: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let admin_addr = admin.local_addr().map_err(|source| StartError::Listen {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
        let admin_router = self.admin_router();
        let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("rwgate-admin".into())
            .spawn(move || serve_admin(admin, admin_router, admin_stopped))
            .map_err(|source| StartError::Listen {
                addr: admin_addr,
                source,
            })?;

        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: admin_addr,
            source,
        })?;
        tracing::info!(%addr, admin = %admin_addr, "rwgate serving");
        let ready = self.app.ready.clone();
        let grace = self.app.cfg.shutdown_grace;
        let (begun_tx, begun_rx) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(listener, self.router()).with_graceful_shutdown(async move {
            shutdown.await;
            ready.begin_shutdown();
            tracing::info!(?grace, "shutdown: not ready, draining in-flight requests");
            let _ = begun_tx.send(());
        });
        let result = tokio::select! {
            r = server => r.map_err(|source| StartError::Listen { addr, source }),
            () = async {
                if begun_rx.await.is_ok() {
                    tokio::time::sleep(grace).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => {
                tracing::warn!(?grace, "shutdown grace exceeded; exiting with requests in flight");
                Ok(())
            }
        };
        let _ = admin_stop.send(());
        drop(self._watch);
        result
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

async fn ingest(State(app): State<Arc<App>>, req: Request) -> Response {
    let started = Instant::now();
    let (reply, unread) = app.handle(req).await;
    if let Some(body) = unread {
        drain(body).await;
    }
    let status = reply.status();
    let protocol = reply.protocol.map_or("unknown", Protocol::as_str);
    metrics::counter!(m::REQUESTS, "code" => status.as_str().to_string(), "protocol" => protocol)
        .increment(1);
    metrics::histogram!(m::REQUEST_DURATION).record(started.elapsed().as_secs_f64());
    reply.into_response()
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> Option<&[u8]> {
    headers.get(name).map(|v| v.as_bytes())
}

impl App {
    fn tenant_label(&self, tenant: &str) -> String {
        let named = self.rings.load().is_some_and(|r| r.names_tenant(tenant));
        if named {
            tenant.to_string()
        } else {
            self.tenant_labels.label(tenant)
        }
    }

    fn update_inflight_gauges(&self) {
        let reqs =
            self.cfg.overload.max_inflight_requests - self.inflight_requests.available_permits();
        let bytes = self.cfg.overload.max_inflight_bytes - self.inflight_bytes.available_permits();
        metrics::gauge!(m::INFLIGHT_REQUESTS).set(reqs as f64);
        metrics::gauge!(m::INFLIGHT_BYTES).set(bytes as f64);
    }

    fn reserve_bytes(&self, n: usize) -> Result<SemaphorePermit<'_>, IngestError> {
        let n = u32::try_from(n).map_err(|_| IngestError::Overloaded("bytes"))?;
        self.inflight_bytes.try_acquire_many(n).map_err(|_| {
            metrics::counter!(m::OVERLOAD_REJECTIONS, "limit" => "bytes").increment(1);
            IngestError::Overloaded("bytes")
        })
    }

    /// The whole pipeline for one request. A request refused before its body was read
    /// hands the body back, to be drained.
    async fn handle(&self, req: Request) -> (Reply, Option<Body>) {
        let (parts, body) = req.into_parts();
        let protocol = match rwgate_wire::negotiate(
            header(&parts.headers, header::CONTENT_TYPE),
            header(&parts.headers, header::CONTENT_ENCODING),
        ) {
            Ok(p) => p,
            Err(e) => return (reply(None, Counts::default(), Some(e.into())), Some(body)),
        };
        let Ok(_request_permit) = self.inflight_requests.try_acquire() else {
            metrics::counter!(m::OVERLOAD_REJECTIONS, "limit" => "requests").increment(1);
            let refused = IngestError::Overloaded("requests");
            return (
                reply(Some(protocol), Counts::default(), Some(refused)),
                Some(body),
            );
        };
        self.update_inflight_gauges();
        let result = self.handle_admitted(protocol, &parts.headers, body).await;
        let (written, error) = match result {
            Ok(done) => done,
            Err(e) => (Counts::default(), Some(e)),
        };
        if let Some(e) = &error {
            if e.status().is_server_error() {
                tracing::warn!(status = e.status().as_u16(), kind = e.kind(), error = %e, "remote write not fully written");
            } else {
                tracing::debug!(status = e.status().as_u16(), kind = e.kind(), error = %e, "remote write refused");
            }
        }
        drop(_request_permit);
        self.update_inflight_gauges();
        (reply(Some(protocol), written, error), None)
    }

    async fn handle_admitted(
        &self,
        protocol: Protocol,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<(Counts, Option<IngestError>), IngestError> {
        let rings = self.rings.load().ok_or(IngestError::NotReady)?;
        let tenant = self.tenants.resolve(headers)?;

        // Reserve the compressed body before reading it: what the client announced,
        // else the most it may send.
        let max_body = self.limits.max_compressed_bytes;
        let announced = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(n) = announced
            && n > max_body as u64
        {
            return Err(rwgate_wire::WireError::RequestBodyTooLarge {
                size: n,
                limit: max_body as u64,
            }
            .into());
        }
        let _body_permit = self.reserve_bytes(announced.map_or(max_body, |n| n as usize))?;
        let compressed = self.read_body(body).await?;
        let decoded = rwgate_wire::decoded_len(&compressed, &self.limits)?;
        let _decoded_permit = self.reserve_bytes(decoded)?;
        self.update_inflight_gauges();

        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let decompressed = rwgate_wire::decompress(&compressed, &self.limits)?;
        drop(compressed);
        let batch = rwgate_wire::decode(protocol, decompressed, &self.limits, now_ms)?;
        let tenant_label = self.tenant_label(&tenant);
        self.count_received(&batch, &tenant_label);

        let invalid = (!batch.rejected().is_empty()).then(|| IngestError::Invalid {
            message: batch.rejected().first.clone().unwrap_or_default(),
            rejected: batch.rejected().series,
            total: batch.rejected().series + batch.len() as u64,
        });
        if batch.is_empty() {
            return Ok((Counts::default(), invalid));
        }
        let ring = rings
            .for_tenant(&tenant)
            .ok_or_else(|| IngestError::NoHashring(crate::tenant::escape(&tenant)))?;
        let deadline = Instant::now() + self.cfg.forward.deadline;
        let done = replicate(&self.forwarder, &tenant, &batch, ring, deadline).await;
        let error = if done.unavailable_series > 0 {
            metrics::counter!(m::QUORUM_FAILURES, "cause" => "unavailable").increment(1);
            Some(IngestError::Unavailable {
                series: done.unavailable_series,
                detail: done.unavailable_detail.unwrap_or_default(),
            })
        } else if let Some(invalid) = invalid {
            Some(invalid)
        } else if done.conflict_series > 0 {
            metrics::counter!(m::QUORUM_FAILURES, "cause" => "conflict").increment(1);
            Some(IngestError::Conflict {
                series: done.conflict_series,
                detail: done.conflict_detail.unwrap_or_default(),
            })
        } else {
            None
        };
        Ok((done.written, error))
    }

    async fn read_body(&self, body: Body) -> Result<Bytes, IngestError> {
        let max = self.limits.max_compressed_bytes;
        let timeout = self.cfg.limits.body_read_timeout;
        let collected = tokio::time::timeout(timeout, Limited::new(body, max).collect()).await;
        match collected {
            Err(_) => Err(IngestError::BodyTimeout(timeout)),
            Ok(Ok(c)) => Ok(c.to_bytes()),
            Ok(Err(e))
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                Err(rwgate_wire::WireError::RequestBodyTooLarge {
                    size: max as u64 + 1,
                    limit: max as u64,
                }
                .into())
            }
            Ok(Err(e)) => Err(IngestError::BodyRead(e.to_string())),
        }
    }

    fn count_received(&self, batch: &WriteBatch, tenant: &str) {
        let acc = batch.accepted();
        let t = tenant.to_string();
        metrics::counter!(m::RECEIVED_SAMPLES, "tenant" => t.clone()).increment(acc.samples);
        metrics::counter!(m::RECEIVED_HISTOGRAMS, "tenant" => t.clone()).increment(acc.histograms);
        metrics::counter!(m::RECEIVED_EXEMPLARS, "tenant" => t.clone()).increment(acc.exemplars);
        metrics::counter!(m::RECEIVED_METADATA).increment(batch.metadata());
        metrics::counter!(m::SORTED_SERIES).increment(batch.sorted_series());
        for (reason, samples) in &batch.rejected().by_reason {
            metrics::counter!(m::DISCARDED_SAMPLES, "reason" => reason.id(), "tenant" => t.clone())
                .increment(*samples);
        }
    }
}

/// Most bytes read and thrown away from a refused request's body, and for how long.
/// Like Go's net/http (256 KiB), this lets a client that is still sending see the
/// status instead of a broken pipe, without paying for large bodies.
const DRAIN_MAX_BYTES: usize = 256 << 10;
const DRAIN_MAX_TIME: Duration = Duration::from_millis(500);

async fn drain(mut body: Body) {
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DRAIN_MAX_BYTES {
                break;
            }
        }
    })
    .await;
}

fn reply(protocol: Option<Protocol>, written: Counts, error: Option<IngestError>) -> Reply {
    Reply {
        protocol,
        written,
        error,
    }
}
