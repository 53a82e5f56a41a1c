//! Reusable buffers for decompressed bodies and for the index of decoded batches.
//!
//! A fresh `vec![0; n]` per request costs page faults and zeroing of every page (about
//! 5% of the gateway's CPU under load, measured with `perf`; the batch index and the
//! scratch space of relabeled series about as much again). The pool keeps a few
//! buffers of the sizes seen and hands them back for the next request.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::batch::{Spare, WriteBatch};
use crate::body::{Protocol, decoded_len, decompress_into};
use crate::error::WireError;
use crate::limits::Limits;

/// A bounded pool of byte buffers.
#[derive(Debug)]
pub struct BufferPool {
    idle: Mutex<Idle>,
    max_buffers: usize,
    max_capacity: usize,
}

/// What the pool holds, and its size.
#[derive(Debug, Default)]
struct Idle {
    bodies: Vec<Vec<u8>>,
    spares: Vec<Spare>,
    bytes: usize,
}

impl BufferPool {
    /// Keeps at most `max_buffers` buffers of at most `max_capacity` bytes each (a
    /// body, or the vectors of a batch's index together), and at most
    /// `max_buffers * max_capacity` bytes in all.
    pub fn new(max_buffers: usize, max_capacity: usize) -> Self {
        BufferPool {
            idle: Mutex::default(),
            max_buffers,
            max_capacity,
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Like [`crate::decompress`], into a pooled buffer when one is free.
    pub fn decompress(&self, compressed: &[u8], limits: &Limits) -> Result<Bytes, WireError> {
        let n = decoded_len(compressed, limits)?;
        let mut buf = self.idle_body();
        // Shrinking keeps the capacity; only growth past the old length is zeroed.
        if buf.len() >= n {
            buf.truncate(n);
        } else {
            buf.resize(n, 0);
        }
        decompress_into(compressed, &mut buf)?;
        Ok(Bytes::from(buf))
    }

    /// Like [`crate::decode`], building the batch's index in pooled vectors.
    pub fn decode(
        &self,
        protocol: Protocol,
        body: Bytes,
        limits: &Limits,
        now_ms: i64,
    ) -> Result<WriteBatch, WireError> {
        let spare = {
            let mut idle = self.idle();
            let spare = idle.spares.pop().unwrap_or_default();
            idle.bytes -= spare.capacity_bytes();
            spare
        };
        crate::decode_reusing(protocol, body, limits, now_ms, spare)
    }

    /// Returns a finished batch's body and index vectors to the pool (each only if
    /// nothing else holds it and it fits).
    pub fn recycle_batch(&self, batch: WriteBatch) {
        let (body, spare) = batch.into_parts();
        self.recycle(body);
        let size = spare.capacity_bytes();
        let mut idle = self.idle();
        if self.fits(&idle, size) {
            idle.bytes += size;
            idle.spares.push(spare);
        }
    }

    /// Returns a body to the pool if nothing else holds it and it fits.
    pub fn recycle(&self, body: Bytes) {
        if let Ok(unique) = body.try_into_mut() {
            self.put(unique.into());
        }
    }

    /// An empty buffer with room for `capacity` bytes: an idle one when there is one.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let mut buf = self.idle_body();
        reserve_empty(&mut buf, capacity);
        buf
    }

    /// An idle body buffer as it was left, or a new empty one.
    fn idle_body(&self) -> Vec<u8> {
        let mut idle = self.idle();
        let buf = idle.bodies.pop().unwrap_or_default();
        idle.bytes -= buf.capacity();
        buf
    }

    /// Keeps `buf` for a later [`BufferPool::take`] if it fits, else drops it.
    pub fn put(&self, buf: Vec<u8>) {
        let size = buf.capacity();
        let mut idle = self.idle();
        if self.fits(&idle, size) {
            idle.bytes += size;
            idle.bodies.push(buf);
        }
    }

    /// `buf` as `Bytes` that give it back to `pool` when the last clone is dropped,
    /// wherever that happens (a message handed to the HTTP/2 client, say).
    pub fn shared(pool: &Arc<BufferPool>, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Returned {
            buf,
            pool: Arc::clone(pool),
        })
    }

