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
    /// Bytes of `encoded` its label fields take, all at the start; [`SPLIT_LABELS`]
    /// when a label field came after another field (only a client writes that).
    pub label_bytes: u32,
    pub counts: PackedCounts,
    /// Placement hash of the labels, and whose it is: [`HASH_NONE`], [`HASH_MEMO`] (a
    /// caller attached it, [`WriteBatch::set_hash_memo`]), or otherwise the (odd)
    /// tenant seed [`crate::seen`] remembered it for.
    pub hash: u64,
    pub hash_of: u64,
    /// The [`crate::seen`] key of the labels as decoded, when `seen`.
    pub seen_key: [u64; 2],
    /// Whether the labels were looked up in [`crate::seen`] (cleared when rewritten).
    pub seen: bool,
}

/// A series' counts in 12 bytes (each at most `u32::MAX`, far above any request
/// limit), so the per-series index stays small.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PackedCounts([u32; 3]);

impl PackedCounts {
    pub(crate) fn get(self) -> Counts {
        Counts {
            samples: u64::from(self.0[0]),
            histograms: u64::from(self.0[1]),
            exemplars: u64::from(self.0[2]),
        }
    }
}

impl From<Counts> for PackedCounts {
    fn from(c: Counts) -> Self {
        let narrow = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        PackedCounts([narrow(c.samples), narrow(c.histograms), narrow(c.exemplars)])
    }
}

/// [`Series::hash_of`]: no hash.
pub(crate) const HASH_NONE: u64 = 0;
/// [`Series::hash_of`]: a hash the caller attached, whatever the tenant. Tenant seeds
/// are odd, so an even marker never collides with one.
pub(crate) const HASH_MEMO: u64 = 2;

/// [`Series::label_bytes`] of a series whose label fields are not all at the start.
pub(crate) const SPLIT_LABELS: u32 = u32::MAX;

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

/// The index vectors of a finished batch, kept to decode the next one into (see
/// [`crate::decode_reusing`]).
#[derive(Debug, Default)]
pub struct Spare {
    pub(crate) scratch: Vec<u8>,
    pub(crate) labels: Vec<LabelRef>,
    pub(crate) series: Vec<Series>,
}

impl Spare {
    /// Bytes the vectors hold.
    pub fn capacity_bytes(&self) -> usize {
        self.scratch.capacity()
            + self.labels.capacity() * std::mem::size_of::<LabelRef>()
            + self.series.capacity() * std::mem::size_of::<Series>()
    }
}

/// A piece of a rewritten series' label fields (see [`WriteBatch::rewrite_label_fields`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldPiece<'a> {
    /// The series' own labels `labels` (wire indices), whose fields are the bytes
    /// `bytes` of its [`SeriesRef::label_fields`], copied as they are.
    Own {
        /// Label indices, in wire order.
        labels: std::ops::Range<usize>,
        /// Their byte range in the label fields.
        bytes: std::ops::Range<usize>,
    },
    /// New labels, encoded as v1 `Label` fields ([`EncodedLabels::fields`]).
    New(&'a [u8]),
}

/// Pushes a span pair for each `Label` field of `fields`, written at offset `at`;
/// false when they do not parse.
fn push_label_fields(fields: &[u8], at: u32, out: &mut Vec<LabelRef>) -> bool {
    let shift = |s: Span| Span {
        start: s.start + at,
        len: s.len,
    };
    let mut r = pb::Reader::new(fields, 0..fields.len());
    loop {
        let range = match r.short_len_field(1 << 3 | 2) {
            Some(range) => range,
            None => match r.next_field() {
                Ok(None) => return true,
                Ok(Some(f)) if f.number == 1 => match f.len_range() {
                    Ok(range) => range,
                    Err(_) => return false,
                },
                _ => return false,
            },
        };
        match LabelRef::read(fields, range) {
            Ok(l) => out.push(LabelRef {
                name: shift(l.name),
                value: shift(l.value),
            }),
            Err(_) => return false,
        }
    }
}

/// A label set encoded once as v1 `Label` fields (field 1 of `TimeSeries`), with
/// where each name and value sits in the encoding; for
/// [`WriteBatch::replace_labels_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedLabels {
    fields: Vec<u8>,
    spans: Vec<LabelRef>,
}

