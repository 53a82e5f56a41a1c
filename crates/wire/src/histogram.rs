//! Native histogram checks, as Prometheus' `Histogram.Validate` (model/histogram) does
//! them, on the protobuf bytes without decoding into a struct.
//!
//! - The schema is exponential (-4..=8) or custom buckets (-53); anything else is
//!   `invalid_histogram_schema`.
//! - Exponential schemas: every span after the first has a non-negative offset, span
//!   lengths add up to the number of buckets, and no custom bounds are sent.
//! - Custom buckets (schema -53, "NHCB"): bounds strictly increasing and finite (the
//!   +Inf bucket is implied, never sent), no negative span offset (the first included),
//!   span lengths add up to the number of buckets, enough bounds for the spans, no zero
//!   bucket (count or threshold) and no negative spans or buckets. A failure here is
//!   `invalid_custom_buckets`.
//! - Bucket counts are never negative (integer buckets are delta-encoded).
//! - Integer histograms: `count == zero_count + Σ buckets` (or `>=` when `sum` is NaN,
//!   as Prometheus allows). Float histograms are not checked for the count: float
//!   rounding makes that check produce false positives, which is why Prometheus skips
//!   it.
//!
//! Bucket-count and span failures keep the reason `invalid_native_histogram`.

use std::ops::Range;

use crate::error::Reason;
use crate::pb::{self, PbError, Reader};

/// Prometheus' custom-buckets schema.
const CUSTOM_BUCKETS_SCHEMA: i64 = -53;
/// Prometheus' exponential schemas.
const EXPONENTIAL_SCHEMAS: std::ops::RangeInclusive<i64> = -4..=8;

/// A histogram that is well-formed protobuf but invalid: its reason and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HistError {
    Pb(PbError),
    Invalid(Reason, &'static str),
}

impl From<PbError> for HistError {
    fn from(e: PbError) -> Self {
        HistError::Pb(e)
    }
}

fn invalid(detail: &'static str) -> HistError {
    HistError::Invalid(Reason::InvalidNativeHistogram, detail)
}

fn invalid_custom(detail: &'static str) -> HistError {
    HistError::Invalid(Reason::InvalidCustomBuckets, detail)
}

/// One side (negative or positive) of a histogram: its spans and buckets.
#[derive(Default)]
struct Side {
    /// Σ span lengths.
    span_len: u64,
    /// Σ span lengths and offsets (the highest bucket index + 1, for custom bounds).
    span_extent: i64,
    /// A span after the first with a negative offset.
    later_negative_offset: bool,
    /// The first span's offset is negative.
    first_negative_offset: bool,
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
        if offset < 0 {
            if self.spans > 0 {
                self.later_negative_offset = true;
            } else {
                self.first_negative_offset = true;
            }
        }
        self.spans += 1;
        self.span_len = self.span_len.saturating_add(length);
        self.span_extent = self
            .span_extent
            .saturating_add(offset)
            .saturating_add(length as i64);
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

    fn is_empty(&self) -> bool {
        self.spans == 0 && self.buckets == 0
    }

    /// Prometheus' `checkHistogramSpans` and `checkHistogramBuckets`.
    fn check(&self) -> Result<(), HistError> {
        if self.later_negative_offset {
            return Err(invalid("span with negative offset after the first"));
        }
        if self.span_len != self.buckets {
            return Err(invalid("span lengths do not match the number of buckets"));
        }
        if self.negative {
            return Err(invalid("negative bucket count"));
        }
        Ok(())
    }
}

/// The custom bounds of a histogram: how many, and whether they are strictly
/// increasing and finite.
#[derive(Default)]
struct Bounds {
    n: u64,
    last: Option<f64>,
    not_increasing: bool,
    not_finite: bool,
}

impl Bounds {
    fn push(&mut self, raw: u64) {
        let v = f64::from_bits(raw);
        if !v.is_finite() {
            self.not_finite = true;
        }
        if self.last.is_some_and(|last| v <= last) || v.is_nan() {
            self.not_increasing = true;
        }
        self.last = Some(v);
        self.n += 1;
    }
}

