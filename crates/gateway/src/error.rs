//! Everything a remote-write request can end in, and the one place where outcomes
//! become HTTP responses.
//!
//! The status decides what a sender does: 2xx done; 4xx dropped (Prometheus and
//! vmagent do not retry 400/409/413/415); 429 retried by vmagent and by Prometheus only
//! with `retry_on_http_429`; 5xx retried by both. So anything that may succeed later is a
//! 503 with `Retry-After`, and only data that will never be accepted is a 4xx.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rwgate_wire::{Counts, Protocol, WireError};

use crate::admission::BodyError;
use crate::otlp::{self, OtlpError};
use crate::tenancy::TenancyError;

/// What a request carries, from its route and headers: it decides how the body is
/// decoded and how the reply is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus remote write, snappy-compressed.
    RemoteWrite(Protocol),
    /// OTLP/HTTP metrics.
    Otlp {
        /// Protobuf or JSON; the answer uses the same.
        encoding: otlp::Encoding,
        /// `Content-Encoding: gzip`.
        gzip: bool,
    },
}

impl Format {
    /// Short name for logs and metric labels: `v1`, `v2` or `otlp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::RemoteWrite(p) => p.as_str(),
            Format::Otlp { .. } => "otlp",
        }
    }
}

/// Why a request was not (fully) written.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The wire layer refused the request as a whole.
    #[error("{id}: {0}", id = .0.reason().id())]
    Wire(#[from] WireError),
    /// Tenant resolution or isolation refused the request.
    #[error(transparent)]
    Tenancy(#[from] TenancyError),
    /// An OTLP request was refused as a whole before translation.
    #[error("{id}: {0}", id = .0.kind())]
    Otlp(#[from] OtlpError),
    /// A tenant is over its ingestion rate.
    #[error("rate limited: tenant {tenant} is over its ingestion rate; retry in {retry_after}s")]
    RateLimited {
        /// Tenant.
        tenant: String,
        /// Seconds until the bucket holds enough.
        retry_after: u32,
    },
    /// Some series failed validation; the valid ones were written.
    #[error("{message} ({rejected} of {total} series rejected)")]
    Invalid {
        /// The first rejection, labels escaped.
        message: String,
        /// Series rejected.
        rejected: u64,
        /// Series in the request.
        total: u64,
    },
    /// The body did not arrive in time, too slowly, or broken.
    #[error(transparent)]
    Body(BodyError),
    /// Shutdown has begun: send to another replica.
    #[error("shutting down, retry later")]
    ShuttingDown,
    /// A global in-flight cap is reached.
    #[error("overloaded: too many {0} in flight, retry later")]
    Overloaded(&'static str),
    /// No hashring loaded yet.
    #[error("not ready: no hashring loaded")]
    NotReady,
    /// No hashring serves this tenant.
    #[error("no hashring matches tenant {0}")]
    NoHashring(String),
    /// Receivers refused some series as conflicting (out of order, duplicate, too old)
    /// on a write quorum.
    #[error("conflict: {series} series refused by receivers: {detail}")]
    Conflict {
        /// Series affected.
        series: u64,
        /// First receiver answer.
        detail: String,
    },
    /// Some series did not reach a write quorum for reasons that may pass.
    #[error("quorum not reached for {series} series: {detail}")]
    Unavailable {
        /// Series affected.
        series: u64,
        /// First failure.
        detail: String,
    },
}

impl From<BodyError> for IngestError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge { limit } => IngestError::Wire(WireError::RequestBodyTooLarge {
                size: limit as u64 + 1,
                limit: limit as u64,
            }),
            BodyError::Overloaded => IngestError::Overloaded("bytes"),
            e => IngestError::Body(e),
        }
    }
}

impl IngestError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::Wire(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            IngestError::Otlp(e) => e.status(),
            IngestError::Tenancy(TenancyError::Invalid(_) | TenancyError::LabelMismatch(_))
            | IngestError::Invalid { .. }
            | IngestError::Body(BodyError::Read(_)) => StatusCode::BAD_REQUEST,
            IngestError::Body(BodyError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Body(BodyError::Overloaded) => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::Tenancy(TenancyError::Unauthorized(_)) => StatusCode::UNAUTHORIZED,
            IngestError::Tenancy(TenancyError::Forbidden(_)) => StatusCode::FORBIDDEN,
            IngestError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Body(BodyError::TooSlow { .. } | BodyError::Timeout(_)) => {
                StatusCode::REQUEST_TIMEOUT
            }
            IngestError::Conflict { .. } => StatusCode::CONFLICT,
            IngestError::Overloaded(_)
            | IngestError::ShuttingDown
            | IngestError::NotReady
            | IngestError::NoHashring(_)
            | IngestError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Seconds a sender should wait before retrying, for retryable errors.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            IngestError::Overloaded(_)
            | IngestError::ShuttingDown
            | IngestError::Body(BodyError::Overloaded) => Some(1),
            IngestError::RateLimited { retry_after, .. } => Some(*retry_after),
            IngestError::NotReady
            | IngestError::NoHashring(_)
            | IngestError::Unavailable { .. } => Some(2),
            _ => None,
        }
    }

    /// A short stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            IngestError::Wire(e) => e.reason().id(),
            IngestError::Otlp(e) => e.kind(),
            IngestError::Tenancy(TenancyError::Invalid(_)) => "invalid_tenant",
            IngestError::Tenancy(TenancyError::Unauthorized(_)) => "unauthorized",
            IngestError::Tenancy(TenancyError::Forbidden(_)) => "forbidden",
            IngestError::Tenancy(TenancyError::LabelMismatch(_)) => "tenant_label_mismatch",
            IngestError::RateLimited { .. } => "rate_limited",
            IngestError::Invalid { .. } => "invalid_series",
            IngestError::Body(BodyError::Read(_)) => "body_read",
            IngestError::Body(BodyError::Timeout(_)) => "body_timeout",
            IngestError::Body(BodyError::TooSlow { .. }) => "body_too_slow",
            IngestError::Body(BodyError::TooLarge { .. }) => "request_body_too_large",
            IngestError::Body(BodyError::Overloaded) => "overloaded",
            IngestError::ShuttingDown => "shutting_down",
            IngestError::Overloaded(_) => "overloaded",
            IngestError::NotReady => "not_ready",
            IngestError::NoHashring(_) => "no_hashring",
            IngestError::Conflict { .. } => "conflict",
            IngestError::Unavailable { .. } => "quorum_not_reached",
        }
    }
}

