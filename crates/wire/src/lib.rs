//! The Prometheus remote-write wire format, as rwgate's hot path needs it.
//!
//! A request goes through three steps, each a module:
//! - [`body`]: pick the protocol from `Content-Type`/`Content-Encoding` and decompress
//!   the snappy block, refusing oversized bodies before allocating;
//! - [`decode`] (with the private `v1`/`v2` walkers and `validate`): parse the
//!   protobuf without copying labels, validate every series, and produce a
//!   [`WriteBatch`] of accepted series, each already encoded as a v1 `TimeSeries` with
//!   sorted labels (a slice of the body when it arrived valid and sorted);
//! - [`encode`]: build one snappy-compressed v1 `WriteRequest` per receiver from any
//!   subset of the batch.
//!
//! Errors carry a stable [`Reason`] id and their HTTP status; [`Rejections`] counts the
//! series refused from a request that was otherwise written. Internally, `span` holds
//! the leaf byte-range types, `builder` the decoding state v1 and v2 share, `pb` the
//! protobuf reader and writer. The prost types of the same messages live in the
//! `rwgate-proto` crate, used by tests and tools only.

pub mod body;
pub mod encode;
pub mod error;
pub mod limits;
pub mod pool;
pub mod seen;
pub mod symbols;

mod batch;
mod builder;
mod counts;
mod histogram;
mod pb;
mod rejections;
mod span;
mod v1;
mod v2;
mod validate;

pub use batch::{Counts, EncodedLabels, FieldPiece, SeriesRef, Spare, WriteBatch};
pub use body::{Protocol, decoded_len, decompress, negotiate};
pub use encode::{EncodeError, Encoder};
pub use error::{Reason, WireError};
pub use limits::{Limits, NameValidation};
pub use pb::PbError;
pub use pool::BufferPool;
pub use rejections::{RefusalReason, Rejections};
pub use symbols::SymbolTable;
pub use validate::{is_legacy_label_name, is_legacy_metric_name, label_set as validate_label_set};

use bytes::Bytes;

/// Appends one v1 `TimeSeries.labels` field (`Label { name, value }`, field 1) to
/// `out`: how every label rwgate writes is encoded.
pub fn put_label_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    pb::put_label(out, 1, name, value);
}

/// Decodes and validates a decompressed body of the given protocol. `now_ms` is the
/// current time in Unix milliseconds, used by the optional sample time window.
pub fn decode(
    protocol: Protocol,
    body: Bytes,
    limits: &Limits,
    now_ms: i64,
) -> Result<WriteBatch, WireError> {
    decode_reusing(protocol, body, limits, now_ms, Spare::default())
}

/// [`decode`], building the batch's index in the vectors of an earlier batch
/// ([`WriteBatch::into_parts`]): no fresh allocation, no page faults.
pub fn decode_reusing(
    protocol: Protocol,
    body: Bytes,
    limits: &Limits,
    now_ms: i64,
    spare: Spare,
) -> Result<WriteBatch, WireError> {
    match protocol {
        Protocol::V1 => v1::decode(body, limits, now_ms, spare),
        Protocol::V2 => v2::decode(body, limits, now_ms, spare),
    }
}

/// The whole inbound step: negotiate, decompress within limits, decode and validate.
pub fn decode_request(
    content_type: Option<&[u8]>,
    content_encoding: Option<&[u8]>,
    compressed: &[u8],
    limits: &Limits,
    now_ms: i64,
) -> Result<WriteBatch, WireError> {
    let protocol = negotiate(content_type, content_encoding)?;
    let body = decompress(compressed, limits)?;
    decode(protocol, body, limits, now_ms)
}
