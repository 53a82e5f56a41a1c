//! The series hash Thanos uses to place a series: XXH64 (seed 0) over
//! `tenant 0xFF name1 0xFF value1 0xFF ... nameK 0xFF valueK 0xFF`, labels in the order
//! they arrived (Thanos stopped sorting them before hashing in v0.26).

use xxhash_rust::xxh64::xxh64;

const SEP: u8 = 0xff;

/// Hashes a series for placement. `buf` is scratch space reused between calls so the
/// hot path does not allocate once it has grown to the longest series.
///
/// The input is laid out in one pass: `buf` is sized and filled with separators once,
/// then each name and value is copied to its place with fixed-size moves (no call into
/// `memcpy` per label, which cost twice the hash itself; `cargo bench -p rwgate-ring`).
/// The iterator is walked twice (once to size `buf`), so a clone of it must yield the
/// same labels, as iterators over stored labels do.
pub fn series_hash<'a, I>(tenant: &[u8], labels: I, buf: &mut Vec<u8>) -> u64
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    I::IntoIter: Clone,
{
    let labels = labels.into_iter();
    let len = labels.clone().fold(tenant.len() + 1, |n, (name, value)| {
        n + name.len() + value.len() + 2
    });
    buf.clear();
    buf.resize(len, SEP);
    let mut at = copy_to(buf, 0, tenant) + 1;
    for (name, value) in labels {
        at = copy_to(buf, at, name) + 1;
        at = copy_to(buf, at, value) + 1;
    }
    xxh64(buf, 0)
}

/// Copies `src` into `dst` at `at` and returns the end. Short slices move as two
/// overlapping fixed-size words, so the compiler emits plain loads and stores.
#[inline(always)]
fn copy_to(dst: &mut [u8], at: usize, src: &[u8]) -> usize {
    let n = src.len();
    let end = at + n;
    let d = &mut dst[at..end];
    if n >= 16 {
        d.copy_from_slice(src);
    } else if n >= 8 {
        d[..8].copy_from_slice(&src[..8]);
        d[n - 8..].copy_from_slice(&src[n - 8..]);
    } else if n >= 4 {
        d[..4].copy_from_slice(&src[..4]);
        d[n - 4..].copy_from_slice(&src[n - 4..]);
    } else {
        for (d, s) in d.iter_mut().zip(src) {
            *d = *s;
        }
    }
    end
}

/// XXH64 with seed 0 of `bytes` (what Thanos' `xxhash.Sum64` computes).
pub fn xxhash64(bytes: &[u8]) -> u64 {
    xxh64(bytes, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_xxh64_values() {
        assert_eq!(xxhash64(b""), 0xef46db3751d8e999);
        assert_eq!(xxhash64(b"a"), 0xd24ec4f1a98c6e5b);
        assert_eq!(xxhash64(b"asdf"), 0x415872f599cea71e);
    }

    #[test]
    fn series_hash_layout() {
        let mut buf = Vec::new();
        let h = series_hash(b"t", [(&b"a"[..], &b"b"[..])], &mut buf);
        assert_eq!(buf, b"t\xffa\xffb\xff");
        assert_eq!(h, xxhash64(b"t\xffa\xffb\xff"));
    }
}
