//! A compliance case's request, described once: built as the v2 (or v1) request a
//! sender would post, and as the v1 `WriteRequest` an ingestor must then receive.

use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;
use rwgate_proto::{prometheus as v1, v2};
use rwgate_wire::SymbolTable;

/// Prometheus' staleness marker.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
/// Prometheus' ordinary NaN.
pub const NORMAL_NAN: u64 = 0x7ff8_0000_0000_0001;

/// An exemplar: its labels, value and time offset from now.
#[derive(Clone, Debug)]
pub struct Ex {
    pub labels: Vec<(&'static str, &'static str)>,
    pub value: f64,
    pub offset_ms: i64,
}

/// One series of a request.
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub labels: Vec<(&'static str, &'static str)>,
    /// A float sample: value and time offset from now.
    pub sample: Option<(f64, i64)>,
    /// A native histogram (its timestamp is set to now + `offset_ms`).
    pub histogram: Option<(v2::Histogram, i64)>,
    /// Start (created) timestamp offset, for the sample or histogram.
    pub start_offset_ms: Option<i64>,
    pub exemplars: Vec<Ex>,
    pub metadata: Option<(v2::metadata::MetricType, &'static str, &'static str)>,
}

/// A series with one float sample at now.
pub fn sample(labels: &[(&'static str, &'static str)], value: f64) -> Series {
    Series {
        labels: labels.to_vec(),
        sample: Some((value, 0)),
        ..Series::default()
    }
}

/// A series with one native histogram at now.
pub fn hist(labels: &[(&'static str, &'static str)], h: v2::Histogram) -> Series {
    Series {
        labels: labels.to_vec(),
        histogram: Some((h, 0)),
        ..Series::default()
    }
}

impl Series {
    pub fn exemplar(mut self, labels: &[(&'static str, &'static str)], value: f64) -> Self {
        self.exemplars.push(Ex {
            labels: labels.to_vec(),
            value,
            offset_ms: 0,
        });
        self
    }

    pub fn metadata(
        mut self,
        kind: v2::metadata::MetricType,
        help: &'static str,
        unit: &'static str,
    ) -> Self {
        self.metadata = Some((kind, help, unit));
        self
    }

    pub fn offset(mut self, ms: i64) -> Self {
        if let Some(s) = &mut self.sample {
            s.1 = ms;
        }
        if let Some(h) = &mut self.histogram {
            h.1 = ms;
        }
        self
    }

    pub fn started(mut self, ms_ago: i64) -> Self {
        self.start_offset_ms = Some(-ms_ago);
        self
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The v2 request for `series`, labels in the given order, times relative to `now`.
pub fn v2_request(series: &[Series], now: i64) -> Vec<u8> {
    let mut table = SymbolTable::new();
    let timeseries = series
        .iter()
        .map(|s| {
            let labels_refs = table.refs(s.labels.iter().copied());
            let start = s.start_offset_ms.map_or(0, |o| now + o);
            let exemplars = s
                .exemplars
                .iter()
                .map(|e| v2::Exemplar {
                    labels_refs: table.refs(e.labels.iter().copied()),
                    value: e.value,
                    timestamp: now + e.offset_ms,
                })
                .collect();
            let metadata = s.metadata.map(|(kind, help, unit)| v2::Metadata {
                r#type: kind as i32,
                help_ref: table.intern(help),
                unit_ref: table.intern(unit),
            });
            v2::TimeSeries {
                labels_refs,
                samples: s
                    .sample
                    .map(|(value, off)| v2::Sample {
                        value,
                        timestamp: now + off,
                        start_timestamp: start,
                    })
                    .into_iter()
                    .collect(),
                histograms: s
                    .histogram
                    .clone()
                    .map(|(mut h, off)| {
                        h.timestamp = now + off;
                        h.start_timestamp = start;
                        h
                    })
                    .into_iter()
                    .collect(),
                exemplars,
                metadata,
            }
        })
        .collect();
    v2::Request {
        symbols: table.into_symbols(),
        timeseries,
    }
    .encode_to_vec()
}

/// The v1 request for `series` (samples only, as a remote-write 1.0 sender).
pub fn v1_request(series: &[Series], now: i64) -> Vec<u8> {
    v1::WriteRequest {
        timeseries: series
            .iter()
            .map(|s| v1::TimeSeries {
                labels: v1_labels(&s.labels, false),
                samples: v1_samples(s, now),
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    }
    .encode_to_vec()
}

fn v1_samples(s: &Series, now: i64) -> Vec<v1::Sample> {
    s.sample
        .map(|(value, off)| v1::Sample {
            value,
            timestamp: now + off,
        })
        .into_iter()
        .collect()
}

fn v1_labels(labels: &[(&str, &str)], sorted: bool) -> Vec<v1::Label> {
    let mut out: Vec<v1::Label> = labels
        .iter()
        .map(|(n, v)| v1::Label {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect();
    if sorted {
        out.sort_by(|a, b| a.name.cmp(&b.name));
    }
    out
}

/// What an ingestor must receive for `series`: one v1 `TimeSeries` each, labels
/// sorted, samples, histograms (the same message: v1 and v2 share its field numbers)
/// and exemplars as sent. Metadata and start timestamps have no place in v1.
pub fn expected_v1(series: &[Series], now: i64) -> Vec<v1::TimeSeries> {
    series
        .iter()
        .map(|s| v1::TimeSeries {
            labels: v1_labels(&s.labels, true),
            samples: v1_samples(s, now),
            histograms: s
                .histogram
                .clone()
                .map(|(mut h, off)| {
                    h.timestamp = now + off;
                    v1::Histogram::decode(&h.encode_to_vec()[..]).expect("same field numbers")
                })
                .into_iter()
                .collect(),
            exemplars: s
                .exemplars
                .iter()
                .map(|e| v1::Exemplar {
                    labels: v1_labels(&e.labels, true),
                    value: e.value,
                    timestamp: now + e.offset_ms,
                })
                .collect(),
        })
        .collect()
}

/// The compliance suite's test histogram: positive buckets (counts 1, 3, 4, 7, 8),
/// negative buckets (1, 2), a zero bucket of 1, or custom buckets (schema -53, bounds
/// 0.1 to 10, counts 2, 3, 5, 8, 7, 5); `bad_count` sets a count that does not match.
pub fn test_histogram(
    sum: f64,
    positive: bool,
    negative: bool,
    zero: bool,
    custom: bool,
    bad_count: bool,
) -> v2::Histogram {
    let span = |offset, length| v2::BucketSpan { offset, length };
    let mut h = v2::Histogram {
        sum,
        ..Default::default()
    };
    let mut count = 0;
    if positive {
        h.positive_spans = vec![span(0, 3), span(2, 2)];
        h.positive_deltas = vec![1, 2, 1, 3, 1];
        count += 23;
    }
    if negative {
        h.negative_spans = vec![span(0, 2)];
        h.negative_deltas = vec![1, 1];
        count += 3;
    }
    if zero {
        h.zero_count = Some(v2::histogram::ZeroCount::ZeroCountInt(1));
        count += 1;
    }
    if custom {
        h.schema = -53;
        h.custom_values = vec![0.1, 0.5, 1.0, 2.5, 5.0, 10.0];
        h.positive_spans = vec![span(0, 6)];
        h.positive_deltas = vec![2, 1, 2, 3, -1, -2];
        count = 30;
    }
    if bad_count {
        count = 99;
    }
    h.count = Some(v2::histogram::Count::CountInt(count));
    h
}
