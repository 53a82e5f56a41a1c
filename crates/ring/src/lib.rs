//! Thanos-compatible hashrings: for the same `hashrings.json`, tenant and series, this
//! crate picks exactly the receivers a Thanos router picks, in the same replica order.
//!
//! - [`config`] parses `hashrings.json` as Thanos reads it and checks what Thanos would
//!   hang or die on;
//! - [`hash`] is the series hash (XXH64 over tenant and labels);
//! - [`Hashrings`] is one built config: tenant → [`Hashring`] → replica endpoints, with
//!   hashmod and ketama placement precomputed so lookups do not allocate, and
//!   [`shuffle`] sharding of a ketama ring per tenant;
//! - [`reload`] keeps the rings in force behind an atomic pointer and swaps in a new
//!   set when the file changes;
//! - [`url`] turns an endpoint address into the gRPC address or HTTP URL rwgate
//!   forwards to;
//! - [`selector`] parses `up{job="x"}` for the CLI, and [`diff`] simulates how series
//!   move between two configs.

pub mod config;
pub mod diff;
pub mod gorand;
pub mod hash;
pub mod metrics;
pub mod reload;
pub mod selector;
pub mod shuffle;
pub mod url;

mod hashrings;
mod placement;

pub use config::{Algorithm, ConfigError, MatcherType};
pub use hash::{series_hash, xxhash64};
pub use hashrings::{BuildOptions, Endpoint, Hashring, Hashrings, TenantPlacement, Warning};
pub use reload::{ReloadError, ReloadOutcome, ReloadRecord, RingHandle};
pub use shuffle::ShardError;

/// Write quorum for a replication factor, as Thanos computes it: RF=2 → 1, otherwise
/// RF/2 + 1.
pub fn write_quorum(replication_factor: usize) -> usize {
    if replication_factor == 2 {
        1
    } else {
        replication_factor / 2 + 1
    }
}
