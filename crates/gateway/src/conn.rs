//! Connections on the remote-write listener: the accept loop with its connection cap,
//! TLS handshakes off the accept loop, and per-connection header-read and idle
//! keep-alive timeouts (nginx's `client_header_timeout` and `keepalive_timeout`).
//!
//! What one connection may hold is bounded here: hyper's read buffer
//! ([`READ_BUFFER_MAX`]), the time it may take to send a request's headers, and the
//! time it may sit idle between requests. The body is bounded by the ingest handler
//! (byte budget charged as bytes arrive, minimum transfer rate). Past
//! `overload.max_connections` a new connection gets a canned 503 with `Retry-After` and
//! is closed, so a client sees a retry hint rather than a reset.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::events;
use crate::tls::{CertField, PeerIdentity};

/// Largest read buffer hyper keeps per connection (headers must fit in it; body chunks
/// pass through it). hyper's default is about 400 KiB, which at thousands of
/// connections was most of the process' memory.
pub const READ_BUFFER_MAX: usize = 16 << 10;

/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Refusals (canned 503s past the connection cap) written at once; connections past
/// this are closed without an answer.
const MAX_REFUSALS_AT_ONCE: usize = 64;

/// How long a refused connection may take to send its request head, and then how long
/// the rest is drained before the connection is closed.
const REFUSAL_LINGER: Duration = Duration::from_millis(500);

/// The answer to a connection past `overload.max_connections`.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 46\r\n\r\noverloaded: too many connections, retry later\n";

/// Connections the kernel queues for `accept` (capped by `net.core.somaxconn`). tokio's
/// default of 1024 overflowed when thousands of clients reconnected at once (their
/// connections were reset instead of queued).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds the remote-write listener with [`LISTEN_BACKLOG`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The connection settings of the remote-write listener.
#[derive(Debug, Clone)]
pub struct ConnSettings {
    /// Open connections past which new ones are refused with 503.
    pub max_connections: usize,
    /// Time from accepting a connection, or from the first byte of a request, until
    /// its headers are complete.
    pub header_read_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// TLS, with the certificate field that names the tenant.
    pub tls: Option<(Arc<rustls::ServerConfig>, CertField)>,
}

/// Counts open connections; wakes the drain when the last one closes.
#[derive(Debug, Default)]
pub struct OpenConnections {
    open: AtomicUsize,
    closed: Notify,
}

impl OpenConnections {
    /// Connections open now.
    pub fn count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Resolves once no connection is open.
    pub async fn all_closed(&self) {
        loop {
            let notified = self.closed.notified();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn open(self: &Arc<Self>) -> OpenGuard {
        let n = self.open.fetch_add(1, Ordering::AcqRel) + 1;
        events::ConnectionsOpen(n).emit();
        OpenGuard(self.clone())
    }
}

struct OpenGuard(Arc<OpenConnections>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let n = self.0.open.fetch_sub(1, Ordering::AcqRel) - 1;
        events::ConnectionsOpen(n).emit();
        if n == 0 {
            self.0.closed.notify_waiters();
        }
    }
}

/// Accepts connections on `listener` and serves `router` on each until `shutdown`
/// turns true. Then the loop keeps accepting (so that probes see 503 instead of a
/// refused connection) but serves each new connection for one request only, and open
/// connections close after the request they are handling.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ConnSettings,
    open: Arc<OpenConnections>,
    shutdown: watch::Receiver<bool>,
) {
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_AT_ONCE));
    let tls = settings
        .tls
        .as_ref()
        .map(|(cfg, field)| (TlsAcceptor::from(cfg.clone()), *field));
    let settings = Arc::new(settings);
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                events::AcceptFailed(&e).emit();
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if open.count() >= settings.max_connections {
            refuse(stream, addr, &refusals);
            continue;
        }
        events::ConnectionAccepted.emit();
        let guard = open.open();
        let conn = Connection {
            router: router.clone(),
            settings: settings.clone(),
            shutdown: shutdown.clone(),
            addr,
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let _guard = guard;
            match tls {
                None => conn.run(stream, PeerIdentity::plain(addr)).await,
                Some((acceptor, field)) => {
                    if let Some((tls, peer)) = handshake(acceptor, field, stream, addr).await {
                        conn.run(tls, peer).await;
                    }
                }
            }
        });
    }
}

/// Answers a connection past the cap with a 503 and closes it after a short linger, so
/// that the client reads the answer instead of a reset.
fn refuse(mut stream: TcpStream, addr: SocketAddr, refusals: &Arc<Semaphore>) {
    events::ConnectionRefused(addr).emit();
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            let mut buf = [0u8; 4096];
            // Answer once the request head is in: an HTTP client that gets an answer
            // before it has sent its request takes it for a broken connection.
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 << 10 {
                match tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            if stream.write_all(REFUSAL).await.is_err() {
                return;
            }
            let _ = stream.shutdown().await;
            // Read what is left of the request so that closing does not reset it.
            while let Ok(n) = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    });
}

