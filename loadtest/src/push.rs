//! Sending a pre-built workload and reporting what happened.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::workload::{Payload, Proto, Workload};

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Report {
    /// Wall time of the run in seconds.
    pub seconds: f64,
    /// Requests sent (answered or failed).
    pub requests: u64,
    /// Samples sent.
    pub samples_sent: u64,
    /// Samples in requests answered 2xx.
    pub samples_acked: u64,
    /// Samples per second sent.
    pub sent_per_second: f64,
    /// Samples per second acknowledged.
    pub acked_per_second: f64,
    /// Answers by HTTP status.
    pub status: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer.
    pub errors: u64,
    /// The first such error.
    pub first_error: Option<String>,
    /// Request latency.
    pub latency_ms: Latency,
    /// CPU seconds the generator itself used (it must stay small next to the target's).
    pub generator_cpu_seconds: f64,
    /// Samples acknowledged per series id and tenant, `tenant/id` (only with
    /// `track_acks`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub acked_by_series: BTreeMap<String, u64>,
}

/// Counters the workers share.
struct Shared {
    next: AtomicU64,
    scheduled: AtomicU64,
    requests: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    errors: AtomicU64,
    acked_payloads: Vec<AtomicU64>,
    status: std::sync::Mutex<BTreeMap<u16, u64>>,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Shared {
    fn new(payloads: usize) -> Shared {
        Shared {
            next: AtomicU64::new(0),
            scheduled: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            acked_payloads: (0..payloads).map(|_| AtomicU64::new(0)).collect(),
            status: Default::default(),
            first_error: Default::default(),
        }
    }

    /// Counts one answered or failed request for payload `idx`.
    fn record(&self, idx: usize, samples: u64, answer: Result<reqwest::StatusCode, String>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.sent.fetch_add(samples, Ordering::Relaxed);
        match answer {
            Ok(code) => {
                if code.is_success() {
                    self.acked.fetch_add(samples, Ordering::Relaxed);
                    self.acked_payloads[idx].fetch_add(1, Ordering::Relaxed);
                }
                *lock(&self.status).entry(code.as_u16()).or_insert(0) += 1;
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                lock(&self.first_error).get_or_insert(e);
            }
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// When a run starts and stops.
#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    end: Option<Instant>,
}

fn latency_histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// Sends `payloads` to `url` as `w` says. `progress` draws a progress line on stderr.
/// `track_acks` records acknowledged samples per series (for end-to-end checks).
pub async fn run(
    w: &Workload,
    payloads: Arc<Vec<Payload>>,
    url: &str,
    progress: bool,
    track_acks: bool,
) -> Report {
    let cpu_start = crate::proc::cpu_seconds("self").unwrap_or(0.0);
    rwgate_gateway::tls::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(w.concurrency.max(1))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default();
    let shared = Arc::new(Shared::new(payloads.len()));
    let start = Instant::now();
    let clock = Clock {
        start,
        end: w.duration.map(|d| start + d),
    };
    let bar = progress.then(|| progress_bar(shared.clone(), start));

    let workers: Vec<_> = (0..w.concurrency.max(1))
        .map(|_| {
            let (shared, payloads, client, w, url) = (
                shared.clone(),
                payloads.clone(),
                client.clone(),
                w.clone(),
                url.to_string(),
            );
            tokio::spawn(async move { worker(&w, &payloads, &client, &url, &shared, clock).await })
        })
        .collect();
    let mut hist = latency_histogram();
    for wk in workers {
        if let Ok(h) = wk.await {
            let _ = hist.add(h);
        }
    }
    if let Some((bar, ticker)) = bar {
        ticker.abort();
        bar.finish_and_clear();
    }
    let mut report = report(&shared, &hist, start.elapsed().as_secs_f64());
    report.generator_cpu_seconds = crate::proc::cpu_seconds("self").unwrap_or(0.0) - cpu_start;
    if track_acks {
        report.acked_by_series = acked_by_series(w, &payloads, &shared);
    }
    report
}

/// A spinner on stderr, updated every 500ms until the ticker task is aborted.
fn progress_bar(
    shared: Arc<Shared>,
    start: Instant,
) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(200));
    let b = bar.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let secs = start.elapsed().as_secs_f64().max(1e-9);
            let sent = shared.sent.load(Ordering::Relaxed);
            let acked = shared.acked.load(Ordering::Relaxed);
            b.set_message(format!(
                "{:.1}s sent {sent} samples ({:.0}/s), acked {acked} ({:.0}/s), errors {}",
                secs,
                sent as f64 / secs,
                acked as f64 / secs,
                shared.errors.load(Ordering::Relaxed)
            ));
        }
    });
    (bar, ticker)
}

