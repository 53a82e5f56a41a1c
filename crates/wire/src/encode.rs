//! Re-encoding: one snappy-compressed v1 `WriteRequest` per receiver.

use bytes::Bytes;

use crate::batch::WriteBatch;
use crate::pb;

/// Encoding failed: only possible for inputs beyond snappy's 4 GiB limit, which the
/// decode limits rule out, or a bug in the block-wise writing.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Snappy refused the input.
    #[error("snappy encoding failed: {0}")]
    Snappy(#[from] snap::Error),
    /// A block's length header was longer than what was written before it.
    #[error("snappy block of {0} bytes at stream offset {1}")]
    Block(usize, usize),
}

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
        let (size, _) = request_size(batch, series.clone());
        self.write_raw(batch, series, size);
        &self.raw
    }

    /// [`Encoder::encode_raw`] of a request known to be `size` bytes.
    fn write_raw<I>(&mut self, batch: &WriteBatch, series: I, size: usize)
    where
        I: IntoIterator<Item = usize>,
    {
        crate::pool::reserve_empty(&mut self.raw, size);
        for i in series {
            pb::put_bytes(&mut self.raw, 1, batch.series(i).encoded());
        }
        debug_assert_eq!(self.raw.len(), size);
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
        let (mut size, _) = request_size(batch, series.clone());
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
    ///
    /// A request of every series of the batch (the only receiver's, or each one's when
    /// there are as many replicas as receivers) mostly repeats the body as it came, in
    /// runs of series that follow each other there; it is compressed without first
    /// being copied whole (see `encode_in_place`). A share of the batch is
    /// copied, then compressed: placement spreads neighbouring series over the
    /// receivers, so its runs are a series long, and copying it in one go measured
    /// faster than gathering it a block at a time.
    pub fn encode<I>(&mut self, batch: &WriteBatch, series: I) -> Result<Bytes, EncodeError>
    where
        I: IntoIterator<Item = usize> + Clone,
    {
        let (size, count) = request_size(batch, series.clone());
        if count < batch.len() {
            self.write_raw(batch, series, size);
            return compress_into(&mut self.snappy, &self.raw, &mut self.compressed);
        }
        self.encode_in_place(batch, series, size)
    }

    /// Compresses the request of `size` bytes holding `series` a snappy block (64 KiB,
    /// each compressed on its own) at a time: a block that lies within a run of series
    /// kept as they came is compressed where it lies in the body; the others are
    /// gathered into a block-sized buffer. The bytes are those of compressing the whole
    /// request at once. Copying a whole request of several hundred KiB first cost about
    /// 5% of CPU on `kube-state-metrics` with one receiver, more than the copy itself:
    /// the compressor then read the copy back from memory, not from the cache.
    fn encode_in_place<I>(
        &mut self,
        batch: &WriteBatch,
        series: I,
        size: usize,
    ) -> Result<Bytes, EncodeError>
    where
        I: IntoIterator<Item = usize>,
    {
        let body = batch.body.as_ref();
        let mut out = Blocks::new(&mut self.snappy, &mut self.raw, &mut self.compressed, size);
        // Series fields that follow each other in the body, not yet written.
        let mut run: Option<std::ops::Range<usize>> = None;
        for i in series {
            if let Some(field) = batch.body_field(i) {
                match &mut run {
                    Some(r) if r.end == field.start => r.end = field.end,
                    _ => {
                        if let Some(r) = run.replace(field) {
                            out.write(&body[r])?;
                        }
                    }
                }
                continue;
            }
            if let Some(r) = run.take() {
                out.write(&body[r])?;
            }
            let encoded = batch.series(i).encoded();
            let (header, n) = pb::len_header(1, encoded.len());
            out.write(&header[..n])?;
            out.write(encoded)?;
        }
        if let Some(r) = run {
            out.write(&body[r])?;
        }
        out.finish()
    }

    /// Snappy-compresses arbitrary bytes (used by tests and the load generator).
    pub fn compress(&mut self, raw: &[u8]) -> Result<Bytes, EncodeError> {
        compress_into(&mut self.snappy, raw, &mut self.compressed)
    }
}

/// The bytes of a v1 `WriteRequest` holding `series` of `batch` (field 1 each), and
/// how many series that is.
fn request_size(batch: &WriteBatch, series: impl IntoIterator<Item = usize>) -> (usize, usize) {
    series.into_iter().fold((0, 0), |(size, count), i| {
        (
            size + pb::len_field_size(batch.series(i).encoded().len()),
            count + 1,
        )
    })
}

