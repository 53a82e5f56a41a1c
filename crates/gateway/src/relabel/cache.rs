//! Relabel results remembered per worker thread, so that a series seen again (the
//! steady state of scraped metrics: the same label sets every scrape interval) costs a
//! hash and a lookup instead of running the rules and re-validating.
//!
//! The key is the series' labels as received (its encoded label fields), under the
//! tenancy configuration's id and the tenant: a config reload or another tenant never
//! reuses a result. An entry is small and holds no copy of the labels: a rewrite is
//! remembered as a [`Script`] (which of the series' own labels to keep, and the few new
//! pairs), and the key is checked by a 128-bit XXH3 of the labels, seeded with a
//! secret drawn at start and the configuration's id, plus a second 64-bit hash of the
//! tenant. A wrong answer would need two label sets of one tenant with equal 128-bit
//! seeded hashes; its effect would stay within that tenant.
//!
//! Each thread's cache holds two generations; together, over all threads, they hold
//! at most the configured `relabel_cache_bytes` (default [`DEFAULT_BYTES`]): a
//! generation of a thread holds that divided by two and by the number of CPUs. When the
//! current one is full it becomes the previous one (the older one is freed), and a hit
//! in the previous generation moves the entry forward. Memory stays bounded under any
//! stream of new series.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::Range;
use std::sync::OnceLock;

// Keys are already XXH3 hashes: the map uses them as they are.
use rwgate_wire::seen::Prehashed;
use rwgate_wire::{FieldPiece, Reason};

/// The default of `relabel_cache_bytes`: all threads and both generations together.
pub const DEFAULT_BYTES: usize = 64 << 20;

/// Script bytes kept inside the entry; longer scripts take a heap block.
const INLINE: usize = 46;

/// Script tags: a run of the series' own label fields, or new encoded labels.
const OWN: u8 = 0;
const NEW: u8 = 1;

/// How to build a rewritten series' label fields from its own: runs of its label
/// fields copied as they are (most labels survive relabeling unchanged) and new labels
/// already encoded, in order. Applied by `WriteBatch::rewrite_label_fields`: a few
/// copies per series instead of encoding every label.
#[derive(Clone, PartialEq, Eq)]
pub struct Script {
    len: u8,
    inline: [u8; INLINE],
    heap: Option<Box<[u8]>>,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.pieces()).finish()
    }
}

