//! Byte ranges into a batch's storage, and labels as pairs of them: the leaf types the
//! decoder, the validator and the encoder share, and the reading of a `Label` message
//! into spans.

use std::ops::Range;

use crate::pb::{PbError, Reader};

/// A byte range in the batch's storage. Offsets below `body.len()` point into the body,
/// offsets from `body.len()` on point into `scratch` (shifted by `body.len()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    pub(crate) fn of(range: std::ops::Range<usize>) -> Span {
        Span {
            start: range.start as u32,
            len: (range.end - range.start) as u32,
        }
    }
}

/// One label, as spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LabelRef {
    pub name: Span,
    pub value: Span,
}

impl LabelRef {
    /// Reads a `Label` laid out as every sender writes it: `0x0a len name 0x12 len value`
    /// with one-byte lengths, filling `range` exactly. `None` for any other layout.
    #[inline]
    pub(crate) fn read_fast(buf: &[u8], range: &Range<usize>) -> Option<LabelRef> {
        let b = buf.get(range.clone())?;
        if b.len() < 4 || b[0] != 0x0a || b[1] >= 0x80 {
            return None;
        }
        let n = b[1] as usize;
        let v_at = 2 + n;
        let (&tag, &v) = (b.get(v_at)?, b.get(v_at + 1)?);
        if tag != 0x12 || v >= 0x80 || v_at + 2 + v as usize != b.len() {
            return None;
        }
        Some(LabelRef {
            name: Span::of(range.start + 2..range.start + v_at),
            value: Span::of(range.start + v_at + 2..range.end),
        })
    }

    /// Reads the `name` and `value` of a `Label` message.
    pub(crate) fn read(buf: &[u8], range: Range<usize>) -> Result<LabelRef, PbError> {
        if let Some(l) = LabelRef::read_fast(buf, &range) {
            return Ok(l);
        }
        let empty = Span::of(range.start..range.start);
        let mut out = LabelRef {
            name: empty,
            value: empty,
        };
        let mut r = Reader::new(buf, range);
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => out.name = Span::of(f.len_range()?),
                2 => out.value = Span::of(f.len_range()?),
                _ => {}
            }
        }
        Ok(out)
    }
}