async fn handshake(
    acceptor: TlsAcceptor,
    field: CertField,
    stream: TcpStream,
    addr: SocketAddr,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, PeerIdentity)> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let peer = PeerIdentity::from_tls(addr, tls.get_ref().1, field);
            Some((tls, peer))
        }
        Ok(Err(e)) => {
            events::ConnectionClosed {
                peer: addr,
                reason: "tls_handshake",
                error: Some(&e),
            }
            .emit();
            None
        }
        Err(_) => {
            events::ConnectionClosed {
                peer: addr,
                reason: "tls_handshake",
                error: Some(&"handshake timed out"),
            }
            .emit();
            None
        }
    }
}

struct Connection {
    router: Router,
    settings: Arc<ConnSettings>,
    shutdown: watch::Receiver<bool>,
    addr: SocketAddr,
}

impl Connection {
    async fn run<T>(mut self, io: T, peer: PeerIdentity)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let draining = *self.shutdown.borrow_and_update();
        let svc = {
            let (router, activity) = (self.router.clone(), activity.clone());
            hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer.clone()));
                let request = activity.begin_request();
                let fut = router.clone().call(req);
                async move {
                    let resp = fut.await;
                    drop(request);
                    resp
                }
            })
        };
        let io = TokioIo::new(Tracked {
            inner: io,
            activity: activity.clone(),
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .max_buf_size(READ_BUFFER_MAX)
            .keep_alive(!draining)
            .serve_connection(io, svc);
        let mut conn = pin!(conn);
        let mut draining = draining;
        loop {
            let check_at = activity.check_at(&self.settings);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        let reason = if e.is_parse() { "bad_request" } else { "io_error" };
                        events::ConnectionClosed { peer: self.addr, reason, error: Some(&e) }.emit();
                    }
                    return;
                }
                () = tokio::time::sleep_until(check_at.into()) => {
                    if let Some(reason) = activity.expired(&self.settings, Instant::now()) {
                        events::ConnectionClosed { peer: self.addr, reason, error: None }.emit();
                        return;
                    }
                }
                changed = self.shutdown.changed(), if !draining => {
                    draining = true;
                    if changed.is_ok() {
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

/// What a connection is doing, as seen by its reads and its requests. Times are
/// milliseconds since `epoch`; 0 means unset.
#[derive(Debug)]
struct Activity {
    epoch: Instant,
    /// Requests being handled on this connection (hyper serves one at a time).
    requests: AtomicUsize,
    /// Since when the connection waits for a request: accept, or the last answer.
    waiting_since: AtomicU64,
    /// When the first byte of the next request arrived.
    head_started: AtomicU64,
    /// Whether a request has been answered (the first wait is a header wait).
    served: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            epoch: Instant::now(),
            requests: AtomicUsize::new(0),
            waiting_since: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            served: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        // +1 so that 0 stays "unset"; a connection lives far less than 2^64 ms.
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms.saturating_sub(1))
    }

    fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(0, Ordering::Release);
        RequestGuard(self.clone())
    }

    fn on_read(&self) {
        if self.requests.load(Ordering::Acquire) == 0
            && self.head_started.load(Ordering::Acquire) == 0
        {
            self.head_started.store(self.now_ms(), Ordering::Release);
        }
    }

    /// The timeout that applies now and when it runs out, if no request is in flight.
    fn deadline(&self, s: &ConnSettings) -> Option<(Instant, &'static str)> {
        if self.requests.load(Ordering::Acquire) > 0 {
            return None;
        }
        let head = self.head_started.load(Ordering::Acquire);
        if head != 0 {
            return Some((self.at(head) + s.header_read_timeout, "header_timeout"));
        }
        let since = self.at(self.waiting_since.load(Ordering::Acquire).max(1));
        if !self.served.load(Ordering::Acquire) {
            Some((since + s.header_read_timeout, "header_timeout"))
        } else {
            Some((since + s.idle_timeout, "idle_timeout"))
        }
    }

    /// When to look again: the deadline, or (while a request runs) a header timeout
    /// from now, since a request's end does not wake the watchdog.
    fn check_at(&self, s: &ConnSettings) -> Instant {
        match self.deadline(s) {
            Some((at, _)) => at,
            None => Instant::now() + s.header_read_timeout,
        }
    }

    fn expired(&self, s: &ConnSettings, now: Instant) -> Option<&'static str> {
        self.deadline(s)
            .and_then(|(at, reason)| (at <= now).then_some(reason))
    }
}

struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let a = &self.0;
        a.waiting_since.store(a.now_ms(), Ordering::Release);
        a.served.store(true, Ordering::Release);
        a.head_started.store(0, Ordering::Release);
        a.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The connection's byte stream, reporting reads to its [`Activity`].
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.on_read();
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_announces_its_own_length() {
        let text = std::str::from_utf8(REFUSAL).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        let announced = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|n| n.parse::<usize>().ok());
        assert_eq!(announced, Some(body.len()));
    }
}
