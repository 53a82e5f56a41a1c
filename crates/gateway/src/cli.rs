//! The `rwgate` command line: `serve`, `check-config`, `ring lookup|check|diff`, `demo`.
//!
//! Every `serve` flag is also a key of the YAML `--config` file; a flag given on the
//! command line wins over the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use rwgate_ring::{Algorithm, BuildOptions, Hashrings};

use crate::config::{Config, ConfigError, LogFormat};

/// rwgate: a Prometheus remote-write gateway in front of Thanos Receive.
#[derive(Debug, Parser)]
#[command(name = "rwgate", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the process's arguments; on a usage error, prints it and exits (as
    /// clap's `parse`). Help shows each `serve` flag's default, taken from
    /// `Config::default()`.
    pub fn parse_args() -> Cli {
        Self::parse_from_args(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `args` (the first is the program name).
    pub fn parse_from_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        if let (Some((_, sub)), Some(args)) = (matches.subcommand(), cli.command.serve_args_mut()) {
            args.note_defaulted(sub);
        }
        Ok(cli)
    }
}

impl Command {
    fn serve_args_mut(&mut self) -> Option<&mut ServeArgs> {
        match self {
            Command::Serve(a) | Command::CheckConfig(a) | Command::Doctor(a) => Some(a),
            Command::Ring(_) | Command::Demo(_) | Command::Relabel(_) => None,
        }
    }
}

/// The `serve` flags whose default clap shows, each rendered from `Config::default()`,
/// so help cannot drift from the config's defaults.
fn serve_defaults() -> Vec<(&'static str, String)> {
    let d = Config::default();
    // `90s`, not humantime's `1m 30s` (which help would show quoted).
    let dur = |t: Duration| match t.subsec_millis() {
        0 => format!("{}s", t.as_secs()),
        _ => format!("{}ms", t.as_millis()),
    };
    vec![
        ("listen", d.listen.to_string()),
        ("admin_listen", d.admin_listen.to_string()),
        ("replication_factor", d.replication_factor.to_string()),
        (
            "hashring_algorithm",
            d.hashring_algorithm.as_str().to_string(),
        ),
        ("forward_url_template", d.url_template().to_string()),
        ("default_tenant", d.tenancy.default_tenant.clone()),
        ("log_format", format!("{:?}", d.log_format).to_lowercase()),
        ("shutdown_grace", dur(d.shutdown_grace)),
        ("max_body_bytes", d.limits.max_body_bytes.to_string()),
        (
            "max_decoded_body_bytes",
            d.limits.max_decoded_body_bytes.to_string(),
        ),
        (
            "max_series_per_request",
            d.limits.max_series_per_request.to_string(),
        ),
        (
            "max_samples_per_request",
            d.limits.max_samples_per_request.to_string(),
        ),
        (
            "max_inflight_requests",
            d.overload.max_inflight_requests.to_string(),
        ),
        (
            "max_inflight_bytes",
            d.overload.max_inflight_bytes.to_string(),
        ),
        ("max_connections", d.overload.max_connections.to_string()),
        ("header_read_timeout", dur(d.limits.header_read_timeout)),
        ("idle_timeout", dur(d.limits.idle_timeout)),
        ("forward_deadline", dur(d.forward.deadline)),
    ]
}

/// The command line, with the `serve` flags' defaults from `Config::default()`. A flag
/// left at its default does not override the config file (see
/// [`ServeArgs::apply_overrides`]).
pub fn command() -> clap::Command {
    let defaults = serve_defaults();
    let with_defaults = |sub: clap::Command| {
        defaults.iter().fold(sub, |sub, (id, value)| {
            sub.mut_arg(*id, |a| a.default_value(value.clone()))
        })
    };
    ["serve", "check-config", "doctor"]
        .into_iter()
        .fold(Cli::command(), |cmd, name| {
            cmd.mut_subcommand(name, with_defaults)
        })
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Validate a configuration and its hashrings file; list every problem.
    CheckConfig(ServeArgs),
    /// Inspect hashrings.
    #[command(subcommand)]
    Ring(RingCommand),
    /// A local demo: three embedded receivers, the gateway, and traffic for two tenants.
    Demo(DemoArgs),
    /// Audit a configuration: hashrings, endpoints (probed), replication, tenants.
    Doctor(ServeArgs),
    /// Dry-run a tenant's relabeling on one series: the result and the rule that
    /// decided it.
    Relabel(RelabelArgs),
}

