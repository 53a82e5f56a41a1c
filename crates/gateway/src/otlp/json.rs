//! OTLP/JSON's value encodings, as the protobuf JSON mapping and the OTLP specification
//! fix them: 64-bit integers as numbers or decimal strings, doubles as numbers or
//! `"NaN"` / `"Infinity"` / `"-Infinity"`, trace and span ids as hex (not base64),
//! other bytes as base64. `null` is the field's default.

use std::borrow::Cow;

use base64::Engine as _;
use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::model::{
    AnyValue, Data, Exemplar, ExponentialHistogram, Gauge, Histogram, KeyValue, Metric,
    NumberDataPoint, NumberValue, Sum, Summary, Value,
};

#[derive(Deserialize)]
#[serde(untagged)]
enum Num<'a> {
    U(u64),
    I(i64),
    F(f64),
    S(&'a str),
    Owned(String),
}

fn parse<T: std::str::FromStr, E: de::Error>(s: &str, what: &str) -> Result<T, E> {
    s.trim()
        .parse()
        .map_err(|_| E::custom(format!("{what} expected, got a string that is not one")))
}

/// A `uint64` / `fixed64`.
pub(super) fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Option::<Num<'_>>::deserialize(d)? {
        None => Ok(0),
        Some(Num::U(v)) => Ok(v),
        Some(Num::I(_) | Num::F(_)) => Err(de::Error::custom("unsigned integer expected")),
        Some(Num::S(s)) => parse(s, "unsigned integer"),
        Some(Num::Owned(s)) => parse(&s, "unsigned integer"),
    }
}

/// An `int64` / `sfixed64`.
pub(super) fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Option::<Num<'_>>::deserialize(d)? {
        None => Ok(0),
        Some(Num::U(v)) => i64::try_from(v).map_err(|_| de::Error::custom("int64 out of range")),
        Some(Num::I(v)) => Ok(v),
        Some(Num::F(_)) => Err(de::Error::custom("integer expected")),
        Some(Num::S(s)) => parse(s, "integer"),
        Some(Num::Owned(s)) => parse(&s, "integer"),
    }
}

fn float_str<E: de::Error>(s: &str) -> Result<f64, E> {
    match s {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        s => parse(s, "number"),
    }
}

fn float(n: Num<'_>) -> Result<f64, String> {
    match n {
        Num::U(v) => Ok(v as f64),
        Num::I(v) => Ok(v as f64),
        Num::F(v) => Ok(v),
        Num::S(s) => float_str::<de::value::Error>(s).map_err(|e| e.to_string()),
        Num::Owned(s) => float_str::<de::value::Error>(&s).map_err(|e| e.to_string()),
    }
}

/// A `double`.
pub(super) fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Option::<Num<'_>>::deserialize(d)?
        .map_or(Ok(0.0), float)
        .map_err(de::Error::custom)
}

/// `AggregationTemporality`: the integer the OTLP/JSON rules ask senders for, or the
/// enum name the protobuf JSON mapping writes (protobuf's own JSON printers do).
pub(super) fn temporality<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum T<'a> {
        I(i32),
        S(&'a str),
        Owned(String),
    }
    let name = |s: &str| match s {
        "AGGREGATION_TEMPORALITY_UNSPECIFIED" => Ok(0),
        "AGGREGATION_TEMPORALITY_DELTA" => Ok(super::model::DELTA),
        "AGGREGATION_TEMPORALITY_CUMULATIVE" => Ok(super::model::CUMULATIVE),
        _ => Err(de::Error::custom("unknown aggregationTemporality")),
    };
    match Option::<T<'_>>::deserialize(d)? {
        None => Ok(0),
        Some(T::I(v)) => Ok(v),
        Some(T::S(s)) => name(s),
        Some(T::Owned(s)) => name(&s),
    }
}

/// An `int64` field of a oneof: absent stays absent.
fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    i64(d).map(Some)
}

/// An `optional double`.
pub(super) fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Option::<Num<'_>>::deserialize(d)?
        .map(float)
        .transpose()
        .map_err(de::Error::custom)
}

/// A `repeated fixed64` / `repeated uint64`.
pub(super) fn u64s<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    #[derive(Deserialize)]
    struct U(#[serde(deserialize_with = "u64")] u64);
    let v = Option::<Vec<U>>::deserialize(d)?.unwrap_or_default();
    Ok(v.into_iter().map(|U(x)| x).collect())
}

/// A `repeated double`.
pub(super) fn f64s<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    #[derive(Deserialize)]
    struct F(#[serde(deserialize_with = "f64")] f64);
    let v = Option::<Vec<F>>::deserialize(d)?.unwrap_or_default();
    Ok(v.into_iter().map(|F(x)| x).collect())
}

/// A trace or span id: hex, as the OTLP specification requires for OTLP/JSON.
pub(super) fn hex<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let Some(s) = Option::<std::borrow::Cow<'_, str>>::deserialize(d)? else {
        return Ok(Vec::new());
    };
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return Err(de::Error::custom(
            "trace or span id: odd number of hex digits",
        ));
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(de::Error::custom("trace or span id: not hex")),
    };
    b.chunks_exact(2)
        .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// A `bytes` attribute value: base64, as the protobuf JSON mapping has it.
