//! A protobuf decoder for [`super::model`] that borrows every string and byte field
//! from the body. prost's owned messages cost an allocation per attribute key and value
//! (about 20 per edge-cluster data point) and were 2.9 µs per point, most of OTLP
//! ingest (docs/benchmarks.md).
//!
//! Unknown fields of any wire type are skipped; a known field with another wire type
//! than the .proto gives, truncation, an over-long varint, invalid UTF-8 in a string,
//! or `AnyValue` nesting deeper than [`MAX_DEPTH`] are errors. Repeated scalars are
//! read packed or not, as protobuf requires of parsers.

use std::borrow::Cow;

use super::model::*;

/// Deepest nesting of array and map attribute values.
pub const MAX_DEPTH: usize = 32;

/// Why a body is not a valid request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PbError {
    /// The body ends inside a field.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A varint over ten bytes.
    #[error("varint too long")]
    VarintTooLong,
    /// A known field with an unexpected wire type.
    #[error("field {field} of {message} has wire type {wire}")]
    WireType {
        /// The message.
        message: &'static str,
        /// Its field number.
        field: u32,
        /// The wire type found.
        wire: u8,
    },
    /// A wire type protobuf does not define (or groups, which proto3 has none of).
    #[error("unsupported wire type {0}")]
    BadWireType(u8),
    /// A string that is not UTF-8.
    #[error("invalid UTF-8 in a string of {0}")]
    Utf8(&'static str),
    /// Attribute values nested too deep.
    #[error("attribute values nested deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// One field's value.
#[derive(Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32,
}

impl Wire<'_> {
    fn kind(&self) -> u8 {
        match self {
            Wire::Varint(_) => 0,
            Wire::Fixed64(_) => 1,
            Wire::Len(_) => 2,
            Wire::Fixed32 => 5,
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    msg: &'static str,
}

#[inline]
fn varint(buf: &mut &[u8], what: &'static str) -> Result<u64, PbError> {
    if let Some((&b, rest)) = buf.split_first()
        && b < 0x80
    {
        *buf = rest;
        return Ok(u64::from(b));
    }
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first().ok_or(PbError::Truncated(what))?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(PbError::VarintTooLong)
}

fn take<'a>(buf: &mut &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8], PbError> {
    if buf.len() < n {
        return Err(PbError::Truncated(what));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

fn fixed64(buf: &mut &[u8], what: &'static str) -> Result<u64, PbError> {
    let b = take(buf, 8, what)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_le_bytes(a))
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], msg: &'static str) -> Self {
        Reader { buf, msg }
    }

    #[inline]
    fn next(&mut self) -> Result<Option<(u32, Wire<'a>)>, PbError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = varint(&mut self.buf, self.msg)?;
        let field = u32::try_from(key >> 3).unwrap_or(u32::MAX);
        let wire = match key & 7 {
            0 => Wire::Varint(varint(&mut self.buf, self.msg)?),
            1 => Wire::Fixed64(fixed64(&mut self.buf, self.msg)?),
            2 => {
                let n = varint(&mut self.buf, self.msg)?;
                let n = usize::try_from(n).map_err(|_| PbError::Truncated(self.msg))?;
                Wire::Len(take(&mut self.buf, n, self.msg)?)
            }
            5 => {
                take(&mut self.buf, 4, self.msg)?;
                Wire::Fixed32
            }
            w => return Err(PbError::BadWireType(w as u8)),
        };
        Ok(Some((field, wire)))
    }

    fn wrong(&self, field: u32, w: Wire<'_>) -> PbError {
        PbError::WireType {
            message: self.msg,
            field,
            wire: w.kind(),
        }
    }

    fn bytes(&self, field: u32, w: Wire<'a>) -> Result<&'a [u8], PbError> {
        match w {
            Wire::Len(b) => Ok(b),
            w => Err(self.wrong(field, w)),
        }
    }

    fn str(&self, field: u32, w: Wire<'a>) -> Result<Cow<'a, str>, PbError> {
        let b = self.bytes(field, w)?;
        std::str::from_utf8(b)
            .map(Cow::Borrowed)
            .map_err(|_| PbError::Utf8(self.msg))
    }

    fn varint(&self, field: u32, w: Wire<'_>) -> Result<u64, PbError> {
        match w {
            Wire::Varint(v) => Ok(v),
            w => Err(self.wrong(field, w)),
        }
    }

    fn fixed64(&self, field: u32, w: Wire<'_>) -> Result<u64, PbError> {
        match w {
            Wire::Fixed64(v) => Ok(v),
            w => Err(self.wrong(field, w)),
        }
    }

    fn double(&self, field: u32, w: Wire<'_>) -> Result<f64, PbError> {
        self.fixed64(field, w).map(f64::from_bits)
    }

    fn sint32(&self, field: u32, w: Wire<'_>) -> Result<i32, PbError> {
        let v = self.varint(field, w)? as u32;
        Ok((v >> 1) as i32 ^ -((v & 1) as i32))
    }

    /// A `repeated fixed64` / `repeated double` element or packed run, appended.
    fn fixed64s(&self, field: u32, w: Wire<'_>, out: &mut Vec<u64>) -> Result<(), PbError> {
        match w {
            Wire::Fixed64(v) => out.push(v),
            Wire::Len(mut b) => {
                if b.len() % 8 != 0 {
                    return Err(PbError::Truncated(self.msg));
                }
                out.reserve(b.len() / 8);
                while !b.is_empty() {
                    out.push(fixed64(&mut b, self.msg)?);
                }
            }
            w => return Err(self.wrong(field, w)),
        }
        Ok(())
    }

    /// A `repeated uint64` element or packed run, appended.
    fn varints(&self, field: u32, w: Wire<'_>, out: &mut Vec<u64>) -> Result<(), PbError> {
        match w {
            Wire::Varint(v) => out.push(v),
            Wire::Len(mut b) => {
                while !b.is_empty() {
                    out.push(varint(&mut b, self.msg)?);
                }
            }
            w => return Err(self.wrong(field, w)),
        }
        Ok(())
    }
}

/// Decodes an `ExportMetricsServiceRequest`.
pub fn decode(body: &[u8]) -> Result<ExportMetricsServiceRequest<'_>, PbError> {
    let mut r = Reader::new(body, "ExportMetricsServiceRequest");
    let mut out = ExportMetricsServiceRequest::default();
    while let Some((f, w)) = r.next()? {
        if f == 1 {
            out.resource_metrics.push(resource_metrics(r.bytes(f, w)?)?);
        }
    }
    Ok(out)
}