/// Flags of `serve` and `check-config`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// YAML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Remote-write listen address.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Admin listen address.
    #[arg(long)]
    pub admin_listen: Option<std::net::SocketAddr>,
    /// hashrings.json path.
    #[arg(long)]
    pub hashrings: Option<PathBuf>,
    /// Replicas per series.
    #[arg(long)]
    pub replication_factor: Option<usize>,
    /// Algorithm for hashrings that name none.
    #[arg(long)]
    pub hashring_algorithm: Option<Algorithm>,
    /// Forward URL template (for `--forward-protocol http`; setting it alone selects
    /// http).
    #[arg(long)]
    pub forward_url_template: Option<String>,
    /// How bare `host:port` endpoints are forwarded to: `grpc` (as a Thanos router) or
    /// `http` (through the URL template) [default: grpc, or http when a URL template is
    /// set].
    #[arg(long)]
    pub forward_protocol: Option<rwgate_ring::url::Protocol>,
    /// Tenant of requests without a tenant header.
    #[arg(long)]
    pub default_tenant: Option<String>,
    /// Log format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Time in-flight requests get after SIGTERM.
    #[arg(long, value_parser = humantime_duration)]
    pub shutdown_grace: Option<Duration>,
    /// Largest compressed body in bytes.
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    /// Largest decoded body in bytes.
    #[arg(long)]
    pub max_decoded_body_bytes: Option<usize>,
    /// Most series per request.
    #[arg(long)]
    pub max_series_per_request: Option<usize>,
    /// Most samples per request.
    #[arg(long)]
    pub max_samples_per_request: Option<usize>,
    /// Requests in flight before new ones get 503.
    #[arg(long)]
    pub max_inflight_requests: Option<usize>,
    /// Bytes in flight before new requests get 503.
    #[arg(long)]
    pub max_inflight_bytes: Option<usize>,
    /// Open connections before new ones get 503.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Time a connection may take to send a request's headers.
    #[arg(long, value_parser = humantime_duration)]
    pub header_read_timeout: Option<Duration>,
    /// Time a keep-alive connection may wait for its next request.
    #[arg(long, value_parser = humantime_duration)]
    pub idle_timeout: Option<Duration>,
    /// Time budget of one forward, retries included.
    #[arg(long, value_parser = humantime_duration)]
    pub forward_deadline: Option<Duration>,
    /// Flags that hold clap's default rather than a value given on the command line:
    /// they do not override the config file.
    #[arg(skip)]
    pub defaulted: Vec<String>,
}

fn humantime_duration(s: &str) -> Result<Duration, String> {
    humantime_serde::re::humantime::parse_duration(s).map_err(|e| e.to_string())
}

impl ServeArgs {
    /// The file (if any) with every given flag applied on top, validated.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut c = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        self.apply_overrides(&mut c);
        c.validate()
    }

    /// Records which flags of `matches` hold clap's default.
    fn note_defaulted(&mut self, matches: &ArgMatches) {
        self.defaulted = serve_defaults()
            .into_iter()
            .filter(|(id, _)| matches.value_source(id) == Some(ValueSource::DefaultValue))
            .map(|(id, _)| id.to_string())
            .collect();
    }

    /// Applies every flag given on the command line over `c` (flags at their default
    /// leave the file's value).
    pub fn apply_overrides(&self, c: &mut Config) {
        macro_rules! set {
            ($flag:ident => $($field:ident).+) => {
                if let Some(v) = &self.$flag
                    && !self.defaulted.iter().any(|d| d == stringify!($flag))
                {
                    c.$($field).+ = v.clone().into();
                }
            };
        }
        set!(listen => listen);
        set!(admin_listen => admin_listen);
        set!(replication_factor => replication_factor);
        set!(hashring_algorithm => hashring_algorithm);
        set!(forward_url_template => forward_url_template);
        set!(forward_protocol => forward.protocol);
        set!(default_tenant => tenancy.default_tenant);
        set!(log_format => log_format);
        set!(shutdown_grace => shutdown_grace);
        set!(max_body_bytes => limits.max_body_bytes);
        set!(max_decoded_body_bytes => limits.max_decoded_body_bytes);
        set!(max_series_per_request => limits.max_series_per_request);
        set!(max_samples_per_request => limits.max_samples_per_request);
        set!(max_inflight_requests => overload.max_inflight_requests);
        set!(max_inflight_bytes => overload.max_inflight_bytes);
        set!(max_connections => overload.max_connections);
        set!(header_read_timeout => limits.header_read_timeout);
        set!(idle_timeout => limits.idle_timeout);
        set!(forward_deadline => forward.deadline);
        if let Some(h) = &self.hashrings {
            c.hashrings = Some(h.clone());
        }
    }
}

