//! rwgate-testkit: the scaffolding that tests, the load generator and `rwgate demo`
//! share, kept out of the gateway library. [`receiver`] is an embedded remote-write
//! receiver (HTTP and gRPC) that counts what it gets and can be told to fail on
//! demand; [`faulty`] is a gRPC endpoint that breaks HTTP/2 on purpose; [`demo`] runs
//! the gateway end to end on one machine with three of them; [`net`] finds ports and
//! waits for processes; [`pki`] makes certificates for the TLS tests; [`ring`] asks
//! `rwgate ring lookup` where a series belongs.

pub mod demo;
pub mod faulty;
pub mod net;
pub mod pki;
pub mod receiver;
pub mod ring;
