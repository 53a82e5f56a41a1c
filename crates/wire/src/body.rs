//! Content negotiation and bounded snappy decompression.

use bytes::Bytes;

use crate::error::WireError;
use crate::limits::Limits;

/// The remote-write protocol version of a request, chosen by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Remote write 1.0, `prometheus.WriteRequest`.
    V1,
    /// Remote write 2.0, `io.prometheus.write.v2.Request`.
    V2,
}

impl Protocol {
    /// The `Content-Type` a sender uses for this protocol.
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::V1 => "application/x-protobuf",
            Protocol::V2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        }
    }

    /// Short name for logs and metric labels: `v1` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::V1 => "v1",
            Protocol::V2 => "v2",
        }
    }
}

/// Checks `Content-Encoding` and `Content-Type` and picks the protocol.
///
/// Encoding must be `snappy` (a missing header is refused too). A missing content type
/// means v1, as Prometheus' own receiver assumes.
pub fn negotiate(
    content_type: Option<&[u8]>,
    content_encoding: Option<&[u8]>,
) -> Result<Protocol, WireError> {
    match content_encoding.map(trim) {
        Some(enc) if enc.eq_ignore_ascii_case(b"snappy") => {}
        other => {
            return Err(WireError::UnsupportedContentEncoding(printable(
                other.unwrap_or(b""),
            )));
        }
    }
    let Some(ct) = content_type else {
        return Ok(Protocol::V1);
    };
    let unsupported = || WireError::UnsupportedContentType(printable(ct));
    let mut parts = ct.split(|&b| b == b';');
    let media = trim(parts.next().unwrap_or(b""));
    if !media.eq_ignore_ascii_case(b"application/x-protobuf") {
        return Err(unsupported());
    }
    let mut protocol = Protocol::V1;
    for param in parts {
        let param = trim(param);
        let Some(eq) = param.iter().position(|&b| b == b'=') else {
            continue;
        };
        if !trim(&param[..eq]).eq_ignore_ascii_case(b"proto") {
            continue;
        }
        let value = trim(&param[eq + 1..]);
        let value = value
            .strip_prefix(b"\"")
            .and_then(|v| v.strip_suffix(b"\""))
            .unwrap_or(value);
        protocol = match value {
            b"prometheus.WriteRequest" => Protocol::V1,
            b"io.prometheus.write.v2.Request" => Protocol::V2,
            _ => return Err(unsupported()),
        };
    }
    Ok(protocol)
}

/// The decoded size a snappy block claims, checked against the limits (compressed size
/// first). Lets a caller reserve memory before [`decompress`] allocates it.
pub fn decoded_len(compressed: &[u8], limits: &Limits) -> Result<usize, WireError> {
    if compressed.len() > limits.max_compressed_bytes {
        return Err(WireError::RequestBodyTooLarge {
            size: compressed.len() as u64,
            limit: limits.max_compressed_bytes as u64,
        });
    }
    // This is the one place allowed to read the claimed length: it is checked right here.
    #[allow(clippy::disallowed_methods)]
    let claimed = snap::raw::decompress_len(compressed)
        .map_err(|e| WireError::MalformedSnappy(e.to_string()))?;
    if claimed > limits.max_decoded_bytes {
        return Err(WireError::DecodedBodyTooLarge {
            size: claimed as u64,
            limit: limits.max_decoded_bytes as u64,
        });
    }
    Ok(claimed)
}

/// Decompresses a snappy block body, refusing it before allocating when the compressed
/// size or the decoded size claimed by its header is over the limits.
pub fn decompress(compressed: &[u8], limits: &Limits) -> Result<Bytes, WireError> {
    let claimed = decoded_len(compressed, limits)?;
    let mut out = vec![0u8; claimed];
    decompress_into(compressed, &mut out)?;
    Ok(Bytes::from(out))
}

/// Decompresses into `out`, which must be exactly the length [`decoded_len`] returned;
/// a block that fills it differently is malformed.
pub(crate) fn decompress_into(compressed: &[u8], out: &mut [u8]) -> Result<(), WireError> {
    let n = snap::raw::Decoder::new()
        .decompress(compressed, out)
        .map_err(|e| WireError::MalformedSnappy(e.to_string()))?;
    if n != out.len() {
        return Err(WireError::MalformedSnappy(format!(
            "header claims {} bytes, block holds {n}",
            out.len()
        )));
    }
    Ok(())
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// A header value made safe to echo: at most 128 characters, non-printable escaped.
pub(crate) fn printable(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(&raw[..raw.len().min(128)]);
    s.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNAPPY: Option<&[u8]> = Some(b"snappy");

    #[test]
    fn content_type_picks_protocol() {
        let cases: [(Option<&[u8]>, Protocol); 5] = [
            (None, Protocol::V1),
            (Some(b"application/x-protobuf"), Protocol::V1),
            (
                Some(b"application/x-protobuf;proto=prometheus.WriteRequest"),
                Protocol::V1,
            ),
            (
                Some(b"application/x-protobuf; proto=io.prometheus.write.v2.Request"),
                Protocol::V2,
            ),
            (
                Some(b"Application/X-Protobuf;charset=utf-8;proto=\"io.prometheus.write.v2.Request\""),
                Protocol::V2,
            ),
        ];
        for (ct, want) in cases {
            assert_eq!(negotiate(ct, SNAPPY), Ok(want), "{ct:?}");
        }
    }

    #[test]
    fn unsupported_types_are_415() {
        for ct in [
            &b"application/json"[..],
            b"image/png",
            b"application/x-protobuf;proto=foo.Bar",
        ] {
            let err = negotiate(Some(ct), SNAPPY).unwrap_err();
            assert_eq!(err.status(), 415, "{ct:?}");
            assert_eq!(err.reason().id(), "unsupported_content_type");
        }
    }

    #[test]
    fn non_snappy_encodings_are_415() {
        for enc in [Some(&b"gzip"[..]), Some(b"deflate"), Some(b"zstd"), None] {
            let err = negotiate(None, enc).unwrap_err();
            assert_eq!(err.status(), 415, "{enc:?}");
            assert_eq!(err.reason().id(), "unsupported_content_encoding");
        }
        assert_eq!(negotiate(None, Some(b" Snappy ")), Ok(Protocol::V1));
    }

    #[test]
    fn claimed_100_mib_is_refused_before_allocating() {
        // A snappy block header is the decoded length as a varint: claim 100 MiB and
        // follow it with nothing. Decompressing would allocate 100 MiB first.
        let mut body = Vec::new();
        crate::pb::put_varint(&mut body, 100 << 20);
        body.extend_from_slice(&[0u8; 16]);
        let err = decompress(&body, &Limits::default()).unwrap_err();
        assert_eq!(
            err,
            WireError::DecodedBodyTooLarge {
                size: 100 << 20,
                limit: 32 << 20
            }
        );
        assert_eq!(err.status(), 413);
    }

    #[test]
    fn compressed_cap_is_checked_first() {
        let limits = Limits {
            max_compressed_bytes: 8,
            ..Limits::default()
        };
        let err = decompress(&[0u8; 9], &limits).unwrap_err();
        assert_eq!(err.reason().id(), "request_body_too_large");
    }

    #[test]
    fn garbage_is_malformed_snappy() {
        let err = decompress(b"\x05not snappy at all", &Limits::default()).unwrap_err();
        assert_eq!(err.reason().id(), "malformed_snappy");
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn header_values_are_escaped_and_truncated() {
        let long = vec![b'a'; 500];
        assert_eq!(printable(&long).len(), 128);
        assert_eq!(printable(b"a\nb\x1b"), "a\\nb\\u{1b}");
    }
}
