//! Thanos' shuffle sharding (`shuffleShardHashring` in pkg/receive/hashring.go, v0.41+):
//! on a ketama hashring with `shuffle_sharding_config`, each tenant writes to a subset of
//! the endpoints, its shard, and its series are placed by a ketama ring over that shard
//! alone.
//!
//! A tenant's shard, as a router picks it:
//! - its size is the first override whose tenants match (exact, or glob), else
//!   `shard_size`;
//! - endpoints are grouped by zone (one group when `zone_awareness_disabled`), and each
//!   zone gives `take` endpoints: the shard size, or ceil(size / zones) when zone-aware;
//!   a zone with fewer endpoints than `take` is an error for that tenant;
//! - per zone, Go's math/rand ([`crate::gorand`]) seeded with the first 8 bytes of
//!   MD5(tenant), or MD5(tenant, 0x00, zone) for a named zone, draws `take` ring
//!   positions; each picks the first endpoint not yet picked walking the zone's ketama
//!   sections from the first whose hash is at least the position;
//! - the shard's ring is a new ketama ring over the picked endpoints (their zones kept),
//!   at the configured replication factor.
//!
//! Shards are built on first use and kept, up to `cache_size` tenants (100 when unset,
//! as Thanos), the oldest dropped first.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use md5::{Digest, Md5};

use crate::config::{MatcherType, ShuffleShardingConfig};
use crate::gorand::GoRand;
use crate::placement::{Placement, ketama_sections};

/// Thanos' cache size when `cache_size` is not set.
const DEFAULT_CACHE_SIZE: usize = 100;

/// A tenant's shard could not be built; a router fails that tenant's writes the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// A zone has fewer endpoints than the tenant takes from each zone.
    #[error("shard size {size} is larger than number of nodes in AZ {zone:?} ({nodes})")]
    ZoneTooSmall {
        /// The tenant's shard size.
        size: usize,
        /// The zone.
        zone: String,
        /// Its endpoints.
        nodes: usize,
    },
    /// The shard cannot hold the replication factor.
    #[error("the tenant's shard of {shard} endpoints cannot hold {rf} replicas{detail}")]
    TooFewForReplicas {
        /// Endpoints in the shard.
        shard: usize,
        /// Replication factor.
        rf: usize,
        /// Why, when it is the zone layout.
        detail: String,
    },
}

/// One tenant's shard: the base ring's endpoints it holds and their ring.
#[derive(Debug)]
pub struct Shard {
    /// Indexes into the hashring's endpoints, in the order the shard picked them.
    endpoints: Vec<u32>,
    placement: Placement,
}

impl Shard {
    /// The hashring's endpoint indexes in this shard, in the order they were picked.
    pub fn endpoints(&self) -> &[u32] {
        &self.endpoints
    }

    /// Hashring endpoint index of replica `n` for a series hash.
    pub(crate) fn replica(&self, hash: u64, n: usize) -> usize {
        self.endpoints[self.placement.get(hash, n) as usize] as usize
    }
}

/// Shuffle sharding of one hashring.
pub(crate) struct Shuffle {
    cfg: ShuffleShardingConfig,
    overrides: Vec<Vec<glob::Pattern>>,
    /// Per zone (as grouped): the zone's ketama sections `(hash, endpoint)`, sorted.
    zones: BTreeMap<String, Zone>,
    sections_per_node: usize,
    rf: usize,
    cache: Mutex<Cache>,
}

struct Zone {
    nodes: usize,
    sections: Vec<(u64, u32)>,
}

#[derive(Default)]
struct Cache {
    shards: HashMap<String, Arc<Shard>>,
    order: VecDeque<String>,
}

