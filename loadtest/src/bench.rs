//! `rwgate-load bench`: the same load through rwgate and through vmagent, relaying to the
//! same sinks, each a separate process on loopback, measured side by side.
//!
//! For each relay and offered rate: a fresh relay process, then `rwgate-load push` (its
//! own process, so its CPU is its own) for the duration, then wait until the sinks stop
//! receiving. Delivered samples/s = samples the sinks received / (time from the start of
//! the push until the last one arrived). Relay CPU from `/proc/<pid>/stat`, peak RSS from
//! `VmHWM`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::push::Report;
use crate::workload::Workload;

/// Bench options.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Seconds of load per measurement.
    #[arg(long, value_parser = humantime_serde::re::humantime::parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Offered rates in samples/s, comma separated; 0 = as fast as possible.
    #[arg(long, value_delimiter = ',', default_value = "250000,500000,1000000,0")]
    pub rates: Vec<f64>,
    /// Scenario file for the workload (default: the edge-cluster scenario's numbers).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Requests in flight from the generator.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Sinks behind rwgate's hashring (vmagent, which cannot shard by URL in the Debian
    /// version, relays to the first).
    #[arg(long, default_value_t = 3)]
    pub sinks: usize,
    /// The rwgate binary (default: next to this one).
    #[arg(long)]
    pub rwgate: Option<PathBuf>,
    /// The vmagent binary (skipped when not found).
    #[arg(long, default_value = "vmagent")]
    pub vmagent: PathBuf,
    /// Rounds at maximum offered load (rate 0), each rwgate then vmagent; the summary
    /// gives the median ratio over the rounds. Other rates are measured once.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Where the markdown table and the SVG plot go.
    #[arg(long, default_value = "docs/bench")]
    pub out: PathBuf,
    /// `decode`: sinks decode and count every sample; `blackhole`: sinks answer 204
    /// without decoding, and delivered samples are the acknowledged ones once the
    /// relay's sends have stopped (relay cost not hidden behind the sinks' CPU).
    #[arg(long, value_enum, default_value = "decode")]
    pub sink: SinkKind,
    /// A YAML config for rwgate (e.g. `relabel_configs`); the listeners and the
    /// hashrings are set by the bench.
    #[arg(long)]
    pub rwgate_config: Option<PathBuf>,
    /// What the generator sends (default: the scenario's). With `otlp`, rwgate takes
    /// it at `/otlp/v1/metrics` and vmagent is left out: the Debian version predates
    /// its OpenTelemetry endpoint. Compare with a `v1` run of the same scenario.
    #[arg(long, value_enum)]
    pub protocol: Option<crate::workload::Proto>,
    /// How rwgate forwards to the sinks, comma separated: `http` (remote write to
    /// their URLs) and/or `grpc` (`thanos.WriteableStore/RemoteWrite` to their bare
    /// addresses, as a router's hashrings.json names them). Each is its own relay in
    /// every round, beside vmagent.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "http")]
    pub forward: Vec<Forward>,
    /// After the rounds, measure the latency rwgate adds: the same push at half of
    /// rwgate's saturation rate (the median delivered samples/s of its rounds at
    /// maximum load, the last `--forward` kind) through rwgate and straight to a sink.
    #[arg(long)]
    pub latency: bool,
}

/// How rwgate forwards in a bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Forward {
    /// HTTP remote write (snappy block bodies).
    Http,
    /// gRPC, uncompressed.
    Grpc,
}

impl Forward {
    /// The relay's name in the tables.
    fn relay(self) -> &'static str {
        match self {
            Forward::Http => "rwgate",
            Forward::Grpc => "rwgate-grpc",
        }
    }
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row {
    /// `rwgate` or `vmagent`.
    pub relay: String,
    /// Offered samples/s (0 = as fast as possible).
    pub offered: f64,
    /// What the generator managed to send, samples/s.
    pub sent: f64,
    /// Acknowledged by the relay, samples/s.
    pub acked: f64,
    /// Received by the sinks, samples/s.
    pub delivered: f64,
    /// Relay CPU seconds per million delivered samples.
    pub cpu_per_million: f64,
    /// Delivered samples per relay CPU-second.
    pub per_cpu_second: f64,
    /// Relay CPU use, in cores.
    pub cores: f64,
    /// Peak RSS of the relay, MiB.
    pub peak_rss_mib: f64,
    /// Generator CPU seconds.
    pub generator_cpu: f64,
    /// Non-2xx answers and errors seen by the generator.
    pub failures: u64,
}