/// Snappy's block size: it compresses its input 64 KiB at a time, each block with its
/// own match table and no match reaching into another block.
const BLOCK: usize = 1 << 16;

/// A snappy stream of a known length written a block at a time: the length, then
/// each block's elements (its compression without the length snappy puts before it).
struct Blocks<'a> {
    snappy: &'a mut snap::raw::Encoder,
    /// The block being gathered.
    block: &'a mut Vec<u8>,
    out: &'a mut Vec<u8>,
    /// Bytes of `out` written.
    pos: usize,
    /// Uncompressed bytes of the stream, and how many of them were written.
    size: usize,
    written: usize,
}

impl<'a> Blocks<'a> {
    fn new(
        snappy: &'a mut snap::raw::Encoder,
        block: &'a mut Vec<u8>,
        out: &'a mut Vec<u8>,
        size: usize,
    ) -> Self {
        crate::pool::reserve_empty(block, BLOCK.min(size));
        let (header, n) = pb::varint(size as u64);
        room(out, n);
        out[..n].copy_from_slice(&header[..n]);
        Blocks {
            snappy,
            block,
            out,
            pos: n,
            size,
            written: 0,
        }
    }

    /// Appends `bytes` to the stream.
    fn write(&mut self, mut bytes: &[u8]) -> Result<(), EncodeError> {
        while !bytes.is_empty() {
            if self.block.is_empty() {
                // At a block's start: a whole block (or the stream's last, shorter one)
                // within `bytes` is compressed where it lies.
                let whole = BLOCK.min(self.size - self.written);
                if bytes.len() >= whole {
                    self.pos = compress_block(self.snappy, &bytes[..whole], self.out, self.pos)?;
                    self.written += whole;
                    bytes = &bytes[whole..];
                    continue;
                }
            }
            let take = (BLOCK - self.block.len()).min(bytes.len());
            self.block.extend_from_slice(&bytes[..take]);
            self.written += take;
            bytes = &bytes[take..];
            if self.block.len() == BLOCK {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Compresses the gathered block onto the stream.
    fn flush(&mut self) -> Result<(), EncodeError> {
        if !self.block.is_empty() {
            self.pos = compress_block(self.snappy, self.block, self.out, self.pos)?;
            self.block.clear();
        }
        Ok(())
    }

    /// The stream, as an exact-size copy: a request held during retries costs its
    /// compressed size, not the worst-case room snappy needs while compressing.
    fn finish(mut self) -> Result<Bytes, EncodeError> {
        self.flush()?;
        debug_assert_eq!(self.written, self.size, "the announced length was written");
        Ok(Bytes::copy_from_slice(&self.out[..self.pos]))
    }
}

/// Compresses one block (at most [`BLOCK`] bytes) onto `out` at `pos`, without the
/// length header snappy writes before it; returns the new end of `out`'s bytes.
///
/// The block is compressed to start that header's length before `pos`, over the end
/// of what is already written (the stream's own length is at least as long), which is
/// put back afterwards: the elements land at `pos` and need no moving.
fn compress_block(
    snappy: &mut snap::raw::Encoder,
    block: &[u8],
    out: &mut Vec<u8>,
    pos: usize,
) -> Result<usize, EncodeError> {
    let header = pb::varint_len(block.len() as u64);
    let at = pos
        .checked_sub(header)
        .ok_or(EncodeError::Block(block.len(), pos))?;
    let need = snap::raw::max_compress_len(block.len());
    room(out, at + need);
    let mut kept = [0u8; 10];
    kept[..header].copy_from_slice(&out[at..pos]);
    let n = snappy.compress(block, &mut out[at..at + need])?;
    out[at..pos].copy_from_slice(&kept[..header]);
    Ok(at + n)
}

/// Grows `out` (never shrinks it: it stays initialised, so reuse costs no zeroing) to
/// at least `len` bytes.
fn room(out: &mut Vec<u8>, len: usize) {
    if out.len() < len {
        out.resize(len, 0);
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
    room(scratch, need);
    let n = snappy.compress(raw, &mut scratch[..need])?;
    Ok(Bytes::copy_from_slice(&scratch[..n]))
}
