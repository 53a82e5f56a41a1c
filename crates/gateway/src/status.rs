//! The status page on the admin port: `GET /` as HTML rendered here (no scripts, no
//! external assets: it works offline and in a text browser) and `GET /api/v1/status`
//! as the same content in JSON. It shows where each tenant's data goes, which
//! endpoint is backed off and why, and what was refused.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::App;
use crate::forward::EndpointReport;
use crate::stats::unix_secs;

/// Everything the page shows.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// `rwgate <version>`.
    pub build: String,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Whether `/-/ready` answers 200.
    pub ready: bool,
    /// Why not, when not.
    pub not_ready_because: Option<String>,
    /// Settings, secrets redacted, as `(key, value)`.
    pub config: Vec<(String, String)>,
    /// The last load or failure of each watched file.
    pub reloads: Vec<ReloadReport>,
    /// The hashrings in force.
    pub hashrings: Vec<HashringReport>,
    /// Tenants named in config or seen (`other` stands for the rest).
    pub tenants: Vec<TenantReport>,
}

/// A watched file's last load.
#[derive(Debug, Serialize)]
pub struct ReloadReport {
    /// Which file.
    pub file: String,
    /// When it last loaded or failed (Unix seconds), if it did.
    pub at: Option<u64>,
    /// The failure, if the last attempt failed.
    pub error: Option<String>,
}

/// One hashring.
#[derive(Debug, Serialize)]
pub struct HashringReport {
    /// Its name.
    pub name: String,
    /// `hashmod` or `ketama`.
    pub algorithm: String,
    /// Its tenants (empty: everyone not matched before).
    pub tenants: Vec<String>,
    /// Its endpoints.
    pub endpoints: Vec<EndpointRow>,
}

/// One endpoint of a hashring.
#[derive(Debug, Serialize)]
pub struct EndpointRow {
    /// As written in hashrings.json.
    pub address: String,
    /// Availability zone, empty when not set.
    pub az: String,
    /// Where rwgate sends it remote writes: an HTTP URL, or `grpc://host:port`.
    pub url: String,
    /// Share of the hashring's series sent to it in the last minute (0 to 1).
    pub share_last_minute: f64,
    /// Its forwarding state; `None` before rwgate first sent it anything.
    pub forwarding: Option<EndpointReport>,
}

/// One tenant.
#[derive(Debug, Serialize)]
pub struct TenantReport {
    /// The tenant (its metric label).
    pub tenant: String,
    /// Samples/s accepted over the last minute.
    pub samples_per_second: f64,
    /// Samples refused since start, by reason.
    pub refused: Vec<(String, u64)>,
    /// Its `ingestion_rate` and burst on this replica (divided by the replicas under
    /// the `global` strategy), when limited.
    pub rate_limit: Option<(f64, u64)>,
    /// Samples/s accepted as a share of the rate limit.
    pub rate_limit_use: Option<f64>,
    /// The hashring its data goes to.
    pub hashring: Option<String>,
}

/// Builds the report from the gateway's state now.
pub fn report(app: &App) -> StatusReport {
    let rings = app.rings.load();
    let rt = app.runtime.load_full();
    let tenancy = &rt.tenancy;
    let not_ready_because = if app.ready.is_shutting_down() {
        Some("shutting down".to_string())
    } else if rings.is_none() {
        Some("no hashrings file loaded yet".to_string())
    } else {
        None
    };
    let mut reloads = Vec::new();
    if let Some(path) = &app.cfg.hashrings {
        let r = app.rings.last_reload();
        reloads.push(ReloadReport {
            file: path.display().to_string(),
            at: r.as_ref().map(|r| unix_secs(r.at)),
            error: r.and_then(|r| r.error),
        });
    }
    let c = app.stats.config_reload();
    reloads.push(ReloadReport {
        file: "config and tokens".to_string(),
        at: c.as_ref().map(|r| unix_secs(r.at)),
        error: c.and_then(|r| r.error),
    });

    let hashrings = rings
        .as_ref()
        .map(|rings| {
            rings
                .hashrings()
                .iter()
                .map(|ring| {
                    let mut endpoints: Vec<EndpointRow> = ring
                        .endpoints()
                        .iter()
                        .map(|e| EndpointRow {
                            address: e.address.clone(),
                            az: e.az.clone(),
                            url: e.target.to_string(),
                            share_last_minute: 0.0,
                            forwarding: app.forwarder.endpoint_report(&e.target),
                        })
                        .collect();
                    let total: u64 = endpoints
                        .iter()
                        .filter_map(|e| e.forwarding.as_ref())
                        .map(|f| f.series_last_minute)
                        .sum();
                    for e in &mut endpoints {
                        let n = e.forwarding.as_ref().map_or(0, |f| f.series_last_minute);
                        e.share_last_minute = if total == 0 {
                            0.0
                        } else {
                            n as f64 / total as f64
                        };
                    }
                    HashringReport {
                        name: ring.name().to_string(),
                        algorithm: ring.algorithm().as_str().to_string(),
                        tenants: ring.tenants().to_vec(),
                        endpoints,
                    }
                })
                .collect()
        })
        .unwrap_or_default();

    let mut seen = app.stats.tenants();
    for t in tenancy.known_tenants() {
        seen.entry(t.to_string()).or_default();
    }
    let tenants = seen
        .into_iter()
        .map(|(tenant, (rate, refused))| {
            let limit = app.tenant_rate(tenancy, &tenant);
            TenantReport {
                rate_limit_use: limit.map(|(r, _)| if r > 0.0 { rate / r } else { 0.0 }),
                rate_limit: limit,
                samples_per_second: rate,
                refused: refused
                    .into_iter()
                    .map(|(r, n)| (r.to_string(), n))
                    .collect(),
                hashring: rings
                    .as_ref()
                    .and_then(|r| r.for_tenant(&tenant))
                    .map(|r| r.name().to_string()),
                tenant,
            }
        })
        .collect();

    StatusReport {
        build: format!("rwgate {}", env!("CARGO_PKG_VERSION")),
        uptime_seconds: Instant::now()
            .saturating_duration_since(app.stats.started)
            .as_secs(),
        ready: not_ready_because.is_none(),
        not_ready_because,
        config: config_summary(app, &rt),
        reloads,
        hashrings,
        tenants,
    }
}

