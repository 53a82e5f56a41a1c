//! [`WriteBatch`]: a decoded, validated request that borrows its label bytes from the body.

use std::fmt::Write as _;

use bytes::Bytes;

use crate::body::Protocol;
pub use crate::counts::Counts;
use crate::pb;
use crate::rejections::{RefusalReason, Rejections};
use crate::span::{LabelRef, Span};

/// One accepted series.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Series {
    /// First label in `WriteBatch::labels`; labels keep their wire order.
    pub labels: u32,
    pub nlabels: u32,
    /// The series encoded as a v1 `TimeSeries` message body, labels sorted.
    pub encoded: Span,
    pub counts: Counts,
}

impl Series {
    /// Where its labels are in `WriteBatch::labels`.
    fn label_range(&self) -> std::ops::Range<usize> {
        self.labels as usize..(self.labels + self.nlabels) as usize
    }
}

/// A decoded request: the accepted series (each ready to forward as v1 bytes), counts,
/// and what was refused. Label bytes are borrowed from the decompressed body.
#[derive(Debug, Clone)]
pub struct WriteBatch {
    pub(crate) protocol: Protocol,
    pub(crate) body: Bytes,
    pub(crate) scratch: Vec<u8>,
    pub(crate) labels: Vec<LabelRef>,
    pub(crate) series: Vec<Series>,
    pub(crate) accepted: Counts,
    pub(crate) rejected: Rejections,
    pub(crate) metadata: u64,
    pub(crate) sorted: u64,
}

