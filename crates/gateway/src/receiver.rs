//! An embedded remote-write receiver for the demo and tests: it decodes and validates
//! what it gets with the wire crate, counts samples per tenant and per series, and can
//! be told to answer with any status, after a delay, or never.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::routing::post;
use http_body_util::BodyExt;
use rwgate_ring::series_hash;
use rwgate_wire::Limits;

/// How the receiver answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mode {
    /// Status to answer with; non-2xx answers do not count what arrived.
    pub status: u16,
    /// Wait before answering.
    pub delay: Duration,
    /// Never answer.
    pub hang: bool,
}

impl Default for Mode {
    fn default() -> Self {
        Mode {
            status: 200,
            delay: Duration::ZERO,
            hang: false,
        }
    }
}

/// Per-tenant totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantTally {
    /// Requests accepted.
    pub requests: u64,
    /// Series received (with repeats).
    pub series: u64,
    /// Samples received.
    pub samples: u64,
}

#[derive(Debug, Default)]
struct Recorded {
    tenants: HashMap<String, TenantTally>,
    /// Samples per series key (see [`series_key`]).
    series: HashMap<u64, u64>,
    /// Requests seen, including refused ones.
    attempts: u64,
}

#[derive(Debug)]
struct Shared {
    mode: Mutex<Mode>,
    recorded: Mutex<Recorded>,
    tenant_header: String,
}

/// A running receiver; dropping it stops it (connections are then refused).
#[derive(Debug)]
pub struct DevReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

/// Identity of a series on a receiver: the hash of tenant and sorted labels.
pub fn series_key(tenant: &str, sorted_labels: &[(&str, &str)]) -> u64 {
    let mut buf = Vec::new();
    series_hash(
        tenant.as_bytes(),
        sorted_labels
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        &mut buf,
    )
}

impl DevReceiver {
    /// Starts on `addr` (port 0 for any) on the current tokio runtime.
    pub async fn start(addr: SocketAddr) -> std::io::Result<DevReceiver> {
        Self::start_with_header(addr, "THANOS-TENANT").await
    }

    /// Starts reading the tenant from `tenant_header`.
    pub async fn start_with_header(
        addr: SocketAddr,
        tenant_header: &str,
    ) -> std::io::Result<DevReceiver> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            mode: Mutex::default(),
            recorded: Mutex::default(),
            tenant_header: tenant_header.to_string(),
        });
        let app = Router::new()
            .route("/api/v1/receive", post(receive))
            .route("/api/v1/write", post(receive))
            .route("/-/ready", axum::routing::get(|| async { "OK\n" }))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(DevReceiver { addr, shared, task })
    }

    /// Listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The remote-write URL.
    pub fn url(&self) -> String {
        format!("http://{}/api/v1/receive", self.addr)
    }

    /// Changes how it answers.
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    /// Totals for `tenant`.
    pub fn tenant(&self, tenant: &str) -> TenantTally {
        self.lock().tenants.get(tenant).cloned().unwrap_or_default()
    }

    /// All tenants seen.
    pub fn tenants(&self) -> HashMap<String, TenantTally> {
        self.lock().tenants.clone()
    }

    /// Samples received for a series key.
    pub fn series_samples(&self, key: u64) -> u64 {
        self.lock().series.get(&key).copied().unwrap_or(0)
    }

    /// Distinct series received.
    pub fn distinct_series(&self) -> usize {
        self.lock().series.len()
    }

    /// Requests that reached the handler, answered or not.
    pub fn attempts(&self) -> u64 {
        self.lock().attempts
    }

    /// Stops listening; later connections are refused.
    pub fn stop(&self) {
        self.task.abort();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.shared
            .recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for DevReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, req: Request) -> (StatusCode, String) {
    let mode = shared
        .mode
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    shared
        .recorded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .attempts += 1;
    if mode.hang {
        std::future::pending::<()>().await;
    }
    if !mode.delay.is_zero() {
        tokio::time::sleep(mode.delay).await;
    }
    let (parts, body) = req.into_parts();
    let tenant = parts
        .headers
        .get(shared.tenant_header.as_str())
        .and_then(|v| v.to_str().ok())
        .unwrap_or("default-tenant")
        .to_string();
    let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else {
        return (StatusCode::BAD_REQUEST, "body read failed\n".into());
    };
    let get = |h: header::HeaderName| parts.headers.get(h).map(|v| v.as_bytes());
    let batch = match rwgate_wire::decode_request(
        get(header::CONTENT_TYPE),
        get(header::CONTENT_ENCODING),
        &body,
        &Limits::default(),
        0,
    ) {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                format!("{e}\n"),
            );
        }
    };
    if !batch.rejected().is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            format!("{:?}\n", batch.rejected().first),
        );
    }
    let status = StatusCode::from_u16(mode.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if !status.is_success() {
        return (status, format!("dev receiver answers {}\n", mode.status));
    }
    let mut rec = shared.recorded.lock().unwrap_or_else(|e| e.into_inner());
    let mut buf = Vec::new();
    for s in batch.iter() {
        let key = series_hash(tenant.as_bytes(), s.labels(), &mut buf);
        *rec.series.entry(key).or_insert(0) += s.counts().total_samples();
    }
    let t = rec.tenants.entry(tenant).or_default();
    t.requests += 1;
    t.series += batch.len() as u64;
    t.samples += batch.accepted().total_samples();
    (status, String::new())
}