/// The settings an operator asks about first, from the snapshot the rest of the page
/// shows; token values never appear.
fn config_summary(app: &App, rt: &crate::app::Runtime) -> Vec<(String, String)> {
    let c = &app.cfg;
    let t = rt.tenancy.settings();
    let l = &rt.limits;
    let mut out = vec![
        ("listen".into(), c.listen.to_string()),
        ("admin_listen".into(), c.admin_listen.to_string()),
        (
            "tls".into(),
            if c.tls.is_some() { "on" } else { "off" }.into(),
        ),
        (
            "hashrings".into(),
            c.hashrings
                .as_ref()
                .map_or("-".into(), |p| p.display().to_string()),
        ),
        (
            "replication_factor".into(),
            c.replication_factor.to_string(),
        ),
        (
            "write quorum".into(),
            rwgate_ring::write_quorum(c.replication_factor).to_string(),
        ),
        (
            "hashring_algorithm".into(),
            c.hashring_algorithm.as_str().into(),
        ),
        (
            "forward.protocol".into(),
            c.forward_protocol().as_str().into(),
        ),
        ("forward_url_template".into(), c.url_template().to_string()),
        (
            "forward.deadline".into(),
            format!("{:?}", c.forward.deadline),
        ),
        ("tenancy.default_tenant".into(), t.default_tenant.clone()),
        ("tenancy.require_auth".into(), t.require_auth.to_string()),
        (
            "tenancy.tokens".into(),
            format!("{} (values redacted)", t.tokens.len()),
        ),
        ("limits.max_body_bytes".into(), l.max_body_bytes.to_string()),
        (
            "limits.name_validation".into(),
            format!("{:?}", l.name_validation).to_lowercase(),
        ),
        (
            "overload.max_inflight_requests".into(),
            c.overload.max_inflight_requests.to_string(),
        ),
        (
            "overload.max_connections".into(),
            c.overload.max_connections.to_string(),
        ),
    ];
    if let Some(f) = &t.tokens_file {
        out.push(("tenancy.tokens_file".into(), f.display().to_string()));
    }
    out
}

