//! `rwgate-load flood`: hostile clients against a real `rwgate serve` process on
//! loopback, to check that memory follows the caps and not the number of connections,
//! and that slow or idle connections cannot starve a normal client.
//!
//! Three kinds of client, each on its own raw TCP connection:
//! - posters: keep-alive connections that post one large body after another;
//! - trickles: send a request's headers, then one body byte per second;
//! - idlers: connect and send nothing.
//!
//! Meanwhile a normal client sends one request at a time. The gateway forwards to
//! in-process sinks that answer after `--latency`. The report gives the gateway's peak
//! RSS (`VmHWM`), its RSS after the load, and how each request was answered: 2xx, 503,
//! other statuses, or a transport error (reset or close before an answer).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rwgate_testkit::receiver::{DevReceiver, Mode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::workload::{self, Workload};

/// `rwgate-load flood` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct FloodArgs {
    /// The rwgate binary (default: `rwgate` beside this one).
    #[arg(long)]
    pub rwgate: Option<PathBuf>,
    /// Connections posting large bodies.
    #[arg(long, default_value_t = 100)]
    pub posters: usize,
    /// Decoded size of each posted body, KiB.
    #[arg(long, default_value_t = 1024)]
    pub body_kib: usize,
    /// Connections trickling a body at one byte per second.
    #[arg(long, default_value_t = 0)]
    pub trickles: usize,
    /// Connections that send nothing.
    #[arg(long, default_value_t = 0)]
    pub idlers: usize,
    /// Requests of the normal client (one at a time).
    #[arg(long, default_value_t = 20)]
    pub normal_requests: usize,
    /// How long the posters post.
    #[arg(long, default_value = "10s", value_parser = humantime_serde::re::humantime::parse_duration)]
    pub duration: Duration,
    /// How long the sinks take to answer.
    #[arg(long, default_value = "1s", value_parser = humantime_serde::re::humantime::parse_duration)]
    pub latency: Duration,
    /// Extra flags for `rwgate serve` (repeatable).
    #[arg(long = "rwgate-arg", allow_hyphen_values = true)]
    pub rwgate_args: Vec<String>,
    /// Environment for `rwgate serve`, `KEY=VALUE` (repeatable), e.g. the deployment's
    /// `MALLOC_MMAP_THRESHOLD_=131072`.
    #[arg(long = "rwgate-env")]
    pub rwgate_env: Vec<String>,
    /// Flood this vmagent binary instead of rwgate (the peer, relaying to one sink).
    #[arg(long)]
    pub vmagent: Option<PathBuf>,
}

/// How the requests of one kind of client were answered.
#[derive(Debug, Default)]
pub struct Tally {
    /// 2xx answers.
    pub ok: AtomicU64,
    /// 503 answers.
    pub unavailable: AtomicU64,
    /// Other statuses.
    pub other: AtomicU64,
    /// Connection reset or closed before an answer.
    pub transport: AtomicU64,
}

impl Tally {
    fn record(&self, status: Option<u16>) {
        let slot = match status {
            Some(200..=299) => &self.ok,
            Some(503) => &self.unavailable,
            Some(_) => &self.other,
            None => &self.transport,
        };
        slot.fetch_add(1, Ordering::Relaxed);
    }

    fn line(&self) -> String {
        format!(
            "2xx {}, 503 {}, other {}, transport errors {}",
            self.ok.load(Ordering::Relaxed),
            self.unavailable.load(Ordering::Relaxed),
            self.other.load(Ordering::Relaxed),
            self.transport.load(Ordering::Relaxed)
        )
    }
}

/// What a flood measured.
#[derive(Debug)]
pub struct FloodReport {
    /// Gateway peak RSS, bytes.
    pub peak_rss: u64,
    /// Gateway RSS after the load stopped, bytes.
    pub rss_after: u64,
    /// Answers to the posters.
    pub posters: Tally,
    /// Answers to the normal client.
    pub normal: Tally,
    /// Bodies the gateway cut off for arriving too slowly (its
    /// `rwgate_slow_bodies_total`).
    pub trickles_cut: u64,
    /// Connections the gateway closed at the header timeout (its
    /// `rwgate_connections_closed_total{reason="header_timeout"}`).
    pub idlers_closed: u64,
}

impl std::fmt::Display for FloodReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "gateway peak RSS {:.1} MiB, after the load {:.1} MiB",
            self.peak_rss as f64 / 1048576.0,
            self.rss_after as f64 / 1048576.0
        )?;
        writeln!(f, "posters: {}", self.posters.line())?;
        writeln!(f, "normal client: {}", self.normal.line())?;
        writeln!(
            f,
            "gateway: bodies cut off for a slow rate {}, connections closed at the header timeout {}",
            self.trickles_cut, self.idlers_closed
        )
    }
}

