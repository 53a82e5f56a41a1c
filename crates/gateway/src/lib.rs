//! rwgate: the Prometheus remote-write gateway that replaces a Thanos router.
//!
//! A request flows through [`server`] (limits, overload caps, the ingest handler), the
//! wire crate (decode and validate), [`tenancy`] (who is writing, and what they may
//! write; [`tls`] for client certificates), [`replicate`] (place
//! each series on its replicas with the ring crate, one request per receiver, quorum per
//! series) and [`forward`] (retries, deadlines and backoff per receiver). [`error`] maps
//! every outcome to the HTTP status that makes senders retry exactly when they should.
//! [`config`] and [`cli`] are the operator's side; [`receiver`] and [`demo`] run the
//! whole thing on one machine.

pub mod admission;
pub mod app;
pub mod cli;
pub mod config;
pub mod conn;
pub mod demo;
pub mod doctor;
pub mod error;
pub mod forward;
pub mod ingest;
pub mod metrics;
pub mod receiver;
pub mod replicate;
pub mod server;
pub mod tenancy;
pub mod tls;

pub use config::Config;
pub use server::Gateway;