fn resource_metrics(b: &[u8]) -> Result<ResourceMetrics<'_>, PbError> {
    let mut r = Reader::new(b, "ResourceMetrics");
    let mut out = ResourceMetrics::default();
    while let Some((f, w)) = r.next()? {
        match f {
            1 => {
                let mut attributes = Vec::new();
                let mut rr = Reader::new(r.bytes(f, w)?, "Resource");
                while let Some((f, w)) = rr.next()? {
                    if f == 1 {
                        attributes.push(key_value(rr.bytes(f, w)?, 0)?);
                    }
                }
                out.resource = Some(Resource { attributes });
            }
            2 => {
                let mut metrics = Vec::new();
                let mut rr = Reader::new(r.bytes(f, w)?, "ScopeMetrics");
                while let Some((f, w)) = rr.next()? {
                    if f == 2 {
                        metrics.push(metric(rr.bytes(f, w)?)?);
                    }
                }
                out.scope_metrics.push(ScopeMetrics { metrics });
            }
            _ => {}
        }
    }
    Ok(out)
}

fn metric(b: &[u8]) -> Result<Metric<'_>, PbError> {
    let mut r = Reader::new(b, "Metric");
    let mut out = Metric::default();
    while let Some((f, w)) = r.next()? {
        match f {
            1 => out.name = r.str(f, w)?,
            3 => out.unit = r.str(f, w)?,
            5 => {
                let mut g = Gauge::default();
                points(
                    r.bytes(f, w)?,
                    "Gauge",
                    &mut g.data_points,
                    number_point,
                    |_, _, _| Ok(()),
                )?;
                out.data = Some(Data::Gauge(g));
            }
            7 => {
                let mut s = Sum::default();
                let (mut temporality, mut monotonic) = (0, false);
                points(
                    r.bytes(f, w)?,
                    "Sum",
                    &mut s.data_points,
                    number_point,
                    |r, f, w| {
                        match f {
                            2 => temporality = r.varint(f, w)? as i32,
                            3 => monotonic = r.varint(f, w)? != 0,
                            _ => {}
                        }
                        Ok(())
                    },
                )?;
                s.aggregation_temporality = temporality;
                s.is_monotonic = monotonic;
                out.data = Some(Data::Sum(s));
            }
            9 => {
                let mut h = Histogram::default();
                h.aggregation_temporality = temporal_points(
                    r.bytes(f, w)?,
                    "Histogram",
                    &mut h.data_points,
                    histogram_point,
                )?;
                out.data = Some(Data::Histogram(h));
            }
            10 => {
                let mut h = ExponentialHistogram::default();
                h.aggregation_temporality = temporal_points(
                    r.bytes(f, w)?,
                    "ExponentialHistogram",
                    &mut h.data_points,
                    exponential_point,
                )?;
                out.data = Some(Data::ExponentialHistogram(h));
            }
            11 => {
                let mut s = Summary::default();
                points(
                    r.bytes(f, w)?,
                    "Summary",
                    &mut s.data_points,
                    summary_point,
                    |_, _, _| Ok(()),
                )?;
                out.data = Some(Data::Summary(s));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A histogram's points and its aggregation temporality (field 2).
fn temporal_points<'a, P>(
    b: &'a [u8],
    msg: &'static str,
    out: &mut Vec<P>,
    point: fn(&'a [u8]) -> Result<P, PbError>,
) -> Result<i32, PbError> {
    let mut temporality = 0;
    points(b, msg, out, point, |r, f, w| {
        if f == 2 {
            temporality = r.varint(f, w)? as i32;
        }
        Ok(())
    })?;
    Ok(temporality)
}

/// A gauge, sum, histogram or summary: its points (field 1, decoded by `point`) and its
/// other fields (given to `other`).
fn points<'a, P>(
    b: &'a [u8],
    msg: &'static str,
    out: &mut Vec<P>,
    point: fn(&'a [u8]) -> Result<P, PbError>,
    mut other: impl FnMut(&Reader<'a>, u32, Wire<'a>) -> Result<(), PbError>,
) -> Result<(), PbError> {
    let mut r = Reader::new(b, msg);
    while let Some((f, w)) = r.next()? {
        if f == 1 {
            out.push(point(r.bytes(f, w)?)?);
        } else {
            other(&r, f, w)?;
        }
    }
    Ok(())
}

/// A number point's attributes are kept as their raw fields when those are one run of
/// bytes (as every encoder writes them): the translation remembers what such a run
/// translates to and decodes it ([`attributes`]) only when it has not seen it.
fn number_point(b: &[u8]) -> Result<NumberDataPoint<'_>, PbError> {
    let mut r = Reader::new(b, "NumberDataPoint");
    let mut out = NumberDataPoint::default();
    // The run of attribute fields so far, as offsets in `b`.
    let mut run = 0..0;
    let mut scattered = false;
    loop {
        let start = b.len() - r.buf.len();
        let Some((f, w)) = r.next()? else { break };
        match f {
            3 => out.time_unix_nano = r.fixed64(f, w)?,
            4 => out.value = Some(NumberValue::AsDouble(r.double(f, w)?)),
            6 => out.value = Some(NumberValue::AsInt(r.fixed64(f, w)? as i64)),
            5 => out.exemplars.push(exemplar(r.bytes(f, w)?)?),
            7 => {
                r.bytes(f, w)?;
                let end = b.len() - r.buf.len();
                if run.is_empty() {
                    run = start..end;
                } else if run.end == start {
                    run.end = end;
                } else {
                    scattered = true;
                }
            }
            8 => out.flags = r.varint(f, w)? as u32,
            _ => {}
        }
    }
    if scattered {
        // Attribute fields with others between them: decode them where they are.
        let mut r = Reader::new(b, "NumberDataPoint");
        while let Some((f, w)) = r.next()? {
            if f == 7 {
                out.attributes.push(key_value(r.bytes(f, w)?, 0)?);
            }
        }
    } else {
        out.raw_attributes = &b[run];
    }
    Ok(out)
}

/// Decodes a run of `attributes` fields (`NumberDataPoint.raw_attributes`).
pub fn attributes(raw: &[u8]) -> Result<Vec<KeyValue<'_>>, PbError> {
    let mut r = Reader::new(raw, "NumberDataPoint");
    let mut out = Vec::with_capacity(8);
    while let Some((f, w)) = r.next()? {
        if f == 7 {
            out.push(key_value(r.bytes(f, w)?, 0)?);
        }
    }
    Ok(out)
}

fn histogram_point(b: &[u8]) -> Result<HistogramDataPoint<'_>, PbError> {
    let mut r = Reader::new(b, "HistogramDataPoint");
    let mut out = HistogramDataPoint::default();
    let mut bounds = Vec::new();
    while let Some((f, w)) = r.next()? {
        match f {
            3 => out.time_unix_nano = r.fixed64(f, w)?,
            4 => out.count = r.fixed64(f, w)?,
            5 => out.sum = Some(r.double(f, w)?),
            6 => r.fixed64s(f, w, &mut out.bucket_counts)?,
            7 => r.fixed64s(f, w, &mut bounds)?,
            8 => out.exemplars.push(exemplar(r.bytes(f, w)?)?),
            9 => out.attributes.push(key_value(r.bytes(f, w)?, 0)?),
            10 => out.flags = r.varint(f, w)? as u32,
            _ => {}
        }
    }
    out.explicit_bounds = bounds.into_iter().map(f64::from_bits).collect();
    Ok(out)
}

