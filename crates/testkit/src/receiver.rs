//! An embedded remote-write receiver for the demo and tests: it decodes and validates
//! what it gets with the wire crate, counts samples per tenant and per series, and can
//! be told to answer with any status, after a delay, or never.
//!
//! It speaks both ways a Thanos ingestor is written to, on one port: HTTP remote write
//! at `/api/v1/receive`, and gRPC `thanos.WriteableStore/RemoteWrite` (HTTP/2 without
//! TLS) at [`DevReceiver::grpc_address`], uncompressed or snappy-framed. A gRPC answer
//! carries the gRPC code of the mode's status (see [`grpc_code`]).

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
#[derive(Debug, Clone, PartialEq)]
pub struct Mode {
    /// Status to answer with; non-2xx answers do not count what arrived.
    pub status: u16,
    /// Wait before answering.
    pub delay: Duration,
    /// Never answer.
    pub hang: bool,
    /// Share of requests (0 to 1) answered with `fail_status` instead, at random.
    pub fail_ratio: f64,
    /// Status of the random failures.
    pub fail_status: u16,
    /// Answer 204 to every request once its body is read, without decompressing or
    /// decoding it (benchmarks: the relay's cost is not hidden behind the receiver's).
    /// Only requests are counted.
    pub blackhole: bool,
}

impl Default for Mode {
    fn default() -> Self {
        Mode {
            status: 200,
            delay: Duration::ZERO,
            hang: false,
            fail_ratio: 0.0,
            fail_status: 503,
            blackhole: false,
        }
    }
}

/// Per-tenant totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Every gRPC request that decoded, in arrival order.
    grpc: Vec<GrpcRequest>,
}

/// What one gRPC `RemoteWrite` carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcRequest {
    /// `WriteRequest.tenant`.
    pub tenant: String,
    /// `WriteRequest.replica` (replica number plus one).
    pub replica: i64,
    /// [`series_key`] of each series, in order.
    pub series: Vec<u64>,
    /// Whether the message came snappy-framed.
    pub snappy: bool,
}