/// `rwgate ring ...`
#[derive(Debug, Subcommand)]
pub enum RingCommand {
    /// Print the endpoints a series is written to, replica 0 first.
    Lookup(LookupArgs),
    /// Validate a hashrings file.
    Check(RingFileArgs),
    /// Simulate how series move between two hashrings files.
    Diff(DiffArgs),
}

/// Flags shared by the ring commands.
#[derive(Debug, Clone, Args)]
pub struct RingOpts {
    /// Replicas per series.
    #[arg(long, default_value_t = 1)]
    pub replication_factor: usize,
    /// Algorithm for hashrings that name none.
    #[arg(long, default_value = "hashmod")]
    pub algorithm: Algorithm,
    /// Ketama sections per endpoint.
    #[arg(long, default_value_t = 1000, hide = true)]
    pub sections_per_node: usize,
}

impl RingOpts {
    fn build_options(&self) -> BuildOptions {
        BuildOptions {
            replication_factor: self.replication_factor,
            default_algorithm: self.algorithm,
            sections_per_node: self.sections_per_node,
            ..BuildOptions::default()
        }
    }
}

/// `rwgate ring lookup`
#[derive(Debug, Clone, Args)]
pub struct LookupArgs {
    /// hashrings.json path.
    #[arg(long)]
    pub hashrings: PathBuf,
    /// Tenant.
    #[arg(long)]
    pub tenant: String,
    /// Series: `up{job="x"}` or `{__name__="up",job="x"}`.
    #[arg(long)]
    pub series: String,
    /// Hash labels in the order written instead of sorted (senders send them sorted).
    #[arg(long)]
    pub wire_order: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub ring: RingOpts,
}

/// `rwgate relabel`
#[derive(Debug, Clone, Args)]
pub struct RelabelArgs {
    /// YAML configuration file (its `relabel_configs`, `tenant_defaults` and `tenants`).
    #[arg(long)]
    pub config: PathBuf,
    /// Tenant whose rules apply.
    #[arg(long)]
    pub tenant: String,
    /// Series: `up{job="x"}` or `{__name__="up",job="x"}`.
    #[arg(long)]
    pub series: String,
}

/// `rwgate ring check`
#[derive(Debug, Clone, Args)]
pub struct RingFileArgs {
    /// hashrings.json path.
    #[arg(long)]
    pub hashrings: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub ring: RingOpts,
}

/// `rwgate ring diff`
#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// hashrings.json in force now.
    pub old: PathBuf,
    /// hashrings.json to be rolled out.
    pub new: PathBuf,
    /// Synthetic series per tenant.
    #[arg(long, default_value_t = 10_000)]
    pub series: usize,
    /// Tenant that stands for everything a catch-all hashring receives.
    #[arg(long, default_value = "default-tenant")]
    pub default_tenant: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub ring: RingOpts,
}

/// `rwgate demo`
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Series per tenant.
    #[arg(long, default_value_t = 2000)]
    pub series: usize,
    /// Requests per tenant.
    #[arg(long, default_value_t = 10)]
    pub requests: usize,
}

/// A command's failure: the message to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// What to print on stderr.
    pub message: String,
    /// Exit code (64 for bad usage or configuration).
    pub code: u8,
}

