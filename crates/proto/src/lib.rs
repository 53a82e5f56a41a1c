//! Prost types for the remote-write, Thanos write and OTLP metrics protobufs, for tests, fixtures, the demo and the
//! load generator: the production crates walk the wire format by hand (`rwgate-wire`)
//! and never depend on this one.
//!
//! The code is generated from `proto/` by `tests/codegen.rs` and checked in, so a build
//! needs no `protoc`; that test fails when the two differ.

/// Remote write 1.0 (`package prometheus`).
#[allow(missing_docs, clippy::all)]
pub mod prometheus {
    include!("prometheus.rs");
}

/// OTLP metrics export (`opentelemetry.proto.collector.metrics.v1` and the messages it
/// uses), the fields rwgate reads; written by hand with prost's derives.
pub mod otlp {
    include!("otlp.rs");
}

/// Thanos' gRPC write request (`package thanos`), written by hand with prost's derives.
pub mod thanos {
    include!("thanos.rs");
}

/// Remote write 2.0 (`package io.prometheus.write.v2`).
#[allow(missing_docs, clippy::all)]
pub mod v2 {
    include!("io.prometheus.write.v2.rs");
}
