//! The ring crate's metric names, and their descriptions for the exporter the gateway
//! installs (listed in docs/metrics.md).

/// XXH64 of the loaded hashrings file.
pub const CONFIG_HASH: &str = "rwgate_hashring_config_hash";
/// 1 if the last reload succeeded, else 0.
pub const CONFIG_LAST_RELOAD_SUCCESSFUL: &str = "rwgate_hashring_config_last_reload_successful";
/// Time of the last successful reload.
pub const CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP: &str =
    "rwgate_hashring_config_last_reload_success_timestamp_seconds";
/// Reloads that failed (the old rings stayed), once per bad version of the file.
pub const CONFIG_RELOAD_ERRORS: &str = "rwgate_hashring_config_reload_errors_total";
/// Endpoints per hashring, by `hashring`.
pub const NODES: &str = "rwgate_hashring_nodes";
/// Tenants listed per hashring (0: catch-all), by `hashring`.
pub const TENANTS: &str = "rwgate_hashring_tenants";

/// Every name above.
pub const ALL: &[&str] = &[
    CONFIG_HASH,
    CONFIG_LAST_RELOAD_SUCCESSFUL,
    CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP,
    CONFIG_RELOAD_ERRORS,
    NODES,
    TENANTS,
];

/// Describes the ring's metrics to the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_gauge!(CONFIG_HASH, "XXH64 of the loaded hashrings file.");
    describe_gauge!(
        CONFIG_LAST_RELOAD_SUCCESSFUL,
        "1 if the last hashrings reload succeeded, else 0."
    );
    describe_gauge!(
        CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP,
        "Time of the last successful hashrings reload."
    );
    describe_counter!(
        CONFIG_RELOAD_ERRORS,
        "Hashrings reloads that failed (the old rings stayed), once per bad version."
    );
    describe_gauge!(NODES, "Endpoints per hashring.");
    describe_gauge!(TENANTS, "Tenants listed per hashring (0: catch-all).");
}
