//! Untrusted compressed bodies through negotiation, the snappy length check,
//! decompression and decoding, with small limits so the size checks are exercised.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rwgate_wire::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_compressed_bytes: 64 << 10,
        max_decoded_bytes: 256 << 10,
        max_series: 1000,
        max_samples: 10_000,
        ..Limits::default()
    };
    let _ = rwgate_wire::decode_request(None, Some(b"snappy"), data, &limits, 0);
});