impl std::fmt::Debug for Shuffle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shuffle")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Shuffle {
    /// Shuffle sharding over the endpoints `addresses` (with zones `azs`) of a ketama
    /// ring with `sections_per_node` sections each. Glob patterns that do not parse
    /// are reported, as the tenant matcher does.
    pub(crate) fn new(
        cfg: &ShuffleShardingConfig,
        addresses: &[&str],
        azs: &[&str],
        sections_per_node: usize,
        rf: usize,
    ) -> Result<Shuffle, Vec<String>> {
        let mut problems = Vec::new();
        let overrides = cfg
            .overrides
            .iter()
            .map(|o| match o.tenant_matcher_type {
                MatcherType::Exact => Vec::new(),
                MatcherType::Glob => o
                    .tenants
                    .iter()
                    .filter_map(|t| {
                        glob::Pattern::new(t)
                            .map_err(|e| {
                                problems
                                    .push(format!("bad glob {t:?} in a shard size override: {e}"))
                            })
                            .ok()
                    })
                    .collect(),
            })
            .collect();
        let group = |az: &str| {
            if cfg.zone_awareness_disabled {
                String::new()
            } else {
                az.to_string()
            }
        };
        let mut zones: BTreeMap<String, Zone> = BTreeMap::new();
        for az in azs {
            zones
                .entry(group(az))
                .or_insert(Zone {
                    nodes: 0,
                    sections: Vec::new(),
                })
                .nodes += 1;
        }
        // Each zone's sections in hash order: the ring's, split by zone.
        for (hash, endpoint) in ketama_sections(addresses, sections_per_node) {
            if let Some(zone) = zones.get_mut(&group(azs[endpoint as usize])) {
                zone.sections.push((hash, endpoint));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Shuffle {
            cfg: cfg.clone(),
            overrides,
            zones,
            sections_per_node,
            rf,
            cache: Mutex::default(),
        })
    }

    /// The shard size of `tenant`: the first matching override's, else the default.
    pub(crate) fn shard_size(&self, tenant: &str) -> usize {
        for (o, globs) in self.cfg.overrides.iter().zip(&self.overrides) {
            let hit = match o.tenant_matcher_type {
                MatcherType::Exact => o.tenants.iter().any(|t| t == tenant),
                MatcherType::Glob => globs.iter().any(|p| p.matches(tenant)),
            };
            if hit {
                return o.shard_size;
            }
        }
        self.cfg.shard_size
    }

    /// Every distinct shard size in the config: the default and each override's.
    pub(crate) fn shard_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.cfg.shard_size).chain(self.cfg.overrides.iter().map(|o| o.shard_size))
    }

    /// Endpoints in the largest zone (as grouped).
    pub(crate) fn largest_zone(&self) -> usize {
        self.zones.values().map(|z| z.nodes).max().unwrap_or(0)
    }

    /// How many endpoints each zone gives a shard of `size`.
    fn take(&self, size: usize) -> usize {
        if self.cfg.zone_awareness_disabled {
            size
        } else {
            size.div_ceil(self.zones.len().max(1))
        }
    }

    /// Whether a shard of `size` fits every zone.
    pub(crate) fn fits(&self, size: usize) -> Result<(), ShardError> {
        let take = self.take(size);
        match self.zones.iter().find(|(_, z)| z.nodes < take) {
            Some((zone, z)) => Err(ShardError::ZoneTooSmall {
                size,
                zone: zone.clone(),
                nodes: z.nodes,
            }),
            None => Ok(()),
        }
    }

    /// `tenant`'s shard, built on first use; `endpoint(i)` is the address and zone of
    /// the hashring's endpoint `i` (those it was built over).
    pub(crate) fn shard<'e>(
        &self,
        tenant: &str,
        endpoint: impl Fn(usize) -> (&'e str, &'e str),
    ) -> Result<Arc<Shard>, ShardError> {
        if let Some(s) = self.lock().shards.get(tenant) {
            return Ok(s.clone());
        }
        let shard = Arc::new(self.build(tenant, endpoint)?);
        let mut cache = self.lock();
        let cap = match self.cfg.cache_size {
            0 => DEFAULT_CACHE_SIZE,
            n => n,
        };
        if !cache.shards.contains_key(tenant) {
            while cache.shards.len() >= cap {
                let Some(oldest) = cache.order.pop_front() else {
                    break;
                };
                cache.shards.remove(&oldest);
            }
            cache.order.push_back(tenant.to_string());
            cache.shards.insert(tenant.to_string(), shard.clone());
        }
        Ok(shard)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn build<'e>(
        &self,
        tenant: &str,
        endpoint: impl Fn(usize) -> (&'e str, &'e str),
    ) -> Result<Shard, ShardError> {
        let size = self.shard_size(tenant);
        self.fits(size)?;
        let take = self.take(size);
        let mut picked: Vec<u32> = Vec::with_capacity(take * self.zones.len());
        for (zone, z) in &self.zones {
            if z.sections.is_empty() {
                continue;
            }
            let mut rng = GoRand::new(seed(tenant, zone));
            let first = picked.len();
            for _ in 0..take {
                let pos = rng.uint64();
                let mut start = z.sections.partition_point(|s| s.0 < pos);
                if start == z.sections.len() {
                    start = 0;
                }
                let found = (0..z.sections.len())
                    .map(|j| z.sections[(start + j) % z.sections.len()].1)
                    .find(|e| !picked[first..].contains(e));
                if let Some(e) = found {
                    picked.push(e);
                }
            }
        }
        let addresses: Vec<&str> = picked.iter().map(|&e| endpoint(e as usize).0).collect();
        let azs: Vec<&str> = picked.iter().map(|&e| endpoint(e as usize).1).collect();
        if picked.len() < self.rf {
            return Err(ShardError::TooFewForReplicas {
                shard: picked.len(),
                rf: self.rf,
                detail: String::new(),
            });
        }
        let mut az_sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for az in &azs {
            *az_sizes.entry(az).or_insert(0) += 1;
        }
        if az_sizes.len() > 1 && !crate::config::az_layout_places(&az_sizes, self.rf) {
            return Err(ShardError::TooFewForReplicas {
                shard: picked.len(),
                rf: self.rf,
                detail: format!(" spread evenly over its zones {az_sizes:?}"),
            });
        }
        Ok(Shard {
            placement: Placement::ketama(&addresses, &azs, self.sections_per_node, self.rf),
            endpoints: picked,
        })
    }
}

/// Thanos' (Cortex') `ShuffleShardSeed`: the first 8 bytes, big-endian, of
/// MD5(tenant) or MD5(tenant, 0x00, zone), as a signed integer.
pub fn seed(tenant: &str, zone: &str) -> i64 {
    let mut md5 = Md5::new();
    md5.update(tenant.as_bytes());
    if !zone.is_empty() {
        md5.update([0u8]);
        md5.update(zone.as_bytes());
    }
    let sum = md5.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&sum[..8]);
    i64::from_be_bytes(first)
}
