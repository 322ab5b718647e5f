//! Decodes the Arrow IPC stream of one exchange stream, message by message. Arrow's
//! `StreamDecoder` validates every batch its own way (string views one UTF-8 check
//! per value, most of the receiver's time); this decoder lets Arrow build the arrays
//! unvalidated and runs [`validate_batch`], which checks the same properties faster,
//! before the batch goes anywhere.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::ipc::convert::fb_to_schema;
use arrow::ipc::reader::RecordBatchDecoder;
use arrow::ipc::{root_as_message, MessageHeader};
use arrow::record_batch::RecordBatch;
use arrow_data::UnsafeFlag;

use super::validate::validate_batch;

const CONTINUATION: [u8; 4] = [0xff; 4];

#[derive(Default)]
pub struct IpcStreamDecoder {
    schema: Option<SchemaRef>,
}

impl IpcStreamDecoder {
    /// A decoder for a stream read from past its schema message.
    pub fn with_schema(schema: SchemaRef) -> IpcStreamDecoder {
        IpcStreamDecoder {
            schema: Some(schema),
        }
    }

    /// The schema the stream declared (or was given), once known.
    pub fn schema(&self) -> Option<&SchemaRef> {
        self.schema.as_ref()
    }

    /// Decodes every message in `payload` (a schema message, then batches).
    ///
    /// # Errors
    /// Malformed messages, unsupported message kinds, or invalid array data.
    pub fn decode(&mut self, payload: &Buffer) -> Result<Vec<RecordBatch>, String> {
        let mut batches = Vec::new();
        let mut at = 0;
        while at < payload.len() {
            let bytes = &payload.as_slice()[at..];
            if bytes.len() < 8 || bytes[..4] != CONTINUATION {
                return Err("an Arrow IPC message must start with a continuation marker".into());
            }
            let meta_len = i32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
            let meta_len = usize::try_from(meta_len).map_err(|_| "negative metadata length")?;
            if meta_len == 0 {
                // End-of-stream marker.
                at += 8;
                continue;
            }
            let meta = bytes
                .get(8..8 + meta_len)
                .ok_or("IPC metadata runs past the frame")?;
            let message = root_as_message(meta).map_err(|e| format!("bad IPC metadata: {e}"))?;
            let body_len =
                usize::try_from(message.bodyLength()).map_err(|_| "negative IPC body length")?;
            let body_start = at + 8 + meta_len;
            if body_len > payload.len() - body_start {
                return Err("IPC body runs past the frame".into());
            }
            let body = payload.slice_with_length(body_start, body_len);
            match message.header_type() {
                MessageHeader::Schema => {
                    let schema = message.header_as_schema().ok_or("bad IPC schema")?;
                    self.schema = Some(Arc::new(fb_to_schema(schema)));
                }
                MessageHeader::RecordBatch => {
                    let schema = self.schema.clone().ok_or("IPC batch before its schema")?;
                    let batch = message.header_as_record_batch().ok_or("bad IPC batch")?;
                    let dictionaries: HashMap<i64, ArrayRef> = HashMap::new();
                    let version = message.version();
                    let mut skip = UnsafeFlag::new();
                    // SAFETY: the batch is validated below before anyone reads it.
                    unsafe { skip.set(true) };
                    let decoded =
                        RecordBatchDecoder::try_new(&body, batch, schema, &dictionaries, &version)
                            .and_then(|decoder| {
                                decoder.with_skip_validation(skip).read_record_batch()
                            })
                            .map_err(|e| format!("bad IPC batch: {e}"))?;
                    validate_batch(&decoded).map_err(|e| format!("invalid Arrow data: {e}"))?;
                    batches.push(decoded);
                }
                other => {
                    return Err(format!(
                        "IPC {other:?} messages are not used between Percore nodes"
                    ))
                }
            }
            at = body_start + body_len;
        }
        Ok(batches)
    }
}

#[cfg(test)]
mod tests {
    use arrow::ipc::writer::StreamWriter;

    use super::*;

    #[test]
    fn decodes_what_the_stream_writer_wrote_and_refuses_truncation() {
        let catalog = crate::catalog::tpch::generate(0.01, 1, 1000).unwrap();
        let batch = catalog.table("lineitem").unwrap().partitions[0][0].clone();
        let mut writer = StreamWriter::try_new(Vec::new(), &batch.schema()).unwrap();
        writer.write(&batch).unwrap();
        let first = std::mem::take(writer.get_mut());
        writer.write(&batch.slice(10, 20)).unwrap();
        let second = std::mem::take(writer.get_mut());
        let mut decoder = IpcStreamDecoder::default();
        let decoded = decoder.decode(&Buffer::from_vec(first.clone())).unwrap();
        assert_eq!(decoded, vec![batch.clone()]);
        let decoded = decoder.decode(&Buffer::from_vec(second.clone())).unwrap();
        assert_eq!(decoded, vec![batch.slice(10, 20)]);
        for cut in [1, 7, 100, second.len() - 1] {
            let truncated = Buffer::from_vec(second[..cut].to_vec());
            assert!(decoder.decode(&truncated).is_err(), "cut at {cut}");
        }
        // A batch before any schema.
        assert!(IpcStreamDecoder::default()
            .decode(&Buffer::from_vec(second))
            .is_err());
    }
}
