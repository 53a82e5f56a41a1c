//! Limits and validation options applied while decoding.

/// Which characters label names may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NameValidation {
    /// Prometheus' classic charset: metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names
    /// `[a-zA-Z_][a-zA-Z0-9_]*`.
    Legacy,
    /// Any non-empty UTF-8 (remote write 2.0, Prometheus 3's default `utf8` name
    /// validation). The default.
    #[default]
    Utf8,
}

/// Hard limits on a request and validation rules for its series.
///
/// Defaults follow Prometheus (32 MiB decoded body) and Mimir (30 label names, name
/// length 1024, value length 2048), names UTF-8 as Prometheus 3. The sample time window
/// is off unless set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest compressed body accepted (413 above).
    pub max_compressed_bytes: usize,
    /// Largest decoded body accepted, checked on the snappy header before allocating.
    pub max_decoded_bytes: usize,
    /// Most series in one request (413 above).
    pub max_series: usize,
    /// Most samples plus histogram samples in one request (413 above).
    pub max_samples: usize,
    /// Most labels on one series.
    pub max_label_names: usize,
    /// Longest label name in bytes.
    pub max_label_name_len: usize,
    /// Longest label value in bytes.
    pub max_label_value_len: usize,
    /// Label name charset.
    pub name_validation: NameValidation,
    /// Reject samples more than this many milliseconds ahead of now.
    pub max_future_ms: Option<i64>,
    /// Reject samples more than this many milliseconds behind now.
    pub max_age_ms: Option<i64>,
    /// Label sets each worker thread remembers per generation as validated, with
    /// their placement hash ([`crate::seen`]); 0 turns the memory off.
    pub seen_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_compressed_bytes: 32 << 20,
            max_decoded_bytes: 32 << 20,
            max_series: 200_000,
            max_samples: 2_000_000,
            max_label_names: 30,
            max_label_name_len: 1024,
            max_label_value_len: 2048,
            name_validation: NameValidation::Utf8,
            max_future_ms: None,
            max_age_ms: None,
            seen_entries: 0,
        }
    }
}
