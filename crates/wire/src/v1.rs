//! Remote write 1.0 decoding: walks `prometheus.WriteRequest` without copying labels.
//!
//! A valid series whose labels arrived sorted is forwarded as the very bytes it came in
//! (a slice of the body). Only unsorted series are re-encoded, into the batch's scratch.

use std::ops::Range;

use bytes::Bytes;

use crate::batch::{Counts, WriteBatch};
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
pub(crate) fn decode(body: Bytes, limits: &Limits, now_ms: i64) -> Result<WriteBatch, WireError> {
    let mut b = Builder::new(Protocol::V1, body.clone(), limits, now_ms);
    let mut r = Reader::new(&body, 0..body.len());
    while let Some(f) = r.next_field().map_err(malformed(MSG))? {
        match f.number {
            1 => {
                let range = f.len_range().map_err(malformed(MSG))?;
                b.count_series()?;
                series(&mut b, &body, range)?;
            }
            3 => {
                f.len_range().map_err(malformed(MSG))?;
                b.batch.metadata += 1;
            }
            _ => {}
        }
    }
    Ok(b.finish())
}

/// Reads a `Label` laid out as every sender writes it: `0x0a len name 0x12 len value`
/// with one-byte lengths, filling `range` exactly. `None` for any other layout.
#[inline]
fn label_fast(buf: &[u8], range: &Range<usize>) -> Option<LabelRef> {
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
pub(crate) fn label(buf: &[u8], range: Range<usize>) -> Result<LabelRef, PbError> {
    if let Some(l) = label_fast(buf, &range) {
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

fn series(b: &mut Builder<'_>, buf: &[u8], range: Range<usize>) -> Result<(), WireError> {
    let pb_err = malformed("prometheus.TimeSeries");
    let labels_start = b.batch.labels.len();
    let mut seen = 0usize;
    let mut counts = Counts::default();
    let mut invalid: Option<Invalid> = None;
    let mut r = Reader::new(buf, range.clone());
    let checks_time = b.checks_time();
    loop {
        // Fast paths for labels and samples, which are nearly all of a request.
        if let Some(range) = r.short_len_field(0x0a) {
            let l = match label_fast(buf, &range) {
                Some(l) => l,
                None => label(buf, range).map_err(&pb_err)?,
            };
            if seen <= b.limits.max_label_names {
                b.batch.labels.push(l);
            }
            seen += 1;
            continue;
        }
        if !checks_time && r.short_len_field(0x12).is_some() {
            counts.samples += 1;
            continue;
        }
        let Some(f) = r.next_field().map_err(&pb_err)? else {
            break;
        };
        match f.number {
            1 => {
                let l = label(buf, f.len_range().map_err(&pb_err)?).map_err(&pb_err)?;
                if seen <= b.limits.max_label_names {
                    b.batch.labels.push(l);
                }
                seen += 1;
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
    }
    b.count_samples(counts)?;
    let sorted = match b.validate_labels(labels_start, seen) {
        Ok(sorted) => sorted,
        Err(label_problem) => {
            b.reject(labels_start, label_problem, counts);
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
    let encoded = if sorted {
        Span::of(range)
    } else {
        b.batch.sorted += 1;
        let start = b.scratch_pos();
        b.write_sorted_labels(labels_start, false);
        // Copy every other field as it was.
        let mut r = Reader::new(buf, range);
        while let Some(f) = r.next_field().map_err(&pb_err)? {
            if f.number != 1 {
                b.batch.scratch.extend_from_slice(&buf[f.range()]);
            }
        }
        Span {
            start,
            len: b.scratch_pos() - start,
        }
    };
    b.accept(labels_start, encoded, counts);
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
