//! Re-encoding: one snappy-compressed v1 `WriteRequest` per receiver.

use bytes::Bytes;

use crate::batch::WriteBatch;
use crate::pb;

/// Encoding failed: only possible for inputs beyond snappy's 4 GiB block limit, which
/// the decode limits rule out.
#[derive(Debug, thiserror::Error)]
#[error("snappy encoding failed: {0}")]
pub struct EncodeError(#[from] snap::Error);

/// Builds the requests a batch is split into. Keep one per worker and reuse it: its
/// buffers grow to the largest request seen and stay.
pub struct Encoder {
    raw: Vec<u8>,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("raw_capacity", &self.raw.capacity())
            .finish()
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            raw: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }
}

impl Encoder {
    /// A new encoder with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The uncompressed v1 `WriteRequest` holding the given series of `batch`, sized
    /// exactly before it is written. The slice stays valid until the next call.
    pub fn encode_raw<I>(&mut self, batch: &WriteBatch, series: I) -> &[u8]
    where
        I: IntoIterator<Item = usize> + Clone,
    {
        let size: usize = series
            .clone()
            .into_iter()
            .map(|i| pb::len_field_size(batch.series(i).encoded().len()))
            .sum();
        crate::pool::reserve_empty(&mut self.raw, size);
        for i in series {
            pb::put_bytes(&mut self.raw, 1, batch.series(i).encoded());
        }
        debug_assert_eq!(self.raw.len(), size);
        &self.raw
    }

    /// A Thanos `WriteRequest` (`thanos.WriteableStore/RemoteWrite`) holding the given
    /// series of `batch` (field 1, embedded as received), `tenant` (field 2) and
    /// `replica` (field 3, 1-based on the wire; 0 is left out as proto3 does), written
    /// after `prefix` zero bytes the caller fills in (gRPC's 5-byte message prefix).
    /// It is written into `out` (emptied first; a pooled buffer, say), which is replaced
    /// by one of the exact final size when it has too little room.
    pub fn encode_thanos<I>(
        &mut self,
        mut out: Vec<u8>,
        batch: &WriteBatch,
        series: I,
        tenant: &str,
        replica: u64,
        prefix: usize,
    ) -> Vec<u8>
    where
        I: IntoIterator<Item = usize> + Clone,
    {
        let mut size: usize = series
            .clone()
            .into_iter()
            .map(|i| pb::len_field_size(batch.series(i).encoded().len()))
            .sum();
        if !tenant.is_empty() {
            size += pb::len_field_size(tenant.len());
        }
        if replica != 0 {
            size += 1 + pb::varint_len(replica);
        }
        crate::pool::reserve_empty(&mut out, prefix + size);
        out.resize(prefix, 0);
        for i in series {
            pb::put_bytes(&mut out, 1, batch.series(i).encoded());
        }
        if !tenant.is_empty() {
            pb::put_bytes(&mut out, 2, tenant.as_bytes());
        }
        if replica != 0 {
            out.push(3 << 3);
            pb::put_varint(&mut out, replica);
        }
        debug_assert_eq!(out.len(), prefix + size);
        out
    }

    /// Bytes held by the reusable buffers.
    pub fn capacity(&self) -> usize {
        self.raw.capacity() + self.compressed.capacity()
    }

    /// [`Encoder::encode_raw`], snappy-compressed into a new `Bytes` (cheap to clone for
    /// retries and replicas).
    pub fn encode<I>(&mut self, batch: &WriteBatch, series: I) -> Result<Bytes, EncodeError>
    where
        I: IntoIterator<Item = usize> + Clone,
    {
        self.encode_raw(batch, series);
        self.compress_raw()
    }

    /// Snappy-compresses arbitrary bytes (used by tests and the load generator).
    pub fn compress(&mut self, raw: &[u8]) -> Result<Bytes, EncodeError> {
        compress_into(&mut self.snappy, raw, &mut self.compressed)
    }

    fn compress_raw(&mut self) -> Result<Bytes, EncodeError> {
        compress_into(&mut self.snappy, &self.raw, &mut self.compressed)
    }
}

/// Compresses into the reusable `scratch` (sized for the worst case) and returns an
/// exact-size copy: a request held during retries costs its compressed size, not the
/// worst-case bound snappy needs while compressing.
fn compress_into(
    snappy: &mut snap::raw::Encoder,
    raw: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<Bytes, EncodeError> {
    let need = snap::raw::max_compress_len(raw.len());
    // Grow only: the scratch stays initialised, so reuse costs no zeroing.
    if scratch.len() < need {
        scratch.resize(need, 0);
    }
    let n = snappy.compress(raw, &mut scratch[..need])?;
    Ok(Bytes::copy_from_slice(&scratch[..n]))
}
