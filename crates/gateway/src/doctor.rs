//! `rwgate doctor`: the audit operators do by hand, automated. Reads the configuration
//! and the hashrings, probes every endpoint's `/-/ready`, checks replication against
//! endpoints and zones, and says which configured tenants land where. Every problem
//! comes with a suggested fix; any problem makes the exit code 1.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use rwgate_ring::config::{self, HashringSpec};
use rwgate_ring::url::{self, Target};
use rwgate_ring::{Algorithm, Hashrings};

use crate::config::Config;

/// The audit's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Human-readable lines.
    pub text: String,
    /// Problems found (each also in `text`, with a fix).
    pub problems: usize,
}

impl Report {
    fn ok(&mut self, line: impl AsRef<str>) {
        let _ = writeln!(self.text, "[ok]   {}", line.as_ref());
    }

    fn info(&mut self, line: impl AsRef<str>) {
        let _ = writeln!(self.text, "[info] {}", line.as_ref());
    }

    fn problem(&mut self, line: impl AsRef<str>, fix: impl AsRef<str>) {
        self.problems += 1;
        let _ = writeln!(
            self.text,
            "[FAIL] {}\n       fix: {}",
            line.as_ref(),
            fix.as_ref()
        );
    }
}

/// The readiness URL of an endpoint: its forward URL with the path `/-/ready`.
pub fn ready_url(forward_url: &str) -> String {
    let (scheme, rest) = forward_url
        .split_once("://")
        .unwrap_or(("http", forward_url));
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}/-/ready")
}

/// Runs every check against `cfg` (already validated).
pub async fn run(cfg: &Config) -> Report {
    let mut r = Report::default();
    let Some(path) = &cfg.hashrings else {
        r.problem(
            "no hashrings file configured",
            "set `hashrings:` or --hashrings",
        );
        return r;
    };
    let json = match std::fs::read(path) {
        Ok(j) => j,
        Err(e) => {
            r.problem(
                format!("cannot read {}: {e}", path.display()),
                "check the path and that the ConfigMap is mounted",
            );
            return r;
        }
    };
    let specs = match config::parse(&json) {
        Ok(s) => s,
        Err(e) => {
            for p in e.problems {
                r.problem(
                    p,
                    "fix the JSON; `rwgate ring check --hashrings FILE` shows the same",
                );
            }
            return r;
        }
    };
    let rf = cfg.replication_factor;
    let _ = writeln!(
        r.text,
        "rwgate doctor: {} ({} hashrings), replication factor {rf}, write quorum {}",
        path.display(),
        specs.len(),
        rwgate_ring::write_quorum(rf)
    );
    check_specs(&mut r, &specs, cfg);
    let rings = match Hashrings::build(&specs, &cfg.ring_options()) {
        Ok(rings) => rings,
        Err(e) => {
            // Build problems other than those the checks above reported in their own words.
            let covered = [
                "replication factor",
                "availability zones",
                "Hashmod algorithm",
            ];
            for p in e
                .problems
                .iter()
                .filter(|p| !covered.iter().any(|c| p.contains(c)))
            {
                r.problem(p, "see docs/hashring.md");
            }
            let _ = writeln!(r.text, "{} problem(s) found", r.problems);
            return r;
        }
    };
    for w in rings.warnings() {
        r.problem(&w.problem, &w.fix);
    }
    probe_endpoints(&mut r, cfg, &rings).await;
    check_tenants(&mut r, &rings, cfg);
    report_names(&mut r, cfg);
    let _ = writeln!(
        r.text,
        "{}",
        if r.problems == 0 {
            "no problems found".to_string()
        } else {
            format!("{} problem(s) found", r.problems)
        }
    );
    r
}

fn check_specs(r: &mut Report, specs: &[HashringSpec], cfg: &Config) {
    let rf = cfg.replication_factor;
    for (i, s) in specs.iter().enumerate() {
        let name = s.display_name(i);
        let algorithm = s.algorithm.unwrap_or(cfg.hashring_algorithm);
        let n = s.endpoints.len();
        if n < rf {
            r.problem(
                format!(
                    "hashring {name}: replication factor {rf} needs {rf} endpoints, it has {n}"
                ),
                format!(
                    "add {} endpoint(s) or lower replication_factor to {n}",
                    rf - n
                ),
            );
        } else {
            r.ok(format!(
                "hashring {name}: {n} endpoints, {}, RF {rf} fits",
                algorithm.as_str()
            ));
        }
        let zones: std::collections::BTreeMap<&str, usize> =
            s.endpoints.iter().fold(Default::default(), |mut m, e| {
                *m.entry(e.az.as_str()).or_insert(0) += 1;
                m
            });
        let has_az = s.endpoints.iter().any(|e| !e.az.is_empty());
        if has_az && algorithm == Algorithm::Hashmod {
            r.problem(
                format!("hashring {name}: availability zones are set but the algorithm is hashmod"),
                "set \"algorithm\": \"ketama\" (AZ-aware) or remove the az fields",
            );
        } else if zones.len() > 1 && n >= rf && !config::az_layout_places(&zones, rf) {
            let layout: Vec<String> = zones.iter().map(|(z, c)| format!("{z:?}: {c}")).collect();
            r.problem(
                format!(
                    "hashring {name}: zones ({}) cannot hold {rf} replicas spread evenly",
                    layout.join(", ")
                ),
                "add endpoints to the smallest zone or lower the replication factor",
            );
        } else if zones.len() > 1 {
            r.ok(format!(
                "hashring {name}: {} zones can spread {rf} replicas",
                zones.len()
            ));
        }
    }
}