/// One sender: takes the next payload, waits for its slot when a rate is set, sends
/// it, and records the answer, until the request count or the duration runs out.
async fn worker(
    w: &Workload,
    payloads: &[Payload],
    client: &reqwest::Client,
    url: &str,
    shared: &Shared,
    clock: Clock,
) -> Histogram<u64> {
    let mut hist = latency_histogram();
    loop {
        let n = shared.next.fetch_add(1, Ordering::Relaxed);
        if w.requests.is_some_and(|limit| n >= limit)
            || clock.end.is_some_and(|e| Instant::now() >= e)
        {
            break;
        }
        let idx = (n % payloads.len() as u64) as usize;
        let p = &payloads[idx];
        if w.rate > 0.0 {
            let at = shared.scheduled.fetch_add(p.samples, Ordering::Relaxed) as f64 / w.rate;
            let due = clock.start + Duration::from_secs_f64(at);
            if clock.end.is_some_and(|e| due >= e) {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
        }
        let t0 = Instant::now();
        let answer = match request(client, url, w, p).send().await {
            Ok(resp) => {
                let code = resp.status();
                let _ = resp.bytes().await;
                let _ = hist.record(t0.elapsed().as_micros().max(1) as u64);
                Ok(code)
            }
            Err(e) => Err(e.to_string()),
        };
        shared.record(idx, p.samples, answer);
    }
    hist
}

/// The remote-write request for payload `p`, with its tenant's token or header.
fn request(
    client: &reqwest::Client,
    url: &str,
    w: &Workload,
    p: &Payload,
) -> reqwest::RequestBuilder {
    let req = client.post(url);
    let req = match w.protocol {
        Proto::V1 | Proto::V2 => {
            let (version, protocol) = if w.protocol == Proto::V1 {
                ("0.1.0", rwgate_wire::Protocol::V1)
            } else {
                ("2.0.0", rwgate_wire::Protocol::V2)
            };
            req.header("Content-Encoding", "snappy")
                .header("X-Prometheus-Remote-Write-Version", version)
                .header("Content-Type", protocol.content_type())
        }
        Proto::Otlp => req
            .header("Content-Encoding", "gzip")
            .header("Content-Type", "application/x-protobuf"),
    };
    let tenant = &w.tenants[p.tenant];
    let req = match w.token_of(tenant) {
        Some(token) => req.bearer_auth(token),
        None => req.header(w.tenant_header.as_str(), tenant.as_str()),
    };
    req.body(p.body.clone())
}

/// The report from the shared counters and the merged latency histogram.
fn report(shared: &Shared, hist: &Histogram<u64>, seconds: f64) -> Report {
    let ms = |v: u64| v as f64 / 1000.0;
    let sent = shared.sent.load(Ordering::Relaxed);
    let acked = shared.acked.load(Ordering::Relaxed);
    Report {
        seconds,
        requests: shared.requests.load(Ordering::Relaxed),
        samples_sent: sent,
        samples_acked: acked,
        sent_per_second: sent as f64 / seconds.max(1e-9),
        acked_per_second: acked as f64 / seconds.max(1e-9),
        status: lock(&shared.status).clone(),
        errors: shared.errors.load(Ordering::Relaxed),
        first_error: lock(&shared.first_error).clone(),
        latency_ms: Latency {
            p50: ms(hist.value_at_quantile(0.5)),
            p90: ms(hist.value_at_quantile(0.9)),
            p99: ms(hist.value_at_quantile(0.99)),
            max: ms(hist.max()),
        },
        generator_cpu_seconds: 0.0,
        acked_by_series: BTreeMap::new(),
    }
}

/// Samples acknowledged per `tenant/series id`.
fn acked_by_series(w: &Workload, payloads: &[Payload], shared: &Shared) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (p, n) in payloads.iter().zip(&shared.acked_payloads) {
        let n = n.load(Ordering::Relaxed);
        for id in &p.ids {
            *out.entry(format!("{}/{id}", w.tenants[p.tenant]))
                .or_insert(0) += n * w.samples_per_series as u64;
        }
    }
    out
}

impl Report {
    /// The human-readable summary.
    pub fn text(&self) -> String {
        let codes: Vec<String> = self
            .status
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        let mut s = format!(
            "requests      {}\nsamples sent  {} ({:.0}/s)\nsamples acked {} ({:.0}/s)\nstatus codes  {}\nerrors        {}\nlatency ms    p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}\nduration      {:.2}s\ngenerator CPU {:.2}s ({:.0}% of one core)\n",
            self.requests,
            self.samples_sent,
            self.sent_per_second,
            self.samples_acked,
            self.acked_per_second,
            if codes.is_empty() {
                "-".into()
            } else {
                codes.join(", ")
            },
            self.errors,
            self.latency_ms.p50,
            self.latency_ms.p90,
            self.latency_ms.p99,
            self.latency_ms.max,
            self.seconds,
            self.generator_cpu_seconds,
            100.0 * self.generator_cpu_seconds / self.seconds.max(1e-9),
        );
        if let Some(e) = &self.first_error {
            s.push_str(&format!("first error   {e}\n"));
        }
        s
    }
}
