//! `rwgate-load`: the load generator, sink and relay benchmark.
//!
//! - [`workload`] builds every request body before the run starts (so the generator is
//!   never the bottleneck) from [`workload::Workload`] options, also readable from the
//!   scenario files in `loadtest/scenarios/`;
//! - [`push`] sends them at a target rate or as fast as possible and reports what was
//!   sent and acknowledged, status codes and latency percentiles;
//! - [`flood`] runs hostile clients (large bodies on many connections, trickled
//!   bodies, idle connections) against a real `rwgate serve` and reports its memory and
//!   answers;
//! - [`sink`] is a fast receiver (the gateway's embedded receiver behind a CLI);
//! - [`bench`] runs sinks, a relay (rwgate or vmagent) and the generator as separate
//!   processes and measures delivered samples/s, relay CPU and peak RSS; [`proc`]
//!   reads those from `/proc`.

pub mod bench;
pub mod flood;
pub mod proc;
pub mod push;
pub mod sink;
pub mod workload;
