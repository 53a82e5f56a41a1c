//! Reusable buffers for decompressed bodies and for the index of decoded batches.
//!
//! A fresh `vec![0; n]` per request costs page faults and zeroing of every page (about
//! 5% of the gateway's CPU under load, measured with `perf`; the batch index and the
//! scratch space of relabeled series about as much again). The pool keeps a few
//! buffers of the sizes seen and hands them back for the next request.

use std::sync::Mutex;

use bytes::Bytes;

use crate::batch::{Spare, WriteBatch};
use crate::body::{Protocol, decoded_len, decompress_into};
use crate::error::WireError;
use crate::limits::Limits;

/// A bounded pool of byte buffers.
#[derive(Debug)]
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    spares: Mutex<Vec<Spare>>,
    max_buffers: usize,
    max_capacity: usize,
}

impl BufferPool {
    /// Keeps at most `max_buffers` buffers of at most `max_capacity` bytes each.
    pub fn new(max_buffers: usize, max_capacity: usize) -> Self {
        BufferPool {
            free: Mutex::new(Vec::with_capacity(max_buffers)),
            spares: Mutex::new(Vec::with_capacity(max_buffers)),
            max_buffers,
            max_capacity,
        }
    }

    /// Like [`crate::decompress`], into a pooled buffer when one is free.
    pub fn decompress(&self, compressed: &[u8], limits: &Limits) -> Result<Bytes, WireError> {
        let n = decoded_len(compressed, limits)?;
        let mut buf = self
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
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
        let spare = self
            .spares
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        crate::decode_reusing(protocol, body, limits, now_ms, spare)
    }

    /// Returns a finished batch's body and index vectors to the pool (each only if
    /// nothing else holds it and it is not too large).
    pub fn recycle_batch(&self, batch: WriteBatch) {
        let (body, spare) = batch.into_parts();
        self.recycle(body);
        if spare.capacity_bytes() > 3 * self.max_capacity {
            return;
        }
        let mut spares = self.spares.lock().unwrap_or_else(|e| e.into_inner());
        if spares.len() < self.max_buffers {
            spares.push(spare);
        }
    }

    /// Returns a body to the pool if nothing else holds it and it is not too large.
    pub fn recycle(&self, body: Bytes) {
        let Ok(unique) = body.try_into_mut() else {
            return;
        };
        let buf: Vec<u8> = unique.into();
        if buf.capacity() > self.max_capacity {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < self.max_buffers {
            free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn shared_or_large_buffers_are_not_kept() {
        let pool = BufferPool::new(4, 100);
        let limits = Limits::default();
        let out = pool.decompress(&compressed(&[1u8; 1000]), &limits).unwrap();
        pool.recycle(out);
        assert!(pool.free.lock().unwrap().is_empty(), "over max_capacity");
        let out = pool.decompress(&compressed(&[1u8; 10]), &limits).unwrap();
        let shared = out.clone();
        pool.recycle(out);
        assert!(pool.free.lock().unwrap().is_empty(), "still referenced");
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
