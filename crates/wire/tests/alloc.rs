//! A body whose snappy header claims 100 MiB is refused before anything near that size
//! is allocated. The global allocator counts bytes; this file holds a single test so no
//! other test allocates concurrently.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure

use cap::Cap;
use rwgate_wire::{Limits, Reason};

#[global_allocator]
static ALLOC: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

#[test]
fn claimed_100_mib_body_is_refused_without_allocating_it() {
    // Snappy block format starts with the decoded length as a varint.
    let mut body = vec![0x80, 0x80, 0x80, 0x32]; // 100 << 20 = 0x0640_0000
    assert_eq!(
        u64::from(body[0] & 0x7f)
            | u64::from(body[1] & 0x7f) << 7
            | u64::from(body[2] & 0x7f) << 14
            | u64::from(body[3]) << 21,
        100 << 20
    );
    body.extend_from_slice(&[0u8; 64]);
    let limits = Limits::default();

    let before = ALLOC.total_allocated();
    let err = rwgate_wire::decode_request(None, Some(b"snappy"), &body, &limits, 0).unwrap_err();
    let allocated = ALLOC.total_allocated() - before;

    assert_eq!(err.reason(), Reason::DecodedBodyTooLarge);
    assert_eq!(err.status(), 413);
    assert!(
        allocated < 4096,
        "refusing the body allocated {allocated} bytes"
    );
}
