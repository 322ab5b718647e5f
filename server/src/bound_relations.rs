//! A statement's bound relations (the rows of its recursive CTEs) on their way to
//! the peers: each relation's Arrow IPC stream in `Relation` control messages of at
//! most [`CHUNK_BYTES`], right after `Prepare`, which says how many follow.

use std::io::Read;

use percore_engine::catalog::bound::BoundRelation;
use percore_engine::error::{ErrorCode, QueryError, QueryResult};
use percore_engine::hex;
use percore_engine::memory::ByteSize;

use crate::control::{read_message, Message};

/// IPC bytes per message: hex doubles them, well inside a control frame's limit.
const CHUNK_BYTES: usize = 4 << 20;

/// The messages that carry `relations`, in order.
///
/// # Errors
/// Columns Arrow's IPC cannot write.
pub fn relation_messages(relations: &[BoundRelation]) -> QueryResult<Vec<Message>> {
    let mut messages = Vec::new();
    for relation in relations {
        let bytes = relation.to_ipc()?;
        for (index, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
            messages.push(Message::Relation {
                name: relation.name.clone(),
                first: index == 0,
                hex: hex::encode(chunk),
            });
        }
    }
    Ok(messages)
}

/// Reads `count` `Relation` messages back into relations, refusing more than
/// `limit` bytes in all (the coordinator holds them to its memory budget too).
///
/// # Errors
/// The socket's errors as `Err`; malformed or oversized relations as `Ok(Err)`, so
/// the peer can still answer the coordinator with a clear error.
pub fn read_relations(
    connection: &mut impl Read,
    count: usize,
    limit: usize,
) -> std::io::Result<QueryResult<Vec<BoundRelation>>> {
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    let mut total = 0usize;
    let mut refused = None;
    for _ in 0..count {
        let Message::Relation {
            name,
            first,
            hex: text,
        } = read_message(connection)?
        else {
            return Err(std::io::Error::other("expected a Relation message"));
        };
        total = total.saturating_add(text.len() / 2);
        if refused.is_some() {
            continue;
        }
        if total > limit {
            refused = Some(QueryError::new(
                ErrorCode::ResourcesExhausted,
                format!(
                    "the statement's recursive query rows exceed this node's {} per core",
                    ByteSize(limit)
                ),
            ));
            continue;
        }
        let Some(bytes) = hex::decode(&text) else {
            refused = Some(QueryError::internal(format!(
                "relation {name} arrived with bytes that are not hex"
            )));
            continue;
        };
        match parts.last_mut() {
            Some((last, held)) if !first && *last == name => held.extend_from_slice(&bytes),
            _ => parts.push((name, bytes)),
        }
    }
    if let Some(error) = refused {
        return Ok(Err(error));
    }
    Ok(parts
        .iter()
        .map(|(name, bytes)| BoundRelation::from_ipc(name, bytes))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;

    use super::*;
    use crate::control::write_message;

    fn relation(name: &str, rows: i64) -> BoundRelation {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from_iter_values(0..rows))],
        )
        .unwrap();
        BoundRelation {
            name: name.into(),
            schema,
            batches: vec![batch],
        }
    }

    fn wire(relations: &[BoundRelation]) -> (Vec<u8>, usize) {
        let messages = relation_messages(relations).unwrap();
        let mut bytes = Vec::new();
        for message in &messages {
            write_message(&mut bytes, message).unwrap();
        }
        (bytes, messages.len())
    }

    #[test]
    fn relations_cross_in_chunks_and_an_oversized_one_is_refused() {
        // A million rows take two chunks.
        let sent = [relation("a", 1_000_000), relation("b", 3)];
        let (bytes, count) = wire(&sent);
        assert_eq!(count, 3);
        let back = read_relations(&mut bytes.as_slice(), count, 64 << 20)
            .unwrap()
            .unwrap();
        assert_eq!(back.len(), 2);
        for (back, sent) in back.iter().zip(&sent) {
            assert_eq!((&back.name, &back.batches), (&sent.name, &sent.batches));
        }
        let refused = read_relations(&mut bytes.as_slice(), count, 1 << 20)
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::ResourcesExhausted);
    }
}