fn opt_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    let s = Option::<std::borrow::Cow<'_, str>>::deserialize(d)?.unwrap_or_default();
    base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map(Some)
        .map_err(|_| de::Error::custom("bytes value: not base64"))
}

// Messages with a oneof: every member is an optional key of its own, so a malformed
// member is an error (serde's `flatten` into an `Option` would drop it silently).

/// `Metric` in OTLP/JSON.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct MetricJson<'a> {
    name: Cow<'a, str>,
    unit: Cow<'a, str>,
    gauge: Option<Gauge<'a>>,
    sum: Option<Sum<'a>>,
    histogram: Option<Histogram<'a>>,
    exponential_histogram: Option<ExponentialHistogram<'a>>,
    summary: Option<Summary<'a>>,
}

impl<'a> From<MetricJson<'a>> for Metric<'a> {
    fn from(m: MetricJson<'a>) -> Metric<'a> {
        let data = (m.gauge.map(Data::Gauge))
            .or(m.sum.map(Data::Sum))
            .or(m.histogram.map(Data::Histogram))
            .or(m.exponential_histogram.map(Data::ExponentialHistogram))
            .or(m.summary.map(Data::Summary));
        Metric {
            name: m.name,
            unit: m.unit,
            data,
        }
    }
}

fn number(as_double: Option<f64>, as_int: Option<i64>) -> Option<NumberValue> {
    (as_double.map(NumberValue::AsDouble)).or(as_int.map(NumberValue::AsInt))
}

/// `NumberDataPoint` in OTLP/JSON.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct NumberDataPointJson<'a> {
    attributes: Vec<KeyValue<'a>>,
    #[serde(deserialize_with = "u64")]
    time_unix_nano: u64,
    #[serde(deserialize_with = "opt_f64")]
    as_double: Option<f64>,
    #[serde(deserialize_with = "opt_i64")]
    as_int: Option<i64>,
    exemplars: Vec<Exemplar<'a>>,
    flags: u32,
}

impl<'a> From<NumberDataPointJson<'a>> for NumberDataPoint<'a> {
    fn from(p: NumberDataPointJson<'a>) -> NumberDataPoint<'a> {
        NumberDataPoint {
            attributes: p.attributes,
            raw_attributes: &[],
            time_unix_nano: p.time_unix_nano,
            value: number(p.as_double, p.as_int),
            exemplars: p.exemplars,
            flags: p.flags,
        }
    }
}

/// `Exemplar` in OTLP/JSON.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct ExemplarJson<'a> {
    filtered_attributes: Vec<KeyValue<'a>>,
    #[serde(deserialize_with = "u64")]
    time_unix_nano: u64,
    #[serde(deserialize_with = "opt_f64")]
    as_double: Option<f64>,
    #[serde(deserialize_with = "opt_i64")]
    as_int: Option<i64>,
    #[serde(deserialize_with = "hex")]
    span_id: Vec<u8>,
    #[serde(deserialize_with = "hex")]
    trace_id: Vec<u8>,
}

impl<'a> From<ExemplarJson<'a>> for Exemplar<'a> {
    fn from(e: ExemplarJson<'a>) -> Exemplar<'a> {
        Exemplar {
            filtered_attributes: e.filtered_attributes,
            time_unix_nano: e.time_unix_nano,
            value: number(e.as_double, e.as_int),
            span_id: Cow::Owned(e.span_id),
            trace_id: Cow::Owned(e.trace_id),
        }
    }
}

/// `ArrayValue` in OTLP/JSON.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ArrayJson<'a> {
    values: Vec<AnyValue<'a>>,
}

/// `KeyValueList` in OTLP/JSON.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct KvlistJson<'a> {
    values: Vec<KeyValue<'a>>,
}

/// `AnyValue` in OTLP/JSON.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct AnyValueJson<'a> {
    string_value: Option<Cow<'a, str>>,
    bool_value: Option<bool>,
    #[serde(deserialize_with = "opt_i64")]
    int_value: Option<i64>,
    #[serde(deserialize_with = "opt_f64")]
    double_value: Option<f64>,
    array_value: Option<ArrayJson<'a>>,
    kvlist_value: Option<KvlistJson<'a>>,
    #[serde(deserialize_with = "opt_base64")]
    bytes_value: Option<Vec<u8>>,
}

impl<'a> From<AnyValueJson<'a>> for AnyValue<'a> {
    fn from(v: AnyValueJson<'a>) -> AnyValue<'a> {
        let value = (v.string_value.map(Value::StringValue))
            .or(v.bool_value.map(Value::BoolValue))
            .or(v.int_value.map(Value::IntValue))
            .or(v.double_value.map(Value::DoubleValue))
            .or(v.array_value.map(|a| Value::ArrayValue(a.values)))
            .or(v.kvlist_value.map(|m| Value::KvlistValue(m.values)))
            .or(v.bytes_value.map(|b| Value::BytesValue(Cow::Owned(b))));
        AnyValue { value }
    }
}
