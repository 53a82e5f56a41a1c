//! Errors of the wire layer, each with a stable reason id and the HTTP status it maps to.

use crate::pb::PbError;

/// Why a request or a series was refused. The id is stable: it appears in response
/// bodies, in logs and as the `reason` label of `rwgate_discarded_samples_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, strum::EnumIter)]
#[non_exhaustive]
pub enum Reason {
    /// `Content-Encoding` is not `snappy`.
    UnsupportedContentEncoding,
    /// `Content-Type` is not a remote-write protobuf.
    UnsupportedContentType,
    /// The compressed body is over the limit.
    RequestBodyTooLarge,
    /// The snappy header claims a decoded size over the limit.
    DecodedBodyTooLarge,
    /// More series in one request than allowed.
    TooManySeries,
    /// More samples in one request than allowed.
    TooManySamples,
    /// The body is not valid snappy block format.
    MalformedSnappy,
    /// The decoded body is not a well-formed protobuf message.
    MalformedProtobuf,
    /// v2: `symbols[0]` is not the empty string.
    InvalidSymbolsTable,
    /// v2: an odd number of label references, or one out of range.
    InvalidLabelRefs,
    /// v2: a series carries both samples and histograms.
    SamplesAndHistograms,
    /// A series without labels.
    EmptyLabelSet,
    /// A series without `__name__`.
    MissingMetricName,
    /// `__name__` does not match the metric name charset.
    InvalidMetricName,
    /// A label name does not match the label name charset.
    InvalidLabelName,
    /// A label with an empty name.
    EmptyLabelName,
    /// A label with an empty value.
    EmptyLabelValue,
    /// Two labels with the same name.
    DuplicateLabelNames,
    /// More labels than allowed on one series.
    MaxLabelNamesPerSeries,
    /// A label name over the length limit.
    LabelNameTooLong,
    /// A label value over the length limit.
    LabelValueTooLong,
    /// A label name or value that is not UTF-8.
    InvalidUtf8,
    /// A sample further in the future than allowed.
    SampleTooFarInFuture,
    /// A sample older than allowed.
    SampleTooOld,
    /// A native histogram whose spans, buckets or count do not agree.
    InvalidNativeHistogram,
    /// A native histogram schema that is neither exponential (-4 to 8) nor custom
    /// buckets (-53).
    InvalidHistogramSchema,
    /// A custom-buckets histogram (schema -53) that breaks its rules: bounds not
    /// strictly increasing and finite, a zero bucket, negative spans or buckets.
    InvalidCustomBuckets,
}

impl Reason {
    /// Every reason, in declaration order (derived: a new variant is listed at once).
    pub fn all() -> impl Iterator<Item = Reason> {
        <Reason as strum::IntoEnumIterator>::iter()
    }

