//! Remote write 1.0 decoding: walks `prometheus.WriteRequest` without copying labels.
//!
//! A valid series whose labels arrived sorted is forwarded as the very bytes it came in
//! (a slice of the body). Only unsorted series are re-encoded, into the batch's scratch.

use std::ops::Range;

use bytes::Bytes;

use crate::batch::{Counts, SPLIT_LABELS, Spare, WriteBatch};
use crate::body::Protocol;
use crate::builder::Builder;
use crate::error::{WireError, malformed};
use crate::histogram::{self, HistError};
use crate::limits::Limits;
use crate::pb::{PbError, Reader};
use crate::span::{LabelRef, Span};
use crate::validate::Invalid;

const MSG: &str = "prometheus.WriteRequest";

/// Decodes a decompressed v1 body.
pub(crate) fn decode(
    body: Bytes,
    limits: &Limits,
    now_ms: i64,
    spare: Spare,
) -> Result<WriteBatch, WireError> {
    let mut b = Builder::new(Protocol::V1, body.clone(), limits, now_ms, spare);
    let mut r = Reader::new(&body, 0..body.len());
    let mut chunk = Chunk::new();
    loop {
        // Series are taken a chunk at a time, so that their label sets are looked up
        // in the memory of those seen before in one tight loop (see `Chunk`).
        chunk.clear();
        while chunk.ranges.len() < CHUNK {
            let Some(f) = r.next_field().map_err(malformed(MSG))? else {
                break;
            };
            match f.number {
                1 => {
                    chunk.ranges.push(f.len_range().map_err(malformed(MSG))?);
                }
                3 => {
                    f.len_range().map_err(malformed(MSG))?;
                    b.batch.metadata += 1;
                }
                _ => {}
            }
        }
        if chunk.ranges.is_empty() {
            break;
        }
        chunk.look_up(&body, &b);
        for (i, range) in chunk.ranges.iter().enumerate() {
            b.count_series()?;
            let prior = chunk.priors.get(i);
            let labels = prior.and_then(|p| chunk.labels.get(p.labels.clone()?));
            series(&mut b, &body, range.clone(), prior, labels)?;
        }
    }
    Ok(b.finish())
}

/// Series per [`Chunk`].
const CHUNK: usize = 32;

/// A few series' ranges, and what the memory of label sets seen before holds for
/// their leading label fields.
///
/// Each lookup in that memory is a likely cache miss. Made one after another in a loop
/// that does nothing else, the processor overlaps them; made once per series between
/// the decoding of its fields, each waits in turn (measured: the lookup was 9% of
/// rwgate's CPU on `kube-state-metrics`). The walk that keys the label fields also
/// reads them, so that decoding the series does not walk them again.
struct Chunk {
    ranges: Vec<Range<usize>>,
    /// One per range once looked up; none when the memory is off.
    priors: Vec<Prior>,
    /// The leading labels of the chunk's series, read while keying them.
    labels: Vec<LabelRef>,
}

/// What the chunk found for one series: the end of its leading label fields, their
/// key, and what is remembered of it. Used only when the series' labels turn out to
/// be exactly those leading fields.
#[derive(Clone)]
struct Prior {
    end: usize,
    key: u128,
    seen: Option<crate::seen::Seen>,
    /// Where the leading labels are in [`Chunk::labels`]; `None` when one of them was
    /// not laid out as [`LabelRef::read_fast`] reads, or there were more than the
    /// limit allows (the series is then decoded from its start).
    labels: Option<Range<usize>>,
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            ranges: Vec::with_capacity(CHUNK),
            priors: Vec::with_capacity(CHUNK),
            labels: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.ranges.clear();
        self.priors.clear();
        self.labels.clear();
    }

    /// Keys the leading label fields of each series and looks them all up.
    fn look_up(&mut self, buf: &[u8], b: &Builder<'_>) {
        let entries = b.limits.seen_entries;
        if entries == 0 {
            return;
        }
        let max_labels = b.limits.max_label_names;
        let labels = &mut self.labels;
        self.priors.extend(self.ranges.iter().map(|range| {
            let mut r = Reader::new(buf, range.clone());
            let first = labels.len();
            let mut fast = true;
            while let Some(field) = r.short_len_field(0x0a) {
                match LabelRef::read_fast(buf, &field) {
                    Some(l) if fast => labels.push(l),
                    _ => fast = false,
                }
            }
            let fast = fast && labels.len() - first <= max_labels;
            if !fast {
                labels.truncate(first);
            }
            let end = r.position();
            let key = crate::seen::key(&buf[range.start..end], b.seen_seed);
            Prior {
                end,
                key,
                seen: None,
                labels: fast.then_some(first..labels.len()),
            }
        }));
        crate::seen::lookup_many(
            self.priors.iter_mut().map(|p| (p.key, &mut p.seen)),
            entries,
        );
    }
}

/// The timestamp of a `Sample` message.
pub(crate) fn sample_timestamp(buf: &[u8], range: Range<usize>) -> Result<i64, PbError> {
    let mut r = Reader::new(buf, range);
    let mut ts = 0;
    while let Some(f) = r.next_field()? {
        if f.number == 2 {
            ts = f.varint()? as i64;
        }
    }
    Ok(ts)
}

