//! Native histogram consistency checks, as Prometheus' `Histogram.Validate` does them.
//!
//! - every span after the first has a non-negative offset, and span lengths add up to
//!   the number of buckets;
//! - bucket counts are never negative (integer buckets are delta-encoded);
//! - integer histograms: `count == zero_count + Σ buckets` (or `>=` when `sum` is NaN,
//!   as Prometheus allows). Float histograms are not checked for the count: float
//!   rounding makes that check produce false positives, which is why Prometheus skips it.

use std::ops::Range;

use crate::pb::{self, PbError, Reader};

/// A histogram that is well-formed protobuf but inconsistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HistError {
    Pb(PbError),
    Invalid(&'static str),
}

impl From<PbError> for HistError {
    fn from(e: PbError) -> Self {
        HistError::Pb(e)
    }
}

#[derive(Default)]
struct Side {
    span_len: u64,
    bad_offset: bool,
    spans: u32,
    buckets: u64,
    /// Σ absolute bucket counts (integer histograms).
    total: u64,
    /// Running absolute count while summing deltas.
    current: i64,
    negative: bool,
}

impl Side {
    fn span(&mut self, buf: &[u8], range: Range<usize>) -> Result<(), PbError> {
        let mut r = Reader::new(buf, range);
        let mut offset = 0i64;
        let mut length = 0u64;
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => offset = pb::zigzag32(f.varint()?),
                2 => length = f.varint()? & 0xffff_ffff,
                _ => {}
            }
        }
        if self.spans > 0 && offset < 0 {
            self.bad_offset = true;
        }
        self.spans += 1;
        self.span_len = self.span_len.saturating_add(length);
        Ok(())
    }

    fn delta(&mut self, raw: u64) {
        self.buckets += 1;
        self.current = self.current.wrapping_add(pb::zigzag64(raw));
        if self.current < 0 {
            self.negative = true;
        } else {
            self.total = self.total.saturating_add(self.current as u64);
        }
    }

    fn count(&mut self, raw: u64) {
        self.buckets += 1;
        if f64::from_bits(raw) < 0.0 {
            self.negative = true;
        }
    }

    fn check(&self) -> Result<(), HistError> {
        if self.bad_offset {
            return Err(HistError::Invalid(
                "span with negative offset after the first",
            ));
        }
        if self.span_len != self.buckets {
            return Err(HistError::Invalid(
                "span lengths do not match the number of buckets",
            ));
        }
        if self.negative {
            return Err(HistError::Invalid("negative bucket count"));
        }
        Ok(())
    }
}

/// Checks the histogram message in `buf[range]`; returns its timestamp.
pub(crate) fn check(buf: &[u8], range: Range<usize>) -> Result<i64, HistError> {
    let mut r = Reader::new(buf, range);
    let (mut neg, mut pos) = (Side::default(), Side::default());
    let mut count_int: Option<u64> = None;
    let mut is_float = false;
    let mut zero_int = 0u64;
    let mut sum = 0f64;
    let mut ts = 0i64;
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => count_int = Some(f.varint()?),
            2 => {
                f.fixed64()?;
                is_float = true;
            }
            3 => sum = f64::from_bits(f.fixed64()?),
            6 => zero_int = f.varint()?,
            8 => neg.span(buf, f.len_range()?)?,
            9 => pb::for_each_varint(buf, &f, |v| neg.delta(v))?,
            10 => pb::for_each_fixed64(buf, &f, |v| neg.count(v))?,
            11 => pos.span(buf, f.len_range()?)?,
            12 => pb::for_each_varint(buf, &f, |v| pos.delta(v))?,
            13 => pb::for_each_fixed64(buf, &f, |v| pos.count(v))?,
            15 => ts = f.varint()? as i64,
            _ => {}
        }
    }
    neg.check()?;
    pos.check()?;
    if !is_float {
        let count = count_int.unwrap_or(0);
        let buckets = neg.total.saturating_add(pos.total).saturating_add(zero_int);
        if sum.is_nan() {
            if buckets > count {
                return Err(HistError::Invalid("count is smaller than the bucket total"));
            }
        } else if buckets != count {
            return Err(HistError::Invalid("count does not equal the bucket total"));
        }
    }
    Ok(ts)
}
