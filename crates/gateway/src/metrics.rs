//! Metric names (listed with their meaning in docs/metrics.md) and the Prometheus
//! exporter behind `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// rwgate replicas counted for the `global` rate-limit strategy.
pub const RATE_LIMIT_PEERS: &str = "rwgate_rate_limit_peers";
/// Requests answered, by `code` and `protocol`.
pub const REQUESTS: &str = "rwgate_requests_total";
/// Time from request start to answer.
pub const REQUEST_DURATION: &str = "rwgate_request_duration_seconds";
/// Samples accepted, by `tenant`.
pub const RECEIVED_SAMPLES: &str = "rwgate_received_samples_total";
/// Native histogram samples accepted, by `tenant`.
pub const RECEIVED_HISTOGRAMS: &str = "rwgate_received_histograms_total";
/// Exemplars accepted, by `tenant`.
pub const RECEIVED_EXEMPLARS: &str = "rwgate_received_exemplars_total";
/// Metadata entries received (not forwarded).
pub const RECEIVED_METADATA: &str = "rwgate_received_metadata_total";
/// Samples refused, by `reason` and `tenant`.
pub const DISCARDED_SAMPLES: &str = "rwgate_discarded_samples_total";
/// OTLP data points, by `outcome`: `translated`, `stale_marker` (the no-recorded-value
/// flag) or `refused`.
pub const OTLP_DATA_POINTS: &str = "rwgate_otlp_data_points_total";
/// OTLP translation cache lookups, by `result`: `hit` or `miss`.
pub const OTLP_TRANSLATION_CACHE_LOOKUPS: &str = "rwgate_otlp_translation_cache_lookups_total";
/// Series whose labels arrived unsorted and were sorted.
pub const SORTED_SERIES: &str = "rwgate_sorted_series_total";
/// Forward requests, by `endpoint` and `result`.
pub const FORWARD_REQUESTS: &str = "rwgate_forward_requests_total";
/// Forward duration including retries, by `endpoint`.
pub const FORWARD_DURATION: &str = "rwgate_forward_duration_seconds";
/// Forward retries, by `endpoint`.
pub const FORWARD_RETRIES: &str = "rwgate_forward_retries_total";
/// Forwards under way (retries included), by `endpoint`.
pub const FORWARD_INFLIGHT: &str = "rwgate_forward_inflight_requests";
/// 1 while an endpoint answers, 0 while it is backed off.
pub const ENDPOINT_UP: &str = "rwgate_endpoint_up";
/// Requests in which some series missed its write quorum, by `cause`.
pub const QUORUM_FAILURES: &str = "rwgate_quorum_failures_total";
/// Requests being handled.
pub const INFLIGHT_REQUESTS: &str = "rwgate_inflight_requests";
/// Bytes held by requests being handled.
pub const INFLIGHT_BYTES: &str = "rwgate_inflight_bytes";
/// Requests refused at once because an in-flight cap was reached, by `limit`.
pub const OVERLOAD_REJECTIONS: &str = "rwgate_overload_rejections_total";
/// Connections open on the remote-write listener.
pub const CONNECTIONS_OPEN: &str = "rwgate_connections_open";
/// Connections accepted on the remote-write listener.
pub const CONNECTIONS_ACCEPTED: &str = "rwgate_connections_accepted_total";
/// Connections refused at accept, by `reason` (`max_connections`, `accept_error`).
pub const CONNECTIONS_REFUSED: &str = "rwgate_connections_refused_total";
/// Connections rwgate closed, by `reason` (`header_timeout`, `idle_timeout`,
/// `tls_handshake`, `bad_request`, `io_error`).
pub const CONNECTIONS_CLOSED: &str = "rwgate_connections_closed_total";
/// Request bodies cut off for arriving too slowly, by `kind` (`min_rate`, `timeout`).
pub const SLOW_BODIES: &str = "rwgate_slow_bodies_total";
/// Requests refused for authentication or authorisation, by `kind`.
pub const AUTH_FAILURES: &str = "rwgate_auth_failures_total";
/// Series whose tenant label was overwritten (policy `overwrite`), by `tenant`.
pub const TENANT_LABEL_OVERWRITES: &str = "rwgate_tenant_label_overwrites_total";
/// Relabel cache lookups, by `result` (`hit`: the rules' verdict remembered, `miss`:
/// the rules ran).
pub const RELABEL_CACHE_LOOKUPS: &str = "rwgate_relabel_cache_lookups_total";
/// 1 if the last config (tenancy, tokens) reload succeeded, else 0.
pub const CONFIG_LAST_RELOAD_SUCCESSFUL: &str = "rwgate_config_last_reload_successful";
/// Config (tenancy, tokens) reloads that failed.
pub const CONFIG_RELOAD_ERRORS: &str = "rwgate_config_reload_errors_total";
/// Always 1, with `version`.
pub const BUILD_INFO: &str = "rwgate_build_info";

