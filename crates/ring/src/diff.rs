//! `rwgate ring diff`: how many series would move between two configs, per endpoint.
//!
//! Synthetic series `{__name__="rwgate_ring_diff", series="<i>"}` are placed for each
//! tenant under both configs; every (series, replica) is one assignment. On a
//! shuffle-sharded hashring each tenant's series are placed on its shard.

use std::collections::BTreeMap;

use crate::hash::series_hash;
use crate::hashrings::Hashrings;

/// One endpoint's share before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffRow {
    /// Endpoint address.
    pub endpoint: String,
    /// Share of all assignments it holds under the old config.
    pub before: f64,
    /// Share it holds under the new config.
    pub after: f64,
    /// Share of all assignments that leave it.
    pub moved_away: f64,
}

/// The whole simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffReport {
    /// Per endpoint, sorted by address.
    pub rows: Vec<DiffRow>,
    /// Number of (tenant, series, replica) assignments simulated.
    pub assignments: u64,
    /// Share of assignments whose endpoint changes.
    pub moved: f64,
    /// Tenants simulated.
    pub tenants: Vec<String>,
    /// Tenants left out because a config cannot place them (a shuffle shard that does
    /// not fit a zone), with why.
    pub unplaceable: Vec<String>,
}

/// Tenants worth simulating: every exact tenant in either config plus `default_tenant`
/// (which stands for everything a catch-all hashring receives).
pub fn tenants_of(old: &Hashrings, new: &Hashrings, default_tenant: &str) -> Vec<String> {
    let mut out: Vec<String> = old
        .hashrings()
        .iter()
        .chain(new.hashrings())
        .flat_map(|r| {
            r.tenants()
                .iter()
                .filter(|t| !t.contains(['*', '?', '[']))
                .cloned()
        })
        .collect();
    out.push(default_tenant.to_string());
    out.sort();
    out.dedup();
    out
}

/// Places `series_per_tenant` series per tenant under both configs.
pub fn diff(
    old: &Hashrings,
    new: &Hashrings,
    tenants: &[String],
    series_per_tenant: usize,
) -> DiffReport {
    #[derive(Default)]
    struct Tally {
        before: u64,
        after: u64,
        moved_away: u64,
    }
    let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
    let mut assignments = 0u64;
    let mut moved = 0u64;
    let mut buf = Vec::new();
    let mut unplaceable = Vec::new();
    for tenant in tenants {
        let (Some(ra), Some(rb)) = (old.for_tenant(tenant), new.for_tenant(tenant)) else {
            continue;
        };
        // A shuffle-sharded ring places each tenant on its own shard.
        let (a, b) = match (ra.placement(tenant), rb.placement(tenant)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) => {
                unplaceable.push(format!("{tenant} (old config: {e})"));
                continue;
            }
            (_, Err(e)) => {
                unplaceable.push(format!("{tenant} (new config: {e})"));
                continue;
            }
        };
        let rf = ra.replication_factor().min(rb.replication_factor());
        for i in 0..series_per_tenant {
            let id = i.to_string();
            let labels = [
                (&b"__name__"[..], &b"rwgate_ring_diff"[..]),
                (b"series", id.as_bytes()),
            ];
            let hash = series_hash(tenant.as_bytes(), labels, &mut buf);
            for n in 0..rf {
                let from = &ra.endpoints()[a.replica(hash, n)].address;
                let to = &rb.endpoints()[b.replica(hash, n)].address;
                assignments += 1;
                tally.entry(from.clone()).or_default().before += 1;
                tally.entry(to.clone()).or_default().after += 1;
                if from != to {
                    moved += 1;
                    tally.entry(from.clone()).or_default().moved_away += 1;
                }
            }
        }
    }
    let share = |n: u64| {
        if assignments == 0 {
            0.0
        } else {
            n as f64 / assignments as f64
        }
    };
    DiffReport {
        rows: tally
            .into_iter()
            .map(|(endpoint, t)| DiffRow {
                endpoint,
                before: share(t.before),
                after: share(t.after),
                moved_away: share(t.moved_away),
            })
            .collect(),
        assignments,
        moved: share(moved),
        tenants: tenants.to_vec(),
        unplaceable,
    }
}
