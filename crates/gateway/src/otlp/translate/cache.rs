//! What a number point's attributes translate to, remembered per worker thread: OTLP
//! senders export the same attribute sets every interval, so a point seen before costs
//! a hash and a lookup instead of decoding its attributes and building its labels.
//!
//! The key is a 128-bit XXH3 of the point's attribute fields as received, seeded with
//! a secret drawn at start and the scope: the translation settings and the resource's
//! own labels (`job`, `instance`, promoted attributes). A wrong answer would need two
//! attribute runs with equal 128-bit seeded hashes under one resource's labels. The
//! entry is the point's labels without `__name__`, encoded as remote-write label
//! fields, and where `__name__` goes among them.
//!
//! Each thread's cache has two generations that together, over all threads, hold at
//! most `otlp.translation_cache_bytes` (default [`DEFAULT_BYTES`]); when the current one
//! is full it becomes the previous one and the older one is freed. A hit in the
//! previous generation moves the entry forward.

use std::cell::RefCell;
use std::collections::HashMap;

use xxhash_rust::xxh3::Xxh3Builder;

/// The default of `otlp.translation_cache_bytes`: all threads and both generations.
pub const DEFAULT_BYTES: usize = 64 << 20;

/// One remembered translation.
struct Entry {
    labels: Box<[u8]>,
    name_at: u32,
}

impl Entry {
    fn bytes(&self) -> usize {
        std::mem::size_of::<(u128, Entry)>() + self.labels.len()
    }
}

/// One thread's cache.
#[derive(Default)]
pub struct Cache {
    current: HashMap<u128, Entry, Xxh3Builder>,
    previous: HashMap<u128, Entry, Xxh3Builder>,
    current_bytes: usize,
    generation_bytes: usize,
    /// Lookups answered and not, since the counts were last taken.
    pub hits: u64,
    /// See `hits`.
    pub misses: u64,
}

impl Cache {
    /// The labels (without `__name__`) of the point with `key`, and where `__name__`
    /// goes in them.
    pub fn get(&mut self, key: u128) -> Option<(&[u8], usize)> {
        if !self.current.contains_key(&key) {
            let Some(e) = self.previous.remove(&key) else {
                self.misses += 1;
                return None;
            };
            self.put(key, e);
        }
        self.hits += 1;
        self.current
            .get(&key)
            .map(|e| (&e.labels[..], e.name_at as usize))
    }

    /// Remembers `labels` with `__name__` at `name_at` under `key`.
    pub fn insert(&mut self, key: u128, labels: &[u8], name_at: usize) {
        let Ok(name_at) = u32::try_from(name_at) else {
            return;
        };
        self.put(
            key,
            Entry {
                labels: labels.into(),
                name_at,
            },
        );
    }

    fn put(&mut self, key: u128, e: Entry) {
        let n = e.bytes();
        if n > self.generation_bytes {
            return;
        }
        if self.current_bytes + n > self.generation_bytes {
            self.previous = std::mem::take(&mut self.current);
            self.current_bytes = 0;
        }
        self.current_bytes += n;
        self.current.insert(key, e);
    }

    /// Entries in both generations.
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything (the counts stay).
    pub fn clear(&mut self) {
        self.current.clear();
        self.previous.clear();
        self.current_bytes = 0;
    }
}

/// The key of a point's attribute fields `raw` under `scope`.
pub fn key(scope: u64, raw: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128_with_seed(raw, scope ^ crate::relabel::cache::secret())
}

/// A scope: the translation settings' fingerprint and a resource's encoded labels.
pub fn scope(settings: u64, resource_labels: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(resource_labels, settings)
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Runs `f` with this thread's cache, its generations sized for `total_bytes` over all
/// threads.
pub fn with<R>(total_bytes: usize, f: impl FnOnce(&mut Cache) -> R) -> R {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.generation_bytes = crate::relabel::cache::per_thread_generation_bytes(total_bytes);
        f(&mut c)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_bound_memory_and_keep_recent_entries() {
        let mut c = Cache {
            generation_bytes: 10 * (std::mem::size_of::<(u128, Entry)>() + 4),
            ..Cache::default()
        };
        for k in 0..100u128 {
            c.insert(k, b"abcd", 2);
        }
        assert!(c.len() <= 20, "two generations of at most 10: {}", c.len());
        assert_eq!(c.get(99), Some((&b"abcd"[..], 2)));
        assert_eq!(c.get(0), None, "the oldest are gone");
        // A hit in the previous generation moves the entry forward.
        let old = (0..100u128)
            .find(|k| c.previous.contains_key(k))
            .expect("some");
        assert!(c.get(old).is_some());
        assert!(c.current.contains_key(&old));
        assert_eq!((c.hits, c.misses), (2, 1));
        c.insert(1000, &vec![0; 10_000], 0);
        assert_eq!(c.get(1000), None, "larger than a generation: not kept");
    }

    #[test]
    fn keys_depend_on_scope_and_bytes() {
        assert_ne!(key(1, b"x"), key(2, b"x"));
        assert_ne!(key(1, b"x"), key(1, b"y"));
        assert_eq!(key(1, b"x"), key(1, b"x"));
        assert_ne!(scope(1, b"job"), scope(2, b"job"));
    }
}
