//! The state the v1 and v2 decoders share while they walk a body: limits, counts,
//! label validation, and the batch being built.

use bytes::Bytes;

use crate::batch::{Counts, Series, Spare, WriteBatch};
use crate::body::Protocol;
use crate::error::{Reason, WireError};
use crate::limits::Limits;
use crate::pb;
use crate::pool::reserve_empty;
use crate::rejections::Rejections;
use crate::span::{LabelRef, Span};
use crate::validate::{self, Invalid};

/// Shared state of the v1 and v2 decoders.
pub(crate) struct Builder<'l> {
    pub batch: WriteBatch,
    pub limits: &'l Limits,
    pub now_ms: i64,
    pub total_series: usize,
    pub total_samples: usize,
    /// Reused by validation to sort label indices.
    pub order: Vec<u32>,
    /// Seed of [`crate::seen`] keys under these limits.
    pub seen_seed: u64,
}

impl<'l> Builder<'l> {
    pub(crate) fn new(
        protocol: Protocol,
        body: Bytes,
        limits: &'l Limits,
        now_ms: i64,
        spare: Spare,
    ) -> Self {
        // Sized from the body so the index vectors rarely grow: a label takes at least
        // ~20 bytes on the wire in practice, a series ~150 (estimates, not limits).
        let Spare {
            mut scratch,
            mut labels,
            mut series,
        } = spare;
        scratch.clear();
        reserve_empty(&mut labels, body.len() / 24);
        reserve_empty(&mut series, (body.len() / 150).min(limits.max_series));
        Builder {
            batch: WriteBatch {
                protocol,
                body,
                scratch,
                labels,
                series,
                accepted: Counts::default(),
                rejected: Rejections::default(),
                metadata: 0,
                sorted: 0,
            },
            limits,
            now_ms,
            total_series: 0,
            total_samples: 0,
            order: Vec::new(),
            seen_seed: crate::seen::limits_seed(limits),
        }
    }

    /// Counts one more series against the request limit.
    pub(crate) fn count_series(&mut self) -> Result<(), WireError> {
        self.total_series += 1;
        if self.total_series > self.limits.max_series {
            return Err(WireError::TooManySeries {
                limit: self.limits.max_series as u64,
            });
        }
        Ok(())
    }

    /// Counts samples against the request limit.
    pub(crate) fn count_samples(&mut self, counts: Counts) -> Result<(), WireError> {
        self.total_samples = self
            .total_samples
            .saturating_add(counts.total_samples() as usize);
        if self.total_samples > self.limits.max_samples {
            return Err(WireError::TooManySamples {
                limit: self.limits.max_samples as u64,
            });
        }
        Ok(())
    }

    /// Checks a sample timestamp against the configured window.
    pub(crate) fn check_time(&self, ts: i64) -> Result<(), Reason> {
        if let Some(future) = self.limits.max_future_ms
            && ts > self.now_ms.saturating_add(future)
        {
            return Err(Reason::SampleTooFarInFuture);
        }
        if let Some(age) = self.limits.max_age_ms
            && ts < self.now_ms.saturating_sub(age)
        {
            return Err(Reason::SampleTooOld);
        }
        Ok(())
    }

    pub(crate) fn checks_time(&self) -> bool {
        self.limits.max_future_ms.is_some() || self.limits.max_age_ms.is_some()
    }

    /// Validates the labels pushed since `labels_start`; on success returns whether they
    /// were sorted, and when they were not, `self.order` holds the sorted order.
    /// `ascii`: the caller found every byte of the labels ASCII (their UTF-8 checks
    /// are skipped).
    pub(crate) fn validate_labels(
        &mut self,
        labels_start: usize,
        seen: usize,
        ascii: bool,
    ) -> Result<bool, Invalid> {
        let labels = &self.batch.labels[labels_start..];
        let body = &self.batch.body;
        validate::labels(body, labels, seen, self.limits, ascii, &mut self.order)
    }

    /// Drops the labels of a refused series and records why.
    pub(crate) fn reject(&mut self, labels_start: usize, invalid: Invalid, counts: Counts) {
        let batch = &mut self.batch;
        let end = batch.labels.len();
        let described = (batch.rejected.first.is_none()).then(|| batch.describe(labels_start..end));
        batch.rejected.record(
            invalid.reason,
            counts,
            || described.unwrap_or_default(),
            invalid.detail,
        );
        batch.labels.truncate(labels_start);
    }

    /// Writes the labels pushed since `labels_start` into scratch as v1 `Label` fields,
    /// sorted: in wire order when validation found them `sorted`, else in the order it
    /// computed.
    pub(crate) fn write_sorted_labels(&mut self, labels_start: usize, sorted: bool) {
        let batch = &mut self.batch;
        let (body, scratch) = (&batch.body, &mut batch.scratch);
        let mut put = |l: LabelRef| {
            pb::put_label(scratch, 1, span_in(body, l.name), span_in(body, l.value));
        };
        if sorted {
            batch.labels[labels_start..].iter().for_each(|l| put(*l));
        } else {
            self.order
                .iter()
                .for_each(|&i| put(batch.labels[labels_start + i as usize]));
        }
    }

    /// Drops a valid series that carries nothing to write (no sample, histogram or
    /// exemplar: metadata only, which Thanos Receive ignores); returns whether it did.
    pub(crate) fn drop_if_empty(&mut self, labels_start: usize, counts: Counts) -> bool {
        if counts != Counts::default() {
            return false;
        }
        self.batch.labels.truncate(labels_start);
        true
    }

    /// Records an accepted series whose v1 encoding is `encoded`, its label fields
    /// the first `label_bytes` (or `SPLIT_LABELS`).
    pub(crate) fn accept(
        &mut self,
        labels_start: usize,
        encoded: Span,
        label_bytes: u32,
        counts: Counts,
        seen: Option<crate::seen::Seen>,
    ) {
        let nlabels = (self.batch.labels.len() - labels_start) as u32;
        self.batch.series.push(Series {
            labels: labels_start as u32,
            nlabels,
            encoded,
            label_bytes,
            counts: counts.into(),
            hash: seen.map_or(0, |s| s.hash),
            hash_of: seen.map_or(crate::batch::HASH_NONE, |s| s.tenant),
            seen_key: seen.map_or([0; 2], |s| [s.key as u64, (s.key >> 64) as u64]),
            seen: seen.is_some(),
        });
        self.batch.accepted.add(counts);
    }

    /// The offset the next scratch byte will have, as a span start.
    pub(crate) fn scratch_pos(&self) -> u32 {
        self.batch.end()
    }

    pub(crate) fn finish(self) -> WriteBatch {
        self.batch
    }
}

/// Label spans are always in the body while decoding.
fn span_in(body: &[u8], span: Span) -> &[u8] {
    &body[span.start as usize..(span.start + span.len) as usize]
}
