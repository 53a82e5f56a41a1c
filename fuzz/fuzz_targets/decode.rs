//! Untrusted bytes into the v1 and v2 decoders: they must never panic, and whatever they
//! accept must re-encode to a request the decoder accepts again with the same series.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rwgate_wire::{Encoder, Limits, Protocol};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let protocol = if selector & 1 == 0 { Protocol::V1 } else { Protocol::V2 };
    let limits = Limits::default();
    let Ok(batch) = rwgate_wire::decode(protocol, body.to_vec().into(), &limits, 0) else {
        return;
    };
    let raw = Encoder::new().encode_raw(&batch, 0..batch.len()).to_vec();
    let again = rwgate_wire::decode(Protocol::V1, raw.into(), &limits, 0)
        .expect("what rwgate forwards must decode");
    assert_eq!(again.len(), batch.len());
    assert!(again.rejected().is_empty());
    assert_eq!(again.accepted(), batch.accepted());
});