pub(crate) struct Proc {
    child: Child,
}

impl Proc {
    pub(crate) fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) use rwgate_testkit::net::free_port;

/// Waits until `url` answers 200 with a body.
pub(crate) fn wait_http_ok(url: &str, timeout: Duration) -> Result<(), String> {
    let ready = rwgate_testkit::net::wait_until(timeout, Duration::from_millis(50), || {
        http_get(url).is_some_and(|b| !b.is_empty())
    });
    ready
        .then_some(())
        .ok_or_else(|| format!("{url} did not become ready"))
}

/// A blocking HTTP/1.0 GET on loopback: the body of a 200 answer.
pub(crate) fn http_get(url: &str) -> Option<String> {
    rwgate_testkit::net::http_get(url, Duration::from_secs(5))
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
}

/// What the sinks have received: samples when they decode, requests when they are
/// blackholes.
fn sink_samples(addrs: &[String]) -> u64 {
    addrs
        .iter()
        .filter_map(|a| http_get(&format!("http://{a}/stats")))
        .filter_map(|b| serde_json::from_str::<rwgate_testkit::receiver::Stats>(&b).ok())
        .map(|s| s.samples.max(s.attempts))
        .sum()
}

fn start_sink(me: &Path, kind: SinkKind) -> Result<(Proc, String), String> {
    let mut args = vec!["sink", "--listen", "127.0.0.1:0", "--no-series"];
    if kind == SinkKind::Blackhole {
        args.push("--blackhole");
    }
    let mut child = Command::new(me)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting a sink: {e}"))?;
    let stdout = child.stdout.take().ok_or("sink stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or("sink did not print its address")?
        .to_string();
    Ok((Proc { child }, addr))
}

fn start_rwgate(
    bin: &Path,
    sinks: &[String],
    dir: &Path,
    config: Option<&Path>,
    forward: Forward,
) -> Result<(Proc, String), String> {
    // A bare address is forwarded over gRPC, a URL over HTTP.
    let urls: Vec<String> = sinks
        .iter()
        .map(|a| match forward {
            Forward::Http => format!("http://{a}/api/v1/receive"),
            Forward::Grpc => a.clone(),
        })
        .collect();
    let rings = dir.join("hashrings.json");
    std::fs::write(
        &rings,
        serde_json::json!([{ "endpoints": urls }]).to_string(),
    )
    .map_err(|e| e.to_string())?;
    let (port, admin) = (
        free_port().map_err(|e| e.to_string())?,
        free_port().map_err(|e| e.to_string())?,
    );
    let mut cmd = Command::new(bin);
    cmd.arg("serve");
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.arg("--hashrings")
        .arg(&rings)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ])
        .env("RUST_LOG", "warn");
    let p = spawn_ready(cmd, &format!("http://127.0.0.1:{admin}/-/ready"))?;
    Ok((p, format!("http://127.0.0.1:{port}/api/v1/receive")))
}

/// Spawns `cmd` quietly and waits until `ready` answers 200.
fn spawn_ready(mut cmd: Command, ready: &str) -> Result<Proc, String> {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {:?}: {e}", cmd.get_program()))?;
    let p = Proc { child };
    wait_http_ok(ready, Duration::from_secs(10))?;
    Ok(p)
}

pub(crate) fn start_vmagent(bin: &Path, sink: &str, dir: &Path) -> Result<(Proc, String), String> {
    let port = free_port().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg(format!("-remoteWrite.url=http://{sink}/api/v1/receive"))
        .arg(format!(
            "-remoteWrite.tmpDataPath={}",
            dir.join("vmagent").display()
        ))
        .arg("-loggerLevel=ERROR");
    let p = spawn_ready(cmd, &format!("http://127.0.0.1:{port}/health"))?;
    Ok((p, format!("http://127.0.0.1:{port}/api/v1/write")))
}

