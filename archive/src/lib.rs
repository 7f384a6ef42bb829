//! # chop-archive
//!
//! Chop's tamper-evident archive as a pure library: no database, no network, no files.
//!
//! - [`record`]: archive records, RFC 8785 canonical JSON, hash-chained by `prev`.
//! - [`merkle`]: RFC 9162 §2.1 Merkle tree hashing, inclusion and consistency proofs over a
//!   dense node array (the layout of Go's `sumdb/tlog`).
//! - [`note`]: C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys.
//! - [`checkpoint`]: C2SP tlog-checkpoint tree heads (<https://c2sp.org/tlog-checkpoint>).
//! - [`proof`]: C2SP tlog-proof files (<https://c2sp.org/tlog-proof>), offline-verifiable.
//! - [`log`]: the append and checkpoint logic over the async [`log::LogStorage`] trait, and
//!   [`log::verify_log`], which recomputes everything from storage.
//! - [`memory`]: an in-memory [`log::LogStorage`] for tests and benchmarks.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod log;
pub mod memory;
pub mod merkle;
pub mod note;
pub mod package;
pub mod proof;
pub mod record;

pub use merkle::Hash;