impl Failure {
    /// A configuration problem: exit 64 (EX_USAGE).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 64,
        }
    }

    /// Any other failure: exit 1.
    pub fn other(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 1,
        }
    }
}

fn load_rings(path: &Path, opts: &BuildOptions) -> Result<Hashrings, Failure> {
    rwgate_ring::reload::load_file(path, opts).map_err(|e| Failure::usage(e.to_string()))
}

/// `rwgate ring lookup`: the replica addresses, one per line.
pub fn ring_lookup(args: &LookupArgs) -> Result<String, Failure> {
    let rings = load_rings(&args.hashrings, &args.ring.build_options())?;
    let mut labels =
        rwgate_ring::selector::parse(&args.series).map_err(|e| Failure::usage(e.to_string()))?;
    if !args.wire_order {
        labels.sort();
    }
    crate::tenancy::validate_tenant(&args.tenant).map_err(|e| Failure::usage(e.to_string()))?;
    let ring = rings
        .for_tenant(&args.tenant)
        .ok_or_else(|| Failure::other(format!("no hashring matches tenant {:?}", args.tenant)))?;
    let mut buf = Vec::new();
    let hash = rwgate_ring::series_hash(
        args.tenant.as_bytes(),
        labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        &mut buf,
    );
    let placement = ring.placement(&args.tenant).map_err(|e| {
        Failure::other(format!(
            "hashring {}: tenant {:?}: {e}",
            ring.name(),
            args.tenant
        ))
    })?;
    let mut out = String::new();
    if let Some(shard) = placement.shard() {
        let names: Vec<&str> = shard
            .iter()
            .map(|&e| ring.endpoints()[e as usize].address.as_str())
            .collect();
        out.push_str(&format!(
            "# shuffle shard of {} endpoints: {}\n",
            names.len(),
            names.join(" ")
        ));
    }
    for n in 0..ring.replication_factor() {
        out.push_str(&ring.endpoints()[placement.replica(hash, n)].address);
        out.push('\n');
    }
    Ok(out)
}