/// Checks the histogram message in `buf[range]`; returns its timestamp.
pub(crate) fn check(buf: &[u8], range: Range<usize>) -> Result<i64, HistError> {
    let mut r = Reader::new(buf, range);
    let (mut neg, mut pos) = (Side::default(), Side::default());
    let mut bounds = Bounds::default();
    let mut count_int: Option<u64> = None;
    let mut is_float = false;
    let mut zero_int = 0u64;
    let mut zero_float = 0f64;
    let mut zero_threshold = 0f64;
    let mut schema = 0i64;
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
            4 => schema = pb::zigzag32(f.varint()?),
            5 => zero_threshold = f64::from_bits(f.fixed64()?),
            6 => zero_int = f.varint()?,
            7 => zero_float = f64::from_bits(f.fixed64()?),
            8 => neg.span(buf, f.len_range()?)?,
            9 => pb::for_each_varint(buf, &f, |v| neg.delta(v))?,
            10 => pb::for_each_fixed64(buf, &f, |v| neg.count(v))?,
            11 => pos.span(buf, f.len_range()?)?,
            12 => pb::for_each_varint(buf, &f, |v| pos.delta(v))?,
            13 => pb::for_each_fixed64(buf, &f, |v| pos.count(v))?,
            15 => ts = f.varint()? as i64,
            16 => pb::for_each_fixed64(buf, &f, |v| bounds.push(v))?,
            _ => {}
        }
    }
    if schema == CUSTOM_BUCKETS_SCHEMA {
        check_custom(&neg, &pos, &bounds, zero_int, zero_float, zero_threshold)?;
    } else if EXPONENTIAL_SCHEMAS.contains(&schema) {
        if bounds.n > 0 {
            return Err(invalid_custom(
                "custom bounds sent with an exponential schema",
            ));
        }
    } else {
        return Err(HistError::Invalid(
            Reason::InvalidHistogramSchema,
            "schema is neither exponential (-4 to 8) nor custom buckets (-53)",
        ));
    }
    neg.check()?;
    pos.check()?;
    if !is_float {
        let count = count_int.unwrap_or(0);
        let buckets = neg.total.saturating_add(pos.total).saturating_add(zero_int);
        if sum.is_nan() {
            if buckets > count {
                return Err(invalid("count is smaller than the bucket total"));
            }
        } else if buckets != count {
            return Err(invalid("count does not equal the bucket total"));
        }
    }
    Ok(ts)
}

/// Prometheus' custom-buckets rules (`checkHistogramCustomBounds` and the NHCB case of
/// `Validate`).
fn check_custom(
    neg: &Side,
    pos: &Side,
    bounds: &Bounds,
    zero_int: u64,
    zero_float: f64,
    zero_threshold: f64,
) -> Result<(), HistError> {
    if bounds.not_finite {
        return Err(invalid_custom(
            "custom bounds must be finite (the +Inf bucket is implied)",
        ));
    }
    if bounds.not_increasing {
        return Err(invalid_custom("custom bounds are not strictly increasing"));
    }
    if pos.first_negative_offset || pos.later_negative_offset {
        return Err(invalid_custom("span with negative offset"));
    }
    if pos.span_len != pos.buckets {
        return Err(invalid_custom(
            "span lengths do not match the number of buckets",
        ));
    }
    if pos.span_extent > 0 && (bounds.n as i64).saturating_add(1) < pos.span_extent {
        return Err(invalid_custom("fewer custom bounds than the spans cover"));
    }
    if zero_int != 0 || zero_float != 0.0 {
        return Err(invalid_custom("a zero bucket count with custom buckets"));
    }
    if zero_threshold != 0.0 {
        return Err(invalid_custom("a zero threshold with custom buckets"));
    }
    if !neg.is_empty() {
        return Err(invalid_custom(
            "negative spans or buckets with custom buckets",
        ));
    }
    Ok(())
}