/// The relay under test: rwgate, or vmagent as the peer.
struct Gateway {
    child: Option<Child>,
    peer: Option<crate::bench::Proc>,
    addr: SocketAddr,
    path: &'static str,
    admin: u16,
}

impl Gateway {
    fn pid(&self) -> String {
        match (&self.child, &self.peer) {
            (Some(c), _) => c.id().to_string(),
            (None, Some(p)) => p.pid(),
            (None, None) => String::new(),
        }
    }
}

async fn start_vmagent(
    bin: &std::path::Path,
    sink: &DevReceiver,
    dir: &std::path::Path,
) -> Result<Gateway, String> {
    let (bin, sink, dir) = (bin.to_path_buf(), sink.url(), dir.to_path_buf());
    let addr = sink
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .ok_or("sink URL")?
        .to_string();
    let (proc, url) =
        tokio::task::spawn_blocking(move || crate::bench::start_vmagent(&bin, &addr, &dir))
            .await
            .map_err(|e| e.to_string())??;
    let hostport = url
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .ok_or("vmagent URL")?;
    Ok(Gateway {
        child: None,
        peer: Some(proc),
        addr: hostport.parse().map_err(|e| format!("{hostport}: {e}"))?,
        path: "/api/v1/write",
        admin: 0,
    })
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn rwgate_binary(args: &FloodArgs) -> Result<PathBuf, String> {
    if let Some(p) = &args.rwgate {
        return Ok(p.clone());
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    Ok(me.with_file_name("rwgate"))
}

async fn start_gateway(
    args: &FloodArgs,
    sinks: &[DevReceiver],
    dir: &std::path::Path,
) -> Result<Gateway, String> {
    let rings = dir.join("hashrings.json");
    let urls: Vec<String> = sinks.iter().map(DevReceiver::url).collect();
    std::fs::write(
        &rings,
        serde_json::json!([{ "endpoints": urls }]).to_string(),
    )
    .map_err(|e| e.to_string())?;
    let port = crate::bench::free_port().map_err(|e| e.to_string())?;
    let admin = crate::bench::free_port().map_err(|e| e.to_string())?;
    let child = Command::new(rwgate_binary(args)?)
        .arg("serve")
        .arg("--hashrings")
        .arg(&rings)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
        .args(["--forward-deadline", "10s"])
        .args(&args.rwgate_args)
        .envs(args.rwgate_env.iter().filter_map(|kv| kv.split_once('=')))
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting rwgate: {e}"))?;
    let gw = Gateway {
        child: Some(child),
        peer: None,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        path: "/api/v1/receive",
        admin,
    };
    let ready = format!("http://127.0.0.1:{admin}/-/ready");
    tokio::task::spawn_blocking(move || {
        crate::bench::wait_http_ok(&ready, Duration::from_secs(20))
    })
    .await
    .map_err(|e| e.to_string())??;
    Ok(gw)
}

/// A body of about `kib` KiB decoded.
fn body_of(kib: usize) -> Bytes {
    let probe = |series: usize| {
        let w = Workload {
            series,
            batch: series,
            labels: 10,
            samples_per_series: 1,
            ..Workload::default()
        };
        workload::build(&w).swap_remove(0).body
    };
    let limits = rwgate_wire::Limits::default();
    let decoded = |b: &Bytes| rwgate_wire::decoded_len(b, &limits).unwrap_or(1).max(1);
    let sample = probe(1000);
    let series = (1000 * kib * 1024 / decoded(&sample)).max(1);
    probe(series)
}

/// The hostile clients write as `tenant-a`, the normal client as `tenant-b`.
/// Where the clients send.
#[derive(Debug, Clone, Copy)]
struct Target {
    addr: SocketAddr,
    path: &'static str,
}

fn request_head(target: &Target, tenant: &str, len: usize) -> String {
    let (addr, path) = (target.addr, target.path);
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nTHANOS-TENANT: {tenant}\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// Reads one answer; `None` on a reset or close before it. Keeps the connection
/// usable for the next request when the answer says nothing of closing.
async fn read_answer(s: &mut TcpStream) -> (Option<u16>, bool) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return (None, false),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 << 10 {
            return (None, false);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head.get(9..12).and_then(|s| s.parse::<u16>().ok());
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < len {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return (status, false),
            Ok(n) => have += n,
        }
    }
    (status, !head.contains("connection: close"))
}

/// One request on `conn` (reconnecting when needed).
async fn post(
    conn: &mut Option<TcpStream>,
    addr: SocketAddr,
    head: &[u8],
    body: &[u8],
) -> Option<u16> {
    if conn.is_none() {
        *conn = TcpStream::connect(addr).await.ok();
    }
    let s = conn.as_mut()?;
    if s.write_all(head).await.is_err() || s.write_all(body).await.is_err() {
        // The answer may already be there (a refusal before the body was read).
        let (status, _) = read_answer(s).await;
        *conn = None;
        return status;
    }
    let (status, keep) = read_answer(s).await;
    if !keep {
        *conn = None;
    }
    status
}

async fn poster(target: Target, body: Bytes, until: Instant, tally: Arc<Tally>) {
    let (addr, head) = (target.addr, request_head(&target, "tenant-a", body.len()));
    let mut conn = None;
    while Instant::now() < until {
        let status = post(&mut conn, addr, head.as_bytes(), &body).await;
        tally.record(status);
        if status == Some(503) || status.is_none() {
            // What a sender does on a retry hint: wait before trying again.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Sends headers announcing 100 KB, then a byte a second until the gateway answers or
/// closes, or `stop`; then starts again on a new connection.
async fn trickle(target: Target, stop: Arc<AtomicBool>) {
    let addr = target.addr;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if s.write_all(request_head(&target, "tenant-a", 100_000).as_bytes())
            .await
            .is_err()
        {
            continue;
        }
        while !stop.load(Ordering::Relaxed) {
            if s.write_all(b"x").await.is_err() {
                break;
            }
            let mut answer = [0u8; 1];
            if tokio::time::timeout(Duration::from_secs(1), s.peek(&mut answer))
                .await
                .is_ok()
            {
                break;
            }
        }
    }
}

/// Connects and sends nothing; when the gateway closes the connection, connects
/// again, as an attacker holding connections open would.
async fn idler(addr: SocketAddr, stop: Arc<AtomicBool>) {
    let mut probe = [0u8; 1];
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            if tokio::time::timeout(Duration::from_millis(500), s.read(&mut probe))
                .await
                .is_ok()
            {
                break;
            }
        }
    }
}

/// The sum of a counter's series in a Prometheus text exposition.
fn counter(text: &str, name: &str, labels: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Runs a flood and reports what the gateway did.
pub async fn run(args: &FloodArgs) -> Result<FloodReport, String> {
    let mut sinks = Vec::new();
    for _ in 0..3 {
        let s = DevReceiver::start_with(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            "THANOS-TENANT",
            false,
        )
        .await
        .map_err(|e| e.to_string())?;
        s.set_mode(Mode {
            delay: args.latency,
            ..Mode::default()
        });
        sinks.push(s);
    }
    let dir = std::env::temp_dir().join(format!("rwgate-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let gw = match &args.vmagent {
        Some(bin) => start_vmagent(bin, &sinks[0], &dir).await?,
        None => start_gateway(args, &sinks, &dir).await?,
    };
    let pid = gw.pid();
    let target = Target {
        addr: gw.addr,
        path: gw.path,
    };
    let addr = gw.addr;
    let stop = Arc::new(AtomicBool::new(false));

    let mut background = Vec::new();
    for _ in 0..args.idlers {
        background.push(tokio::spawn(idler(addr, stop.clone())));
    }
    for _ in 0..args.trickles {
        background.push(tokio::spawn(trickle(target, stop.clone())));
    }

    let body = body_of(args.body_kib);
    let until = Instant::now() + args.duration;
    let posters = Arc::new(Tally::default());
    let mut load = Vec::new();
    for _ in 0..args.posters {
        load.push(tokio::spawn(poster(
            target,
            body.clone(),
            until,
            posters.clone(),
        )));
    }

    // The normal client: small requests, one at a time, spread over the run.
    let normal = Arc::new(Tally::default());
    let small = body_of(16);
    let head = request_head(&target, "tenant-b", small.len());
    let gap = args.duration / (args.normal_requests.max(1) as u32 + 1);
    for _ in 0..args.normal_requests {
        tokio::time::sleep(gap).await;
        let mut conn = None;
        let status = tokio::time::timeout(
            Duration::from_secs(15),
            post(&mut conn, addr, head.as_bytes(), &small),
        )
        .await
        .unwrap_or(None);
        normal.record(status);
    }
    for t in load {
        let _ = t.await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in background {
        t.abort();
    }
    // Let in-flight requests end before reading what stays resident.
    tokio::time::sleep(args.latency + Duration::from_secs(1)).await;
    let metrics_url = format!("http://127.0.0.1:{}/metrics", gw.admin);
    let metrics = if gw.admin == 0 {
        String::new()
    } else {
        tokio::task::spawn_blocking(move || crate::bench::http_get(&metrics_url))
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or_default()
    };
    let report = FloodReport {
        peak_rss: crate::proc::peak_rss_bytes(&pid).unwrap_or(0),
        rss_after: crate::proc::rss_bytes(&pid).unwrap_or(0),
        posters: Arc::try_unwrap(posters).unwrap_or_default(),
        normal: Arc::try_unwrap(normal).unwrap_or_default(),
        trickles_cut: counter(&metrics, "rwgate_slow_bodies_total", ""),
        idlers_closed: counter(
            &metrics,
            "rwgate_connections_closed_total",
            "reason=\"header_timeout\"",
        ),
    };
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}
