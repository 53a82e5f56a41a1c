//! Remote write 2.0 decoding: resolves symbol references and converts each accepted
//! series to a v1 `TimeSeries` (what Thanos Receive ingests) in the batch's scratch.
//!
//! Conversion keeps samples' value and timestamp, histograms' fields 1–16 (v1 and v2
//! share them; `start_timestamp` is dropped) and exemplars. Per-series metadata is
//! counted, not forwarded.

use std::ops::Range;

use bytes::Bytes;

use crate::batch::{Counts, Spare, WriteBatch};
use crate::body::Protocol;
use crate::builder::Builder;
use crate::error::{Reason, WireError, malformed};
use crate::limits::Limits;
use crate::pb::{self, PbError, Reader};
use crate::span::{LabelRef, Span};
use crate::v1::{check_histogram, sample_timestamp};
use crate::validate::Invalid;

const MSG: &str = "io.prometheus.write.v2.Request";
const SERIES: &str = "io.prometheus.write.v2.TimeSeries";

/// Decodes a decompressed v2 body.
pub(crate) fn decode(
    body: Bytes,
    limits: &Limits,
    now_ms: i64,
    spare: Spare,
) -> Result<WriteBatch, WireError> {
    let mut b = Builder::new(Protocol::V2, body.clone(), limits, now_ms, spare);
    // Symbols may follow the series on the wire: collect them first.
    let mut symbols: Vec<Span> = Vec::new();
    let mut r = Reader::new(&body, 0..body.len());
    while let Some(f) = r.next_field().map_err(malformed(MSG))? {
        if f.number == 4 {
            symbols.push(Span::of(f.len_range().map_err(malformed(MSG))?));
        }
    }
    if symbols.first().is_some_and(|s| s.len != 0) {
        return Err(WireError::InvalidSymbolsTable);
    }
    let mut refs = Vec::new();
    let mut r = Reader::new(&body, 0..body.len());
    while let Some(f) = r.next_field().map_err(malformed(MSG))? {
        if f.number == 5 {
            let range = f.len_range().map_err(malformed(MSG))?;
            b.count_series()?;
            series(&mut b, &body, range, &symbols, &mut refs)?;
        }
    }
    Ok(b.finish())
}

/// Pushes the labels named by `refs` (pairs of symbol indices); false when a reference
/// is out of range or the count is odd.
fn resolve(refs: &[u32], symbols: &[Span], mut push: impl FnMut(LabelRef)) -> bool {
    if !refs.len().is_multiple_of(2) {
        return false;
    }
    for pair in refs.chunks_exact(2) {
        match (symbols.get(pair[0] as usize), symbols.get(pair[1] as usize)) {
            (Some(&name), Some(&value)) => push(LabelRef { name, value }),
            _ => return false,
        }
    }
    true
}

/// Reads label references, keeping at most `cap`; returns how many the field held.
fn read_refs(buf: &[u8], f: &pb::Field, refs: &mut Vec<u32>, cap: usize) -> Result<usize, PbError> {
    let mut n = 0;
    pb::for_each_varint(buf, f, |v| {
        if refs.len() < cap {
            refs.push(v.min(u64::from(u32::MAX)) as u32);
        }
        n += 1;
    })?;
    Ok(n)
}

/// Walks the label references of an exemplar, calling `f` for each resolved pair;
/// false when the count is odd or a reference is out of range.
fn exemplar_labels(
    buf: &[u8],
    range: Range<usize>,
    symbols: &[Span],
    mut f: impl FnMut(Span, Span),
) -> Result<bool, PbError> {
    let mut ok = true;
    let mut pending: Option<Span> = None;
    let mut r = Reader::new(buf, range);
    while let Some(field) = r.next_field()? {
        if field.number != 1 {
            continue;
        }
        pb::for_each_varint(buf, &field, |v| {
            let Some(&sym) = usize::try_from(v).ok().and_then(|i| symbols.get(i)) else {
                ok = false;
                return;
            };
            match pending.take() {
                Some(name) => f(name, sym),
                None => pending = Some(sym),
            }
        })?;
    }
    Ok(ok && pending.is_none())
}

