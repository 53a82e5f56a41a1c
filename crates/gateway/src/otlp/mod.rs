//! OTLP metrics ingest (OTLP/HTTP, protobuf or JSON, plain or gzip): bodies checked
//! against the same limits as remote write, decoded, translated to a remote-write 1.0
//! request as Prometheus translates OTLP, then sent down the remote-write pipeline
//! (tenancy, rules, relabeling, rate limits, placement, quorum).
//!
//! Answers follow the OTLP/HTTP specification: 200 with an
//! `ExportMetricsServiceResponse` (with `partial_success` when points were refused),
//! a `google.rpc.Status` body on errors, both in the request's encoding.

pub mod model;
pub mod names;
pub mod pb;
pub mod translate;

mod json;

use std::io::Read as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message as _;
use serde::Deserialize;

pub use names::TranslationStrategy;
pub use translate::{Refusal, Settings, Translated, translate};

/// The `otlp` section of the configuration. Reloaded with the config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    /// How OTLP metric and attribute names become Prometheus names.
    pub translation_strategy: TranslationStrategy,
    /// Resource attributes copied onto every series of their resource (besides
    /// `job` and `instance`, which always are). The tenancy's `tenant_label`, when a
    /// resource carries it as an attribute, always is too.
    pub promote_resource_attributes: Vec<String>,
    /// Memory for remembering what points' attributes translate to, over all worker
    /// threads and both generations (about 200 bytes per distinct series per thread;
    /// 0 turns it off).
    pub translation_cache_bytes: usize,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            translation_strategy: TranslationStrategy::default(),
            promote_resource_attributes: Vec::new(),
            translation_cache_bytes: translate::cache::DEFAULT_BYTES,
        }
    }
}

impl OtlpConfig {
    /// The translation settings, with `tenant_label` promoted.
    pub fn settings(&self, tenant_label: &str) -> Settings {
        let mut promote = self.promote_resource_attributes.clone();
        if !tenant_label.is_empty() && !promote.iter().any(|p| p == tenant_label) {
            promote.push(tenant_label.to_string());
        }
        Settings {
            strategy: self.translation_strategy,
            promote,
            cache_bytes: self.translation_cache_bytes,
        }
    }
}

/// How an OTLP/HTTP body is encoded; the answer uses the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl Encoding {
    /// The `Content-Type` of bodies in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Why an OTLP request was refused as a whole before translation.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// Neither protobuf nor JSON.
    #[error(
        "unsupported Content-Type {0}: OTLP/HTTP takes application/x-protobuf or application/json"
    )]
    UnsupportedContentType(String),
    /// Neither identity nor gzip.
    #[error("unsupported Content-Encoding {0}: OTLP/HTTP takes gzip or none")]
    UnsupportedContentEncoding(String),
    /// The gzip stream is broken.
    #[error("body is not valid gzip: {0}")]
    MalformedGzip(String),
    /// The body does not parse.
    #[error("body is not a valid OTLP ExportMetricsServiceRequest ({encoding}): {detail}")]
    Malformed {
        /// `protobuf` or `json`.
        encoding: &'static str,
        /// The parser's message, escaped.
        detail: String,
    },
    /// The uncompressed body is over `max_decoded_body_bytes`.
    #[error("decoded body exceeds the limit of {limit} bytes")]
    DecodedTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The series translated from the body are over `max_decoded_body_bytes`.
    #[error("translated request exceeds the limit of {limit} bytes")]
    TranslatedTooLarge {
        /// The limit.
        limit: usize,
    },
}

/// The ids of whole-request OTLP refusals that remote write does not share (the
/// content-type, encoding and size ones it does).
pub const REQUEST_REFUSALS: &[&str] = &[
    "malformed_gzip",
    "malformed_otlp",
    "translated_request_too_large",
];

impl OtlpError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            OtlpError::UnsupportedContentType(_) | OtlpError::UnsupportedContentEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            OtlpError::MalformedGzip(_) | OtlpError::Malformed { .. } => StatusCode::BAD_REQUEST,
            OtlpError::DecodedTooLarge { .. } | OtlpError::TranslatedTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
        }
    }

    /// A short stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            OtlpError::UnsupportedContentType(_) => "unsupported_content_type",
            OtlpError::UnsupportedContentEncoding(_) => "unsupported_content_encoding",
            OtlpError::MalformedGzip(_) => "malformed_gzip",
            OtlpError::Malformed { .. } => "malformed_otlp",
            OtlpError::DecodedTooLarge { .. } => "decoded_body_too_large",
            OtlpError::TranslatedTooLarge { .. } => "translated_request_too_large",
        }
    }
}

fn printable(raw: &[u8]) -> String {
    crate::tenancy::escape(&String::from_utf8_lossy(raw))
}