fn push(
    me: &Path,
    url: &str,
    w: &Workload,
    rate: f64,
    duration: Duration,
) -> Result<Report, String> {
    let scenario = serde_json::json!({
        "tenants": w.tenants, "tenant_header": w.tenant_header, "series": w.series,
        "labels": w.labels, "samples_per_series": w.samples_per_series, "batch": w.batch,
        "concurrency": w.concurrency, "rate": rate, "duration": format!("{}ms", duration.as_millis()),
        "protocol": w.protocol,
    });
    let file =
        std::env::temp_dir().join(format!("rwgate-bench-scenario-{}.yaml", std::process::id()));
    std::fs::write(&file, scenario.to_string()).map_err(|e| e.to_string())?;
    let out = Command::new(me)
        .args(["push", "--json", "--url", url, "--scenario"])
        .arg(&file)
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("running push: {e}"))?;
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("push report: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// What a measurement runs against.
struct Target<'a> {
    relay: &'a str,
    pid: String,
    url: String,
    sinks: &'a [String],
}

fn measure(
    t: &Target<'_>,
    me: &Path,
    w: &Workload,
    rate: f64,
    duration: Duration,
    sink: SinkKind,
) -> Result<Row, String> {
    let (relay, pid, url, sinks) = (t.relay, t.pid.as_str(), t.url.as_str(), t.sinks);
    let before = sink_samples(sinks);
    let cpu0 = crate::proc::cpu_seconds(pid).unwrap_or(0.0);
    let t0 = Instant::now();
    let report = push(me, url, w, rate, duration)?;
    // Wait for the relay to deliver what it acknowledged.
    let mut last = sink_samples(sinks);
    let mut last_change = Instant::now();
    let flush_deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < flush_deadline && last_change.elapsed() < Duration::from_millis(1500) {
        std::thread::sleep(Duration::from_millis(100));
        let now = sink_samples(sinks);
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
    let wall = (t0.elapsed() - last_change.elapsed())
        .as_secs_f64()
        .max(1e-9);
    // Blackhole sinks count requests, not samples: once they stop arriving, every
    // acknowledged sample has been sent on.
    let delivered = match sink {
        SinkKind::Decode => last.saturating_sub(before) as f64,
        SinkKind::Blackhole => report.samples_acked as f64,
    };
    let cpu = crate::proc::cpu_seconds(pid).unwrap_or(0.0) - cpu0;
    let failures = report.errors
        + report
            .status
            .iter()
            .filter(|(c, _)| !(200..300).contains(*c))
            .map(|(_, n)| n)
            .sum::<u64>();
    Ok(Row {
        relay: relay.to_string(),
        offered: rate,
        sent: report.sent_per_second,
        acked: report.acked_per_second,
        delivered: delivered / wall,
        cpu_per_million: if delivered > 0.0 {
            cpu / delivered * 1e6
        } else {
            0.0
        },
        per_cpu_second: if cpu > 0.0 { delivered / cpu } else { 0.0 },
        cores: cpu / wall,
        peak_rss_mib: crate::proc::peak_rss_bytes(pid).unwrap_or(0) as f64 / (1 << 20) as f64,
        generator_cpu: report.generator_cpu_seconds,
        failures,
    })
}

/// What the bench's sinks do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SinkKind {
    /// Decode and count samples.
    Decode,
    /// Answer 204 unread.
    Blackhole,
}

/// One progress line per measurement on stderr, when it is a terminal (the table on
/// stdout is the result).
fn announce(rows: &[Row]) {
    use std::io::IsTerminal;
    let Some(r) = rows.last() else {
        return;
    };
    if !std::io::stderr().is_terminal() {
        return;
    }
    let offered = if r.offered == 0.0 {
        "max".to_string()
    } else {
        format!("{:.0}/s", r.offered)
    };
    eprintln!(
        "[{}] {} offered {offered}: delivered {:.0} samples/s, {:.3} CPU-s per 1M, {} failed",
        rows.len(),
        r.relay,
        r.delivered,
        r.cpu_per_million,
        r.failures
    );
}

