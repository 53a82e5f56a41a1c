//! A minimal protobuf reader and writer over borrowed bytes.
//!
//! The hot path never decodes into owned messages: it walks the wire format, remembers
//! offsets into the request body, and copies whole fields when re-encoding. Offsets are
//! `u32` because a decoded body is capped well below 4 GiB.

use std::ops::Range;

/// A structural protobuf error: the bytes are not a well-formed message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PbError {
    /// The buffer ended inside a field.
    #[error("truncated field at byte {0}")]
    Truncated(usize),
    /// A varint ran over 10 bytes.
    #[error("varint too long at byte {0}")]
    VarintOverflow(usize),
    /// Wire types 3 and 4 (groups) and 6, 7 are not used by remote write.
    #[error("unsupported wire type {wire_type} at byte {at}")]
    WireType {
        /// The wire type found.
        wire_type: u8,
        /// Offset of the tag.
        at: usize,
    },
    /// Field number 0 is invalid.
    #[error("field number 0 at byte {0}")]
    ZeroField(usize),
    /// A known field was encoded with the wrong wire type.
    #[error("field {field} has wire type {wire_type}, expected {expected}")]
    UnexpectedWireType {
        /// Field number.
        field: u32,
        /// Wire type found.
        wire_type: u8,
        /// Wire type the schema requires.
        expected: u8,
    },
}

/// The value of one field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    Varint(u64),
    Fixed64(u64),
    /// Byte range of the payload within the reader's buffer.
    Len(u32, u32),
    Fixed32(u32),
}

impl Value {
    pub(crate) fn wire_type(self) -> u8 {
        match self {
            Value::Varint(_) => 0,
            Value::Fixed64(_) => 1,
            Value::Len(..) => 2,
            Value::Fixed32(_) => 5,
        }
    }
}

/// One field: its number, its value and the byte range of the whole field (tag included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Field {
    pub number: u32,
    pub value: Value,
    pub start: u32,
    pub end: u32,
}

impl Field {
    /// The payload range of a length-delimited field, or a typed error naming the field.
    pub(crate) fn len_range(&self) -> Result<Range<usize>, PbError> {
        match self.value {
            Value::Len(s, e) => Ok(s as usize..e as usize),
            other => Err(self.unexpected(other, 2)),
        }
    }

    pub(crate) fn varint(&self) -> Result<u64, PbError> {
        match self.value {
            Value::Varint(v) => Ok(v),
            other => Err(self.unexpected(other, 0)),
        }
    }

    pub(crate) fn fixed64(&self) -> Result<u64, PbError> {
        match self.value {
            Value::Fixed64(v) => Ok(v),
            other => Err(self.unexpected(other, 1)),
        }
    }

    fn unexpected(&self, v: Value, expected: u8) -> PbError {
        PbError::UnexpectedWireType {
            field: self.number,
            wire_type: v.wire_type(),
            expected,
        }
    }

    pub(crate) fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Iterates the fields of the message occupying `buf[pos..end]`.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf[range]`; offsets it reports are relative to `buf`.
    pub(crate) fn new(buf: &'a [u8], range: Range<usize>) -> Self {
        debug_assert!(range.end <= buf.len());
        Reader {
            buf,
            pos: range.start,
            end: range.end.min(buf.len()),
        }
    }

    /// Fast path for the commonest shape on the wire: a length-delimited field whose tag
    /// is the single byte `tag` and whose length fits one byte. Returns the payload range
    /// and advances; `None` (without advancing) for anything else, which the caller
    /// then reads with [`Reader::next_field`].
    #[inline]
    pub(crate) fn short_len_field(&mut self, tag: u8) -> Option<Range<usize>> {
        let head = self.buf.get(self.pos..self.pos + 2)?;
        if head[0] != tag || head[1] >= 0x80 {
            return None;
        }
        let start = self.pos + 2;
        let end = start + head[1] as usize;
        if end > self.end {
            return None;
        }
        self.pos = end;
        Some(start..end)
    }

    fn varint(&mut self) -> Result<u64, PbError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&byte) = self.buf[..self.end].get(self.pos) else {
                return Err(PbError::Truncated(start));
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(PbError::VarintOverflow(start))
    }

    /// The offset of the next field.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// The next field, `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<Field>, PbError> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let start = self.pos;
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| PbError::ZeroField(start))?;
        if number == 0 {
            return Err(PbError::ZeroField(start));
        }
        let wire_type = (key & 7) as u8;
        let value = match wire_type {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.take::<8>(start)?)),
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| PbError::Truncated(start))?;
                if len > self.end - self.pos {
                    return Err(PbError::Truncated(start));
                }
                let s = self.pos;
                self.pos += len;
                Value::Len(s as u32, self.pos as u32)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.take::<4>(start)?)),
            other => {
                return Err(PbError::WireType {
                    wire_type: other,
                    at: start,
                });
            }
        };
        Ok(Some(Field {
            number,
            value,
            start: start as u32,
            end: self.pos as u32,
        }))
    }

    fn take<const N: usize>(&mut self, start: usize) -> Result<[u8; N], PbError> {
        let bytes = self.buf[..self.end]
            .get(self.pos..self.pos + N)
            .ok_or(PbError::Truncated(start))?;
        self.pos += N;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
}