    /// The stable id, e.g. `missing_metric_name`.
    pub fn id(self) -> &'static str {
        match self {
            Reason::UnsupportedContentEncoding => "unsupported_content_encoding",
            Reason::UnsupportedContentType => "unsupported_content_type",
            Reason::RequestBodyTooLarge => "request_body_too_large",
            Reason::DecodedBodyTooLarge => "decoded_body_too_large",
            Reason::TooManySeries => "too_many_series",
            Reason::TooManySamples => "too_many_samples",
            Reason::MalformedSnappy => "malformed_snappy",
            Reason::MalformedProtobuf => "malformed_protobuf",
            Reason::InvalidSymbolsTable => "invalid_symbols_table",
            Reason::InvalidLabelRefs => "invalid_label_refs",
            Reason::SamplesAndHistograms => "samples_and_histograms",
            Reason::EmptyLabelSet => "empty_label_set",
            Reason::MissingMetricName => "missing_metric_name",
            Reason::InvalidMetricName => "invalid_metric_name",
            Reason::InvalidLabelName => "invalid_label",
            Reason::EmptyLabelName => "empty_label_name",
            Reason::EmptyLabelValue => "empty_label_value",
            Reason::DuplicateLabelNames => "duplicate_label_names",
            Reason::MaxLabelNamesPerSeries => "max_label_names_per_series",
            Reason::LabelNameTooLong => "label_name_too_long",
            Reason::LabelValueTooLong => "label_value_too_long",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::SampleTooFarInFuture => "sample_too_far_in_future",
            Reason::SampleTooOld => "sample_too_old",
            Reason::InvalidNativeHistogram => "invalid_native_histogram",
            Reason::InvalidHistogramSchema => "invalid_histogram_schema",
            Reason::InvalidCustomBuckets => "invalid_custom_buckets",
        }
    }

    /// The HTTP status this reason answers with. All are client errors: a sender must
    /// not retry them.
    pub fn status(self) -> u16 {
        match self {
            Reason::UnsupportedContentEncoding | Reason::UnsupportedContentType => 415,
            Reason::RequestBodyTooLarge
            | Reason::DecodedBodyTooLarge
            | Reason::TooManySeries
            | Reason::TooManySamples => 413,
            _ => 400,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// A request the wire layer refuses as a whole.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    /// `Content-Encoding` other than `snappy`.
    #[error("unsupported Content-Encoding {0:?}: remote write requires snappy (block format)")]
    UnsupportedContentEncoding(String),
    /// `Content-Type` other than the remote-write protobuf types.
    #[error(
        "unsupported Content-Type {0:?}: expected application/x-protobuf with proto=prometheus.WriteRequest or proto=io.prometheus.write.v2.Request"
    )]
    UnsupportedContentType(String),
    /// Compressed body over the limit.
    #[error("compressed body of {size} bytes exceeds the limit of {limit} bytes")]
    RequestBodyTooLarge {
        /// Size seen (or at least seen so far).
        size: u64,
        /// Configured limit.
        limit: u64,
    },
    /// Decoded size (from the snappy header) over the limit.
    #[error("decoded body of {size} bytes exceeds the limit of {limit} bytes")]
    DecodedBodyTooLarge {
        /// Size claimed by the snappy header.
        size: u64,
        /// Configured limit.
        limit: u64,
    },
    /// Too many series.
    #[error("request has more than {limit} series")]
    TooManySeries {
        /// Configured limit.
        limit: u64,
    },
    /// Too many samples.
    #[error("request has more than {limit} samples")]
    TooManySamples {
        /// Configured limit.
        limit: u64,
    },
    /// Snappy decoding failed.
    #[error("body is not valid snappy block format: {0}")]
    MalformedSnappy(String),
    /// Protobuf decoding failed.
    #[error("body is not a valid {message} protobuf: {source}")]
    MalformedProtobuf {
        /// Which message was being decoded.
        message: &'static str,
        /// What was wrong.
        source: PbError,
    },
    /// v2 `symbols[0]` is not empty.
    #[error("v2 request: symbols[0] must be the empty string")]
    InvalidSymbolsTable,
}

impl WireError {
    /// The stable reason for this error.
    pub fn reason(&self) -> Reason {
        match self {
            WireError::UnsupportedContentEncoding(_) => Reason::UnsupportedContentEncoding,
            WireError::UnsupportedContentType(_) => Reason::UnsupportedContentType,
            WireError::RequestBodyTooLarge { .. } => Reason::RequestBodyTooLarge,
            WireError::DecodedBodyTooLarge { .. } => Reason::DecodedBodyTooLarge,
            WireError::TooManySeries { .. } => Reason::TooManySeries,
            WireError::TooManySamples { .. } => Reason::TooManySamples,
            WireError::MalformedSnappy(_) => Reason::MalformedSnappy,
            WireError::MalformedProtobuf { .. } => Reason::MalformedProtobuf,
            WireError::InvalidSymbolsTable => Reason::InvalidSymbolsTable,
        }
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        self.reason().status()
    }
}

/// Wraps a structural error with the message being decoded.
pub(crate) fn malformed(message: &'static str) -> impl Fn(PbError) -> WireError {
    move |source| WireError::MalformedProtobuf { message, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_ids_are_unique_snake_case() {
        let mut ids: Vec<_> = Reason::all().map(|r| r.id()).collect();
        assert!(ids.iter().all(|id| {
            id.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        }));
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Reason::all().count());
    }

    #[test]
    fn statuses_are_client_errors() {
        assert_eq!(Reason::UnsupportedContentType.status(), 415);
        assert_eq!(Reason::DecodedBodyTooLarge.status(), 413);
        assert_eq!(Reason::MissingMetricName.status(), 400);
        assert!(Reason::all().all(|r| (400..500).contains(&r.status())));
    }
}