/// Runs the whole benchmark and writes `<out>/relay.md` and `<out>/relay.svg`.
pub fn run(args: &BenchArgs) -> Result<String, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let rwgate = args
        .rwgate
        .clone()
        .unwrap_or_else(|| me.with_file_name("rwgate"));
    if !rwgate.exists() {
        return Err(format!(
            "{} not found: build it with `cargo build --release`",
            rwgate.display()
        ));
    }
    let mut w = match &args.scenario {
        Some(p) => Workload::from_file(p).map_err(|e| e.to_string())?,
        None => Workload::default(),
    };
    w.concurrency = args.concurrency;
    if let Some(p) = args.protocol {
        w.protocol = p;
    }
    let otlp = w.protocol == crate::workload::Proto::Otlp;
    let dir = std::env::temp_dir().join(format!("rwgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut sinks = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..args.sinks.max(1) {
        let (p, a) = start_sink(&me, args.sink)?;
        sinks.push(p);
        addrs.push(a);
    }
    let has_vmagent = !otlp
        && Command::new(&args.vmagent)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
    let mut rows = Vec::new();
    let rounds = |rate: f64| if rate == 0.0 { args.repeat.max(1) } else { 1 };
    for rate in args
        .rates
        .iter()
        .flat_map(|&r| std::iter::repeat_n(r, rounds(r)))
    {
        for &forward in &args.forward {
            let (p, url) = start_rwgate(
                &rwgate,
                &addrs,
                &dir,
                args.rwgate_config.as_deref(),
                forward,
            )?;
            let url = if otlp {
                url.replace("/api/v1/receive", "/otlp/v1/metrics")
            } else {
                url
            };
            let t = Target {
                relay: forward.relay(),
                pid: p.pid(),
                url,
                sinks: &addrs,
            };
            rows.push(measure(&t, &me, &w, rate, args.duration, args.sink)?);
            announce(&rows);
        }
        if has_vmagent {
            let _ = std::fs::remove_dir_all(dir.join("vmagent"));
            let (p, url) = start_vmagent(&args.vmagent, &addrs[0], &dir)?;
            let t = Target {
                relay: "vmagent",
                pid: p.pid(),
                url,
                sinks: &addrs,
            };
            rows.push(measure(&t, &me, &w, rate, args.duration, args.sink)?);
            announce(&rows);
        }
    }
    let latency = match (args.latency, args.forward.last()) {
        (true, Some(&forward)) => Some(added_latency(
            &me, &rwgate, &addrs, &dir, args, &w, &rows, forward,
        )?),
        _ => None,
    };
    drop(sinks);
    let _ = std::fs::remove_dir_all(&dir);
    let mut table = render(&rows, &w, args, has_vmagent);
    if let Some(l) = latency {
        table.push_str(&l);
    }
    std::fs::create_dir_all(&args.out).map_err(|e| e.to_string())?;
    std::fs::write(args.out.join("relay.md"), &table).map_err(|e| e.to_string())?;
    crate::bench::plot(&rows, &args.out.join("relay.svg"))?;
    Ok(table)
}

/// The latency rwgate adds at half its saturation rate: the same push through a fresh
/// rwgate and straight to the first sink, p50 and p99 of each and their difference.
#[allow(clippy::too_many_arguments)]
fn added_latency(
    me: &Path,
    rwgate: &Path,
    sinks: &[String],
    dir: &Path,
    args: &BenchArgs,
    w: &Workload,
    rows: &[Row],
    forward: Forward,
) -> Result<String, String> {
    let saturation = median(
        rows.iter()
            .filter(|r| r.relay == forward.relay() && r.offered == 0.0)
            .map(|r| r.delivered)
            .collect(),
    );
    if saturation <= 0.0 {
        return Err("--latency needs a round at maximum load (rate 0)".into());
    }
    let rate = saturation / 2.0;
    let (p, url) = start_rwgate(rwgate, sinks, dir, args.rwgate_config.as_deref(), forward)?;
    let through = push(me, &url, w, rate, args.duration)?;
    drop(p);
    let direct = push(
        me,
        &format!("http://{}/api/v1/receive", sinks[0]),
        w,
        rate,
        args.duration,
    )?;
    let (t, d) = (&through.latency_ms, &direct.latency_ms);
    Ok(format!(
        "\nLatency of a push at {rate:.0} samples/s (half of {}'s saturation), {} requests each:\n\n\
         | path | p50 ms | p99 ms |\n| --- | --- | --- |\n\
         | through {} | {:.2} | {:.2} |\n| straight to a sink | {:.2} | {:.2} |\n\
         | **added by rwgate** | **{:.2}** | **{:.2}** |\n",
        forward.relay(),
        through.requests.min(direct.requests),
        forward.relay(),
        t.p50,
        t.p99,
        d.p50,
        d.p99,
        t.p50 - d.p50,
        t.p99 - d.p99,
    ))
}

