//! Prost types generated from `proto/` by `tests/codegen.rs` (checked in, so builds
//! need no `protoc`).

/// Remote write 1.0 (`package prometheus`).
#[allow(missing_docs, clippy::all)]
pub mod prometheus {
    include!("prometheus.rs");
}

/// Remote write 2.0 (`package io.prometheus.write.v2`).
#[allow(missing_docs, clippy::all)]
pub mod v2 {
    include!("io.prometheus.write.v2.rs");
}