/// Picks the encoding from `Content-Type` and checks `Content-Encoding`; returns
/// whether the body is gzipped.
pub fn negotiate(
    content_type: Option<&[u8]>,
    content_encoding: Option<&[u8]>,
) -> Result<(Encoding, bool), OtlpError> {
    let media = content_type
        .map(|ct| ct.split(|&b| b == b';').next().unwrap_or(b"").trim_ascii())
        .unwrap_or(b"");
    let encoding = if media.eq_ignore_ascii_case(b"application/x-protobuf") {
        Encoding::Protobuf
    } else if media.eq_ignore_ascii_case(b"application/json") {
        Encoding::Json
    } else {
        return Err(OtlpError::UnsupportedContentType(printable(
            content_type.unwrap_or(b""),
        )));
    };
    let gzip = match content_encoding.map(<[u8]>::trim_ascii) {
        None => false,
        Some(e) if e.is_empty() || e.eq_ignore_ascii_case(b"identity") => false,
        Some(e) if e.eq_ignore_ascii_case(b"gzip") => true,
        Some(e) => return Err(OtlpError::UnsupportedContentEncoding(printable(e))),
    };
    Ok((encoding, gzip))
}

/// Un-gzips `body` into at most `limit` bytes, in chunks of [`GUNZIP_CHUNK`], asking
/// `grow` for each chunk's memory before taking it (the gateway charges its in-flight
/// byte budget). A gzip bomb is refused once it has produced `limit` bytes; a body the
/// budget cannot hold is refused as it grows, by `grow`'s error.
pub fn gunzip<E: From<OtlpError>>(
    body: &[u8],
    limit: usize,
    mut grow: impl FnMut(usize) -> Result<(), E>,
) -> Result<Vec<u8>, E> {
    let mut gz = flate2::read::GzDecoder::new(body);
    let mut out = Vec::new();
    loop {
        // One byte past the limit tells a body at the limit from one over it.
        let want = GUNZIP_CHUNK.min(limit.saturating_add(1) - out.len());
        grow(want)?;
        out.reserve_exact(want);
        let n = (&mut gz)
            .take(want as u64)
            .read_to_end(&mut out)
            .map_err(|e| OtlpError::MalformedGzip(printable(e.to_string().as_bytes())))?;
        if out.len() > limit {
            return Err(OtlpError::DecodedTooLarge { limit }.into());
        }
        if n < want {
            return Ok(out);
        }
    }
}

/// How much [`gunzip`] takes at a time.
pub const GUNZIP_CHUNK: usize = 256 << 10;

/// Parses an uncompressed body; protobuf strings borrow from it.
pub fn parse(
    encoding: Encoding,
    body: &[u8],
) -> Result<model::ExportMetricsServiceRequest<'_>, OtlpError> {
    match encoding {
        Encoding::Protobuf => pb::decode(body).map_err(|e| OtlpError::Malformed {
            encoding: "protobuf",
            detail: printable(e.to_string().as_bytes()),
        }),
        Encoding::Json => serde_json::from_slice(body).map_err(|e| OtlpError::Malformed {
            encoding: "json",
            detail: printable(e.to_string().as_bytes()),
        }),
    }
}

/// The OTLP/HTTP answer: `status`, and an `ExportMetricsServiceResponse` for 200 (with
/// `partial_success` when `rejected` > 0) or a `google.rpc.Status` otherwise, in
/// `encoding`. `retry_after` is set on retryable errors.
pub fn respond(
    encoding: Encoding,
    status: StatusCode,
    rejected: u64,
    message: &str,
    retry_after: Option<u32>,
) -> Response {
    let body = if status == StatusCode::OK {
        let partial = (rejected > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(rejected).unwrap_or(i64::MAX),
            error_message: message.to_string(),
        });
        match encoding {
            Encoding::Protobuf => ExportMetricsServiceResponse {
                partial_success: partial,
            }
            .encode_to_vec(),
            Encoding::Json => {
                let v = match partial {
                    None => serde_json::json!({}),
                    Some(p) => serde_json::json!({"partialSuccess": {
                        "rejectedDataPoints": p.rejected_data_points.to_string(),
                        "errorMessage": p.error_message,
                    }}),
                };
                v.to_string().into_bytes()
            }
        }
    } else {
        let code = grpc_code(status);
        match encoding {
            Encoding::Protobuf => Status {
                code,
                message: message.to_string(),
            }
            .encode_to_vec(),
            Encoding::Json => serde_json::json!({"code": code, "message": message})
                .to_string()
                .into_bytes(),
        }
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    if let Some(secs) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// `ExportMetricsServiceResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct ExportMetricsServiceResponse {
    #[prost(message, optional, tag = "1")]
    partial_success: Option<ExportMetricsPartialSuccess>,
}

/// `ExportMetricsPartialSuccess`.
#[derive(Clone, PartialEq, prost::Message)]
struct ExportMetricsPartialSuccess {
    #[prost(int64, tag = "1")]
    rejected_data_points: i64,
    #[prost(string, tag = "2")]
    error_message: String,
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The gRPC code of the `google.rpc.Status` for an HTTP status (the gRPC-HTTP mapping).
fn grpc_code(status: StatusCode) -> i32 {
    match status.as_u16() {
        400 | 413 | 415 => 3, // INVALID_ARGUMENT
        401 => 16,            // UNAUTHENTICATED
        403 => 7,             // PERMISSION_DENIED
        404 => 5,             // NOT_FOUND
        408 => 4,             // DEADLINE_EXCEEDED
        409 => 6,             // ALREADY_EXISTS
        429 => 8,             // RESOURCE_EXHAUSTED
        503 => 14,            // UNAVAILABLE
        _ => 2,               // UNKNOWN
    }
}

#[cfg(test)]
mod tests;