    /// Whether a buffer of `size` bytes may join what the pool holds.
    fn fits(&self, idle: &Idle, size: usize) -> bool {
        size <= self.max_capacity
            && idle.bodies.len() + idle.spares.len() < self.max_buffers
            && idle.bytes + size <= self.max_buffers * self.max_capacity
    }
}

/// A pooled buffer lent out as `Bytes` (see [`BufferPool::shared`]).
struct Returned {
    buf: Vec<u8>,
    pool: Arc<BufferPool>,
}

impl AsRef<[u8]> for Returned {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.buf));
    }
}

/// Empties `v` and makes room for `n` items. A vector too small is replaced, not grown:
/// growing it would `realloc`, which copies the old contents although none are kept
/// (measured at 1.7% of rwgate's CPU on `edge-cluster`).
pub(crate) fn reserve_empty<T>(v: &mut Vec<T>, n: usize) {
    if v.capacity() < n {
        *v = Vec::with_capacity(n);
    } else {
        v.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_bytes_return_their_buffer_when_the_last_clone_drops() {
        let pool = Arc::new(BufferPool::new(2, 1 << 20));
        let mut buf = pool.take(1000);
        assert!(buf.capacity() >= 1000);
        buf.extend_from_slice(b"message");
        let ptr = buf.as_ptr();
        let bytes = BufferPool::shared(&pool, buf);
        let copy = bytes.clone();
        assert_eq!(&copy[..], b"message");
        drop(bytes);
        assert!(
            pool.take(10).capacity() < 1000,
            "still lent out: a fresh buffer"
        );
        drop(copy);
        let again = pool.take(500);
        assert_eq!(again.as_ptr(), ptr, "back in the pool, and taken again");
        assert!(again.is_empty());
        // Too large for the pool: dropped, not kept.
        let big = BufferPool::shared(&pool, vec![0; 2 << 20]);
        drop(big);
        assert!(pool.take(0).capacity() < 2 << 20);
    }

    #[test]
    fn reserve_empty_keeps_a_large_enough_vector_and_replaces_a_small_one() {
        let mut v = Vec::with_capacity(100);
        v.extend_from_slice(&[1u8; 50]);
        let before = v.as_ptr();
        reserve_empty(&mut v, 80);
        assert!(v.is_empty());
        assert_eq!(v.as_ptr(), before, "large enough: kept");
        v.extend_from_slice(&[1u8; 50]);
        reserve_empty(&mut v, 1000);
        assert!(v.is_empty());
        assert!(v.capacity() >= 1000);
    }

    fn compressed(data: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(data).unwrap()
    }

    #[test]
    fn pooled_decompression_equals_plain_and_reuses_buffers() {
        let pool = BufferPool::new(2, 1 << 20);
        let limits = Limits::default();
        let a = vec![7u8; 10_000];
        let b = b"shorter".to_vec();
        let out = pool.decompress(&compressed(&a), &limits).unwrap();
        assert_eq!(&out[..], &a[..]);
        let ptr = out.as_ptr();
        pool.recycle(out);
        let out = pool.decompress(&compressed(&b), &limits).unwrap();
        assert_eq!(
            &out[..],
            &b[..],
            "a shorter body reuses the buffer, no stale tail"
        );
        assert_eq!(out.as_ptr(), ptr, "same allocation");
        pool.recycle(out);
        let out = pool.decompress(&compressed(&a), &limits).unwrap();
        assert_eq!(
            &out[..],
            &a[..],
            "growing again is zero-initialised then overwritten"
        );
    }

    #[test]
    fn a_batch_decoded_into_recycled_vectors_equals_a_fresh_one() {
        // Two v1 requests: `up{job="a"}` twice, then one series with its labels unsorted
        // (re-encoded into scratch).
        fn series(labels: &[(&str, &str)]) -> Vec<u8> {
            let mut ts = Vec::new();
            for (n, v) in labels {
                crate::pb::put_label(&mut ts, 1, n.as_bytes(), v.as_bytes());
            }
            // One sample: value 1.0 (field 1, fixed64), timestamp 1 (field 2, varint).
            let sample = [0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0x01];
            crate::pb::put_bytes(&mut ts, 2, &sample);
            let mut out = Vec::new();
            crate::pb::put_bytes(&mut out, 1, &ts);
            out
        }
        let first = [
            series(&[("__name__", "up"), ("job", "a")]),
            series(&[("__name__", "up"), ("job", "b")]),
        ]
        .concat();
        let second = series(&[("job", "c"), ("__name__", "up")]);
        let pool = BufferPool::new(2, 1 << 20);
        let limits = Limits::default();
        let batch = pool
            .decode(Protocol::V1, Bytes::from(first), &limits, 0)
            .unwrap();
        assert_eq!(batch.len(), 2);
        let labels_at = batch.labels.as_ptr();
        pool.recycle_batch(batch);
        let reused = pool
            .decode(Protocol::V1, Bytes::from(second.clone()), &limits, 0)
            .unwrap();
        assert_eq!(reused.labels.as_ptr(), labels_at, "the same allocation");
        let fresh = crate::decode(Protocol::V1, Bytes::from(second), &limits, 0).unwrap();
        assert_eq!(reused.len(), 1);
        let pairs = |b: &WriteBatch| {
            b.series(0)
                .labels()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect::<Vec<_>>()
        };
        assert_eq!(pairs(&reused), pairs(&fresh));
        let mut enc = crate::Encoder::new();
        let a = enc.encode_raw(&reused, 0..1).to_vec();
        assert_eq!(a, enc.encode_raw(&fresh, 0..1), "same bytes forwarded");
    }

    #[test]
    fn bodies_and_batch_indexes_share_one_count_and_one_byte_bound() {
        let pool = BufferPool::new(3, 1000);
        for _ in 0..5 {
            pool.recycle(Bytes::from(vec![0u8; 900]));
        }
        let idle = pool.idle();
        assert_eq!(idle.bodies.len(), 3, "three buffers at most");
        assert_eq!(
            idle.bytes,
            idle.bodies.iter().map(Vec::capacity).sum::<usize>()
        );
        assert!(idle.bytes <= 3000);
        drop(idle);
        let limits = Limits::default();
        let body = pool.decompress(&compressed(&[]), &limits).unwrap();
        assert_eq!(pool.idle().bodies.len(), 2, "one taken");
        let batch = pool.decode(Protocol::V1, body, &limits, 0).unwrap();
        pool.recycle_batch(batch);
        let idle = pool.idle();
        assert!(idle.bodies.len() + idle.spares.len() <= 3);
        assert!(idle.bytes <= 3000, "{}", idle.bytes);
    }

    #[test]
    fn shared_or_large_buffers_are_not_kept() {
        let pool = BufferPool::new(4, 100);
        let limits = Limits::default();
        let out = pool.decompress(&compressed(&[1u8; 1000]), &limits).unwrap();
        pool.recycle(out);
        assert!(pool.idle().bodies.is_empty(), "over max_capacity");
        let out = pool.decompress(&compressed(&[1u8; 10]), &limits).unwrap();
        let shared = out.clone();
        pool.recycle(out);
        assert!(pool.idle().bodies.is_empty(), "still referenced");
        drop(shared);
    }

    #[test]
    fn limits_apply_before_taking_a_buffer() {
        let pool = BufferPool::new(1, 1 << 20);
        let mut huge = vec![0x80, 0x80, 0x80, 0x40];
        huge.extend_from_slice(&[0; 8]);
        let err = pool.decompress(&huge, &Limits::default()).unwrap_err();
        assert_eq!(err.status(), 413);
    }
}