impl WriteBatch {
    /// The protocol the request arrived in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Number of accepted series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when no series was accepted.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Accepted series `i`.
    ///
    /// # Panics
    /// When `i >= self.len()`.
    pub fn series(&self, i: usize) -> SeriesRef<'_> {
        SeriesRef {
            batch: self,
            series: &self.series[i],
        }
    }

    /// All accepted series in request order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = SeriesRef<'_>> {
        self.series.iter().map(move |series| SeriesRef {
            batch: self,
            series,
        })
    }

    /// What the accepted series carry.
    pub fn accepted(&self) -> Counts {
        self.accepted
    }

    /// What validation refused.
    pub fn rejected(&self) -> &Rejections {
        &self.rejected
    }

    /// Metadata entries seen (v1 `metadata`, v2 per-series `metadata`). rwgate does not
    /// forward metadata: Thanos Receive does not store it.
    pub fn metadata(&self) -> u64 {
        self.metadata
    }

    /// Series whose labels arrived unsorted and were sorted.
    pub fn sorted_series(&self) -> u64 {
        self.sorted
    }

    /// Gives back the decompressed body (e.g. to a [`crate::BufferPool`]).
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// Size of the decompressed body in bytes.
    pub fn decoded_len(&self) -> usize {
        self.body.len()
    }

    /// Bytes the batch holds besides its body: the label and series index and the
    /// scratch space of re-encoded series. About 0.8 times the decoded size for
    /// kube-state-metrics-like series (16 bytes per label), at most about 3 times for
    /// series of one-byte labels.
    pub fn index_bytes(&self) -> usize {
        self.labels.capacity() * std::mem::size_of::<LabelRef>()
            + self.series.capacity() * std::mem::size_of::<Series>()
            + self.scratch.capacity()
    }

    /// Keeps the accepted series for which `check(index, series)` is `Ok`; the others
    /// are removed and recorded, with the caller's reason and detail, in the returned
    /// rejections (the batch's own [`rejected`](Self::rejected) holds only what
    /// decoding refused). Also returns the original indices of the series kept, in
    /// order.
    pub fn retain<R: RefusalReason>(
        &mut self,
        mut check: impl FnMut(usize, SeriesRef<'_>) -> Result<(), (R, Option<String>)>,
    ) -> (Vec<u32>, Rejections<R>) {
        let mut kept_index = Vec::with_capacity(self.series.len());
        let mut kept = Vec::with_capacity(self.series.len());
        let mut removed = Rejections::default();
        for (i, s) in self.series.iter().enumerate() {
            let view = SeriesRef {
                batch: self,
                series: s,
            };
            match check(i, view) {
                Ok(()) => {
                    kept.push(*s);
                    kept_index.push(i as u32);
                }
                Err((reason, detail)) => {
                    // Only the first refusal is described (the rest are counted).
                    removed.record(
                        reason,
                        s.counts,
                        || self.describe(s.label_range()),
                        detail.as_deref(),
                    );
                }
            }
        }
        let gone = removed.counts;
        self.accepted.samples -= gone.samples;
        self.accepted.histograms -= gone.histograms;
        self.accepted.exemplars -= gone.exemplars;
        self.series = kept;
        (kept_index, removed)
    }

    /// Sets label `name` of series `i` to `value`, or removes it when `value` is `None`,
    /// and re-encodes the series (labels sorted). Returns false when the series has no
    /// such label and there was nothing to remove. Label order for hashing stays the
    /// wire order, with the label changed in place or left out.
    pub fn set_label(&mut self, i: usize, name: &[u8], value: Option<&[u8]>) -> bool {
        let s = self.series[i];
        let range = s.label_range();
        let found = self.labels[range.clone()]
            .iter()
            .position(|l| self.bytes(l.name) == name);
        let value_span = match value {
            Some(v) => {
                let start = (self.body.len() + self.scratch.len()) as u32;
                self.scratch.extend_from_slice(v);
                Some(Span {
                    start,
                    len: v.len() as u32,
                })
            }
            None if found.is_none() => return false,
            None => None,
        };
        let name_span = match found {
            Some(k) => self.labels[range.start + k].name,
            None => {
                let start = (self.body.len() + self.scratch.len()) as u32;
                self.scratch.extend_from_slice(name);
                Span {
                    start,
                    len: name.len() as u32,
                }
            }
        };
        let new_start = self.labels.len();
        for k in range.clone() {
            let l = self.labels[k];
            if Some(k - range.start) == found {
                if let Some(v) = value_span {
                    self.labels.push(LabelRef {
                        name: l.name,
                        value: v,
                    });
                }
            } else {
                self.labels.push(l);
            }
        }
        if found.is_none()
            && let Some(v) = value_span
        {
            self.labels.push(LabelRef {
                name: name_span,
                value: v,
            });
        }
        let nlabels = self.labels.len() - new_start;
        // Re-encode: sorted labels, then every other field of the old encoding.
        let mut order: Vec<usize> = (0..nlabels).collect();
        order.sort_by(|&a, &b| {
            self.bytes(self.labels[new_start + a].name)
                .cmp(self.bytes(self.labels[new_start + b].name))
        });
        let mut out = Vec::with_capacity(self.bytes(s.encoded).len() + 32);
        for &k in &order {
            let l = self.labels[new_start + k];
            pb::put_label(&mut out, 1, self.bytes(l.name), self.bytes(l.value));
        }
        self.finish_reencode(i, s, new_start, out);
        true
    }

    /// Replaces every label of series `i` with `labels` (sorted by name, as relabeling
    /// yields them) and re-encodes the series; its other fields stay as they were.
    /// Placement then hashes the new labels in this order.
    pub fn replace_labels(&mut self, i: usize, labels: &[(&str, &str)]) {
        let s = self.series[i];
        let new_start = self.labels.len();
        for (n, v) in labels {
            let name = self.push_scratch(n.as_bytes());
            let value = self.push_scratch(v.as_bytes());
            self.labels.push(LabelRef { name, value });
        }
        let mut out = Vec::with_capacity(self.bytes(s.encoded).len() + 32);
        for (n, v) in labels {
            pb::put_label(&mut out, 1, n.as_bytes(), v.as_bytes());
        }
        self.finish_reencode(i, s, new_start, out);
    }

    /// Appends `bytes` to scratch; their span.
    fn push_scratch(&mut self, bytes: &[u8]) -> Span {
        let start = (self.body.len() + self.scratch.len()) as u32;
        self.scratch.extend_from_slice(bytes);
        Span {
            start,
            len: bytes.len() as u32,
        }
    }

    /// Completes a re-encoding of series `i` (was `s`): `out` holds its new label
    /// fields; the old encoding's other fields follow, and the series points at its
    /// labels from `new_start` on.
    fn finish_reencode(&mut self, i: usize, s: Series, new_start: usize, mut out: Vec<u8>) {
        let old = self.bytes(s.encoded).to_vec();
        let mut r = pb::Reader::new(&old, 0..old.len());
        // The old encoding was written or validated by this crate: it is well-formed.
        while let Ok(Some(f)) = r.next_field() {
            if f.number != 1 {
                out.extend_from_slice(&old[f.range()]);
            }
        }
        let encoded = self.push_scratch(&out);
        self.series[i] = Series {
            labels: new_start as u32,
            nlabels: (self.labels.len() - new_start) as u32,
            encoded,
            counts: s.counts,
        };
    }

    pub(crate) fn bytes(&self, span: Span) -> &[u8] {
        let start = span.start as usize;
        let len = span.len as usize;
        match start.checked_sub(self.body.len()) {
            Some(off) => &self.scratch[off..off + len],
            None => &self.body[start..start + len],
        }
    }

    /// `{name="value", ...}` with values escaped, cut at about 256 bytes.
    pub(crate) fn describe(&self, labels: std::ops::Range<usize>) -> String {
        let mut out = String::from("{");
        for (i, l) in self.labels[labels].iter().enumerate() {
            if out.len() > 256 {
                out.push_str(", ...");
                break;
            }
            if i > 0 {
                out.push_str(", ");
            }
            let name = String::from_utf8_lossy(self.bytes(l.name));
            let value = String::from_utf8_lossy(self.bytes(l.value));
            let _ = write!(
                out,
                "{}=\"{}\"",
                name.escape_debug(),
                truncate(&value, 128).escape_debug()
            );
        }
        out.push('}');
        out
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A borrowed view of one accepted series.
#[derive(Clone, Copy)]
pub struct SeriesRef<'a> {
    batch: &'a WriteBatch,
    series: &'a Series,
}

impl<'a> SeriesRef<'a> {
    /// Labels as `(name, value)` in the order they arrived on the wire (Thanos hashes
    /// them in this order).
    pub fn labels(&self) -> impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + Clone + 'a {
        let batch = self.batch;
        batch.labels[self.series.label_range()]
            .iter()
            .map(move |l| (batch.bytes(l.name), batch.bytes(l.value)))
    }

    /// The value of label `name`, if present.
    pub fn label(&self, name: &[u8]) -> Option<&'a [u8]> {
        let batch = self.batch;
        // Lengths first: most names differ in length and are never read.
        batch.labels[self.series.label_range()]
            .iter()
            .find(|l| {
                l.name.len as usize == name.len()
                    && crate::validate::eq_names(batch.bytes(l.name), name)
            })
            .map(|l| batch.bytes(l.value))
    }

    /// What this series carries.
    pub fn counts(&self) -> Counts {
        self.series.counts
    }

    /// The series as a v1 `TimeSeries` message body with sorted labels.
    pub fn encoded(&self) -> &'a [u8] {
        self.batch.bytes(self.series.encoded)
    }

    /// The labels formatted for humans, values escaped and cut.
    pub fn describe(&self) -> String {
        self.batch.describe(self.series.label_range())
    }
}

impl std::fmt::Debug for SeriesRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}
