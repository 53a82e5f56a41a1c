//! The two placement algorithms, built once per config load; lookups do not allocate.

use std::collections::{BTreeMap, BTreeSet};

use crate::hash::xxhash64;

/// Precomputed placement for one hashring.
#[derive(Debug, Clone)]
pub(crate) enum Placement {
    /// Endpoint indices sorted byte-wise by address, and the remainder by their count.
    Hashmod { sorted: Vec<u32>, modulo: FastMod },
    /// Ketama sections: hashes sorted ascending, and `rf` replica endpoints per section.
    Ketama {
        hashes: Vec<u64>,
        replicas: Vec<u32>,
        rf: usize,
    },
}

/// `x % d` for a divisor fixed in advance, by multiplications (Lemire, Kaser and Kurz,
/// "Faster Remainder by Direct Computation", 2019): a 64-bit division costs tens of
/// cycles, and hashmod placement takes one remainder per series and replica (measured:
/// 1.5% of rwgate's CPU on `kube-state-metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FastMod {
    /// `ceil(2^128 / d)`, modulo 2^128 (0 for `d` = 1, whose remainder is always 0).
    m: u128,
    d: u64,
}

impl FastMod {
    /// The remainder by `d` (not 0).
    pub(crate) fn new(d: u64) -> Self {
        assert!(d > 0, "remainder by zero");
        FastMod {
            m: (u128::MAX / u128::from(d)).wrapping_add(1),
            d,
        }
    }

    /// `x % d`.
    pub(crate) fn rem(&self, x: u64) -> u64 {
        // The fractional part of x / d, then scaled by d: the high 64 bits of the
        // 192-bit product `low * d`, from two 64 x 64 -> 128-bit products.
        let low = self.m.wrapping_mul(u128::from(x));
        let d = u128::from(self.d);
        let bottom = ((low as u64 as u128) * d) >> 64;
        let top = (low >> 64) * d;
        ((bottom + top) >> 64) as u64
    }
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
        let modulo = FastMod::new(sorted.len().max(1) as u64);
        Placement::Hashmod { sorted, modulo }
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
            Placement::Hashmod { sorted, modulo } => {
                sorted[modulo.rem(hash.wrapping_add(n as u64)) as usize]
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

#[cfg(test)]
mod tests {
    use super::FastMod;
    use proptest::prelude::*;

    const EDGES: [u64; 12] = [
        0,
        1,
        2,
        3,
        (1 << 32) - 1,
        1 << 32,
        (1 << 32) + 1,
        (1 << 63) - 1,
        1 << 63,
        (1 << 63) + 1,
        u64::MAX - 1,
        u64::MAX,
    ];

    #[test]
    fn fastmod_equals_the_remainder_on_edge_values() {
        let divisors = (1..=300u64).chain(EDGES.iter().copied().filter(|&d| d > 0));
        for d in divisors {
            let f = FastMod::new(d);
            for &x in EDGES
                .iter()
                .chain(&[d - 1, d, d.wrapping_add(1), d.wrapping_mul(7)])
            {
                assert_eq!(f.rem(x), x % d, "{x} % {d}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]
        #[test]
        fn fastmod_equals_the_remainder(x: u64, d in 1u64..) {
            prop_assert_eq!(FastMod::new(d).rem(x), x % d);
        }

        #[test]
        fn fastmod_equals_the_remainder_by_small_divisors(x: u64, d in 1u64..5_000) {
            prop_assert_eq!(FastMod::new(d).rem(x), x % d);
        }
    }
}
