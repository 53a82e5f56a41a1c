//! The series hash Thanos uses to place a series: XXH64 (seed 0) over
//! `tenant 0xFF name1 0xFF value1 0xFF ... nameK 0xFF valueK 0xFF`, labels in the order
//! they arrived (Thanos stopped sorting them before hashing in v0.26).

use xxhash_rust::xxh64::xxh64;

const SEP: u8 = 0xff;

/// Hashes a series for placement. `buf` is scratch space reused between calls so the
/// hot path does not allocate once it has grown to the longest series.
pub fn series_hash<'a, I>(tenant: &[u8], labels: I, buf: &mut Vec<u8>) -> u64
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    buf.clear();
    buf.extend_from_slice(tenant);
    buf.push(SEP);
    for (name, value) in labels {
        buf.extend_from_slice(name);
        buf.push(SEP);
        buf.extend_from_slice(value);
        buf.push(SEP);
    }
    xxh64(buf, 0)
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
