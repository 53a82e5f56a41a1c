//! The `rwgate` binary: parses flags, loads config, runs a subcommand. A bad
//! configuration exits with 64 (EX_USAGE).

use std::process::ExitCode;
use std::sync::Arc;

use rwgate_gateway::cli::{Cli, Command, Failure, RingCommand, ServeArgs};
use rwgate_gateway::config::LogFormat;
use rwgate_gateway::server::ConfigSource;
use rwgate_gateway::{Config, Gateway};

fn main() -> ExitCode {
    rwgate_gateway::tls::install_crypto_provider();
    let cli = Cli::parse_args();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::CheckConfig(args) => check_config(&args),
        Command::Ring(RingCommand::Lookup(a)) => print(rwgate_gateway::cli::ring_lookup(&a)),
        Command::Ring(RingCommand::Check(a)) => print(rwgate_gateway::cli::ring_check(&a)),
        Command::Ring(RingCommand::Diff(a)) => print(rwgate_gateway::cli::ring_diff(&a)),
        Command::Demo(a) => demo(a.series, a.requests),
        Command::Doctor(args) => doctor(&args),
        Command::Relabel(a) => print(rwgate_gateway::cli::relabel(&a)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("rwgate: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn print(r: Result<String, Failure>) -> Result<(), Failure> {
    r.map(|out| print!("{out}"))
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::other(format!("starting the runtime: {e}")))
}

fn check_config(args: &ServeArgs) -> Result<(), Failure> {
    let cfg = args.load().map_err(|e| Failure::usage(e.to_string()))?;
    cfg.tenancy_state().map_err(Failure::usage)?;
    if let Some(path) = &cfg.hashrings {
        rwgate_ring::reload::load_file(path, &cfg.ring_options())
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    println!("configuration OK");
    Ok(())
}

fn serve(args: ServeArgs) -> Result<(), Failure> {
    let cfg = args.load().map_err(|e| Failure::usage(e.to_string()))?;
    init_logs(cfg.log_format);
    let source = ConfigSource {
        path: args.config.clone(),
        overrides: Arc::new(move |c: &mut Config| args.apply_overrides(c)),
    };
    let rt = runtime()?;
    rt.block_on(async move {
        let listener = rwgate_gateway::conn::bind(cfg.listen)
            .map_err(|e| Failure::usage(format!("binding {}: {e}", cfg.listen)))?;
        let admin = std::net::TcpListener::bind(cfg.admin_listen)
            .map_err(|e| Failure::usage(format!("binding {}: {e}", cfg.admin_listen)))?;
        let gateway = Gateway::new(cfg)
            .map_err(|e| Failure::usage(e.to_string()))?
            .reload_config_from(source);
        gateway
            .serve(listener, admin, shutdown_signal())
            .await
            .map_err(|e| Failure::other(e.to_string()))
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}

fn doctor(args: &ServeArgs) -> Result<(), Failure> {
    let cfg = args.load().map_err(|e| Failure::usage(e.to_string()))?;
    let rt = runtime()?;
    let report = rt.block_on(rwgate_gateway::doctor::run(&cfg));
    print!("{}", report.text);
    if report.problems == 0 {
        Ok(())
    } else {
        Err(Failure::other(format!(
            "{} problem(s) found",
            report.problems
        )))
    }
}

fn demo(series: usize, requests: usize) -> Result<(), Failure> {
    init_logs(LogFormat::Text);
    let rt = runtime()?;
    match rt.block_on(rwgate_testkit::demo::run(series, requests)) {
        Ok(report) => {
            print!("{report}");
            Ok(())
        }
        Err(report) => Err(Failure::other(report)),
    }
}
