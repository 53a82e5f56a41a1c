//! Label sets seen before: a bounded per-thread memory, keyed by a 128-bit hash of a
//! series' label fields as they arrived, of label sets that passed validation (and
//! were sorted), with the placement hash last computed for them.
//!
//! Scraped series repeat every interval with identical label bytes, so after the first
//! request the decoder skips label validation for them and placement skips the series
//! hash: the two largest per-series costs after decompression. A label set is only
//! remembered once it validated under limits with the same validation settings (they
//! seed the key, with a secret drawn per process), so a hit is exactly as valid as a
//! fresh check; a hash collision (2^-128 per pair) is the only way to be wrong.
//!
//! Each worker thread has two generations of at most `Limits::seen_entries` each: the
//! current one fills, and when full it becomes the old one (the previous old one is
//! dropped). A hit in the old generation moves the entry to the current one, so the
//! label sets in use stay while the rest ages out: memory is bounded by
//! 2 x entries x threads x about 48 bytes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed, xxh3_128_with_seed};

use crate::limits::{Limits, NameValidation};

/// What is remembered of a label set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Seen {
    /// Key of the label set (see [`key`]).
    pub key: u128,
    /// [`tenant_seed`] of the tenant `hash` was computed for; 0 for none yet.
    pub tenant: u64,
    /// The placement hash of the label set for that tenant.
    pub hash: u64,
}

/// A `Hasher` for maps whose keys are already uniform hashes (`u64` or `u128`): the
/// key's low 64 bits are used as they are; hashing them again would be waste.
#[derive(Debug, Default)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only the integer writes are used; fold anything else in, for completeness.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

type Map = HashMap<u128, (u64, u64), BuildHasherDefault<Prehashed>>;

#[derive(Default)]
struct Generations {
    current: Map,
    old: Map,
}

thread_local! {
    static SEEN: RefCell<Generations> = RefCell::new(Generations::default());
}

/// A secret of this process, drawn at first use, that seeds every key. Without it a
/// sender who knows the limits could look for a label set whose key equals that of a
/// valid one (XXH3 is fast, not collision-resistant against a chosen input), and have
/// it skip validation; the keys never leave the process.
fn secret() -> u64 {
    static SECRET: OnceLock<u64> = OnceLock::new();
    *SECRET.get_or_init(|| RandomState::new().hash_one(0x5ee1_u64))
}

/// The seed of keys under `limits`: the settings validation depends on, and the
/// process's secret.
pub(crate) fn limits_seed(limits: &Limits) -> u64 {
    seed_with(limits, secret())
}

fn seed_with(limits: &Limits, secret: u64) -> u64 {
    let names = match limits.name_validation {
        NameValidation::Legacy => 1u64,
        NameValidation::Utf8 => 2,
    };
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(limits.max_label_names as u64).to_le_bytes());
    bytes[8..16].copy_from_slice(&(limits.max_label_name_len as u64).to_le_bytes());
    bytes[16..24].copy_from_slice(&(limits.max_label_value_len as u64).to_le_bytes());
    bytes[24..].copy_from_slice(&names.to_le_bytes());
    xxh3_64_with_seed(&bytes, secret)
}

/// The key of a series' label fields under a [`limits_seed`].
pub(crate) fn key(label_fields: &[u8], seed: u64) -> u128 {
    xxh3_128_with_seed(label_fields, seed)
}

/// A tenant's seed for [`Seen::tenant`]: never 0.
pub fn tenant_seed(tenant: &[u8]) -> u64 {
    xxh3_64(tenant) | 1
}

/// What this thread remembers of `key`, if anything.
pub(crate) fn lookup(key: u128, entries: usize) -> Option<Seen> {
    SEEN.with_borrow_mut(|g| find(g, key, entries))
}

/// [`lookup`] of each key in turn, into the slot beside it, in one borrow of this
/// thread's memory and a loop that does nothing else, so that their cache misses
/// overlap.
pub(crate) fn lookup_many<'a>(
    slots: impl IntoIterator<Item = (u128, &'a mut Option<Seen>)>,
    entries: usize,
) {
    SEEN.with_borrow_mut(|g| {
        for (key, slot) in slots {
            *slot = find(g, key, entries);
        }
    });
}

fn find(g: &mut Generations, key: u128, entries: usize) -> Option<Seen> {
    if let Some(&(tenant, hash)) = g.current.get(&key) {
        return Some(Seen { key, tenant, hash });
    }
    let (tenant, hash) = g.old.remove(&key)?;
    insert(g, key, (tenant, hash), entries);
    Some(Seen { key, tenant, hash })
}

/// Remembers a label set that validated, with no placement hash yet.
pub(crate) fn remember(key: u128, entries: usize) {
    SEEN.with_borrow_mut(|g| insert(g, key, (0, 0), entries));
}

/// Remembers the placement hash of a remembered label set for a tenant (a no-op when
/// this thread forgot it meanwhile: the next request remembers it again).
pub fn set_hash(key: u128, tenant: u64, hash: u64) {
    SEEN.with_borrow_mut(|g| {
        if let Some(v) = g.current.get_mut(&key) {
            *v = (tenant, hash);
        }
    });
}

fn insert(g: &mut Generations, key: u128, value: (u64, u64), entries: usize) {
    if g.current.len() >= entries {
        g.old = std::mem::take(&mut g.current);
    }
    g.current.insert(key, value);
}

/// Forgets everything this thread remembers (tests and benchmarks of first sight).
pub fn clear() {
    SEEN.with_borrow_mut(|g| *g = Generations::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_keep_what_is_used_and_bound_the_rest() {
        clear();
        for k in 0..4u128 {
            remember(k, 4);
        }
        // Full: the next insert starts a new generation; 0..4 are the old one.
        remember(10, 4);
        assert!(
            lookup(1, 4).is_some(),
            "moved back to the current generation"
        );
        for k in 11..14u128 {
            remember(k, 4);
        }
        // 10, 1, 11, 12 filled it; 13 turned it old, dropping 0, 2 and 3 for good.
        assert!(lookup(0, 4).is_none());
        assert!(lookup(2, 4).is_none());
        assert!(lookup(1, 4).is_some());
        assert!(lookup(13, 4).is_some());
        clear();
    }

    #[test]
    fn hashes_are_per_tenant_and_keys_per_limits() {
        clear();
        remember(7, 8);
        assert_eq!(lookup(7, 8).map(|s| s.tenant), Some(0));
        set_hash(7, tenant_seed(b"a"), 42);
        let s = lookup(7, 8).unwrap_or_default();
        assert_eq!((s.tenant, s.hash), (tenant_seed(b"a"), 42));
        assert_ne!(tenant_seed(b"a"), tenant_seed(b"b"));
        let strict = Limits {
            max_label_value_len: 10,
            ..Limits::default()
        };
        assert_ne!(limits_seed(&strict), limits_seed(&Limits::default()));
        assert_eq!(
            limits_seed(&strict),
            limits_seed(&strict),
            "stable in a process"
        );
        assert_ne!(
            seed_with(&strict, 1),
            seed_with(&strict, 2),
            "the process's secret is part of every key"
        );
        assert_ne!(
            key(b"labels", limits_seed(&strict)),
            key(b"labels", limits_seed(&Limits::default()))
        );
        clear();
    }
}