#[derive(Debug)]
struct Shared {
    buffers: rwgate_wire::BufferPool,
    mode: Mutex<Mode>,
    recorded: Mutex<Recorded>,
    tenant_header: String,
    track_series: bool,
    /// The v1 requests answered 2xx, decoded, once [`DevReceiver::capture`] is on.
    captured: Mutex<Option<Vec<rwgate_proto::prometheus::WriteRequest>>>,
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
        Self::start_with(addr, tenant_header, true).await
    }

    /// Starts with every option: the tenant header, and whether to count samples per
    /// series (off for benchmarks: it costs a hash-map update per series).
    pub async fn start_with(
        addr: SocketAddr,
        tenant_header: &str,
        track_series: bool,
    ) -> std::io::Result<DevReceiver> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            buffers: rwgate_wire::BufferPool::new(16, 8 << 20),
            mode: Mutex::default(),
            recorded: Mutex::default(),
            tenant_header: tenant_header.to_string(),
            track_series,
            captured: Mutex::default(),
        });
        let app = Router::new()
            .route("/api/v1/receive", post(receive))
            .route("/api/v1/write", post(receive))
            .route(
                rwgate_gateway::forward::grpc::REMOTE_WRITE_PATH,
                post(grpc_receive),
            )
            .route("/grpc.health.v1.Health/Check", post(grpc_health))
            .route("/-/ready", axum::routing::get(|| async { "OK\n" }))
            .route("/stats", axum::routing::get(stats))
            .route("/metrics", axum::routing::get(metrics_text))
            .with_state(shared.clone());
        // Connections are served in a set the accept task owns, so that stopping the
        // receiver also drops every open connection, as a killed ingestor would (an
        // HTTP/2 connection would otherwise outlive its listener).
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let svc = hyper_util::service::TowerToHyperService::new(app.clone());
                conns.spawn(async move {
                    let mut builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    // Windows wide enough that a large write is not paced by window
                    // updates (a stand-in for an ingestor on another machine).
                    builder
                        .http2()
                        .initial_stream_window_size(8 << 20)
                        .initial_connection_window_size(32 << 20);
                    let _ = builder
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(DevReceiver { addr, shared, task })
    }

    /// From now on, keeps every request answered 2xx, decoded (for tests that check
    /// what arrived field by field).
    pub fn capture(&self) {
        let mut c = self
            .shared
            .captured
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        c.get_or_insert_with(Vec::new);
    }

    /// The requests captured since [`capture`](Self::capture), and clears them.
    pub fn take_captured(&self) -> Vec<rwgate_proto::prometheus::WriteRequest> {
        let mut c = self
            .shared
            .captured
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        c.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The remote-write URL.
    pub fn url(&self) -> String {
        format!("http://{}/api/v1/receive", self.addr)
    }

    /// The gRPC address, `host:port` as a router's hashrings.json names it.
    pub fn grpc_address(&self) -> String {
        self.addr.to_string()
    }

    /// Every gRPC request that decoded so far, in arrival order.
    pub fn grpc_requests(&self) -> Vec<GrpcRequest> {
        self.lock().grpc.clone()
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

    /// Everything counted so far.
    pub fn stats(&self, with_series: bool) -> Stats {
        snapshot(&self.shared, with_series)
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

/// What a receiver counted, as served at `GET /stats` (`?series=1` adds per-series
/// counts keyed by [`series_key`] in hex).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Per tenant.
    pub tenants: std::collections::BTreeMap<String, TenantTally>,
    /// Samples over all tenants.
    pub samples: u64,
    /// Requests that reached the handler.
    pub attempts: u64,
    /// Samples per series key, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<std::collections::BTreeMap<String, u64>>,
}

fn snapshot(shared: &Shared, with_series: bool) -> Stats {
    let rec = shared.recorded.lock().unwrap_or_else(|e| e.into_inner());
    Stats {
        tenants: rec
            .tenants
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        samples: rec.tenants.values().map(|t| t.samples).sum(),
        attempts: rec.attempts,
        series: with_series.then(|| {
            rec.series
                .iter()
                .map(|(k, v)| (format!("{k:016x}"), *v))
                .collect()
        }),
    }
}

async fn stats(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
) -> ([(header::HeaderName, &'static str); 1], String) {
    let with_series = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "series=1"));
    let json = serde_json::to_string(&snapshot(&shared, with_series)).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], json)
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> String {
    use std::fmt::Write as _;
    let s = snapshot(&shared, false);
    let mut out = String::from(
        "# HELP rwgate_sink_received_samples_total Samples accepted, by tenant.\n# TYPE rwgate_sink_received_samples_total counter\n",
    );
    for (t, tally) in &s.tenants {
        let _ = writeln!(
            out,
            "rwgate_sink_received_samples_total{{tenant={t:?}}} {}",
            tally.samples
        );
    }
    out.push_str("# HELP rwgate_sink_received_requests_total Requests accepted, by tenant.\n# TYPE rwgate_sink_received_requests_total counter\n");
    for (t, tally) in &s.tenants {
        let _ = writeln!(
            out,
            "rwgate_sink_received_requests_total{{tenant={t:?}}} {}",
            tally.requests
        );
    }
    out.push_str("# HELP rwgate_sink_requests_total Requests that reached the sink, answered or not.\n# TYPE rwgate_sink_requests_total counter\n");
    let _ = writeln!(out, "rwgate_sink_requests_total {}", s.attempts);
    out
}

/// Counts the request and waits as the mode says; `None` when it never answers.
async fn begin(shared: &Shared) -> Mode {
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
    mode
}

async fn receive(State(shared): State<Arc<Shared>>, req: Request) -> (StatusCode, String) {
    let mode = begin(&shared).await;
    let (parts, body) = req.into_parts();
    let tenant = parts
        .headers
        .get(shared.tenant_header.as_str())
        .and_then(|v| v.to_str().ok())
        .unwrap_or("default-tenant")
        .to_string();
    if mode.blackhole {
        return match drain(body).await {
            Ok(()) => (StatusCode::NO_CONTENT, String::new()),
            Err(()) => (StatusCode::BAD_REQUEST, "body read failed\n".into()),
        };
    }
    let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else {
        return (StatusCode::BAD_REQUEST, "body read failed\n".into());
    };
    let get = |h: header::HeaderName| parts.headers.get(h).map(|v| v.as_bytes());
    let limits = Limits::default();
    let decoded = rwgate_wire::negotiate(get(header::CONTENT_TYPE), get(header::CONTENT_ENCODING))
        .and_then(|p| {
            let raw = shared.buffers.decompress(&body, &limits)?;
            rwgate_wire::decode(p, raw, &limits, 0)
        });
    let batch = match decoded {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                format!("{e}\n"),
            );
        }
    };
    record(&shared, &mode, tenant, batch)
}

