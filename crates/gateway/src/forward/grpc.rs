//! Forwarding over gRPC, as a Thanos router does: `thanos.WriteableStore/RemoteWrite`
//! over HTTP/2 to the address written in hashrings.json.
//!
//! gRPC here is hyper's HTTP/2 client plus gRPC's framing, which is small: a 5-byte
//! prefix (compressed flag, big-endian length) before the message, `grpc-status` and
//! `grpc-message` in the trailers (or in the headers of a trailers-only answer). rwgate
//! only ever sends this one unary call and ignores the (empty) answer, so it needs no
//! generated stubs; owning the framing is what lets a request embed each series'
//! bytes as received and choose snappy framing, which Rust gRPC stacks do not offer.
//!
//! Each endpoint has a few HTTP/2 connections (`forward.grpc_connections_per_endpoint`),
//! dialed on first use and again after they close (GOAWAY, transport error); calls are
//! spread over them round-robin and each carries many concurrent streams.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls_pki_types::ServerName;
use rwgate_wire::{BufferPool, Encoder, WriteBatch};

use super::{Attempt, ForwardSetupError, Outcome, error_chain};
use crate::config::{Forward as ForwardConfig, GrpcCompression};

/// The one method rwgate calls.
pub const REMOTE_WRITE_PATH: &str = "/thanos.WriteableStore/RemoteWrite";

/// gRPC health checking (`grpc.health.v1.Health/Check`), which Thanos serves.
const HEALTH_PATH: &str = "/grpc.health.v1.Health/Check";

/// Largest answer rwgate reads. A `WriteResponse` is empty; anything bigger is a
/// misbehaving peer, refused like grpc-go refuses a message over its receive limit.
pub const MAX_ANSWER_BYTES: usize = 64 << 10;

/// Longest `grpc-message` kept for logs and the status page.
const MAX_MESSAGE_CHARS: usize = 512;

/// The gRPC side of the forwarder: TLS settings and how messages are compressed.
#[derive(Clone)]
pub(super) struct GrpcClient {
    tls: Option<tokio_rustls::TlsConnector>,
    connections: usize,
    compression: GrpcCompression,
    connect_timeout: Duration,
}

impl std::fmt::Debug for GrpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcClient")
            .field("tls", &self.tls.is_some())
            .field("connections", &self.connections)
            .field("compression", &self.compression)
            .finish()
    }
}

impl GrpcClient {
    pub(super) fn new(cfg: &ForwardConfig) -> Result<Self, ForwardSetupError> {
        let tls = if cfg.grpc_uses_tls() {
            Some(tls_connector(cfg)?)
        } else {
            None
        };
        Ok(GrpcClient {
            tls,
            connections: cfg.grpc_connections_per_endpoint.max(1),
            compression: cfg.grpc_compression,
            connect_timeout: cfg.attempt_timeout,
        })
    }

