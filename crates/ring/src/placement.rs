//! The two placement algorithms, built once per config load; lookups do not allocate.

use std::collections::{BTreeMap, BTreeSet};

use crate::hash::xxhash64;

/// Precomputed placement for one hashring.
#[derive(Debug, Clone)]
pub(crate) enum Placement {
    /// Endpoint indices sorted byte-wise by address.
    Hashmod { sorted: Vec<u32> },
    /// Ketama sections: hashes sorted ascending, and `rf` replica endpoints per section.
    Ketama {
        hashes: Vec<u64>,
        replicas: Vec<u32>,
        rf: usize,
    },
}

/// The ketama ring's sections: XXH64 of `address:i` for `i` in 1..=`sections_per_node`
/// of every endpoint, with the endpoint's index, sorted by hash.
pub(crate) fn ketama_sections(addresses: &[&str], sections_per_node: usize) -> Vec<(u64, u32)> {
    let mut sections: Vec<(u64, u32)> = Vec::with_capacity(addresses.len() * sections_per_node);
    let mut key = String::new();
    for (idx, address) in addresses.iter().enumerate() {
        for i in 1..=sections_per_node {
            key.clear();
            key.push_str(address);
            key.push(':');
            key.push_str(&i.to_string());
            sections.push((xxhash64(key.as_bytes()), idx as u32));
        }
    }
    sections.sort_by_key(|s| s.0);
    sections
}

impl Placement {
    pub(crate) fn hashmod(addresses: &[&str]) -> Placement {
        let mut sorted: Vec<u32> = (0..addresses.len() as u32).collect();
        sorted.sort_by(|&a, &b| {
            addresses[a as usize]
                .as_bytes()
                .cmp(addresses[b as usize].as_bytes())
        });
        Placement::Hashmod { sorted }
    }

    /// Builds the ketama ring. The caller has checked that `rf` replicas can be placed
    /// (enough endpoints, a feasible AZ layout), so the walk terminates.
    pub(crate) fn ketama(
        addresses: &[&str],
        azs: &[&str],
        sections_per_node: usize,
        rf: usize,
    ) -> Placement {
        let sections = ketama_sections(addresses, sections_per_node);
        let distinct_azs: BTreeSet<&str> = azs.iter().copied().collect();
        let az_aware = distinct_azs.len() > 1;
        let mut replicas = Vec::with_capacity(sections.len() * rf);
        let mut chosen: Vec<u32> = Vec::with_capacity(rf);
        let mut spread: BTreeMap<&str, usize> = BTreeMap::new();
        for start in 0..sections.len() {
            chosen.clear();
            spread.clear();
            spread.extend(distinct_azs.iter().map(|az| (*az, 0)));
            let mut j = start;
            // Each full turn of the ring adds at least one replica when the layout is
            // feasible; the bound turns an infeasible layout into a short result that
            // the caller's checks rule out, never a hang.
            let mut steps = 0usize;
            while chosen.len() < rf && steps < sections.len() * (rf + 1) {
                let (_, endpoint) = sections[j];
                j = (j + 1) % sections.len();
                steps += 1;
                if chosen.contains(&endpoint) {
                    continue;
                }
                let az = azs[endpoint as usize];
                if az_aware {
                    let min = spread.values().copied().min().unwrap_or(0);
                    let have = spread.get(az).copied().unwrap_or(0);
                    if have > 0 && have > min {
                        continue;
                    }
                }
                chosen.push(endpoint);
                *spread.entry(az).or_insert(0) += 1;
            }
            replicas.extend_from_slice(&chosen);
            // Keep the layout rectangular even if the walk came up short.
            replicas.resize(
                replicas.len() + (rf - chosen.len()),
                chosen.first().copied().unwrap_or(0),
            );
        }
        Placement::Ketama {
            hashes: sections.into_iter().map(|s| s.0).collect(),
            replicas,
            rf,
        }
    }

    /// Endpoint index of replica `n` for a series hash. `n` must be below the
    /// replication factor the ring was built for (checked by the caller).
    pub(crate) fn get(&self, hash: u64, n: usize) -> u32 {
        match self {
            Placement::Hashmod { sorted } => {
                let len = sorted.len() as u64;
                sorted[(hash.wrapping_add(n as u64) % len) as usize]
            }
            Placement::Ketama {
                hashes,
                replicas,
                rf,
            } => {
                let mut i = hashes.partition_point(|&h| h < hash);
                if i == hashes.len() {
                    i = 0;
                }
                replicas[i * rf + n]
            }
        }
    }
}
