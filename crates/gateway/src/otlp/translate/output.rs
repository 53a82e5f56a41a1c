//! The remote-write 1.0 request being written. A series' labels are encoded once, as
//! the protobuf `Label` fields they become, and those bytes are also the key the
//! series is found by when another point has the same labels (Prometheus merges such
//! points into one series too).

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use prost::encoding::{self, WireType};

use super::TooLarge;

/// A label set being built: names sorted and unique.
pub(super) type Labels<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.Exemplar`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct PromExemplar {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `prometheus.Histogram`, integer counts only.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct NativeHistogram {
    #[prost(uint64, optional, tag = "1")]
    pub count_int: Option<u64>,
    #[prost(double, tag = "3")]
    pub sum: f64,
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    #[prost(uint64, optional, tag = "6")]
    pub zero_count_int: Option<u64>,
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    #[prost(int32, tag = "14")]
    pub reset_hint: i32,
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
}

/// `prometheus.BucketSpan`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct BucketSpan {
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// One series of the request.
pub(super) struct Series {
    /// Its encoded labels in [`Output::labels`].
    labels: Range<usize>,
    /// The next series whose labels hash the same.
    next: Option<u32>,
    pub samples: Vec<Sample>,
    pub exemplars: Vec<PromExemplar>,
    pub histograms: Vec<NativeHistogram>,
}

/// The series written so far, bounded by `limit` bytes.
pub(super) struct Output {
    labels: Vec<u8>,
    series: Vec<Series>,
    /// XXH3 of a series' encoded labels to the last series with that hash.
    index: HashMap<u64, u32, xxhash_rust::xxh3::Xxh3Builder>,
    scratch: Vec<u8>,
    bytes: usize,
    limit: usize,
}

impl Output {
    pub fn new(limit: usize) -> Output {
        Output {
            labels: Vec::new(),
            series: Vec::new(),
            index: HashMap::default(),
            scratch: Vec::new(),
            bytes: 0,
            limit,
        }
    }

    /// Counts `n` more bytes of output against the limit.
    pub fn charge(&mut self, n: usize) -> Result<(), TooLarge> {
        self.bytes += n;
        if self.bytes > self.limit {
            return Err(TooLarge { limit: self.limit });
        }
        Ok(())
    }

    /// The series labeled `base` plus `__name__` = `name` and `extra`, created when new.
    pub fn series(
        &mut self,
        base: &[(Cow<'_, str>, Cow<'_, str>)],
        name: &str,
        extra: Option<(&str, &str)>,
    ) -> Result<&mut Series, TooLarge> {
        let i = self.series_index(base, name, extra)?;
        Ok(&mut self.series[i])
    }

    /// [`Output::series`], by index.
    pub fn series_index(
        &mut self,
        base: &[(Cow<'_, str>, Cow<'_, str>)],
        name: &str,
        extra: Option<(&str, &str)>,
    ) -> Result<usize, TooLarge> {
        self.scratch.clear();
        encode_labels(base, name, extra, &mut self.scratch);
        self.find_or_add()
    }

    /// The series whose encoded labels are `labels` with `__name__` = `name` inserted
    /// at byte `name_at`, by index.
    pub fn series_split(
        &mut self,
        labels: &[u8],
        name_at: usize,
        name: &str,
    ) -> Result<usize, TooLarge> {
        self.scratch.clear();
        let (before, after) = labels.split_at(name_at.min(labels.len()));
        self.scratch.extend_from_slice(before);
        push_label(&mut self.scratch, "__name__", name);
        self.scratch.extend_from_slice(after);
        self.find_or_add()
    }

    /// The series at `i` (from [`Output::series_index`] or [`Output::series_split`]).
    pub fn series_at(&mut self, i: usize) -> &mut Series {
        &mut self.series[i]
    }

    /// The series labeled `scratch`, created when new.
    fn find_or_add(&mut self) -> Result<usize, TooLarge> {
        let hash = xxhash_rust::xxh3::xxh3_64(&self.scratch);
        let head = self.index.get(&hash).copied();
        let mut at = head;
        while let Some(i) = at {
            let s = &self.series[i as usize];
            if self.labels[s.labels.clone()] == self.scratch[..] {
                return Ok(i as usize);
            }
            at = s.next;
        }
        self.charge(self.scratch.len() + 8)?;
        let start = self.labels.len();
        self.labels.extend_from_slice(&self.scratch);
        let i = u32::try_from(self.series.len()).map_err(|_| TooLarge { limit: self.limit })?;
        self.series.push(Series {
            labels: start..self.labels.len(),
            next: head,
            samples: Vec::new(),
            exemplars: Vec::new(),
            histograms: Vec::new(),
        });
        self.index.insert(hash, i);
        Ok(i as usize)
    }

    /// Appends a sample to the series (see [`Output::series`]).
    pub fn sample(
        &mut self,
        base: &[(Cow<'_, str>, Cow<'_, str>)],
        name: &str,
        extra: Option<(&str, &str)>,
        value: f64,
        timestamp: i64,
    ) -> Result<(), TooLarge> {
        self.charge(20)?;
        self.series(base, name, extra)?
            .samples
            .push(Sample { value, timestamp });
        Ok(())
    }

    /// The encoded `WriteRequest`.
    pub fn finish(self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.bytes + 16);
        for s in &self.series {
            let labels = &self.labels[s.labels.clone()];
            let len = labels.len()
                + encoding::message::encoded_len_repeated(2, &s.samples)
                + encoding::message::encoded_len_repeated(3, &s.exemplars)
                + encoding::message::encoded_len_repeated(4, &s.histograms);
            encoding::encode_key(1, WireType::LengthDelimited, &mut buf);
            encoding::encode_varint(len as u64, &mut buf);
            buf.extend_from_slice(labels);
            for m in &s.samples {
                encoding::message::encode(2, m, &mut buf);
            }
            for m in &s.exemplars {
                encoding::message::encode(3, m, &mut buf);
            }
            for m in &s.histograms {
                encoding::message::encode(4, m, &mut buf);
            }
        }
        buf
    }
}

/// `base` with `__name__` and `extra` merged in at their sorted places (they win over a
/// base label of the same name), as `TimeSeries.labels` fields. Labels with empty
/// values are left out: Prometheus treats an empty label as an absent one.
fn encode_labels(
    base: &[(Cow<'_, str>, Cow<'_, str>)],
    name: &str,
    extra: Option<(&str, &str)>,
    buf: &mut Vec<u8>,
) {
    let mut special = [("__name__", name), extra.unwrap_or(("", ""))];
    let specials = if extra.is_some() { 2 } else { 1 };
    special[..specials].sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut sp = special[..specials].iter().peekable();
    for (n, v) in base {
        while let Some(&&(sn, sv)) = sp.peek() {
            if sn > n.as_ref() {
                break;
            }
            push_label(buf, sn, sv);
            sp.next();
        }
        if special[..specials].iter().any(|(sn, _)| *sn == n.as_ref()) {
            continue;
        }
        push_label(buf, n, v);
    }
    for &(sn, sv) in sp {
        push_label(buf, sn, sv);
    }
}

/// Appends one `TimeSeries.labels` field; nothing for an empty value.
pub(super) fn push_label(buf: &mut Vec<u8>, name: &str, value: &str) {
    if !value.is_empty() {
        rwgate_wire::put_label_field(buf, name.as_bytes(), value.as_bytes());
    }
}