    /// A connection pool for one endpoint; nothing is dialed yet.
    pub(super) fn pool(&self, authority: &str) -> Pool {
        Pool {
            authority: authority.to_string(),
            slots: (0..self.connections)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// One `RemoteWrite` call carrying `message` (a framed message from [`frame`]),
    /// answered within `budget`.
    pub(super) async fn call(&self, pool: &Pool, message: Bytes, budget: Duration) -> Attempt {
        match tokio::time::timeout(
            budget,
            self.exchange(pool, REMOTE_WRITE_PATH, message, budget),
        )
        .await
        {
            Err(_) => Attempt::Retry(format!("no answer within {budget:?}")),
            Ok(Err(e)) => Attempt::Retry(e),
            Ok(Ok(status)) => classify(status.code, &status.message),
        }
    }

    /// Asks the endpoint's gRPC health service whether it serves (for `doctor`).
    pub(crate) async fn health(&self, authority: &str, budget: Duration) -> Result<bool, String> {
        let pool = self.pool(authority);
        // An empty HealthCheckRequest: the server as a whole.
        let empty = Bytes::from_static(&[0, 0, 0, 0, 0]);
        let status = tokio::time::timeout(budget, self.exchange(&pool, HEALTH_PATH, empty, budget))
            .await
            .map_err(|_| format!("no answer within {budget:?}"))??;
        match status.code {
            0 => Ok(status.serving),
            code => Err(format!("{}: {}", code_name(code), status.message)),
        }
    }

    async fn exchange(
        &self,
        pool: &Pool,
        path: &str,
        message: Bytes,
        budget: Duration,
    ) -> Result<GrpcStatus, String> {
        let mut sender = self.sender(pool).await?;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut req = hyper::Request::post(format!("{scheme}://{}{path}", pool.authority))
            .header(hyper::header::CONTENT_TYPE, "application/grpc")
            .header(hyper::header::TE, "trailers")
            .header(hyper::header::USER_AGENT, USER_AGENT)
            .header("grpc-timeout", grpc_timeout(budget));
        if self.compression == GrpcCompression::Snappy && message.first() == Some(&1) {
            req = req.header("grpc-encoding", "snappy");
        }
        let req = req
            .body(Full::new(message))
            .map_err(|e| format!("building the request: {e}"))?;
        sender
            .ready()
            .await
            .map_err(|e| format!("connection to {}: {}", pool.authority, error_chain(&e)))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("{}: {}", pool.authority, error_chain(&e)))?;
        read_answer(resp).await
    }

    /// A live connection of `pool`, dialed when its slot has none or a closed one.
    async fn sender(&self, pool: &Pool) -> Result<SendRequest<Full<Bytes>>, String> {
        let i = pool.next.fetch_add(1, Ordering::Relaxed) % pool.slots.len();
        let mut slot = pool.slots[i].lock().await;
        if let Some(s) = slot.as_ref()
            && !s.is_closed()
        {
            return Ok(s.clone());
        }
        *slot = None;
        let s = tokio::time::timeout(self.connect_timeout, self.dial(&pool.authority))
            .await
            .map_err(|_| {
                format!(
                    "connecting to {} took over {:?}",
                    pool.authority, self.connect_timeout
                )
            })??;
        *slot = Some(s.clone());
        Ok(s)
    }

    async fn dial(&self, authority: &str) -> Result<SendRequest<Full<Bytes>>, String> {
        let tcp = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|e| format!("connecting to {authority}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .initial_stream_window_size(4 << 20)
            .initial_connection_window_size(16 << 20)
            .max_header_list_size(64 << 10);
        match &self.tls {
            None => handshake(&builder, tcp, authority).await,
            Some(tls) => {
                let host = rwgate_ring::url::host_of(authority)
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let name = ServerName::try_from(host.to_string())
                    .map_err(|e| format!("TLS server name {host:?}: {e}"))?;
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {authority}: {e}"))?;
                handshake(&builder, stream, authority).await
            }
        }
    }
}

/// The HTTP/2 handshake on `io`; the connection then runs as its own task.
async fn handshake<T>(
    builder: &hyper::client::conn::http2::Builder<TokioExecutor>,
    io: T,
    authority: &str,
) -> Result<SendRequest<Full<Bytes>>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = builder
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP/2 handshake with {authority}: {}", error_chain(&e)))?;
    tokio::spawn(conn);
    Ok(send)
}

/// One endpoint's connections.
pub(super) struct Pool {
    authority: String,
    slots: Vec<tokio::sync::Mutex<Option<SendRequest<Full<Bytes>>>>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("authority", &self.authority)
            .field("connections", &self.slots.len())
            .finish()
    }
}

const USER_AGENT: &str = concat!("rwgate/", env!("CARGO_PKG_VERSION"), " grpc");

/// The message rwgate sends one endpoint for one replica: a Thanos `WriteRequest` of
/// the given series with `tenant` and `replica = n + 1`, behind gRPC's 5-byte prefix,
/// snappy-framed when asked. An uncompressed message is written into a buffer of
/// `messages`, which goes back there once the send is done with it: a fresh buffer of
/// that size per message cost page faults on every first touch (about 2.5% of the
/// CPU on `edge-cluster`).
pub fn frame<I>(
    encoder: &mut Encoder,
    messages: &Arc<BufferPool>,
    batch: &WriteBatch,
    series: I,
    tenant: &str,
    replica_index: usize,
    compression: GrpcCompression,
) -> Result<Bytes, std::io::Error>
where
    I: IntoIterator<Item = usize> + Clone,
{
    let replica = replica_index as u64 + 1;
    match compression {
        GrpcCompression::None => {
            let mut out =
                encoder.encode_thanos(messages.take(0), batch, series, tenant, replica, 5);
            let len = (out.len() - 5) as u32;
            out[1..5].copy_from_slice(&len.to_be_bytes());
            Ok(BufferPool::shared(messages, out))
        }
        GrpcCompression::Snappy => {
            let raw = encoder.encode_thanos(Vec::new(), batch, series, tenant, replica, 0);
            let mut out = Vec::with_capacity(5 + snap::raw::max_compress_len(raw.len()) / 2);
            out.extend_from_slice(&[1, 0, 0, 0, 0]);
            let mut w = snap::write::FrameEncoder::new(out);
            w.write_all(&raw)?;
            let mut out = w.into_inner().map_err(|e| e.into_error())?;
            let len = (out.len() - 5) as u32;
            out[1..5].copy_from_slice(&len.to_be_bytes());
            Ok(Bytes::from(out))
        }
    }
}