/// Reads a body to its end without keeping it (a blackhole's whole job).
async fn drain(mut body: axum::body::Body) -> Result<(), ()> {
    while let Some(frame) = body.frame().await {
        frame.map_err(|_| ())?;
    }
    Ok(())
}

/// gRPC's code for an HTTP status, as this receiver answers a mode's status over gRPC:
/// 409 is AlreadyExists (a conflict), 400 InvalidArgument, 429 ResourceExhausted, 408
/// DeadlineExceeded, 500 Internal, 503 Unavailable, other errors Unknown.
pub fn grpc_code(status: u16) -> u32 {
    match status {
        200..=299 => 0,
        400 => 3,
        408 => 4,
        409 => 6,
        429 => 8,
        500 => 13,
        503 => 14,
        _ => 2,
    }
}

async fn grpc_receive(State(shared): State<Arc<Shared>>, req: Request) -> axum::response::Response {
    let mode = begin(&shared).await;
    let (parts, body) = req.into_parts();
    if mode.blackhole {
        return match drain(body).await {
            Ok(()) => grpc_answer(0, ""),
            Err(()) => grpc_answer(13, "body read failed"),
        };
    }
    let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else {
        return grpc_answer(13, "body read failed");
    };
    if body.len() < 5
        || 5 + u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize != body.len()
    {
        return grpc_answer(13, "not one gRPC message");
    }
    let message = match body[0] {
        0 => body.slice(5..),
        1 if parts
            .headers
            .get("grpc-encoding")
            .is_some_and(|e| e == "snappy") =>
        {
            use std::io::Read as _;
            let mut out = Vec::new();
            if let Err(e) = snap::read::FrameDecoder::new(&body[5..]).read_to_end(&mut out) {
                return grpc_answer(13, &format!("snappy framing: {e}"));
            }
            bytes::Bytes::from(out)
        }
        _ => return grpc_answer(12, "compressed message without grpc-encoding: snappy"),
    };
    use prost::Message;
    let req = match rwgate_proto::thanos::WriteRequest::decode(message) {
        Ok(r) => r,
        Err(e) => return grpc_answer(13, &format!("unmarshal: {e}")),
    };
    let snappy = body[0] == 1;
    let v1 = rwgate_proto::prometheus::WriteRequest {
        timeseries: req.timeseries,
        ..Default::default()
    }
    .encode_to_vec();
    let batch =
        match rwgate_wire::decode(rwgate_wire::Protocol::V1, v1.into(), &Limits::default(), 0) {
            Ok(b) => b,
            Err(e) => return grpc_answer(6, &e.to_string()),
        };
    let mut buf = Vec::new();
    let series = batch
        .iter()
        .map(|s| series_hash(req.tenant.as_bytes(), s.labels(), &mut buf))
        .collect();
    shared
        .recorded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .grpc
        .push(GrpcRequest {
            tenant: req.tenant.clone(),
            replica: req.replica,
            series,
            snappy,
        });
    let (status, text) = record(&shared, &mode, req.tenant, batch);
    grpc_answer(grpc_code(status.as_u16()), text.trim())
}