impl EncodedLabels {
    /// Encodes `labels` in the order given.
    pub fn new(labels: &[(&str, &str)]) -> EncodedLabels {
        let size = labels
            .iter()
            .map(|(n, v)| pb::label_field_size(n.len(), v.len()))
            .sum();
        let mut e = EncodedLabels {
            fields: Vec::with_capacity(size),
            spans: Vec::with_capacity(labels.len()),
        };
        for (n, v) in labels {
            e.push(n.as_bytes(), v.as_bytes());
        }
        e
    }

    /// Appends a label (the caller keeps the order: sorted by name for a series).
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        let fields = &mut self.fields;
        pb::put_len_header(
            fields,
            1,
            pb::len_field_size(name.len()) + pb::len_field_size(value.len()),
        );
        pb::put_len_header(fields, 1, name.len());
        let n = Span::of(fields.len()..fields.len() + name.len());
        fields.extend_from_slice(name);
        pb::put_len_header(fields, 2, value.len());
        let v = Span::of(fields.len()..fields.len() + value.len());
        fields.extend_from_slice(value);
        self.spans.push(LabelRef { name: n, value: v });
    }

    /// The labels as encoded fields.
    pub fn fields(&self) -> &[u8] {
        &self.fields
    }
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

    /// Attaches a hash of series `i`'s labels computed elsewhere (rwgate: its placement
    /// hash, remembered with its relabeling), so that it need not be computed again;
    /// any change of the labels clears it.
    pub fn set_hash_memo(&mut self, i: usize, hash: u64) {
        self.series[i].hash = hash;
        self.series[i].hash_of = HASH_MEMO;
    }

    /// Gives back the body and the index vectors, for reuse by
    /// [`crate::decode_reusing`].
    pub fn into_parts(self) -> (Bytes, Spare) {
        let spare = Spare {
            scratch: self.scratch,
            labels: self.labels,
            series: self.series,
        };
        (self.body, spare)
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
        // Compacted in place: the kept series move down over the removed ones, so a
        // request that keeps every series (nearly all) costs no copy.
        let mut kept_index = Vec::with_capacity(self.series.len());
        let mut removed = Rejections::default();
        let mut kept = 0;
        for i in 0..self.series.len() {
            let s = self.series[i];
            let view = SeriesRef {
                batch: self,
                series: &s,
            };
            match check(i, view) {
                Ok(()) => {
                    if kept != i {
                        self.series[kept] = s;
                    }
                    kept += 1;
                    kept_index.push(i as u32);
                }
                Err((reason, detail)) => {
                    // Only the first refusal is described (the rest are counted).
                    removed.record(
                        reason,
                        s.counts.get(),
                        || self.describe(s.label_range()),
                        detail.as_deref(),
                    );
                }
            }
        }
        self.series.truncate(kept);
        self.accepted.remove(removed.counts);
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
            Some(v) => Some(self.push_scratch(v)),
            None if found.is_none() => return false,
            None => None,
        };
        let name_span = match found {
            Some(k) => self.labels[range.start + k].name,
            None => self.push_scratch(name),
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
        self.replace_labels_with(i, &EncodedLabels::new(labels));
    }

    /// [`replace_labels`](Self::replace_labels) with labels encoded beforehand: the
    /// encoded fields are copied once into scratch, and the new labels point into that
    /// copy.
    pub fn replace_labels_with(&mut self, i: usize, labels: &EncodedLabels) {
        self.replace_encoded(i, &labels.fields, &labels.spans);
    }

    /// Replaces the labels of series `i` with `pieces` in order: runs of its own label
    /// fields copied as they are, and new labels already encoded. Its other fields stay
    /// as they were. Returns false, changing nothing, when a piece does not fit the
    /// series (its label fields are not together at the start, a range is out of
    /// bounds, or new fields do not parse).
    pub fn rewrite_label_fields<'p>(
        &mut self,
        i: usize,
        pieces: impl IntoIterator<Item = FieldPiece<'p>>,
    ) -> bool {
        let s = self.series[i];
        if s.label_bytes == SPLIT_LABELS {
            return false;
        }
        self.reserve_rewrite(i, 2 * s.encoded.len as usize);
        let (scratch_len, labels_len) = (self.scratch.len(), self.labels.len());
        let base = self.end();
        let own = s.label_range();
        let ok = pieces.into_iter().all(|piece| match piece {
            FieldPiece::Own { labels, bytes } => {
                let fits = labels.start <= labels.end
                    && labels.end <= own.len()
                    && bytes.start <= bytes.end
                    && bytes.end <= s.label_bytes as usize;
                if fits {
                    self.copy_to_scratch(Span::of(
                        s.encoded.start as usize + bytes.start
                            ..s.encoded.start as usize + bytes.end,
                    ));
                    self.labels
                        .extend_from_within(own.start + labels.start..own.start + labels.end);
                }
                fits
            }
            FieldPiece::New(fields) => {
                let at = self.push_scratch(fields).start;
                push_label_fields(fields, at, &mut self.labels)
            }
        });
        if !ok {
            self.scratch.truncate(scratch_len);
            self.labels.truncate(labels_len);
            return false;
        }
        self.seal_rewrite(i, s, base, labels_len);
        true
    }

    /// Series `i` gets the labels `spans` (offsets into `fields`) encoded as `fields`.
    fn replace_encoded(&mut self, i: usize, fields: &[u8], spans: &[LabelRef]) {
        let s = self.series[i];
        self.reserve_rewrite(i, fields.len() + s.encoded.len as usize);
        let base = self.push_scratch(fields).start;
        let new_start = self.labels.len();
        let shift = |s: Span| Span {
            start: base + s.start,
            len: s.len,
        };
        self.labels.extend(spans.iter().map(|l| LabelRef {
            name: shift(l.name),
            value: shift(l.value),
        }));
        self.seal_rewrite(i, s, base, new_start);
    }

    /// Completes the rewrite of series `i` (was `old`) whose label fields were written
    /// to scratch from offset `base` and whose labels are those from `labels_start` on:
    /// the old encoding's other fields follow, and the series points at the new ones.
    fn seal_rewrite(&mut self, i: usize, old: Series, base: u32, labels_start: usize) {
        let label_bytes = self.end() - base;
        self.copy_other_fields(old);
        self.series[i] = Series {
            labels: labels_start as u32,
            nlabels: (self.labels.len() - labels_start) as u32,
            label_bytes,
            encoded: Span {
                start: base,
                len: self.end() - base,
            },
            counts: old.counts,
            hash: 0,
            hash_of: HASH_NONE,
            seen_key: [0; 2],
            seen: false,
        };
    }

    /// The offset the next scratch byte will have, as a span start.
    pub(crate) fn end(&self) -> u32 {
        (self.body.len() + self.scratch.len()) as u32
    }

    /// Appends `bytes` to scratch; their span.
    fn push_scratch(&mut self, bytes: &[u8]) -> Span {
        let start = self.end();
        self.scratch.extend_from_slice(bytes);
        Span {
            start,
            len: bytes.len() as u32,
        }
    }

    /// Appends to scratch every field of the encoded series `old` but its labels.
    fn copy_other_fields(&mut self, old: Series) {
        if old.label_bytes != SPLIT_LABELS {
            // The common shape: labels first, then the rest in one piece.
            let tail = Span {
                start: old.encoded.start + old.label_bytes,
                len: old.encoded.len - old.label_bytes,
            };
            self.copy_to_scratch(tail);
            return;
        }
        let old = old.encoded;
        let mut pos = 0;
        loop {
            let field = {
                let bytes = self.bytes(old);
                // The old encoding was written or validated by this crate: well-formed.
                match pb::Reader::new(bytes, pos..bytes.len()).next_field() {
                    Ok(Some(f)) => f,
                    _ => break,
                }
            };
            let range = field.range();
            pos = range.end;
            if field.number != 1 {
                self.copy_to_scratch(Span::of(
                    old.start as usize + range.start..old.start as usize + range.end,
                ));
            }
        }
    }

    /// Appends the bytes of `span` (in the body or in scratch) to scratch.
    fn copy_to_scratch(&mut self, span: Span) {
        let (start, len) = (span.start as usize, span.len as usize);
        match start.checked_sub(self.body.len()) {
            Some(off) => self.scratch.extend_from_within(off..off + len),
            None => self
                .scratch
                .extend_from_slice(&self.body[start..start + len]),
        }
    }

    /// Before re-encoding series `i` into `need` more bytes of scratch: when scratch is
    /// full, grows it once for every series left (requests rewrite most of their series
    /// or none), instead of doubling again and again.
    fn reserve_rewrite(&mut self, i: usize, need: usize) {
        if self.scratch.capacity() - self.scratch.len() < need {
            let left = self.series.len().saturating_sub(i).max(1);
            self.scratch.reserve(need.saturating_mul(left));
        }
    }

    /// Completes a re-encoding of series `i` (was `s`): `out` holds its new label
    /// fields, and its labels are those from `new_start` on.
    fn finish_reencode(&mut self, i: usize, s: Series, new_start: usize, out: Vec<u8>) {
        self.reserve_rewrite(i, out.len() + s.encoded.len as usize);
        let base = self.push_scratch(&out).start;
        self.seal_rewrite(i, s, base, new_start);
    }

    /// Where series `i`'s v1 field (tag, length and the series) lies in the body, when
    /// it is forwarded as it came: its labels were sorted and its length was written
    /// as [`pb::put_len_header`] writes it.
    pub(crate) fn body_field(&self, i: usize) -> Option<std::ops::Range<usize>> {
        let span = self.series[i].encoded;
        let (start, len) = (span.start as usize, span.len as usize);
        let end = start.checked_add(len).filter(|&e| e <= self.body.len())?;
        let (header, n) = pb::len_header(1, len);
        let field = start.checked_sub(n)?;
        // Compared byte by byte: a call to `memcmp` per series for a few bytes showed
        // in profiles.
        let found = self.body.get(field..start)?;
        found
            .iter()
            .zip(&header[..n])
            .all(|(a, b)| a == b)
            .then_some(field..end)
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

    /// The series' labels as encoded (v1 `Label` fields, field 1 of `TimeSeries`), when
    /// they all sit together at the start of its encoding, as every encoder writes
    /// them; `None` when a label field comes after another field.
    pub fn label_fields(&self) -> Option<&'a [u8]> {
        let s = self.series;
        (s.label_bytes != SPLIT_LABELS).then(|| {
            self.batch.bytes(Span {
                start: s.encoded.start,
                len: s.label_bytes,
            })
        })
    }

    /// The byte range of each label's field within [`label_fields`](Self::label_fields),
    /// in wire order; `None` when those are not together.
    pub fn label_field_ranges(&self) -> Option<Vec<std::ops::Range<usize>>> {
        let fields = self.label_fields()?;
        let mut r = pb::Reader::new(fields, 0..fields.len());
        let mut out = Vec::with_capacity(self.series.nlabels as usize);
        while let Ok(Some(f)) = r.next_field() {
            out.push(f.range());
        }
        (out.len() == self.series.nlabels as usize).then_some(out)
    }

    /// The hash a caller attached with [`WriteBatch::set_hash_memo`] since the labels
    /// last changed.
    pub fn hash_memo(&self) -> Option<u64> {
        (self.series.hash_of == HASH_MEMO).then_some(self.series.hash)
    }

    /// What this thread remembered of the series' labels when it was decoded (see
    /// [`crate::seen`]): their key, and the placement hash last computed for them.
    pub fn seen(&self) -> Option<crate::seen::Seen> {
        let s = self.series;
        let remembered = s.hash_of != HASH_NONE && s.hash_of != HASH_MEMO;
        s.seen.then(|| crate::seen::Seen {
            key: u128::from(s.seen_key[0]) | u128::from(s.seen_key[1]) << 64,
            tenant: if remembered { s.hash_of } else { 0 },
            hash: if remembered { s.hash } else { 0 },
        })
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
        self.series.counts.get()
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

#[cfg(test)]
mod size_tests {
    /// The index is charged against `overload.max_inflight_bytes` per series: keep it
    /// small (64 bytes before the label-set memory; its key and hash take the room
    /// packed counts leave).
    #[test]
    fn a_series_index_entry_stays_at_72_bytes() {
        assert!(
            std::mem::size_of::<super::Series>() <= 72,
            "{}",
            std::mem::size_of::<super::Series>()
        );
    }
}