async fn probe_endpoints(r: &mut Report, cfg: &Config, rings: &Hashrings) {
    crate::tls::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap_or_default();
    let grpc = crate::forward::Forwarder::new(
        cfg.forward.clone(),
        axum::http::HeaderName::from_static("thanos-tenant"),
    );
    let mut seen = BTreeSet::new();
    for ring in rings.hashrings() {
        for e in ring.endpoints() {
            if !seen.insert(e.target.to_string()) {
                continue;
            }
            match &e.target {
                Target::Http(url) => probe_http(r, &client, &e.address, url).await,
                Target::Grpc(authority) => match &grpc {
                    Ok(fw) => probe_grpc(r, fw, &e.address, authority).await,
                    Err(err) => r.problem(
                        format!("cannot set up gRPC to endpoint {}: {err}", e.address),
                        "fix forward.tls",
                    ),
                },
            }
        }
    }
}

async fn probe_http(r: &mut Report, client: &reqwest::Client, address: &str, url: &str) {
    let probe = ready_url(url);
    match client.get(&probe).send().await {
        Ok(resp) if resp.status().is_success() => r.ok(format!("endpoint {address} ready ({probe})")),
        Ok(resp) => r.problem(
            format!("endpoint {address} answers {} at {probe}", resp.status().as_u16()),
            "the receiver is up but not ready: check its logs (a Thanos ingestor is not ready while it replays its WAL)",
        ),
        Err(err) => r.problem(
            format!("endpoint {address} unreachable at {probe}: {}", root_cause(&err)),
            format!(
                "check that the pod exists and listens there; the address is turned into a URL by forward_url_template ({})",
                if address.starts_with("http") { "not used: the address is a URL" } else { url::DEFAULT_TEMPLATE }
            ),
        ),
    }
}

async fn probe_grpc(
    r: &mut Report,
    fw: &crate::forward::Forwarder,
    address: &str,
    authority: &str,
) {
    match fw.grpc_health(authority, Duration::from_secs(3)).await {
        Ok(true) => r.ok(format!("endpoint {address} serves gRPC (health check SERVING)")),
        Ok(false) => r.problem(
            format!("endpoint {address} answers its gRPC health check, but not SERVING"),
            "the ingestor is up but not ready: check its logs (a Thanos ingestor is not ready while it replays its WAL)",
        ),
        Err(err) => r.problem(
            format!("endpoint {address}: gRPC health check failed: {err}"),
            "check that the pod exists and its --grpc-address listens there; or set forward.protocol: http to forward HTTP remote write through forward_url_template",
        ),
    }
}

/// Which names pass. No receiver rwgate forwards to is known to refuse UTF-8 names
/// (Thanos ingestors check only emptiness and order; Prometheus 2.42 and
/// victoria-metrics store them, tested in e2e_utf8), so this informs rather than warns.
fn report_names(r: &mut Report, cfg: &Config) {
    match cfg.limits.name_validation {
        crate::config::NameValidationConfig::Utf8 => r.info(
            "names: any UTF-8 is accepted (limits.name_validation: utf8, as Prometheus 3); \
             Thanos ingestors, Prometheus 2.42 and victoria-metrics store such names, and \
             PromQL before Prometheus 3 selects them only as {__name__=\"a.b\"}; set \
             `legacy` to refuse them at the door",
        ),
        crate::config::NameValidationConfig::Legacy => r.info(
            "names: only the classic charset is accepted (limits.name_validation: legacy); \
             OpenTelemetry names with dots are refused with 400 invalid_metric_name",
        ),
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn check_tenants(r: &mut Report, rings: &Hashrings, cfg: &Config) {
    let mut tenants: BTreeSet<String> = cfg.tenants.keys().cloned().collect();
    tenants.extend(cfg.tenancy.token_tenants().into_iter().map(str::to_string));
    tenants.insert(cfg.tenancy.default_tenant.clone());
    if let Some(tokens) = &cfg.tenancy.tokens_file
        && let Ok(more) = crate::tenancy::config::read_tokens_file(tokens)
    {
        tenants.extend(more.values().map(|t| t.tenant().to_string()));
    }
    let mut on_default = Vec::new();
    for t in &tenants {
        match rings.for_tenant(t) {
            None => r.problem(
                format!("tenant {t} matches no hashring: its writes get 503"),
                format!("add {t:?} to a hashring's tenants, or add a hashring without tenants at the end"),
            ),
            Some(ring) if ring.tenants().is_empty() => on_default.push(t.as_str()),
            Some(ring) => r.ok(format!("tenant {t} -> hashring {}", ring.name())),
        }
    }
    if !on_default.is_empty() {
        r.info(format!(
            "tenants on the default hashring: {}",
            on_default.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ready_url_keeps_scheme_and_host() {
        assert_eq!(
            super::ready_url("http://a:19291/api/v1/receive"),
            "http://a:19291/-/ready"
        );
        assert_eq!(
            super::ready_url("https://b/api/v1/write"),
            "https://b/-/ready"
        );
    }
}