/// `GET /api/v1/status`.
pub async fn json(State(app): State<Arc<App>>) -> Response {
    let body = serde_json::to_string_pretty(&report(&app)).unwrap_or_else(|e| e.to_string());
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the page.
pub async fn page(State(app): State<Arc<App>>) -> Response {
    let html = render(&report(&app), SystemTime::now());
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// Escapes text for HTML (client-controlled tenant names and error texts pass here).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn ago(t: Option<u64>, now: u64) -> String {
    match t {
        None => "never".into(),
        Some(t) => format!("{}s ago", now.saturating_sub(t)),
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}\
table{border-collapse:collapse;margin:.3em 0}td,th{border:1px solid #ccc;padding:.25em .6em;\
text-align:left;vertical-align:top}th{background:#f3f3f3}.bad{color:#b00020;font-weight:bold}\
.ok{color:#1b7f3b;font-weight:bold}.muted{color:#666}code{font-size:.95em}";

/// The page for `r`, as of `now`.
pub fn render(r: &StatusReport, now: SystemTime) -> String {
    let now = unix_secs(now);
    let mut h = String::with_capacity(8192);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"10\"><meta name=\"viewport\" \
content=\"width=device-width\"><title>rwgate status</title><style>{STYLE}</style></head><body>"
    );
    let readiness = match &r.not_ready_because {
        None => "<span class=\"ok\">ready</span>".to_string(),
        Some(why) => format!("<span class=\"bad\">not ready</span>: {}", esc(why)),
    };
    let _ = write!(
        h,
        "<h1>{}</h1><p>{readiness} &middot; up {}s &middot; refreshes every 10s &middot; \
<a href=\"/api/v1/status\">JSON</a> &middot; <a href=\"/metrics\">metrics</a></p>",
        esc(&r.build),
        r.uptime_seconds
    );

    h.push_str("<h2>Hashrings</h2>");
    if r.hashrings.is_empty() {
        h.push_str("<p class=\"bad\">no hashrings loaded</p>");
    }
    for ring in &r.hashrings {
        let tenants = if ring.tenants.is_empty() {
            "every other tenant".to_string()
        } else {
            esc(&ring.tenants.join(", "))
        };
        let _ = write!(
            h,
            "<p><b>{}</b> ({}) &middot; tenants: {tenants}</p><table><tr><th>endpoint</th>\
<th>zone</th><th>state</th><th>in flight</th><th>series, last minute</th>\
<th>last success</th><th>last error</th></tr>",
            esc(&ring.name),
            esc(&ring.algorithm)
        );
        for e in &ring.endpoints {
            let (state, inflight, share, ok, err) = match &e.forwarding {
                None => (
                    "<span class=\"muted\">no traffic yet</span>".to_string(),
                    "0".to_string(),
                    "-".to_string(),
                    "never".to_string(),
                    String::new(),
                ),
                Some(f) => (
                    if f.up {
                        "<span class=\"ok\">up</span>".to_string()
                    } else {
                        format!(
                            "<span class=\"bad\">backed off</span> for {:.0}s more",
                            f.backed_off_for_seconds.ceil()
                        )
                    },
                    f.inflight.to_string(),
                    format!(
                        "{} ({:.0}%)",
                        f.series_last_minute,
                        e.share_last_minute * 100.0
                    ),
                    ago(f.last_success, now),
                    match (&f.last_error, f.last_error_at) {
                        (Some(err), Some(at)) => format!("{} ({})", esc(err), ago(Some(at), now)),
                        _ => String::new(),
                    },
                ),
            };
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{state}</td><td>{inflight}</td>\
<td>{share}</td><td>{ok}</td><td>{err}</td></tr>",
                esc(&e.address),
                esc(&e.az)
            );
        }
        h.push_str("</table>");
    }

    h.push_str(
        "<h2>Tenants</h2><table><tr><th>tenant</th><th>hashring</th><th>samples/s accepted</th>\
<th>rate limit</th><th>use</th><th>refused since start</th></tr>",
    );
    for t in &r.tenants {
        let limit = t.rate_limit.map_or("none".to_string(), |(rate, burst)| {
            format!("{rate:.0}/s, burst {burst}")
        });
        let used = t
            .rate_limit_use
            .map_or("-".to_string(), |u| format!("{:.0}%", u * 100.0));
        let refused = if t.refused.is_empty() {
            "none".to_string()
        } else {
            t.refused
                .iter()
                .map(|(reason, n)| format!("<span class=\"bad\">{}</span>: {n}", esc(reason)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{limit}</td><td>{used}</td><td>{refused}</td></tr>",
            esc(&t.tenant),
            t.hashring
                .as_deref()
                .map_or("<span class=\"bad\">none: 503</span>".to_string(), esc),
            t.samples_per_second
        );
    }
    h.push_str("</table>");

    h.push_str("<h2>Reloads</h2><table><tr><th>file</th><th>last loaded or failed</th><th>result</th></tr>");
    for f in &r.reloads {
        let result = match (&f.error, f.at) {
            (Some(e), _) => format!(
                "<span class=\"bad\">failed</span>: {} (previous settings kept)",
                esc(e)
            ),
            (None, Some(_)) => "<span class=\"ok\">loaded</span>".to_string(),
            (None, None) => "as started".to_string(),
        };
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{result}</td></tr>",
            esc(&f.file),
            ago(f.at, now)
        );
    }
    h.push_str("</table><h2>Configuration</h2><table>");
    for (k, v) in &r.config {
        let _ = write!(
            h,
            "<tr><th>{}</th><td><code>{}</code></td></tr>",
            esc(k),
            esc(v)
        );
    }
    h.push_str("</table></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_controlled_text_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