fn series(
    b: &mut Builder<'_>,
    buf: &[u8],
    range: Range<usize>,
    symbols: &[Span],
    refs: &mut Vec<u32>,
) -> Result<(), WireError> {
    let pb_err = malformed(SERIES);
    let labels_start = b.batch.labels.len();
    let mut counts = Counts::default();
    let mut invalid: Option<Invalid> = None;
    let cap = 2 * (b.limits.max_label_names + 1);
    let mut total_refs = 0usize;
    refs.clear();
    let mut r = Reader::new(buf, range.clone());
    while let Some(f) = r.next_field().map_err(&pb_err)? {
        match f.number {
            1 => total_refs += read_refs(buf, &f, refs, cap).map_err(&pb_err)?,
            2 => {
                let sample = f.len_range().map_err(&pb_err)?;
                counts.samples += 1;
                if b.checks_time() && invalid.is_none() {
                    let ts = sample_timestamp(buf, sample).map_err(&pb_err)?;
                    invalid = b.check_time(ts).err().map(Invalid::from);
                }
            }
            3 => {
                let h = f.len_range().map_err(&pb_err)?;
                counts.histograms += 1;
                let checked = check_histogram(b, buf, h).map_err(&pb_err)?;
                if invalid.is_none() {
                    invalid = checked.err();
                }
            }
            4 => {
                let ex = f.len_range().map_err(&pb_err)?;
                counts.exemplars += 1;
                let refs_ok = exemplar_labels(buf, ex, symbols, |_, _| {}).map_err(&pb_err)?;
                if invalid.is_none() && !refs_ok {
                    invalid = Some(Reason::InvalidLabelRefs.into());
                }
            }
            5 => {
                f.len_range().map_err(&pb_err)?;
                b.batch.metadata += 1;
            }
            _ => {}
        }
    }
    b.count_samples(counts)?;
    let seen = total_refs / 2;
    let labels = &mut b.batch.labels;
    let refs_ok = total_refs.is_multiple_of(2) && resolve(refs, symbols, |l| labels.push(l));
    if !refs_ok {
        b.reject(labels_start, Reason::InvalidLabelRefs.into(), counts);
        return Ok(());
    }
    if counts.samples > 0 && counts.histograms > 0 {
        b.reject(labels_start, Reason::SamplesAndHistograms.into(), counts);
        return Ok(());
    }
    let sorted = match b.validate_labels(labels_start, seen, false) {
        Ok(sorted) => sorted,
        Err(problem) => {
            b.reject(labels_start, problem, counts);
            return Ok(());
        }
    };
    if let Some(problem) = invalid {
        b.reject(labels_start, problem, counts);
        return Ok(());
    }
    if b.drop_if_empty(labels_start, counts) {
        return Ok(());
    }
    let start = b.scratch_pos();
    b.write_sorted_labels(labels_start, sorted);
    let label_bytes = b.scratch_pos() - start;
    convert_payload(b, buf, range, symbols).map_err(&pb_err)?;
    let encoded = Span {
        start,
        len: b.scratch_pos() - start,
    };
    b.accept(labels_start, encoded, label_bytes, counts, None);
    Ok(())
}

/// Writes the v1 samples, exemplars and histograms of a v2 series into scratch.
fn convert_payload(
    b: &mut Builder<'_>,
    buf: &[u8],
    range: Range<usize>,
    symbols: &[Span],
) -> Result<(), PbError> {
    let out = &mut b.batch.scratch;
    let mut r = Reader::new(buf, range);
    while let Some(f) = r.next_field()? {
        match f.number {
            2 => {
                let (value, ts) = value_and_timestamp(buf, f.len_range()?, 1, 2)?;
                // v1 Sample { double value = 1; int64 timestamp = 2; }
                let size = 9 + 1 + pb::varint_len(ts);
                pb::put_len_header(out, 2, size);
                out.push(0x09);
                out.extend_from_slice(&value.to_le_bytes());
                out.push(0x10);
                pb::put_varint(out, ts);
            }
            3 => {
                // v1 Histogram: fields 1..=16 as they are; drop start_timestamp (17).
                let h = f.len_range()?;
                let mut size = 0;
                let mut hr = Reader::new(buf, h.clone());
                while let Some(hf) = hr.next_field()? {
                    if hf.number <= 16 {
                        size += hf.range().len();
                    }
                }
                pb::put_len_header(out, 4, size);
                let mut hr = Reader::new(buf, h);
                while let Some(hf) = hr.next_field()? {
                    if hf.number <= 16 {
                        out.extend_from_slice(&buf[hf.range()]);
                    }
                }
            }
            4 => {
                // v1 Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
                let ex = f.len_range()?;
                let (value, ts) = value_and_timestamp(buf, ex.clone(), 2, 3)?;
                let mut labels_size = 0;
                exemplar_labels(buf, ex.clone(), symbols, |n, v| {
                    labels_size += pb::label_field_size(n.len as usize, v.len as usize)
                })?;
                pb::put_len_header(out, 3, labels_size + 9 + 1 + pb::varint_len(ts));
                let get = |s: Span| &buf[s.start as usize..(s.start + s.len) as usize];
                exemplar_labels(buf, ex, symbols, |n, v| {
                    pb::put_label(out, 1, get(n), get(v))
                })?;
                out.push(0x11);
                out.extend_from_slice(&value.to_le_bytes());
                out.push(0x18);
                pb::put_varint(out, ts);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads a fixed64 value field and a varint timestamp field of a small message.
fn value_and_timestamp(
    buf: &[u8],
    range: Range<usize>,
    value_field: u32,
    ts_field: u32,
) -> Result<(u64, u64), PbError> {
    let mut r = Reader::new(buf, range);
    let (mut value, mut ts) = (0u64, 0u64);
    while let Some(f) = r.next_field()? {
        if f.number == value_field {
            value = f.fixed64()?;
        } else if f.number == ts_field {
            ts = f.varint()?;
        }
    }
    Ok((value, ts))
}