/// `rwgate relabel`: the series after the tenant's rules, and which rules decided it.
pub fn relabel(args: &RelabelArgs) -> Result<String, Failure> {
    let cfg = Config::from_file(&args.config).map_err(|e| Failure::usage(e.to_string()))?;
    crate::tenancy::validate_tenant(&args.tenant).map_err(|e| Failure::usage(e.to_string()))?;
    let rules = crate::tenancy::TenantRelabel::build(
        &cfg.relabel_configs,
        &cfg.tenant_defaults,
        &cfg.tenants,
    )
    .map_err(|e| {
        Failure::usage(
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let rules = rules.for_tenant(&args.tenant);
    let input =
        rwgate_ring::selector::parse(&args.series).map_err(|e| Failure::usage(e.to_string()))?;
    let mut labels = crate::relabel::Labels::new(input);
    let show = |l: &crate::relabel::Labels| {
        let inner: Vec<String> = l
            .pairs()
            .iter()
            .map(|(n, v)| format!("{n}={v:?}"))
            .collect();
        format!("{{{}}}", inner.join(", "))
    };
    let mut out = format!(
        "tenant {}: {} rule(s)\ninput:  {}\n",
        args.tenant,
        rules.rules().len(),
        show(&labels)
    );
    for (i, rule) in rules.rules().iter().enumerate() {
        let before = labels.clone();
        if !rule.apply(&mut labels) {
            out.push_str(&format!("dropped by rule #{i} ({})\n", rule.describe()));
            return Ok(out);
        }
        if labels != before {
            out.push_str(&format!(
                "rule #{i} ({}) -> {}\n",
                rule.describe(),
                show(&labels)
            ));
        }
    }
    if labels.is_empty() || labels.get("__name__").is_empty() {
        out.push_str("dropped: no labels or no __name__ left\n");
    } else {
        out.push_str(&format!("output: {}\n", show(&labels)));
    }
    Ok(out)
}

/// `rwgate ring check`: a summary, or every problem.
pub fn ring_check(args: &RingFileArgs) -> Result<String, Failure> {
    let rings = load_rings(&args.hashrings, &args.ring.build_options())
        .map_err(|f| Failure::other(f.message))?;
    let mut out = String::new();
    for r in rings.hashrings() {
        let tenants = if r.tenants().is_empty() {
            "every tenant".to_string()
        } else {
            r.tenants().join(", ")
        };
        out.push_str(&format!(
            "hashring {}: {} endpoints, {}, tenants: {}\n",
            r.name(),
            r.endpoints().len(),
            r.algorithm().as_str(),
            tenants
        ));
    }
    for w in rings.warnings() {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push_str("OK\n");
    Ok(out)
}

/// `rwgate ring diff`: a table of shares before/after per endpoint.
pub fn ring_diff(args: &DiffArgs) -> Result<String, Failure> {
    let opts = args.ring.build_options();
    let old = load_rings(&args.old, &opts)?;
    let new = load_rings(&args.new, &opts)?;
    let tenants = rwgate_ring::diff::tenants_of(&old, &new, &args.default_tenant);
    let report = rwgate_ring::diff::diff(&old, &new, &tenants, args.series);
    let mut out = format!(
        "{} series x {} tenants x RF {} = {} placements\n",
        args.series,
        tenants.len(),
        args.ring.replication_factor,
        report.assignments
    );
    let width = report
        .rows
        .iter()
        .map(|r| r.endpoint.len())
        .max()
        .unwrap_or(8)
        .max(8);
    out.push_str(&format!(
        "{:<width$}  {:>8}  {:>8}  {:>10}\n",
        "endpoint", "before", "after", "moves away"
    ));
    for r in &report.rows {
        out.push_str(&format!(
            "{:<width$}  {:>7.2}%  {:>7.2}%  {:>9.2}%\n",
            r.endpoint,
            r.before * 100.0,
            r.after * 100.0,
            r.moved_away * 100.0
        ));
    }
    out.push_str(&format!(
        "moved: {:.2}% of placements\n",
        report.moved * 100.0
    ));
    for t in &report.unplaceable {
        out.push_str(&format!("not placed: tenant {t}\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(args: &[&str]) -> ServeArgs {
        let cli = Cli::parse_from_args(["rwgate"].iter().chain(args)).expect("valid flags");
        match cli.command {
            Command::Serve(a) => a,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn a_flag_left_at_its_default_keeps_the_files_value() {
        let mut from_file = Config {
            replication_factor: 3,
            ..Config::default()
        };
        from_file.overload.max_connections = 2048;
        serve_args(&["serve"]).apply_overrides(&mut from_file);
        assert_eq!(from_file.replication_factor, 3);
        assert_eq!(from_file.overload.max_connections, 2048);
    }

    #[test]
    fn a_flag_given_overrides_the_file_even_when_it_equals_the_default() {
        let mut from_file = Config {
            replication_factor: 3,
            ..Config::default()
        };
        from_file.limits.idle_timeout = Duration::from_secs(5);
        serve_args(&[
            "serve",
            "--replication-factor",
            "1",
            "--idle-timeout",
            "90s",
        ])
        .apply_overrides(&mut from_file);
        assert_eq!(from_file.replication_factor, 1);
        assert_eq!(from_file.limits.idle_timeout, Duration::from_secs(90));
    }

    #[test]
    fn help_shows_each_default_as_config_default_has_it() {
        let help = command()
            .find_subcommand_mut("serve")
            .expect("serve")
            .render_long_help()
            .to_string();
        let d = Config::default();
        for shown in [
            format!("[default: {}]", d.listen),
            format!("[default: {}]", d.overload.max_connections),
            format!("[default: {}]", d.limits.max_decoded_body_bytes),
            format!("[default: {}s]", d.limits.idle_timeout.as_secs()),
        ] {
            assert!(help.contains(&shown), "{shown} not in help:\n{help}");
        }
        // Every flag with a default is a real flag of serve (a renamed flag fails here).
        let serve = Cli::command();
        let serve = serve.find_subcommand("serve").expect("serve");
        for (id, _) in serve_defaults() {
            assert!(serve.get_arguments().any(|a| a.get_id() == id), "{id}");
        }
    }
}