fn exponential_point(b: &[u8]) -> Result<ExponentialHistogramDataPoint<'_>, PbError> {
    let mut r = Reader::new(b, "ExponentialHistogramDataPoint");
    let mut out = ExponentialHistogramDataPoint::default();
    while let Some((f, w)) = r.next()? {
        match f {
            1 => out.attributes.push(key_value(r.bytes(f, w)?, 0)?),
            3 => out.time_unix_nano = r.fixed64(f, w)?,
            4 => out.count = r.fixed64(f, w)?,
            5 => out.sum = Some(r.double(f, w)?),
            6 => out.scale = r.sint32(f, w)?,
            7 => out.zero_count = r.fixed64(f, w)?,
            8 => out.positive = Some(buckets(r.bytes(f, w)?)?),
            9 => out.negative = Some(buckets(r.bytes(f, w)?)?),
            10 => out.flags = r.varint(f, w)? as u32,
            11 => out.exemplars.push(exemplar(r.bytes(f, w)?)?),
            _ => {}
        }
    }
    Ok(out)
}

fn buckets(b: &[u8]) -> Result<Buckets, PbError> {
    let mut r = Reader::new(b, "Buckets");
    let mut out = Buckets::default();
    while let Some((f, w)) = r.next()? {
        match f {
            1 => out.offset = r.sint32(f, w)?,
            2 => r.varints(f, w, &mut out.bucket_counts)?,
            _ => {}
        }
    }
    Ok(out)
}

