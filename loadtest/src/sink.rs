//! `rwgate-load sink`: a fast remote-write receiver that decodes and validates what it
//! gets and counts samples per tenant (and per series). It is the gateway's embedded
//! receiver behind a command line: `/api/v1/receive`, `/api/v1/write`, `GET /stats`
//! (JSON, `?series=1` for per-series counts) and `GET /metrics`.

use std::net::SocketAddr;
use std::time::Duration;

use rwgate_testkit::receiver::{DevReceiver, Mode};

/// Sink options.
#[derive(Debug, Clone, clap::Args)]
pub struct SinkArgs {
    /// Listen address (port 0 picks one; the address is printed on the first line).
    #[arg(long, default_value = "127.0.0.1:19391")]
    pub listen: SocketAddr,
    /// Header naming the tenant.
    #[arg(long, default_value = "THANOS-TENANT")]
    pub tenant_header: String,
    /// Status to answer with.
    #[arg(long, default_value_t = 200)]
    pub status: u16,
    /// Share of requests answered with `--fail-status` instead (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub fail_ratio: f64,
    /// Status of those failures.
    #[arg(long, default_value_t = 503)]
    pub fail_status: u16,
    /// Delay before answering.
    #[arg(long, value_parser = humantime_serde::re::humantime::parse_duration, default_value = "0s")]
    pub latency: Duration,
    /// Do not count per series (cheaper, for benchmarks).
    #[arg(long)]
    pub no_series: bool,
    /// Answer 204 without decoding (counts requests only).
    #[arg(long)]
    pub blackhole: bool,
}

/// Runs until SIGINT or SIGTERM, then prints a summary.
pub async fn run(args: SinkArgs) -> std::io::Result<()> {
    let sink = DevReceiver::start_with(args.listen, &args.tenant_header, !args.no_series).await?;
    sink.set_mode(Mode {
        status: args.status,
        delay: args.latency,
        hang: false,
        fail_ratio: args.fail_ratio,
        fail_status: args.fail_status,
        blackhole: args.blackhole,
    });
    use std::io::Write as _;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", sink.addr())?;
    out.flush()?;
    wait_for_signal().await;
    let stats = sink.stats(false);
    // Whoever started us may have stopped reading: a closed stdout is not an error here.
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string(&stats).unwrap_or_else(|_| format!("{} samples", stats.samples))
    );
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
