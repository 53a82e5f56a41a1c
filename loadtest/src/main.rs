//! `rwgate-load push | sink | bench | flood`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rwgate_load::workload::{Proto, Workload};
use rwgate_load::{bench, flood, push, sink, workload};

/// Load generator, sink and relay benchmark for rwgate.
#[derive(Debug, Parser)]
#[command(name = "rwgate-load", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Send remote-write traffic to a URL.
    Push(PushArgs),
    /// Receive remote write and count it.
    Sink(sink::SinkArgs),
    /// rwgate and vmagent side by side on loopback.
    Bench(bench::BenchArgs),
    /// Hostile clients against a real rwgate: memory and answers under many
    /// connections, trickled bodies and idle connections.
    Flood(flood::FloodArgs),
}

/// `push` flags; each overrides the scenario file's key of the same name.
#[derive(Debug, clap::Args)]
struct PushArgs {
    /// Where to send.
    #[arg(long)]
    url: String,
    /// Scenario file (YAML; see loadtest/scenarios).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Tenants (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    tenant: Vec<String>,
    /// Header naming the tenant.
    #[arg(long)]
    tenant_header: Option<String>,
    /// Bearer token of a tenant, `tenant=token` (repeatable).
    #[arg(long)]
    token: Vec<String>,
    /// Series per tenant.
    #[arg(long)]
    series: Option<usize>,
    /// Labels per series.
    #[arg(long)]
    labels: Option<usize>,
    /// Samples per series per request.
    #[arg(long)]
    samples_per_series: Option<usize>,
    /// Series per request.
    #[arg(long)]
    batch: Option<usize>,
    /// Requests in flight.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Samples per second (0: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// Run time.
    #[arg(long, value_parser = humantime_serde::re::humantime::parse_duration)]
    duration: Option<Duration>,
    /// Requests to send.
    #[arg(long)]
    requests: Option<u64>,
    /// Protocol.
    #[arg(long, value_enum)]
    protocol: Option<Proto>,
    /// Share of series replaced per pass (0 to 1).
    #[arg(long)]
    churn: Option<f64>,
    /// Seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Include acknowledged samples per series in the JSON report.
    #[arg(long)]
    track_acks: bool,
}

impl PushArgs {
    fn workload(&self) -> Result<Workload, String> {
        let mut w = match &self.scenario {
            Some(p) => Workload::from_file(p).map_err(|e| e.to_string())?,
            None => Workload::default(),
        };
        if !self.tenant.is_empty() {
            w.tenants = self.tenant.clone();
        }
        if !self.token.is_empty() {
            w.tokens = self.token.clone();
        }
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f.clone() { w.$f = v; } )* };
        }
        set!(
            tenant_header,
            series,
            labels,
            samples_per_series,
            batch,
            concurrency,
            rate,
            protocol,
            churn,
            seed
        );
        if self.duration.is_some() || self.requests.is_some() {
            w.duration = self.duration;
            w.requests = self.requests;
        }
        if w.tenants.is_empty()
            || w.series == 0
            || w.batch == 0
            || w.labels < 3
            || w.samples_per_series == 0
        {
            return Err("need at least one tenant, series > 0, batch > 0, labels >= 3, samples-per-series > 0".into());
        }
        if w.duration.is_none() && w.requests.is_none() {
            return Err("give --duration or --requests".into());
        }
        Ok(w)
    }
}

fn main() -> ExitCode {
    rwgate_gateway::tls::install_crypto_provider();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rwgate-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), String> = match cli.command {
        Cmd::Push(args) => args.workload().and_then(|w| {
            let payloads = Arc::new(workload::build(&w));
            // The progress line is for people: not in JSON mode, not into a pipe or file.
            let progress = !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let report = rt.block_on(push::run(
                &w,
                payloads,
                &args.url,
                progress,
                args.track_acks,
            ));
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string(&report).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", report.text());
            }
            Ok(())
        }),
        Cmd::Sink(args) => rt.block_on(sink::run(args)).map_err(|e| e.to_string()),
        Cmd::Bench(args) => bench::run(&args).map(|table| print!("{table}")),
        Cmd::Flood(args) => rt.block_on(flood::run(&args)).map(|r| print!("{r}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rwgate-load: {e}");
            ExitCode::from(64)
        }
    }
}