/// Reads a packed (or, as protobuf allows, a single unpacked) varint field.
pub(crate) fn for_each_varint(
    buf: &[u8],
    field: &Field,
    mut f: impl FnMut(u64),
) -> Result<(), PbError> {
    match field.value {
        Value::Varint(v) => {
            f(v);
            Ok(())
        }
        Value::Len(s, e) => {
            let mut r = Reader::new(buf, s as usize..e as usize);
            while r.pos < r.end {
                f(r.varint()?);
            }
            Ok(())
        }
        other => Err(field.unexpected(other, 2)),
    }
}

/// Reads a packed (or a single unpacked) fixed64 field.
pub(crate) fn for_each_fixed64(
    buf: &[u8],
    field: &Field,
    mut f: impl FnMut(u64),
) -> Result<(), PbError> {
    match field.value {
        Value::Fixed64(v) => {
            f(v);
            Ok(())
        }
        Value::Len(s, e) => {
            let bytes = &buf[s as usize..e as usize];
            if !bytes.len().is_multiple_of(8) {
                return Err(PbError::Truncated(s as usize));
            }
            for chunk in bytes.chunks_exact(8) {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                f(u64::from_le_bytes(b));
            }
            Ok(())
        }
        other => Err(field.unexpected(other, 1)),
    }
}

/// Zig-zag decoding of a `sint64`.
pub(crate) fn zigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Zig-zag decoding of a `sint32` (read as a varint).
pub(crate) fn zigzag32(v: u64) -> i64 {
    let v = v as u32;
    i64::from(((v >> 1) as i32) ^ -((v & 1) as i32))
}

/// Number of bytes `v` takes as a varint.
pub(crate) fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends `v` as a varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, v: u64) {
    let (bytes, n) = varint(v);
    put_prefix(out, &bytes, n);
}

/// Appends the first `n` bytes of `bytes`. The whole array is copied, then cut: a
/// copy of a length known at compile time is a few stores, where one of `n` bytes is
/// a call to `memcpy`, which showed in profiles at once per series.
fn put_prefix<const N: usize>(out: &mut Vec<u8>, bytes: &[u8; N], n: usize) {
    let len = out.len();
    out.extend_from_slice(bytes);
    out.truncate(len + n);
}

/// `v` as a varint: the first `n` bytes of the array, with `n` returned beside it.
pub(crate) fn varint(v: u64) -> ([u8; 10], usize) {
    let mut bytes = [0u8; 10];
    let n = write_varint(&mut bytes, v);
    (bytes, n)
}

/// Writes `v` as a varint at the start of `out` (at least `varint_len(v)` bytes),
/// returning its length: the one varint encoder, writing where its caller wants the
/// bytes so that none are copied after.
fn write_varint(out: &mut [u8], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    n + 1
}

/// Size of a length-delimited field with a one-byte tag and a payload of `len` bytes.
pub(crate) fn len_field_size(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// Appends a length-delimited field header (one-byte tag) for a payload of `len` bytes.
pub(crate) fn put_len_header(out: &mut Vec<u8>, field: u8, len: usize) {
    let (header, n) = len_header(field, len);
    put_prefix(out, &header, n);
}

/// A length-delimited field header (one-byte tag) for a payload of `len` bytes: the
/// first `n` bytes of the array, with `n` returned beside it.
pub(crate) fn len_header(field: u8, len: usize) -> ([u8; 11], usize) {
    let mut header = [0u8; 11];
    header[0] = field << 3 | 2;
    let n = write_varint(&mut header[1..], len as u64);
    (header, n + 1)
}

/// Size of a v1 `Label { name = 1; value = 2; }` as a length-delimited field.
pub(crate) fn label_field_size(name_len: usize, value_len: usize) -> usize {
    len_field_size(len_field_size(name_len) + len_field_size(value_len))
}

/// Appends a v1 `Label { name = 1; value = 2; }` as length-delimited field `field`.
pub(crate) fn put_label(out: &mut Vec<u8>, field: u8, name: &[u8], value: &[u8]) {
    put_len_header(
        out,
        field,
        len_field_size(name.len()) + len_field_size(value.len()),
    );
    put_bytes(out, 1, name);
    put_bytes(out, 2, value);
}

/// Appends a length-delimited field with the given payload.
pub(crate) fn put_bytes(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    put_len_header(out, field, bytes.len());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_matches_encoding() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut r = Reader::new(&out, 0..out.len());
            assert_eq!(r.varint().unwrap(), v);
        }
    }

    #[test]
    fn truncated_len_field_is_an_error() {
        // field 1, wire type 2, length 5, only 2 bytes follow
        let buf = [0x0a, 0x05, 1, 2];
        let mut r = Reader::new(&buf, 0..buf.len());
        assert_eq!(r.next_field(), Err(PbError::Truncated(0)));
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let buf = [0xff; 11];
        let mut r = Reader::new(&buf, 0..buf.len());
        assert_eq!(r.next_field(), Err(PbError::VarintOverflow(0)));
    }

    #[test]
    fn group_wire_type_is_rejected() {
        let buf = [0x0b]; // field 1, wire type 3
        let mut r = Reader::new(&buf, 0..buf.len());
        assert!(matches!(
            r.next_field(),
            Err(PbError::WireType { wire_type: 3, .. })
        ));
    }

    #[test]
    fn zigzag_roundtrip() {
        assert_eq!(zigzag64(0), 0);
        assert_eq!(zigzag64(1), -1);
        assert_eq!(zigzag64(2), 1);
        assert_eq!(zigzag32(3), -2);
        assert_eq!(zigzag32(0xffff_fffe), i32::MAX as i64);
    }
}