impl Script {
    /// The script of `output` (the rewritten labels, in order) for a series whose labels
    /// are `input` (wire order) with label fields at byte ranges `fields`.
    pub fn of<'a>(
        input: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
        fields: &[Range<usize>],
        output: &[(&str, &str)],
    ) -> Script {
        let mut pieces: Vec<(Range<usize>, Range<usize>)> = Vec::new();
        let mut new = Vec::new();
        let mut bytes = Vec::new();
        let flush_new = |bytes: &mut Vec<u8>, new: &mut Vec<u8>| {
            if !new.is_empty() {
                bytes.push(NEW);
                put_varint(bytes, new.len());
                bytes.append(new);
            }
        };
        let flush_own = |bytes: &mut Vec<u8>, pieces: &mut Vec<(Range<usize>, Range<usize>)>| {
            for (labels, b) in pieces.drain(..) {
                bytes.push(OWN);
                // Fits: only runs with indices below 256 and offsets below 64 KiB
                // become `Own` pieces (see `own_fits`).
                bytes.push(labels.start as u8);
                bytes.push(labels.end as u8);
                bytes.extend_from_slice(&(b.start as u16).to_le_bytes());
                bytes.extend_from_slice(&(b.end as u16).to_le_bytes());
            }
        };
        let own_fits =
            |k: usize, r: &Range<usize>| k < usize::from(u8::MAX) && r.end <= usize::from(u16::MAX);
        for &(name, value) in output {
            let (n, v) = (name.as_bytes(), value.as_bytes());
            let found = input
                .clone()
                .position(|l| l == (n, v))
                .and_then(|k| Some((k, fields.get(k)?.clone())))
                .filter(|(k, r)| own_fits(*k, r));
            match found {
                Some((k, range)) => {
                    flush_new(&mut bytes, &mut new);
                    match pieces.last_mut() {
                        Some((labels, b)) if labels.end == k && b.end == range.start => {
                            labels.end = k + 1;
                            b.end = range.end;
                        }
                        _ => pieces.push((k..k + 1, range)),
                    }
                }
                None => {
                    flush_own(&mut bytes, &mut pieces);
                    new.extend_from_slice(
                        rwgate_wire::EncodedLabels::new(&[(name, value)]).fields(),
                    );
                }
            }
        }
        flush_own(&mut bytes, &mut pieces);
        flush_new(&mut bytes, &mut new);
        let mut s = Script {
            len: 0,
            inline: [0; INLINE],
            heap: None,
        };
        match s.inline.get_mut(..bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(&bytes);
                s.len = bytes.len() as u8;
            }
            None => s.heap = Some(bytes.into_boxed_slice()),
        }
        s
    }

    fn bytes(&self) -> &[u8] {
        match &self.heap {
            Some(h) => h,
            None => &self.inline[..usize::from(self.len)],
        }
    }

    /// Bytes held outside the entry.
    fn heap_bytes(&self) -> usize {
        self.heap.as_ref().map_or(0, |h| h.len())
    }

    /// The pieces, in order; a damaged script ends early (none is produced).
    pub fn pieces(&self) -> impl Iterator<Item = FieldPiece<'_>> {
        let mut rest = self.bytes();
        std::iter::from_fn(move || {
            let (&tag, tail) = rest.split_first()?;
            let mut r = tail;
            let piece = match tag {
                OWN => {
                    let (n, after) = r.split_first_chunk::<6>()?;
                    r = after;
                    FieldPiece::Own {
                        labels: usize::from(n[0])..usize::from(n[1]),
                        bytes: usize::from(u16::from_le_bytes([n[2], n[3]]))
                            ..usize::from(u16::from_le_bytes([n[4], n[5]])),
                    }
                }
                _ => {
                    let len = take_varint(&mut r)?;
                    let (fields, after) = (r.get(..len)?, r.get(len..)?);
                    r = after;
                    FieldPiece::New(fields)
                }
            };
            rest = r;
            Some(piece)
        })
    }
}

/// Appends `n` as a LEB128 varint.
fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a LEB128 varint off the front of `r`.
fn take_varint(r: &mut &[u8]) -> Option<usize> {
    let mut n = 0usize;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = r.split_first()?;
        *r = rest;
        n |= usize::from(b & 0x7f).checked_shl(shift)?;
        if b < 0x80 {
            return Some(n);
        }
    }
    None
}

/// What the rules made of a label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Kept as it was.
    Unchanged,
    /// Dropped (by a rule, or left without labels or `__name__`).
    Dropped,
    /// Rewritten into a label set decoding would refuse, for this reason.
    Invalid(Reason),
    /// Rewritten as the script says; `hash` is the placement hash of the result.
    Rewritten {
        /// How to build the new labels.
        script: Script,
        /// `rwgate_ring::series_hash` of the tenant and the new labels.
        hash: u64,
    },
}

/// Hits and misses of one request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Series answered from the cache.
    pub hits: u64,
    /// Series the rules ran for.
    pub misses: u64,
}

/// One remembered verdict.
struct Entry {
    /// The high half of the key's 128-bit hash (the low half is the map key).
    check: u64,
    scope: u64,
    tenant_check: u64,
    verdict: Verdict,
}

type Map = HashMap<u64, Entry, BuildHasherDefault<Prehashed>>;

/// A secret drawn once per process, mixed into every seed.
/// A secret drawn once per process, for seeding cache keys (the OTLP translation cache
/// seeds with it too).
pub(crate) fn secret() -> u64 {
    static SECRET: OnceLock<u64> = OnceLock::new();
    *SECRET.get_or_init(rand::random)
}

/// The part of a [`Key`] that is the same for every series of a tenant in a request,
/// hashed once.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    scope: u64,
    seed: u64,
    tenant_check: u64,
}

