//! The control channel between nodes: JSON messages in checksummed control frames over
//! a plain TCP connection, one connection per (query, peer), opened by the coordinator.
//!
//! ```text
//! coordinator                          peer
//!   Prepare {sql, query id, cluster} ->   plans, wires its exchanges
//!   Relation {name, hex} x relations ->   (rows of recursive CTEs the SQL names)
//!                                    <-   Prepared {fingerprint} | Finished {error}
//!   Start | Cancel                   ->   runs its tasks
//!                                    <-   Heartbeat (every second while running)
//!                                    <-   HotKeys {exchange, hashes} (skew joins)
//!   HotKeysDecided {exchange, hashes} ->  (once every node voted)
//!   Cancel (on any failure)          ->
//!                                    <-   Finished {error or none, task stats}
//!   Commit {profile} (a load that ended well) -> registers its partitions
//!                                    <-   Finished {error or none}
//!
//! DDL (CREATE EXTERNAL TABLE, DROP TABLE):
//!   Ddl {sql, cluster}               ->   checks it, builds the change
//!                                    <-   Prepared {fingerprint of the change} | Finished {error}
//!   Commit | Cancel                  ->   makes the change | forgets it
//!                                    <-   Finished {error or none}
//! ```
//!
//! A node holds its DDL lock from the first message of a DDL statement or load to
//! its end, so the catalog changes one statement at a time on every node.

use std::io::{Read, Write};

use percore_engine::catalog::profile::TableProfile;
use percore_engine::error::{ErrorCode, ErrorOrigin, QueryError};
use percore_engine::exec::stats::TaskStats;
use percore_net::{FrameHeader, FrameKind, StreamId, HEADER_BYTES};
use serde::{Deserialize, Serialize};

/// The first bytes of a control connection, then the sender's node id (u32 LE).
pub const CONTROL_HELLO: &[u8; 8] = b"PCRCTRL1";
/// SQL is at most 1 MiB (the parser guard); a load's profile takes 8 KiB per column
/// (its distinct-count sketch), so this allows tables of about 2000 columns.
const MAX_CONTROL_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    Prepare {
        query_id: u64,
        coordinator: usize,
        sql: String,
        cluster: String,
        /// The session's `percore.memory_per_core`, if set.
        #[serde(default)]
        memory_per_core: Option<usize>,
        /// The session's `percore.skew_join`, if set.
        #[serde(default)]
        skew_join: Option<bool>,
        /// How many `Relation` messages follow, carrying the statement's bound
        /// relations (see `bound_relations`).
        #[serde(default)]
        relations: usize,
    },
    /// Part of a bound relation's Arrow IPC stream, hex-encoded; `first` starts a
    /// relation, the others continue the one before.
    Relation {
        name: String,
        first: bool,
        hex: String,
    },
    Prepared {
        fingerprint: u64,
    },
    /// A statement that changes the catalog (not a load, which is a `Prepare`).
    Ddl {
        sql: String,
        cluster: String,
    },
    /// Make the prepared catalog change; for a load, `profile` is the whole table's
    /// (rows and statistics: every node records the same).
    Commit {
        #[serde(default)]
        profile: Option<TableProfile>,
    },
    Start,
    Cancel {
        error: WireError,
    },
    Heartbeat,
    /// A node's vote on a skew join's hot keys: the union of the key hashes its probe
    /// producers of `exchange` will spread.
    HotKeys {
        exchange: usize,
        hashes: Vec<u64>,
    },
    /// The union of every node's vote: the keys whose build rows go everywhere.
    HotKeysDecided {
        exchange: usize,
        hashes: Vec<u64>,
    },
    Finished {
        error: Option<WireError>,
        /// What this node's tasks did, for EXPLAIN ANALYZE.
        #[serde(default)]
        stats: Vec<TaskStats>,
        /// For a load: what was measured of the rows this node kept.
        #[serde(default)]
        profile: Option<TableProfile>,
    },
}

/// A [`QueryError`] on the wire: its SQLSTATE (which names its kind), message, and
/// where a task raised it, so the client of whichever node coordinates learns the
/// node, core, stage, partition and operator that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    pub sqlstate: String,
    pub message: String,
    #[serde(default)]
    pub origin: Option<ErrorOrigin>,
}

impl From<&QueryError> for WireError {
    fn from(error: &QueryError) -> Self {
        WireError {
            sqlstate: error.code.sqlstate().to_string(),
            message: error.message.clone(),
            origin: error.origin.clone(),
        }
    }
}

impl From<WireError> for QueryError {
    fn from(error: WireError) -> Self {
        QueryError::new(ErrorCode::from_sqlstate(&error.sqlstate), error.message)
            .with_origin(error.origin)
    }
}

