//! The OTLP metrics request rwgate reads (opentelemetry-proto `collector/metrics/v1`,
//! `metrics/v1`, `common/v1`, `resource/v1`), with the fields the translation uses.
//!
//! Strings and bytes borrow from the request body where they can: the protobuf decoder
//! ([`super::pb`]) borrows every one, OTLP/JSON (serde, `otlp/json.rs`) owns them.
//! Unknown fields and keys are skipped, as protobuf and the OTLP/JSON rules ask.

use std::borrow::Cow;

use serde::Deserialize;

use super::json;

/// `ExportMetricsServiceRequest`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExportMetricsServiceRequest<'a> {
    /// One entry per resource (process, pod, ...).
    pub resource_metrics: Vec<ResourceMetrics<'a>>,
}

/// `ResourceMetrics`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceMetrics<'a> {
    /// The resource; absent means no attributes.
    pub resource: Option<Resource<'a>>,
    /// Metrics per instrumentation scope.
    pub scope_metrics: Vec<ScopeMetrics<'a>>,
}

/// `Resource`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Resource<'a> {
    /// Resource attributes (`service.name`, `k8s.pod.name`, ...).
    pub attributes: Vec<KeyValue<'a>>,
}

/// `ScopeMetrics`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ScopeMetrics<'a> {
    /// The metrics.
    pub metrics: Vec<Metric<'a>>,
}

/// `Metric`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(from = "json::MetricJson")]
pub struct Metric<'a> {
    /// Name, e.g. `http.server.request.duration`.
    pub name: Cow<'a, str>,
    /// UCUM unit, e.g. `s`, `By`, `1`, `{request}`.
    pub unit: Cow<'a, str>,
    /// The points, by kind.
    pub data: Option<Data<'a>>,
}

/// `Metric.data`.
#[derive(Debug, Clone, PartialEq)]
pub enum Data<'a> {
    /// Gauge.
    Gauge(Gauge<'a>),
    /// Sum.
    Sum(Sum<'a>),
    /// Explicit-bucket histogram.
    Histogram(Histogram<'a>),
    /// Exponential histogram.
    ExponentialHistogram(ExponentialHistogram<'a>),
    /// Summary.
    Summary(Summary<'a>),
}

/// `AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA`.
pub const DELTA: i32 = 1;
/// `AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE`.
pub const CUMULATIVE: i32 = 2;
/// `DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK`.
pub const NO_RECORDED_VALUE: u32 = 1;

/// `Gauge`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Gauge<'a> {
    /// Points.
    pub data_points: Vec<NumberDataPoint<'a>>,
}

/// `Sum`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Sum<'a> {
    /// Points.
    pub data_points: Vec<NumberDataPoint<'a>>,
    /// [`DELTA`] or [`CUMULATIVE`].
    #[serde(deserialize_with = "json::temporality")]
    pub aggregation_temporality: i32,
    /// A monotonic cumulative sum is a counter.
    pub is_monotonic: bool,
}

/// `Histogram`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Histogram<'a> {
    /// Points.
    pub data_points: Vec<HistogramDataPoint<'a>>,
    /// [`DELTA`] or [`CUMULATIVE`].
    #[serde(deserialize_with = "json::temporality")]
    pub aggregation_temporality: i32,
}

/// `ExponentialHistogram`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExponentialHistogram<'a> {
    /// Points.
    pub data_points: Vec<ExponentialHistogramDataPoint<'a>>,
    /// [`DELTA`] or [`CUMULATIVE`].
    #[serde(deserialize_with = "json::temporality")]
    pub aggregation_temporality: i32,
}

/// `Summary`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Summary<'a> {
    /// Points.
    pub data_points: Vec<SummaryDataPoint<'a>>,
}

/// `NumberDataPoint`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NumberDataPoint<'a> {
    /// Point attributes, when decoded (OTLP/JSON, or protobuf fields not in one run).
    pub attributes: Vec<KeyValue<'a>>,
    /// Point attributes as their undecoded protobuf fields (`attributes`, field 7), one
    /// run of bytes; empty when `attributes` holds them. [`super::pb::attributes`]
    /// decodes them.
    pub raw_attributes: &'a [u8],
    /// Unix nanoseconds.
    pub time_unix_nano: u64,
    /// The value.
    pub value: Option<NumberValue>,
    /// Exemplars.
    pub exemplars: Vec<Exemplar<'a>>,
    /// [`NO_RECORDED_VALUE`] and reserved bits.
    pub flags: u32,
}

impl<'de, 'a> Deserialize<'de> for NumberDataPoint<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json::NumberDataPointJson::deserialize(d).map(Into::into)
    }
}

/// `NumberDataPoint.value` and `Exemplar.value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumberValue {
    /// A double.
    AsDouble(f64),
    /// An integer.
    AsInt(i64),
}

