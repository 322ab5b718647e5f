//! The file format of spill files and of loaded tables on disk: a sequence of frames,
//! each a little-endian u32 length and the Arrow IPC stream messages of one batch
//! (the first frame also holds the schema). A reader that knows the schema can start
//! at any frame, which lets a table keep its first rows in memory and read the rest
//! from the middle of a file.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use crate::error::{TaskError, TaskResult};
use crate::exec::remote::ipc::IpcStreamDecoder;

/// The most one frame may claim: a length read from a damaged file must not become
/// an allocation of that size.
pub const MAX_FRAME: u64 = 1 << 31;

/// Encodes batches into frames.
pub struct FrameEncoder {
    encoder: StreamWriter<Vec<u8>>,
}

impl FrameEncoder {
    /// # Errors
    /// A schema Arrow IPC cannot encode.
    pub fn new(schema: &SchemaRef) -> TaskResult<FrameEncoder> {
        Ok(FrameEncoder {
            encoder: StreamWriter::try_new(Vec::new(), schema)?,
        })
    }

    /// Appends `batch`'s frame to `out`.
    ///
    /// # Errors
    /// A batch Arrow IPC cannot encode, or one over 4 GiB encoded.
    pub fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> TaskResult<()> {
        self.encoder.write(batch)?;
        let encoded = std::mem::take(self.encoder.get_mut());
        let length = u32::try_from(encoded.len())
            .map_err(|_| TaskError::internal("an encoded batch over 4 GiB"))?;
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&encoded);
        Ok(())
    }

    /// Appends a frame with the schema alone if no batch carried it yet, so a file
    /// with no rows still says what columns it has.
    ///
    /// # Errors
    /// Never in practice: the schema was encoded already.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> TaskResult<()> {
        let encoded = std::mem::take(self.encoder.get_mut());
        if !encoded.is_empty() {
            let length = u32::try_from(encoded.len())
                .map_err(|_| TaskError::internal("a schema over 4 GiB"))?;
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(&encoded);
        }
        Ok(())
    }
}

/// Reads frames with blocking reads, for threads that are not data cores (writing a
/// table to the data directory, restoring it at start).
pub struct FrameFileReader {
    path: PathBuf,
    file: BufReader<File>,
    position: u64,
    end: u64,
    decoder: IpcStreamDecoder,
}

impl FrameFileReader {
    /// Frames from byte `start` to `end` of `path`; `schema` for a start past the
    /// first frame.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(
        path: &Path,
        start: u64,
        end: u64,
        schema: Option<SchemaRef>,
    ) -> std::io::Result<FrameFileReader> {
        let mut file = BufReader::with_capacity(1 << 20, File::open(path)?);
        file.seek(SeekFrom::Start(start))?;
        Ok(FrameFileReader {
            path: path.to_path_buf(),
            file,
            position: start,
            end,
            decoder: schema.map_or_else(IpcStreamDecoder::default, IpcStreamDecoder::with_schema),
        })
    }

    /// The schema, once the first frame was read (or as given).
    pub fn schema(&self) -> Option<&SchemaRef> {
        self.decoder.schema()
    }

    /// Where the next frame starts.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The batches of the next frame, or `None` at the end.
    ///
    /// # Errors
    /// I/O errors and damaged frames, naming the file and offset.
    pub fn next_frame(&mut self) -> Result<Option<Vec<RecordBatch>>, String> {
        if self.position >= self.end {
            return Ok(None);
        }
        let at = self.position;
        let damaged = |what: String| format!("{} at byte {at}: {what}", self.path.display());
        let mut header = [0; 4];
        self.file
            .read_exact(&mut header)
            .map_err(|e| damaged(e.to_string()))?;
        let length = u64::from(u32::from_le_bytes(header));
        if length > MAX_FRAME || length > self.end - at - 4 {
            return Err(damaged(format!(
                "a frame of {length} bytes runs past the file"
            )));
        }
        let mut payload = vec![0; length as usize];
        self.file
            .read_exact(&mut payload)
            .map_err(|e| damaged(e.to_string()))?;
        self.position = at + 4 + length;
        self.decoder
            .decode(&Buffer::from_vec(payload))
            .map(Some)
            .map_err(damaged)
    }
}
