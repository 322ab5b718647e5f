//! Percore's wire format between nodes. Bytes from another node are untrusted:
//! every length is bounded and checked, and the payload checksummed, before any of
//! it is allocated for or handed to Arrow.
//!
//! ```text
//!  0        4    5    6        8                16       20     22     24        28        32
//!  +--------+----+----+--------+----------------+--------+------+------+---------+---------+
//!  | magic  |ver |kind|reserved|  query id      |exchange|source|target| payload | payload |
//!  | "PCR1" | 1  |    |  0     |                |   id   | part | part |  bytes  |  crc32c |
//!  +--------+----+----+--------+----------------+--------+------+------+---------+---------+
//! ```
//! All integers little-endian. The engine's transport (`percore_engine::exec::remote`)
//! carries these frames between nodes; this crate owns what every frame must satisfy.

pub mod auth;
mod crc32c;
pub mod frame;

pub use frame::{Frame, FrameDecoder, FrameError, FrameHeader, FrameKind, StreamId, HEADER_BYTES};