/// Every metric name of this crate (the ring's are in `rwgate_ring::metrics::ALL`).
pub const ALL: &[&str] = &[
    OTLP_DATA_POINTS,
    OTLP_TRANSLATION_CACHE_LOOKUPS,
    RATE_LIMIT_PEERS,
    REQUESTS,
    REQUEST_DURATION,
    RECEIVED_SAMPLES,
    RECEIVED_HISTOGRAMS,
    RECEIVED_EXEMPLARS,
    RECEIVED_METADATA,
    DISCARDED_SAMPLES,
    SORTED_SERIES,
    FORWARD_REQUESTS,
    FORWARD_DURATION,
    FORWARD_RETRIES,
    FORWARD_INFLIGHT,
    ENDPOINT_UP,
    QUORUM_FAILURES,
    INFLIGHT_REQUESTS,
    INFLIGHT_BYTES,
    OVERLOAD_REJECTIONS,
    CONNECTIONS_OPEN,
    CONNECTIONS_ACCEPTED,
    CONNECTIONS_REFUSED,
    CONNECTIONS_CLOSED,
    SLOW_BODIES,
    AUTH_FAILURES,
    TENANT_LABEL_OVERWRITES,
    RELABEL_CACHE_LOOKUPS,
    CONFIG_LAST_RELOAD_SUCCESSFUL,
    CONFIG_RELOAD_ERRORS,
    BUILD_INFO,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the global Prometheus recorder once per process and returns its handle
/// (`None` if another recorder was installed first, as in some tests).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ],
                )
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            initialize();
            Some(handle)
        })
        .clone()
}

/// Exports the series that alerts and dashboards read before anything happened, at 0
/// (or, for the config, the successful start): a counter that does not exist yet
/// makes `rate()` and `increase()` return nothing instead of 0.
fn initialize() {
    for cause in ["unavailable", "conflict"] {
        metrics::counter!(QUORUM_FAILURES, "cause" => cause).increment(0);
    }
    metrics::counter!(CONFIG_RELOAD_ERRORS).increment(0);
    metrics::gauge!(CONFIG_LAST_RELOAD_SUCCESSFUL).set(1.0);
    metrics::counter!(rwgate_ring::metrics::CONFIG_RELOAD_ERRORS).increment(0);
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    rwgate_ring::metrics::describe();
    describe_counter!(
        REQUESTS,
        "Remote-write requests answered, by code and protocol."
    );
    describe_histogram!(REQUEST_DURATION, "Time from request start to answer.");
    describe_gauge!(
        RATE_LIMIT_PEERS,
        "rwgate replicas counted at limits.peers_dns; with rate_limit_strategy global each enforces ingestion_rate divided by this."
    );
    describe_counter!(RECEIVED_SAMPLES, "Samples accepted, by tenant.");
    describe_counter!(
        RECEIVED_HISTOGRAMS,
        "Native histogram samples accepted, by tenant."
    );
    describe_counter!(RECEIVED_EXEMPLARS, "Exemplars accepted, by tenant.");
    describe_counter!(
        RECEIVED_METADATA,
        "Metadata entries received (not forwarded)."
    );
    describe_counter!(DISCARDED_SAMPLES, "Samples refused, by reason and tenant.");
    describe_counter!(
        OTLP_DATA_POINTS,
        "OTLP data points, by outcome: translated, stale_marker or refused."
    );
    describe_counter!(
        OTLP_TRANSLATION_CACHE_LOOKUPS,
        "OTLP translation cache lookups, by result: hit or miss."
    );
    describe_counter!(
        SORTED_SERIES,
        "Series whose labels arrived unsorted and were sorted."
    );
    describe_counter!(
        FORWARD_REQUESTS,
        "Forward requests to receivers, by endpoint and result."
    );
    describe_histogram!(
        FORWARD_DURATION,
        "Forward duration including retries, by endpoint."
    );
    describe_counter!(FORWARD_RETRIES, "Forward retries, by endpoint.");
    describe_gauge!(
        FORWARD_INFLIGHT,
        "Forwards under way (retries included), by endpoint."
    );
    describe_gauge!(
        ENDPOINT_UP,
        "1 while an endpoint answers, 0 while it is backed off."
    );
    describe_counter!(
        QUORUM_FAILURES,
        "Requests with a series that missed its write quorum, by cause."
    );
    describe_gauge!(INFLIGHT_REQUESTS, "Remote-write requests being handled.");
    describe_gauge!(INFLIGHT_BYTES, "Bytes held by requests being handled.");
    describe_counter!(
        OVERLOAD_REJECTIONS,
        "Requests refused because an in-flight cap was reached."
    );
    describe_gauge!(
        CONNECTIONS_OPEN,
        "Connections open on the remote-write listener."
    );
    describe_counter!(
        CONNECTIONS_ACCEPTED,
        "Connections accepted on the remote-write listener."
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections refused at accept, by reason."
    );
    describe_counter!(
        CONNECTIONS_CLOSED,
        "Connections closed by rwgate (timeouts, bad requests, I/O errors), by reason."
    );
    describe_counter!(
        SLOW_BODIES,
        "Request bodies cut off for arriving too slowly, by kind."
    );
    describe_counter!(
        AUTH_FAILURES,
        "Requests refused for authentication or authorisation, by kind."
    );
    describe_counter!(
        TENANT_LABEL_OVERWRITES,
        "Series whose tenant label was overwritten, by tenant."
    );
    describe_counter!(
        RELABEL_CACHE_LOOKUPS,
        "Relabel cache lookups, by result (hit, miss)."
    );
    describe_gauge!(
        CONFIG_LAST_RELOAD_SUCCESSFUL,
        "1 if the last config reload succeeded, else 0."
    );
    describe_counter!(
        CONFIG_RELOAD_ERRORS,
        "Config (tenancy, tokens) reloads that failed."
    );
    describe_gauge!(BUILD_INFO, "Build information.");
}