/// # Errors
/// When the socket fails.
pub fn write_message(stream: &mut impl Write, message: &Message) -> std::io::Result<()> {
    let payload = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    let header = FrameHeader::encode(FrameKind::Control, control_stream(), &payload);
    let mut frame = Vec::with_capacity(HEADER_BYTES + payload.len());
    frame.extend_from_slice(&header);
    frame.extend_from_slice(&payload);
    stream.write_all(&frame)?;
    stream.flush()
}

/// Reads one message; anything malformed is an error and the connection must go.
///
/// # Errors
/// Socket errors, bad frames, or JSON that is not a [`Message`].
pub fn read_message(stream: &mut impl Read) -> std::io::Result<Message> {
    let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    let mut header = [0u8; HEADER_BYTES];
    stream.read_exact(&mut header)?;
    let header =
        FrameHeader::parse(&header, MAX_CONTROL_BYTES).map_err(|e| invalid(e.to_string()))?;
    if header.kind != FrameKind::Control {
        return Err(invalid(format!(
            "{:?} frame on a control connection",
            header.kind
        )));
    }
    let mut payload = vec![0u8; header.payload_bytes];
    stream.read_exact(&mut payload)?;
    header
        .verify(&payload)
        .map_err(|e| invalid(e.to_string()))?;
    serde_json::from_slice(&payload).map_err(|e| invalid(format!("bad control message: {e}")))
}

fn control_stream() -> StreamId {
    StreamId {
        query: 0,
        exchange: 0,
        source_partition: 0,
        target_partition: 0,
    }
}

/// A stable 64-bit FNV-1a hash: every node must compute the same fingerprint.
pub fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use percore_engine::error::TaskLocation;

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        let message = Message::Prepare {
            memory_per_core: Some(1 << 20),
            skew_join: Some(false),
            relations: 0,
            query_id: 7,
            coordinator: 1,
            sql: "select 1".into(),
            cluster: "nodes=3".into(),
        };
        let mut bytes = Vec::new();
        write_message(&mut bytes, &message).unwrap();
        assert_eq!(read_message(&mut bytes.as_slice()).unwrap(), message);
        let error =
            read_message(&mut &b"GET / HTTP/1.1\r\n\r\n...................."[..]).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        let truncated = &bytes[..bytes.len() - 1];
        assert!(read_message(&mut &truncated[..]).is_err());
    }

    /// An error crossing nodes keeps its kind and where it was raised.
    #[test]
    fn errors_cross_the_wire_with_their_kind_and_origin() {
        let raised = QueryError::new(ErrorCode::DivisionByZero, "division by zero").with_origin(
            Some(ErrorOrigin {
                location: TaskLocation {
                    node: 2,
                    core: 1,
                    stage: 3,
                    partition: 5,
                },
                operator: Some("Project [a / b]".into()),
            }),
        );
        let message = Message::Cancel {
            error: WireError::from(&raised),
        };
        let mut bytes = Vec::new();
        write_message(&mut bytes, &message).unwrap();
        let Message::Cancel { error } = read_message(&mut bytes.as_slice()).unwrap() else {
            panic!("not a cancel");
        };
        let received = QueryError::from(error);
        assert_eq!(received, raised);
        assert_eq!(
            received.to_string(),
            "ERROR 22012: division by zero\nCONTEXT: node 2 core 1, stage 3 partition 5, \
             operator Project [a / b]"
        );
    }

    /// A valid control frame around damaged JSON: the payload passes the checksum, so
    /// the message decoder itself meets the damage (as from a peer with a bug).
    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut bytes = FrameHeader::encode(FrameKind::Control, control_stream(), payload).to_vec();
        bytes.extend_from_slice(payload);
        bytes
    }

    proptest::proptest! {
        /// Damaged control messages are refused, never a panic: a real message's JSON
        /// with bytes replaced, cut short, or arbitrary.
        #[test]
        fn damaged_control_messages_are_refused_without_a_panic(
            seed in 0usize..4,
            edits in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 0..8),
            cut in proptest::num::usize::ANY,
            arbitrary in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            let error = QueryError::new(ErrorCode::DivisionByZero, "division by zero");
            let messages = [
                Message::Prepare {
                    memory_per_core: Some(1 << 20),
                    skew_join: None,
                    relations: 2,
                    query_id: 9,
                    coordinator: 0,
                    sql: "select sum(l_quantity) from lineitem".into(),
                    cluster: "nodes=3".into(),
                },
                Message::Cancel { error: WireError::from(&error) },
                Message::Finished { error: Some(WireError::from(&error)), stats: Vec::new(), profile: None },
                Message::Heartbeat,
            ];
            let mut payload = serde_json::to_vec(&messages[seed]).unwrap();
            for (at, byte) in edits {
                let at = at % payload.len();
                payload[at] = byte;
            }
            payload.truncate(cut % (payload.len() + 1));
            for bytes in [framed(&payload), framed(&arbitrary), arbitrary.clone()] {
                // Either a message or an error; reaching the end is the property.
                let _ = read_message(&mut bytes.as_slice());
            }
        }
    }
}
