//! Byte ranges into a batch's storage, and labels as pairs of them: the leaf types the
//! decoder, the validator and the encoder share.

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
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelRef {
    pub name: Span,
    pub value: Span,
}
