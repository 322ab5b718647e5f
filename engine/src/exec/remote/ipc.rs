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
                    let schema = refusing_panics("schema", || Ok(fb_to_schema(schema)))?;
                    self.schema = Some(Arc::new(schema));
                }
                MessageHeader::RecordBatch => {
                    let schema = self.schema.clone().ok_or("IPC batch before its schema")?;
                    let batch = message.header_as_record_batch().ok_or("bad IPC batch")?;
                    check_layout(&batch, body_len)?;
                    let dictionaries: HashMap<i64, ArrayRef> = HashMap::new();
                    let version = message.version();
                    let mut skip = UnsafeFlag::new();
                    // SAFETY: the batch is validated below before anyone reads it.
                    unsafe { skip.set(true) };
                    let decoded = refusing_panics("batch", || {
                        RecordBatchDecoder::try_new(&body, batch, schema, &dictionaries, &version)
                            .and_then(|decoder| {
                                decoder.with_skip_validation(skip).read_record_batch()
                            })
                            .map_err(|e| format!("bad IPC batch: {e}"))
                    })?;
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

/// Refuses a batch whose buffers lie outside its body or whose lengths are negative,
/// before Arrow's decoder (which slices buffers without checking) sees it.
fn check_layout(batch: &arrow::ipc::RecordBatch, body_len: usize) -> Result<(), String> {
    if batch.length() < 0 {
        return Err("negative IPC batch length".into());
    }
    for buffer in batch.buffers().into_iter().flatten() {
        let end = usize::try_from(buffer.offset())
            .ok()
            .zip(usize::try_from(buffer.length()).ok())
            .and_then(|(offset, length)| offset.checked_add(length));
        if end.is_none_or(|end| end > body_len) {
            return Err(format!(
                "IPC buffer at {} of {} bytes lies outside the {body_len}-byte body",
                buffer.offset(),
                buffer.length()
            ));
        }
    }
    if batch
        .nodes()
        .into_iter()
        .flatten()
        .any(|node| node.length() < 0 || node.null_count() < 0)
    {
        return Err("negative IPC array length or null count".into());
    }
    Ok(())
}

/// Runs Arrow's decoding of a peer's bytes, turning a panic on input it did not
/// expect (an unknown type, say) into an error: a damaged frame fails its query.
fn refusing_panics<T>(what: &str, decode: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode))
        .unwrap_or_else(|_| Err(format!("malformed IPC {what}: Arrow's decoder refused it")))
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

    /// A schema message and a batch of the types exchanges carry, with nulls.
    fn sample_payload() -> Vec<u8> {
        use arrow::array::{
            BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, StringViewArray,
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![
                Some(1),
                None,
                Some(-7),
                Some(i64::MAX),
            ])),
            Arc::new(
                Decimal128Array::from(vec![Some(12345), Some(-1), None, Some(0)])
                    .with_precision_and_scale(15, 2)
                    .unwrap(),
            ),
            Arc::new(StringViewArray::from(vec![
                Some("short"),
                Some("a string longer than twelve bytes"),
                None,
                Some("été à Zürich, long enough"),
            ])),
            Arc::new(Date32Array::from(vec![Some(9000), None, Some(0), Some(-1)])),
            Arc::new(Float64Array::from(vec![
                Some(0.5),
                Some(f64::NAN),
                None,
                Some(1e300),
            ])),
            Arc::new(BooleanArray::from(vec![
                Some(true),
                None,
                Some(false),
                Some(true),
            ])),
        ];
        let batch = RecordBatch::try_from_iter_with_nullable(
            ["i", "d", "s", "day", "f", "b"]
                .into_iter()
                .zip(columns)
                .map(|(name, column)| (name, column, true)),
        )
        .unwrap();
        let mut writer = StreamWriter::try_new(Vec::new(), &batch.schema()).unwrap();
        writer.write(&batch).unwrap();
        writer.into_inner().unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 2000,
            rng_seed: proptest::test_runner::RngSeed::Fixed(1),
            ..proptest::prelude::ProptestConfig::default()
        })]
        /// A peer's frame payload with bytes changed or cut never panics the decoder,
        /// and whatever it accepts passes Arrow's own full validation (the decoder
        /// builds arrays unvalidated, so accepting invalid data would be unsound).
        #[test]
        fn damaged_payloads_are_refused_or_valid(
            changes in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 1..6),
            cut in proptest::option::of(proptest::num::usize::ANY),
        ) {
            let mut bytes = sample_payload();
            for (at, value) in changes {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut % bytes.len());
            }
            let decoded = std::panic::catch_unwind(|| {
                IpcStreamDecoder::default().decode(&Buffer::from_vec(bytes))
            });
            let decoded = decoded.map_err(|_| proptest::test_runner::TestCaseError::fail("decoder panicked"))?;
            if let Ok(batches) = decoded {
                for batch in batches {
                    for column in batch.columns() {
                        proptest::prop_assert!(column.to_data().validate_full().is_ok());
                    }
                }
            }
        }
    }
}