fn summary_point(b: &[u8]) -> Result<SummaryDataPoint<'_>, PbError> {
    let mut r = Reader::new(b, "SummaryDataPoint");
    let mut out = SummaryDataPoint::default();
    while let Some((f, w)) = r.next()? {
        match f {
            3 => out.time_unix_nano = r.fixed64(f, w)?,
            4 => out.count = r.fixed64(f, w)?,
            5 => out.sum = r.double(f, w)?,
            6 => {
                let mut q = ValueAtQuantile::default();
                let mut rr = Reader::new(r.bytes(f, w)?, "ValueAtQuantile");
                while let Some((f, w)) = rr.next()? {
                    match f {
                        1 => q.quantile = rr.double(f, w)?,
                        2 => q.value = rr.double(f, w)?,
                        _ => {}
                    }
                }
                out.quantile_values.push(q);
            }
            7 => out.attributes.push(key_value(r.bytes(f, w)?, 0)?),
            8 => out.flags = r.varint(f, w)? as u32,
            _ => {}
        }
    }
    Ok(out)
}

fn exemplar(b: &[u8]) -> Result<Exemplar<'_>, PbError> {
    let mut r = Reader::new(b, "Exemplar");
    let mut out = Exemplar::default();
    while let Some((f, w)) = r.next()? {
        match f {
            2 => out.time_unix_nano = r.fixed64(f, w)?,
            3 => out.value = Some(NumberValue::AsDouble(r.double(f, w)?)),
            6 => out.value = Some(NumberValue::AsInt(r.fixed64(f, w)? as i64)),
            4 => out.span_id = Cow::Borrowed(r.bytes(f, w)?),
            5 => out.trace_id = Cow::Borrowed(r.bytes(f, w)?),
            7 => out.filtered_attributes.push(key_value(r.bytes(f, w)?, 0)?),
            _ => {}
        }
    }
    Ok(out)
}