/// `grpc-timeout`: at most 8 digits, in milliseconds (or seconds past that).
fn grpc_timeout(budget: Duration) -> String {
    let ms = budget.as_millis().max(1);
    if ms < 100_000_000 {
        format!("{ms}m")
    } else {
        format!("{}S", budget.as_secs().min(99_999_999))
    }
}

/// What an answer said.
#[derive(Debug, Default)]
struct GrpcStatus {
    code: u32,
    message: String,
    /// For a health check: the answer's status field was SERVING.
    serving: bool,
}

async fn read_answer(resp: hyper::Response<hyper::body::Incoming>) -> Result<GrpcStatus, String> {
    let (parts, mut body) = resp.into_parts();
    // A trailers-only answer carries the status in its headers.
    if let Some(status) = status_of(&parts.headers) {
        return Ok(status);
    }
    if parts.status != hyper::StatusCode::OK {
        return Err(format!(
            "HTTP {} instead of a gRPC answer",
            parts.status.as_u16()
        ));
    }
    let grpc = parts
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !grpc {
        return Err("answer is not gRPC (content-type is not application/grpc)".into());
    }
    let mut message = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the answer: {}", error_chain(&e)))?;
        match frame.into_data() {
            Ok(data) => {
                if message.len() + data.len() > MAX_ANSWER_BYTES + 5 {
                    return Err(format!(
                        "answer larger than the {MAX_ANSWER_BYTES}-byte limit"
                    ));
                }
                message.extend_from_slice(&data);
            }
            Err(frame) => {
                if let Some(mut status) = frame.trailers_ref().and_then(status_of) {
                    status.serving = health_serving(&message);
                    return Ok(status);
                }
            }
        }
    }
    Err("the answer ended without grpc-status".into())
}

/// `grpc-status` and `grpc-message` of a header block, when it has a status.
fn status_of(headers: &hyper::HeaderMap) -> Option<GrpcStatus> {
    let code = headers.get("grpc-status")?;
    let code = std::str::from_utf8(code.as_bytes())
        .ok()
        .and_then(|c| c.parse::<u32>().ok())
        // An unparsable status is UNKNOWN, as grpc-go reads it.
        .unwrap_or(2);
    let message = headers
        .get("grpc-message")
        .map(|m| percent_decode(m.as_bytes()))
        .unwrap_or_default();
    Some(GrpcStatus {
        code,
        message,
        serving: false,
    })
}

/// A `HealthCheckResponse` framed message says SERVING (field 1 = 1).
fn health_serving(framed: &[u8]) -> bool {
    framed.len() >= 7 && framed[0] == 0 && framed[5..7] == [0x08, 0x01]
}

/// gRPC's percent-encoding of `grpc-message`, decoded lossily and cut to
/// [`MAX_MESSAGE_CHARS`].
fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            raw[i],
            raw.get(i + 1).copied().and_then(hex),
            raw.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out)
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect()
}

/// A status onto the quorum, as a Thanos router reads an ingestor's answer.
fn classify(code: u32, message: &str) -> Attempt {
    let what = format!("{} {}", code_name(code), message.trim());
    match code {
        0 => Attempt::Done(Outcome::Written),
        // Out of order, duplicate, too old, bad labels: final, the 409 side.
        6 => Attempt::Done(Outcome::Conflict(what)),
        // A bad request (replica number): never passes.
        3 => Attempt::Done(Outcome::Rejected(400, what)),
        // Unavailable, ResourceExhausted, DeadlineExceeded, Internal and the rest:
        // retried, and a failure against the quorum when they last.
        _ => Attempt::Retry(what),
    }
}

/// gRPC's name of a status code.
pub fn code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES.get(code as usize).copied().unwrap_or("Unknown")
}

