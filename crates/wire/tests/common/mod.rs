//! Request builders shared by the wire crate's tests.
#![allow(dead_code)]

use prost::Message;
use rwgate_proto::{prometheus as v1, v2};
use rwgate_wire::{Encoder, Limits, Protocol, WireError, WriteBatch};

pub const NOW: i64 = 1_700_000_000_000;

pub fn label(name: &str, value: &str) -> v1::Label {
    v1::Label {
        name: name.into(),
        value: value.into(),
    }
}

pub fn series(labels: &[(&str, &str)], samples: &[(f64, i64)]) -> v1::TimeSeries {
    v1::TimeSeries {
        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
        samples: samples
            .iter()
            .map(|&(value, timestamp)| v1::Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

pub fn request(series: Vec<v1::TimeSeries>) -> v1::WriteRequest {
    v1::WriteRequest {
        timeseries: series,
        metadata: vec![],
    }
}

pub fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("compress")
}

pub fn decode_v1_with(req: &v1::WriteRequest, limits: &Limits) -> Result<WriteBatch, WireError> {
    rwgate_wire::decode_request(
        None,
        Some(b"snappy"),
        &snappy(&req.encode_to_vec()),
        limits,
        NOW,
    )
}

pub fn decode_v1(req: &v1::WriteRequest) -> Result<WriteBatch, WireError> {
    decode_v1_with(req, &Limits::default())
}

pub fn decode_v2_with(req: &v2::Request, limits: &Limits) -> Result<WriteBatch, WireError> {
    rwgate_wire::decode_request(
        Some(Protocol::V2.content_type().as_bytes()),
        Some(b"snappy"),
        &snappy(&req.encode_to_vec()),
        limits,
        NOW,
    )
}

pub fn decode_v2(req: &v2::Request) -> Result<WriteBatch, WireError> {
    decode_v2_with(req, &Limits::default())
}

/// Re-encodes every accepted series and decodes the result with prost.
pub fn forwarded(batch: &WriteBatch) -> v1::WriteRequest {
    let compressed = Encoder::new()
        .encode(batch, 0..batch.len())
        .expect("encode");
    let raw = rwgate_wire::decompress(&compressed, &Limits::default()).expect("our own snappy");
    v1::WriteRequest::decode(raw).expect("our own protobuf")
}

/// A v2 request built from label sets with a symbol table, interning as senders do.
pub struct V2Builder {
    pub req: v2::Request,
}

impl V2Builder {
    pub fn new() -> Self {
        V2Builder {
            req: v2::Request {
                symbols: vec![String::new()],
                timeseries: vec![],
            },
        }
    }

    pub fn sym(&mut self, s: &str) -> u32 {
        if let Some(i) = self.req.symbols.iter().position(|x| x == s) {
            return i as u32;
        }
        self.req.symbols.push(s.into());
        (self.req.symbols.len() - 1) as u32
    }

    pub fn refs(&mut self, labels: &[(&str, &str)]) -> Vec<u32> {
        labels
            .iter()
            .flat_map(|(n, v)| [self.sym(n), self.sym(v)])
            .collect()
    }

    pub fn series(
        &mut self,
        labels: &[(&str, &str)],
        samples: &[(f64, i64)],
    ) -> &mut v2::TimeSeries {
        let labels_refs = self.refs(labels);
        self.req.timeseries.push(v2::TimeSeries {
            labels_refs,
            samples: samples
                .iter()
                .map(|&(value, timestamp)| v2::Sample {
                    value,
                    timestamp,
                    start_timestamp: 0,
                })
                .collect(),
            ..Default::default()
        });
        self.req.timeseries.last_mut().expect("just pushed")
    }
}

/// An integer native histogram with two positive buckets (counts 2 and 3) and a zero
/// bucket of 1: count 6.
pub fn int_histogram(count: u64, timestamp: i64) -> v1::Histogram {
    v1::Histogram {
        count: Some(v1::histogram::Count::CountInt(count)),
        sum: 10.0,
        schema: 0,
        zero_threshold: 1e-128,
        zero_count: Some(v1::histogram::ZeroCount::ZeroCountInt(1)),
        positive_spans: vec![v1::BucketSpan {
            offset: 0,
            length: 2,
        }],
        positive_deltas: vec![2, 1],
        timestamp,
        ..Default::default()
    }
}