/// The usual shape of a string attribute, read without the general walk: key (field
/// 1), then value (field 2) holding only `string_value` (field 1), all shorter than
/// 128 bytes.
fn string_key_value(b: &[u8]) -> Option<KeyValue<'_>> {
    // The framing bytes are ASCII, so one UTF-8 check covers key and value, and the
    // string can be cut at them.
    let [0x0a, klen, ..] = *b else {
        return None;
    };
    let klen = usize::from(klen);
    let at = 2 + klen;
    let [0x12, vlen, 0x0a, slen] = *b.get(at..at + 4)? else {
        return None;
    };
    let slen = usize::from(slen);
    if klen >= 0x80 || vlen >= 0x80 || usize::from(vlen) != slen + 2 || b.len() != at + 4 + slen {
        return None;
    }
    let all = std::str::from_utf8(b).ok()?;
    Some(KeyValue {
        key: Cow::Borrowed(all.get(2..at)?),
        value: Some(AnyValue {
            value: Some(Value::StringValue(Cow::Borrowed(all.get(at + 4..)?))),
        }),
    })
}

fn key_value(b: &[u8], depth: usize) -> Result<KeyValue<'_>, PbError> {
    if let Some(kv) = string_key_value(b) {
        return Ok(kv);
    }
    let mut r = Reader::new(b, "KeyValue");
    let mut out = KeyValue::default();
    while let Some((f, w)) = r.next()? {
        match f {
            1 => out.key = r.str(f, w)?,
            2 => out.value = Some(any_value(r.bytes(f, w)?, depth)?),
            _ => {}
        }
    }
    Ok(out)
}

fn any_value(b: &[u8], depth: usize) -> Result<AnyValue<'_>, PbError> {
    if depth > MAX_DEPTH {
        return Err(PbError::TooDeep);
    }
    let mut r = Reader::new(b, "AnyValue");
    let mut value = None;
    while let Some((f, w)) = r.next()? {
        value = Some(match f {
            1 => Value::StringValue(r.str(f, w)?),
            2 => Value::BoolValue(r.varint(f, w)? != 0),
            3 => Value::IntValue(r.varint(f, w)? as i64),
            4 => Value::DoubleValue(r.double(f, w)?),
            5 => {
                let mut items = Vec::new();
                let mut rr = Reader::new(r.bytes(f, w)?, "ArrayValue");
                while let Some((f, w)) = rr.next()? {
                    if f == 1 {
                        items.push(any_value(rr.bytes(f, w)?, depth + 1)?);
                    }
                }
                Value::ArrayValue(items)
            }
            6 => {
                let mut items = Vec::new();
                let mut rr = Reader::new(r.bytes(f, w)?, "KeyValueList");
                while let Some((f, w)) = rr.next()? {
                    if f == 1 {
                        items.push(key_value(rr.bytes(f, w)?, depth + 1)?);
                    }
                }
                Value::KvlistValue(items)
            }
            7 => Value::BytesValue(Cow::Borrowed(r.bytes(f, w)?)),
            _ => continue,
        });
    }
    Ok(AnyValue { value })
}
