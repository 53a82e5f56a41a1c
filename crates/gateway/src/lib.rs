//! rwgate: the Prometheus remote-write gateway that replaces a Thanos router.
//!
//! A connection is accepted and bounded by [`conn`] (connection cap, header and idle
//! timeouts); a request flows through [`ingest`] with [`admission`] (body read under a
//! byte budget and a minimum rate, request slots, per-tenant share), the wire crate
//! (decode and validate), [`tenancy`] (who is writing, and what they may write; [`tls`]
//! for client certificates), [`replicate`] (place each series on its replicas with the
//! ring crate, one request per receiver, quorum per series) and [`forward`] (retries,
//! deadlines and backoff per receiver). [`error`] maps every outcome to the HTTP status
//! that makes senders retry exactly when they should. [`app`] holds the shared state
//! and the reloadable runtime snapshot; [`server`] builds it and runs the listeners,
//! reload and shutdown. [`config`], [`cli`] and [`doctor`] are the operator's side. The
//! `rwgate` binary is in `crates/rwgate`; the embedded receiver and the demo are in
//! `crates/testkit`, outside this library.

pub mod admission;
pub mod app;
pub mod cli;
pub mod config;
pub mod conn;
pub mod doctor;
pub mod error;
pub mod events;
pub mod forward;
pub mod ingest;
pub mod metrics;
pub mod otlp;
pub mod peers;
pub mod relabel;
pub mod replicate;
pub mod server;
pub mod stats;
pub mod status;
pub mod tenancy;
pub mod tls;
pub mod watch;

pub use config::Config;
pub use server::Gateway;