fn render(rows: &[Row], w: &Workload, args: &BenchArgs, has_vmagent: bool) -> String {
    let mut s = format!(
        "Workload: {} tenant(s) x {} series, {} labels, {} samples per series per request, {} series per request, {} concurrent requests, {}s per measurement. rwgate: RF 1 over {} sinks (rwgate: HTTP remote write, rwgate-grpc: gRPC uncompressed); vmagent: one remote-write URL.\n\n",
        w.tenants.len(),
        w.series,
        w.labels,
        w.samples_per_series,
        w.batch,
        w.concurrency,
        args.duration.as_secs(),
        args.sinks
    );
    s.push_str("| relay | offered samples/s | sent/s | acked/s | delivered/s | relay CPU s per 1M | samples per CPU-s | relay cores | peak RSS MiB | generator CPU s | failed requests |\n");
    s.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in rows {
        let offered = if r.offered == 0.0 {
            "max".to_string()
        } else {
            format!("{:.0}", r.offered)
        };
        s.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.3} | {:.0} | {:.2} | {:.1} | {:.2} | {} |\n",
            r.relay,
            offered,
            r.sent,
            r.acked,
            r.delivered,
            r.cpu_per_million,
            r.per_cpu_second,
            r.cores,
            r.peak_rss_mib,
            r.generator_cpu,
            r.failures
        ));
    }
    if has_vmagent {
        s.push_str(&summary(rows));
    } else {
        s.push_str("\nvmagent was not found: install Debian's victoria-metrics package for the comparison.\n");
    }
    s
}

