//! What `rwgate ring lookup` says about a series, as receiver indexes: the placement
//! tests compare every series they find on the receivers with it.

use std::collections::BTreeSet;
use std::path::Path;

use rwgate_gateway::cli::{LookupArgs, RingOpts, ring_lookup};
use rwgate_ring::Algorithm;

/// The indexes in `urls` of the receivers `rwgate ring lookup` names for the series
/// `labels` of `tenant` in the hashrings file `hashrings`, at replication factor `rf`
/// with `algorithm` for rings that name none. Panics (failing the test) when the lookup
/// fails or names a receiver not in `urls`.
pub fn lookup_indexes<K: AsRef<str>, V: AsRef<str>>(
    hashrings: &Path,
    tenant: &str,
    labels: &[(K, V)],
    rf: usize,
    algorithm: Algorithm,
    urls: &[String],
) -> BTreeSet<usize> {
    let selector = format!(
        "{{{}}}",
        labels
            .iter()
            .map(|(k, v)| format!("{}={:?}", k.as_ref(), v.as_ref()))
            .collect::<Vec<_>>()
            .join(",")
    );
    let out = ring_lookup(&LookupArgs {
        hashrings: hashrings.to_path_buf(),
        tenant: tenant.into(),
        series: selector.clone(),
        wire_order: false,
        ring: RingOpts {
            replication_factor: rf,
            algorithm,
            sections_per_node: 1000,
        },
    })
    .unwrap_or_else(|e| panic!("ring lookup of {selector}: {e:?}"));
    // `# ...` lines describe the tenant's shuffle shard.
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|u| {
            urls.iter()
                .position(|x| x == u)
                .unwrap_or_else(|| panic!("ring lookup named {u}, not a receiver"))
        })
        .collect()
}