impl Scope {
    /// The scope of `tenant` under the configuration `scope`.
    pub fn new(scope: u64, tenant: &str) -> Scope {
        let s = secret();
        let t = tenant.as_bytes();
        Scope {
            scope,
            seed: xxhash_rust::xxh3::xxh3_64_with_seed(t, s ^ scope),
            tenant_check: xxhash_rust::xxh3::xxh3_64_with_seed(t, !(s ^ scope)),
        }
    }

    /// The key of a series whose encoded label fields are `labels`.
    pub fn key(&self, labels: &[u8]) -> Key {
        let h = xxhash_rust::xxh3::xxh3_128_with_seed(labels, self.seed);
        Key {
            scope: self.scope,
            tenant_check: self.tenant_check,
            hash: h as u64,
            check: (h >> 64) as u64,
        }
    }
}

/// What a verdict is remembered under.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    scope: u64,
    tenant_check: u64,
    hash: u64,
    check: u64,
}

impl Entry {
    fn is(&self, key: &Key) -> bool {
        self.check == key.check && self.scope == key.scope && self.tenant_check == key.tenant_check
    }
}

/// A bounded two-generation cache of verdicts (one per worker thread, see [`with`]).
pub struct Cache {
    current: Map,
    previous: Map,
    current_bytes: usize,
    generation_bytes: usize,
}

impl Cache {
    /// A cache whose generations hold at most `generation_bytes` each.
    pub fn new(generation_bytes: usize) -> Cache {
        Cache {
            current: Map::default(),
            previous: Map::default(),
            current_bytes: 0,
            generation_bytes,
        }
    }

    /// The verdict remembered under `key`, moved to the current generation.
    pub fn get(&mut self, key: &Key) -> Option<&Verdict> {
        if !self.current.get(&key.hash).is_some_and(|e| e.is(key)) {
            let entry = self.previous.remove(&key.hash)?;
            if !entry.is(key) {
                return None;
            }
            self.put(key.hash, entry);
        }
        self.current.get(&key.hash).map(|e| &e.verdict)
    }

    /// Whether the current generation holds `key` (a cheap probe that brings the entry
    /// into the CPU cache ahead of [`get`](Self::get)).
    pub fn probe(&self, key: &Key) -> bool {
        self.current.get(&key.hash).is_some_and(|e| e.is(key))
    }

    /// Remembers `verdict` under `key`; returns it.
    pub fn insert(&mut self, key: &Key, verdict: Verdict) -> &Verdict {
        let entry = Entry {
            check: key.check,
            scope: key.scope,
            tenant_check: key.tenant_check,
            verdict,
        };
        self.put(key.hash, entry);
        &self.current[&key.hash].verdict
    }

    fn put(&mut self, hash: u64, entry: Entry) {
        let size = entry_bytes(&entry);
        if self.current_bytes + size > self.generation_bytes {
            self.previous = std::mem::take(&mut self.current);
            self.current_bytes = 0;
        }
        self.current_bytes += size;
        if let Some(old) = self.current.insert(hash, entry) {
            self.current_bytes = self.current_bytes.saturating_sub(entry_bytes(&old));
        }
    }

    /// Entries held (both generations).
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by the current generation's entries (as counted against the bound).
    pub fn current_bytes(&self) -> usize {
        self.current_bytes
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.current.clear();
        self.previous.clear();
        self.current_bytes = 0;
    }
}

/// An entry's size as counted: the map slot (key, entry, control byte) and any heap
/// block of its script.
fn entry_bytes(e: &Entry) -> usize {
    let script = match &e.verdict {
        Verdict::Rewritten { script, .. } => script.heap_bytes(),
        _ => 0,
    };
    std::mem::size_of::<(u64, Entry)>() + 1 + script
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::new(0));
}

/// One generation of one thread, out of `total` bytes for all (shared with the OTLP
/// translation cache).
pub(crate) fn per_thread_generation_bytes(total: usize) -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    let cpus = *CPUS
        .get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    total / 2 / cpus
}

/// Runs `f` with this thread's cache, its generations sized for `total_bytes` over
/// all threads (a new size applies from the next rotation).
pub fn with<R>(total_bytes: usize, f: impl FnOnce(&mut Cache) -> R) -> R {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.generation_bytes = per_thread_generation_bytes(total_bytes);
        f(&mut c)
    })
}

#[cfg(test)]
mod tests;