/// The response to a remote-write request: success or an error, plus what was written
/// (v2 senders get the exact `X-Prometheus-Remote-Write-*-Written` headers either way).
#[derive(Debug)]
pub struct Reply {
    /// What the request carried, when known.
    pub format: Option<Format>,
    /// What reached a write quorum.
    pub written: Counts,
    /// `None` for success.
    pub error: Option<IngestError>,
    /// OTLP data points refused by the translation (not counted in `error`).
    pub refused_points: u64,
    /// The first of those refusals, for the answer's `partial_success`.
    pub refusal: Option<String>,
}

impl Reply {
    /// The status this reply answers with. OTLP answers a request with refused points
    /// 200 and a `partial_success`, as the OTLP/HTTP specification asks.
    pub fn status(&self) -> StatusCode {
        match (&self.error, self.format) {
            (Some(IngestError::Invalid { .. }), Some(Format::Otlp { .. })) => StatusCode::OK,
            (Some(e), _) => e.status(),
            (None, Some(Format::RemoteWrite(Protocol::V2))) => StatusCode::NO_CONTENT,
            (None, _) => StatusCode::OK,
        }
    }

    /// The OTLP answer: refused points (translation refusals plus series refused by
    /// validation) in `partial_success`, or the error's `google.rpc.Status`.
    fn otlp_response(self, encoding: otlp::Encoding) -> Response {
        let status = self.status();
        let (rejected, message) = match &self.error {
            Some(IngestError::Invalid { rejected, .. }) => (
                self.refused_points + rejected,
                self.refusal
                    .clone()
                    .into_iter()
                    .chain(self.error.as_ref().map(ToString::to_string))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Some(e) => (0, e.to_string()),
            None => (
                self.refused_points,
                self.refusal.clone().unwrap_or_default(),
            ),
        };
        let retry_after = self.error.as_ref().and_then(IngestError::retry_after);
        otlp::respond(encoding, status, rejected, &message, retry_after)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        if let Some(Format::Otlp { encoding, .. }) = self.format {
            return self.otlp_response(encoding);
        }
        let status = self.status();
        let mut resp = match &self.error {
            None => status.into_response(),
            Some(e) => {
                let mut r = (status, format!("{e}\n")).into_response();
                if let Some(secs) = e.retry_after() {
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                r
            }
        };
        if self.format == Some(Format::RemoteWrite(Protocol::V2)) {
            let h = resp.headers_mut();
            h.insert(
                "x-prometheus-remote-write-samples-written",
                HeaderValue::from(self.written.samples),
            );
            h.insert(
                "x-prometheus-remote-write-histograms-written",
                HeaderValue::from(self.written.histograms),
            );
            h.insert(
                "x-prometheus-remote-write-exemplars-written",
                HeaderValue::from(self.written.exemplars),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_retry_after() {
        let unavailable = IngestError::Unavailable {
            series: 1,
            detail: "x".into(),
        };
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.retry_after(), Some(2));
        let conflict = IngestError::Conflict {
            series: 1,
            detail: "x".into(),
        };
        assert_eq!(conflict.status(), StatusCode::CONFLICT);
        assert_eq!(conflict.retry_after(), None);
        assert_eq!(
            IngestError::Overloaded("requests").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            IngestError::Wire(WireError::TooManySeries { limit: 1 }).status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn v2_replies_carry_written_headers_on_failure_too() {
        let reply = Reply {
            format: Some(Format::RemoteWrite(Protocol::V2)),
            refused_points: 0,
            refusal: None,
            written: Counts {
                samples: 3,
                histograms: 1,
                exemplars: 2,
            },
            error: Some(IngestError::Invalid {
                message: "m".into(),
                rejected: 1,
                total: 4,
            }),
        };
        let resp = reply.into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.headers()["x-prometheus-remote-write-samples-written"],
            "3"
        );
        assert_eq!(
            resp.headers()["x-prometheus-remote-write-histograms-written"],
            "1"
        );
        assert_eq!(
            resp.headers()["x-prometheus-remote-write-exemplars-written"],
            "2"
        );
    }
}
