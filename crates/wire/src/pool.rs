//! Reusable buffers for decompressed bodies.
//!
//! A fresh `vec![0; n]` per request costs page faults and zeroing of every page (about
//! 5% of the gateway's CPU under load, measured with `perf`). The pool keeps a few
//! buffers of the sizes seen and hands them back for the next request.

use std::sync::Mutex;

use bytes::Bytes;

use crate::body::{decoded_len, decompress_into};
use crate::error::WireError;
use crate::limits::Limits;

/// A bounded pool of byte buffers.
#[derive(Debug)]
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    max_buffers: usize,
    max_capacity: usize,
}

impl BufferPool {
    /// Keeps at most `max_buffers` buffers of at most `max_capacity` bytes each.
    pub fn new(max_buffers: usize, max_capacity: usize) -> Self {
        BufferPool {
            free: Mutex::new(Vec::with_capacity(max_buffers)),
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