impl NumberValue {
    /// The value as Prometheus stores it.
    pub fn as_f64(self) -> f64 {
        match self {
            NumberValue::AsDouble(v) => v,
            NumberValue::AsInt(v) => v as f64,
        }
    }
}

/// `HistogramDataPoint`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HistogramDataPoint<'a> {
    /// Point attributes.
    pub attributes: Vec<KeyValue<'a>>,
    /// Unix nanoseconds.
    #[serde(deserialize_with = "json::u64")]
    pub time_unix_nano: u64,
    /// Observations.
    #[serde(deserialize_with = "json::u64")]
    pub count: u64,
    /// Sum of observations, when recorded.
    #[serde(deserialize_with = "json::opt_f64")]
    pub sum: Option<f64>,
    /// Observations per bucket: one more than `explicit_bounds`.
    #[serde(deserialize_with = "json::u64s")]
    pub bucket_counts: Vec<u64>,
    /// Upper bounds of all buckets but the last.
    #[serde(deserialize_with = "json::f64s")]
    pub explicit_bounds: Vec<f64>,
    /// Exemplars.
    pub exemplars: Vec<Exemplar<'a>>,
    /// [`NO_RECORDED_VALUE`] and reserved bits.
    pub flags: u32,
}

/// `ExponentialHistogramDataPoint`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExponentialHistogramDataPoint<'a> {
    /// Point attributes.
    pub attributes: Vec<KeyValue<'a>>,
    /// Unix nanoseconds.
    #[serde(deserialize_with = "json::u64")]
    pub time_unix_nano: u64,
    /// Observations.
    #[serde(deserialize_with = "json::u64")]
    pub count: u64,
    /// Sum of observations, when recorded.
    #[serde(deserialize_with = "json::opt_f64")]
    pub sum: Option<f64>,
    /// Resolution: bucket bounds are powers of 2^(2^-scale).
    pub scale: i32,
    /// Observations in the zero bucket.
    #[serde(deserialize_with = "json::u64")]
    pub zero_count: u64,
    /// Buckets above zero.
    pub positive: Option<Buckets>,
    /// Buckets below zero.
    pub negative: Option<Buckets>,
    /// [`NO_RECORDED_VALUE`] and reserved bits.
    pub flags: u32,
    /// Exemplars.
    pub exemplars: Vec<Exemplar<'a>>,
}

/// `ExponentialHistogramDataPoint.Buckets`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Buckets {
    /// Index of the first bucket.
    pub offset: i32,
    /// Observations per bucket.
    #[serde(deserialize_with = "json::u64s")]
    pub bucket_counts: Vec<u64>,
}

/// `SummaryDataPoint`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SummaryDataPoint<'a> {
    /// Point attributes.
    pub attributes: Vec<KeyValue<'a>>,
    /// Unix nanoseconds.
    #[serde(deserialize_with = "json::u64")]
    pub time_unix_nano: u64,
    /// Observations.
    #[serde(deserialize_with = "json::u64")]
    pub count: u64,
    /// Sum of observations.
    #[serde(deserialize_with = "json::f64")]
    pub sum: f64,
    /// Quantiles.
    pub quantile_values: Vec<ValueAtQuantile>,
    /// [`NO_RECORDED_VALUE`] and reserved bits.
    pub flags: u32,
}

/// `SummaryDataPoint.ValueAtQuantile`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ValueAtQuantile {
    /// The quantile, 0 to 1.
    #[serde(deserialize_with = "json::f64")]
    pub quantile: f64,
    /// Its value.
    #[serde(deserialize_with = "json::f64")]
    pub value: f64,
}

/// `Exemplar`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(from = "json::ExemplarJson")]
pub struct Exemplar<'a> {
    /// Attributes the aggregation dropped.
    pub filtered_attributes: Vec<KeyValue<'a>>,
    /// Unix nanoseconds.
    pub time_unix_nano: u64,
    /// The value.
    pub value: Option<NumberValue>,
    /// 8 bytes (hex in JSON).
    pub span_id: Cow<'a, [u8]>,
    /// 16 bytes (hex in JSON).
    pub trace_id: Cow<'a, [u8]>,
}

/// `KeyValue`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KeyValue<'a> {
    /// Attribute name.
    pub key: Cow<'a, str>,
    /// Attribute value.
    pub value: Option<AnyValue<'a>>,
}

/// `AnyValue`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(from = "json::AnyValueJson")]
pub struct AnyValue<'a> {
    /// The value, by type.
    pub value: Option<Value<'a>>,
}

/// `AnyValue.value`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// A string.
    StringValue(Cow<'a, str>),
    /// A bool.
    BoolValue(bool),
    /// An integer.
    IntValue(i64),
    /// A double.
    DoubleValue(f64),
    /// An array.
    ArrayValue(Vec<AnyValue<'a>>),
    /// A map.
    KvlistValue(Vec<KeyValue<'a>>),
    /// Bytes (base64 in JSON).
    BytesValue(Cow<'a, [u8]>),
}