/// `grpc.health.v1.Health/Check`: SERVING, as a ready Thanos ingestor answers.
async fn grpc_health() -> axum::response::Response {
    // HealthCheckResponse { status: SERVING (1) }.
    grpc_message(&[0, 0, 0, 0, 2, 0x08, 0x01], axum::http::HeaderMap::new())
}

/// A gRPC answer: an empty `WriteResponse` and the status in trailers when OK, else a
/// trailers-only answer, as grpc-go writes them.
fn grpc_answer(code: u32, message: &str) -> axum::response::Response {
    let mut status = axum::http::HeaderMap::new();
    status.insert("grpc-status", code.into());
    let escaped: String = message
        .bytes()
        .map(|b| match b {
            b' '..=b'~' if b != b'%' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    if let Ok(v) = axum::http::HeaderValue::from_str(&escaped) {
        status.insert("grpc-message", v);
    }
    if code == 0 {
        return grpc_message(&[0; 5], status);
    }
    let mut r = axum::response::Response::new(axum::body::Body::empty());
    r.headers_mut().extend(status);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/grpc"),
    );
    r
}

/// An OK answer carrying `framed` (one framed message), with `trailers` (OK unless
/// they say otherwise).
fn grpc_message(
    framed: &'static [u8],
    mut trailers: axum::http::HeaderMap,
) -> axum::response::Response {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    if !trailers.contains_key("grpc-status") {
        trailers.insert("grpc-status", 0.into());
    }
    let frames = futures_util::stream::iter([
        Ok::<_, std::convert::Infallible>(Frame::data(bytes::Bytes::from_static(framed))),
        Ok(Frame::trailers(trailers)),
    ]);
    let mut resp = axum::response::Response::new(axum::body::Body::new(StreamBody::new(frames)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/grpc"),
    );
    resp
}

/// Counts an accepted batch of `tenant`, or answers the mode's failure.
fn record(
    shared: &Shared,
    mode: &Mode,
    tenant: String,
    batch: rwgate_wire::WriteBatch,
) -> (StatusCode, String) {
    if !batch.rejected().is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            format!("{:?}\n", batch.rejected().first),
        );
    }
    let failing = mode.fail_ratio > 0.0 && rand::random::<f64>() < mode.fail_ratio;
    let code = if failing {
        mode.fail_status
    } else {
        mode.status
    };
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if !status.is_success() {
        return (status, format!("dev receiver answers {code}\n"));
    }
    let mut keys = Vec::new();
    if shared.track_series {
        let mut buf = Vec::new();
        keys.extend(batch.iter().map(|s| {
            (
                series_hash(tenant.as_bytes(), s.labels(), &mut buf),
                s.counts().total_samples(),
            )
        }));
    }
    let mut rec = shared.recorded.lock().unwrap_or_else(|e| e.into_inner());
    for (key, n) in keys {
        *rec.series.entry(key).or_insert(0) += n;
    }
    let t = rec.tenants.entry(tenant).or_default();
    t.requests += 1;
    t.series += batch.len() as u64;
    t.samples += batch.accepted().total_samples();
    drop(rec);
    let body = batch.into_body();
    if let Some(c) = shared
        .captured
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
    {
        use prost::Message;
        match rwgate_proto::prometheus::WriteRequest::decode(body.clone()) {
            Ok(req) => c.push(req),
            Err(e) => return (StatusCode::BAD_REQUEST, format!("prost: {e}\n")),
        }
    }
    shared.buffers.recycle(body);
    (status, String::new())
}