fn tls_connector(cfg: &ForwardConfig) -> Result<tokio_rustls::TlsConnector, ForwardSetupError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    crate::tls::install_crypto_provider();
    let builder = rustls::ClientConfig::builder();
    let builder = match &cfg.tls.ca_file {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(ca)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| ForwardSetupError(format!("{}: {e}", ca.display())))?;
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| ForwardSetupError(format!("{}: {e}", ca.display())))?;
            }
            builder.with_root_certificates(roots)
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(|e| ForwardSetupError(format!("system roots: {e}")))?
        }
    };
    let mut config = match (&cfg.tls.cert_file, &cfg.tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| ForwardSetupError(format!("{}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| ForwardSetupError(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ForwardSetupError(format!("client certificate: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A framed snappy message as rwgate sends it, and the message it carries. Go's
    /// `klauspost/compress/snappy` reader, which Thanos' gRPC snappy codec uses, decoded
    /// the checked-in copy to exactly the checked-in message
    /// (`fixtures/grpc_snappy_check.go`); this test keeps rwgate's output equal to it.
    #[test]
    fn snappy_framed_messages_are_the_bytes_thanos_snappy_reader_decoded() {
        use prost::Message;
        use rwgate_proto::prometheus as v1;
        let req = v1::WriteRequest {
            timeseries: (0..300)
                .map(|i| v1::TimeSeries {
                    labels: vec![
                        v1::Label {
                            name: "__name__".into(),
                            value: "node_cpu_seconds_total".into(),
                        },
                        v1::Label {
                            name: "instance".into(),
                            value: format!("10.0.0.{}:9100", i % 50),
                        },
                        v1::Label {
                            name: "series".into(),
                            value: i.to_string(),
                        },
                    ],
                    samples: vec![v1::Sample {
                        value: i as f64 * 1.5,
                        timestamp: 1_700_000_000_000 + i,
                    }],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let limits = rwgate_wire::Limits::default();
        let batch = rwgate_wire::decode(
            rwgate_wire::Protocol::V1,
            req.encode_to_vec().into(),
            &limits,
            0,
        )
        .expect("decodes");
        let mut enc = Encoder::new();
        let messages = Arc::new(BufferPool::new(2, 1 << 20));
        let framed = frame(
            &mut enc,
            &messages,
            &batch,
            0..batch.len(),
            "tenant-a",
            1,
            GrpcCompression::Snappy,
        )
        .expect("frames");
        let raw = enc.encode_thanos(Vec::new(), &batch, 0..batch.len(), "tenant-a", 2, 0);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        if std::env::var_os("RWGATE_REGENERATE").is_some() {
            std::fs::write(dir.join("grpc-snappy-framed.bin"), &framed).expect("write");
            std::fs::write(dir.join("grpc-snappy-message.bin"), &raw).expect("write");
        }
        let read = |name: &str| std::fs::read(dir.join(name)).expect("fixture");
        assert_eq!(&framed[..], &read("grpc-snappy-framed.bin")[..]);
        assert_eq!(raw, read("grpc-snappy-message.bin"));
        assert_eq!(framed[0], 1, "compressed flag");
        let thanos =
            rwgate_proto::thanos::WriteRequest::decode(&raw[..]).expect("a Thanos WriteRequest");
        assert_eq!((thanos.tenant.as_str(), thanos.replica), ("tenant-a", 2));
        assert_eq!(thanos.timeseries, req.timeseries);
        let uncompressed = frame(
            &mut enc,
            &messages,
            &batch,
            0..batch.len(),
            "tenant-a",
            1,
            GrpcCompression::None,
        )
        .expect("frames");
        assert_eq!(
            &uncompressed[..5],
            &[0, 0, 0, (raw.len() >> 8) as u8, raw.len() as u8][..]
        );
        assert_eq!(&uncompressed[5..], &raw[..]);
    }

    #[test]
    fn statuses_map_onto_the_quorum_as_a_router_reads_them() {
        assert!(matches!(classify(0, ""), Attempt::Done(Outcome::Written)));
        assert!(matches!(
            classify(6, "out of order"),
            Attempt::Done(Outcome::Conflict(m)) if m == "AlreadyExists out of order"
        ));
        assert!(matches!(
            classify(3, "replica"),
            Attempt::Done(Outcome::Rejected(400, _))
        ));
        for code in [14, 8, 4, 13, 2, 12, 99] {
            assert!(matches!(classify(code, "x"), Attempt::Retry(_)), "{code}");
        }
    }

    #[test]
    fn grpc_messages_are_percent_decoded_and_bounded() {
        assert_eq!(percent_decode(b"out%20of%20order%"), "out of order%");
        assert_eq!(percent_decode(b"%zz%4"), "%zz%4");
        assert_eq!(percent_decode(&[b'a'; 2000]).len(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn timeouts_fit_eight_digits() {
        assert_eq!(grpc_timeout(Duration::from_millis(1500)), "1500m");
        assert_eq!(grpc_timeout(Duration::ZERO), "1m");
        assert_eq!(grpc_timeout(Duration::from_secs(200_000)), "200000S");
    }
}