/// The rounds at maximum offered load: each `relay` row with the vmagent row that
/// follows it (the same round).
fn max_rounds<'a>(rows: &'a [Row], relay: &str) -> Vec<(&'a Row, &'a Row)> {
    let mut out = Vec::new();
    let mut pending: Option<&Row> = None;
    for r in rows.iter().filter(|r| r.offered == 0.0) {
        if r.relay == relay {
            pending = Some(r);
        } else if r.relay == "vmagent"
            && let Some(p) = pending.take()
        {
            out.push((p, r));
        }
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The comparison at maximum offered load, per rwgate relay: one round as is, several
/// as medians (of the per-round ratios, and of each relay's rates) with the range of
/// the ratio.
fn summary(rows: &[Row]) -> String {
    let mut relays: Vec<&str> = rows
        .iter()
        .map(|r| r.relay.as_str())
        .filter(|r| *r != "vmagent")
        .collect();
    let mut seen = std::collections::HashSet::new();
    relays.retain(|r| seen.insert(*r));
    relays.iter().map(|relay| summary_of(rows, relay)).collect()
}

fn summary_of(rows: &[Row], relay: &str) -> String {
    let rounds = max_rounds(rows, relay);
    if rounds.is_empty() {
        return String::new();
    }
    let of = |f: fn(&(&Row, &Row)) -> f64| rounds.iter().map(f).collect::<Vec<f64>>();
    let ratios = of(|(a, b)| a.delivered / b.delivered.max(1e-9));
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    let head = if rounds.len() == 1 {
        "At maximum offered load".to_string()
    } else {
        format!(
            "At maximum offered load, medians of {} rounds (ratio range {lo:.2}x to {hi:.2}x)",
            rounds.len()
        )
    };
    format!(
        "\n{head}: {relay} delivers {:.2}x vmagent's samples/s ({:.0} vs {:.0}) and uses {:.2}x less CPU per sample ({:.3} vs {:.3} CPU-s per 1M).\n",
        median(ratios),
        median(of(|(a, _)| a.delivered)),
        median(of(|(_, b)| b.delivered)),
        median(of(|(a, b)| b.cpu_per_million / a.cpu_per_million.max(1e-9))),
        median(of(|(a, _)| a.cpu_per_million)),
        median(of(|(_, b)| b.cpu_per_million)),
    )
}

/// Delivered samples/s against offered load, one line per relay.
pub fn plot(rows: &[Row], path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let x_of = |r: &Row| if r.offered == 0.0 { r.sent } else { r.offered } / 1e6;
    let xmax = rows.iter().map(x_of).fold(0.1, f64::max) * 1.1;
    let ymax = rows.iter().map(|r| r.delivered / 1e6).fold(0.1, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "delivered vs offered load (2 cores, loopback)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..xmax, 0.0..ymax)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("offered (max: what the generator sent), M samples/s")
        .y_desc("delivered, M samples/s")
        .draw()
        .map_err(|e| e.to_string())?;
    for (relay, color) in [("rwgate", RED), ("rwgate-grpc", MAGENTA), ("vmagent", BLUE)] {
        // Several rounds at maximum load: the median one is drawn.
        let mut at_max: Vec<&Row> = rows
            .iter()
            .filter(|r| r.relay == relay && r.offered == 0.0)
            .collect();
        at_max.sort_by(|a, b| a.delivered.total_cmp(&b.delivered));
        let mut pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.relay == relay && r.offered != 0.0)
            .chain(at_max.get(at_max.len() / 2).copied())
            .map(|r| (x_of(r), r.delivered / 1e6))
            .collect();
        if pts.is_empty() {
            continue;
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(relay)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(relay: &str, offered: f64, delivered: f64, cpu: f64) -> Row {
        Row {
            relay: relay.into(),
            offered,
            sent: delivered,
            acked: delivered,
            delivered,
            cpu_per_million: cpu,
            per_cpu_second: 1e6 / cpu,
            cores: 1.0,
            peak_rss_mib: 10.0,
            generator_cpu: 0.1,
            failures: 0,
        }
    }

    #[test]
    fn summary_takes_medians_over_max_rate_rounds() {
        let rows = vec![
            row("rwgate", 1e6, 1e6, 0.3),
            row("vmagent", 1e6, 1e6, 0.5),
            row("rwgate", 0.0, 3.0e6, 0.30),
            row("vmagent", 0.0, 2.0e6, 0.60),
            row("rwgate", 0.0, 4.0e6, 0.32),
            row("vmagent", 0.0, 2.5e6, 0.48),
            row("rwgate", 0.0, 3.3e6, 0.33),
            row("vmagent", 0.0, 2.0e6, 0.50),
        ];
        // Ratios 1.5, 1.6, 1.65: median 1.6. CPU ratios 2.0, 1.5, 1.515: median 1.52.
        let s = summary(&rows);
        assert!(
            s.contains("medians of 3 rounds (ratio range 1.50x to 1.65x)"),
            "{s}"
        );
        assert!(
            s.contains("rwgate delivers 1.60x vmagent's samples/s (3300000 vs 2000000)"),
            "{s}"
        );
        assert!(
            s.contains("uses 1.52x less CPU per sample (0.320 vs 0.500 CPU-s per 1M)"),
            "{s}"
        );
    }

    #[test]
    fn each_rwgate_relay_is_compared_with_the_vmagent_row_of_its_round() {
        let rows = vec![
            row("rwgate", 0.0, 3.0e6, 0.3),
            row("rwgate-grpc", 0.0, 4.0e6, 0.2),
            row("vmagent", 0.0, 2.0e6, 0.6),
        ];
        let s = summary(&rows);
        assert!(s.contains("rwgate delivers 1.50x"), "{s}");
        assert!(
            s.contains("rwgate-grpc delivers 2.00x vmagent's samples/s (4000000 vs 2000000) and uses 3.00x less CPU"),
            "{s}"
        );
    }

    #[test]
    fn summary_of_one_round_is_that_round() {
        let rows = vec![
            row("rwgate", 0.0, 3.0e6, 0.3),
            row("vmagent", 0.0, 2.0e6, 0.6),
        ];
        let s = summary(&rows);
        assert!(
            s.starts_with("\nAt maximum offered load: rwgate delivers 1.50x"),
            "{s}"
        );
        assert!(summary(&rows[..1]).is_empty());
    }
}