/// Decodes one series. `labels`: its leading labels, already read up to `prior.end`
/// (see [`Chunk`]); the fields from there on are read here.
fn series(
    b: &mut Builder<'_>,
    buf: &[u8],
    range: Range<usize>,
    prior: Option<&Prior>,
    labels: Option<&[LabelRef]>,
) -> Result<(), WireError> {
    let pb_err = malformed("prometheus.TimeSeries");
    let labels_start = b.batch.labels.len();
    let mut seen = 0usize;
    let mut counts = Counts::default();
    let mut invalid: Option<Invalid> = None;
    let mut r = Reader::new(buf, range.clone());
    let checks_time = b.checks_time();
    // Where the label fields end while only labels were seen; None once a label came
    // after another field.
    let mut labels_end = Some(range.start);
    if let (Some(p), Some(labels)) = (prior, labels) {
        b.batch.labels.extend_from_slice(labels);
        seen = labels.len();
        labels_end = Some(p.end);
        r = Reader::new(buf, p.end..range.end);
    }
    let mut other_seen = false;
    loop {
        // Fast paths for labels and samples, which are nearly all of a request.
        if let Some(range) = r.short_len_field(0x0a) {
            let l = match LabelRef::read_fast(buf, &range) {
                Some(l) => l,
                None => LabelRef::read(buf, range).map_err(&pb_err)?,
            };
            if seen <= b.limits.max_label_names {
                b.batch.labels.push(l);
            }
            seen += 1;
            labels_end = labels_end.filter(|_| !other_seen).map(|_| r.position());
            continue;
        }
        if !checks_time && r.short_len_field(0x12).is_some() {
            counts.samples += 1;
            other_seen = true;
            continue;
        }
        let Some(f) = r.next_field().map_err(&pb_err)? else {
            break;
        };
        match f.number {
            1 => {
                let l = LabelRef::read(buf, f.len_range().map_err(&pb_err)?).map_err(&pb_err)?;
                if seen <= b.limits.max_label_names {
                    b.batch.labels.push(l);
                }
                seen += 1;
                labels_end = labels_end.filter(|_| !other_seen).map(|_| r.position());
                continue;
            }
            2 => {
                let sample = f.len_range().map_err(&pb_err)?;
                counts.samples += 1;
                if checks_time && invalid.is_none() {
                    let ts = sample_timestamp(buf, sample).map_err(&pb_err)?;
                    invalid = b.check_time(ts).err().map(Invalid::from);
                }
            }
            3 => {
                f.len_range().map_err(&pb_err)?;
                counts.exemplars += 1;
            }
            4 => {
                let h = f.len_range().map_err(&pb_err)?;
                counts.histograms += 1;
                let checked = check_histogram(b, buf, h).map_err(&pb_err)?;
                if invalid.is_none() {
                    invalid = checked.err();
                }
            }
            _ => {}
        }
        other_seen = true;
    }
    b.count_samples(counts)?;
    // Label sets validated before (the same bytes under the same validation settings)
    // are not validated again; see `seen`.
    let entries = b.limits.seen_entries;
    let (key, mut remembered) = match (labels_end, prior) {
        // The usual case: the chunk already keyed and looked up these very fields.
        (Some(end), Some(p)) if p.end == end => (Some(p.key), p.seen),
        (Some(end), _) if entries > 0 => {
            let k = crate::seen::key(&buf[range.start..end], b.seen_seed);
            (Some(k), crate::seen::lookup(k, entries))
        }
        _ => (None, None),
    };
    let sorted = if remembered.is_some() {
        true
    } else {
        // One ASCII scan over the label fields together (tags and short lengths are
        // ASCII too) spares a UTF-8 check per name and value; long labels fall back to
        // those.
        let ascii = labels_end.is_some_and(|end| crate::validate::is_ascii(&buf[range.start..end]));
        match b.validate_labels(labels_start, seen, ascii) {
            Ok(sorted) => sorted,
            Err(label_problem) => {
                b.reject(labels_start, label_problem, counts);
                return Ok(());
            }
        }
    };
    if let Some(k) = key
        && remembered.is_none()
        && sorted
    {
        crate::seen::remember(k, entries);
        remembered = Some(crate::seen::Seen {
            key: k,
            ..Default::default()
        });
    }
    if let Some(problem) = invalid {
        b.reject(labels_start, problem, counts);
        return Ok(());
    }
    if b.drop_if_empty(labels_start, counts) {
        return Ok(());
    }
    let (encoded, label_bytes) = if sorted {
        let label_bytes = labels_end.map_or(SPLIT_LABELS, |end| (end - range.start) as u32);
        (Span::of(range), label_bytes)
    } else {
        b.batch.sorted += 1;
        let start = b.scratch_pos();
        b.write_sorted_labels(labels_start, false);
        let label_bytes = b.scratch_pos() - start;
        // Copy every other field as it was.
        let mut r = Reader::new(buf, range);
        while let Some(f) = r.next_field().map_err(&pb_err)? {
            if f.number != 1 {
                b.batch.scratch.extend_from_slice(&buf[f.range()]);
            }
        }
        let encoded = Span {
            start,
            len: b.scratch_pos() - start,
        };
        (encoded, label_bytes)
    };
    b.accept(labels_start, encoded, label_bytes, counts, remembered);
    Ok(())
}

/// Checks a histogram and its timestamp; the outer error is structural.
pub(crate) fn check_histogram(
    b: &Builder<'_>,
    buf: &[u8],
    range: Range<usize>,
) -> Result<Result<(), Invalid>, PbError> {
    match histogram::check(buf, range) {
        Ok(ts) => Ok(b.check_time(ts).map_err(Invalid::from)),
        Err(HistError::Pb(e)) => Err(e),
        Err(HistError::Invalid(reason, detail)) => Ok(Err(Invalid {
            reason,
            detail: Some(detail),
        })),
    }
}
