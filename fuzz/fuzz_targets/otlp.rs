//! Untrusted bytes through the OTLP ingest path before routing: the first byte picks
//! protobuf or JSON and plain or gzip, the rest is the body. Un-gzipping, parsing,
//! translating (translation cache on and off) and decoding the translation as remote
//! write 1.0 must never panic, and what the translation writes must be well-formed
//! protobuf: the decoder may refuse its series, never its framing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rwgate_gateway::otlp::{self, Encoding, OtlpError, Settings};
use rwgate_wire::{Limits, Protocol, WireError};

const LIMIT: usize = 4 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let encoding = if selector & 1 == 0 {
        Encoding::Protobuf
    } else {
        Encoding::Json
    };
    let body = if selector & 2 == 0 {
        body.to_vec()
    } else {
        match otlp::gunzip(body, LIMIT, |_| Ok::<(), OtlpError>(())) {
            Ok(b) => b,
            Err(_) => return,
        }
    };
    let Ok(request) = otlp::parse(encoding, &body) else {
        return;
    };
    for cache_bytes in [0, 1 << 20] {
        let settings = Settings {
            cache_bytes,
            ..Settings::default()
        };
        let Ok(t) = otlp::translate(&request, &settings, LIMIT) else {
            continue;
        };
        assert!(t.refused_points() <= t.points);
        let decoded = rwgate_wire::decode(Protocol::V1, t.body.into(), &Limits::default(), 0);
        if let Err(e) = decoded {
            assert!(
                !matches!(e, WireError::MalformedProtobuf { .. }),
                "the translation is not valid protobuf: {e}"
            );
        }
    }
});
