//! Spill files: batches an operator could not keep in memory, written as Arrow IPC
//! through glommio's io_uring file API and read back one batch at a time. Each query
//! spills into its own directory, removed when the query's memory is dropped (it
//! ended, failed or was cancelled); each file is removed as soon as it is dropped.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use glommio::io::BufferedFile;

use super::frames::{FrameEncoder, MAX_FRAME};
use super::size::batch_bytes;
use super::{ByteSize, Reservation};
use crate::error::{ErrorCode, TaskError, TaskResult};
use crate::exec::remote::ipc::IpcStreamDecoder;
use crate::operators::compact::{compact_views, Compact};

/// Bytes a writer gathers before one write to its file: large for a sorted run (one
/// writer at a time), small for hash partitions (many writers at once).
pub const RUN_BUFFER: usize = 1 << 20;
pub const PARTITION_BUFFER: usize = 64 << 10;

/// A node's spill directory and the cap on what all its queries may have on disk.
pub struct SpillDisk {
    dir: PathBuf,
    cap: u64,
    used: AtomicU64,
    /// Every byte ever written to spill files here.
    written: AtomicU64,
}

/// Numbers every query's spill directory in this process: several nodes or clusters
/// in one process may share a spill directory.
static NEXT_SPACE: AtomicU64 = AtomicU64::new(0);

impl SpillDisk {
    pub fn new(dir: PathBuf, cap: u64) -> Arc<SpillDisk> {
        Arc::new(SpillDisk {
            dir,
            cap,
            used: AtomicU64::new(0),
            written: AtomicU64::new(0),
        })
    }

    /// Bytes of spill files on disk now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Bytes ever written to spill files (loaded tables' files included).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    fn try_take(&self, bytes: u64) -> bool {
        let taken = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.cap)
            })
            .is_ok();
        if taken {
            self.written.fetch_add(bytes, Ordering::Relaxed);
        }
        taken
    }

    fn give_back(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// One query's spill directory on one node, created on first use.
pub struct SpillSpace {
    disk: Option<Arc<SpillDisk>>,
    dir: PathBuf,
    created: Mutex<bool>,
    next_file: AtomicU64,
}

impl SpillSpace {
    pub fn new(disk: &Arc<SpillDisk>) -> SpillSpace {
        SpillSpace::named(disk, "q")
    }

    /// A directory named for what it holds (`q` for a query's), numbered within the
    /// process.
    pub fn named(disk: &Arc<SpillDisk>, kind: &str) -> SpillSpace {
        let number = NEXT_SPACE.fetch_add(1, Ordering::Relaxed);
        SpillSpace {
            dir: disk
                .dir
                .join(format!("percore-{}-{kind}{number}", std::process::id())),
            disk: Some(Arc::clone(disk)),
            created: Mutex::new(false),
            next_file: AtomicU64::new(0),
        }
    }

    /// No spilling: operators that run out of memory fail.
    pub fn disabled() -> SpillSpace {
        SpillSpace {
            disk: None,
            dir: PathBuf::new(),
            created: Mutex::new(false),
            next_file: AtomicU64::new(0),
        }
    }

    fn new_path(&self) -> TaskResult<(Arc<SpillDisk>, PathBuf)> {
        let disk = self.disk.clone().ok_or_else(|| {
            TaskError::new(
                ErrorCode::ResourcesExhausted,
                "spilling is disabled for this query",
            )
        })?;
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        if !*created {
            std::fs::create_dir_all(&self.dir).map_err(|e| {
                spill_error(format!(
                    "cannot create spill directory {}: {e}",
                    self.dir.display()
                ))
            })?;
            *created = true;
        }
        let file = self.next_file.fetch_add(1, Ordering::Relaxed);
        Ok((disk, self.dir.join(format!("{file}.arrows"))))
    }
}

impl Drop for SpillSpace {
    fn drop(&mut self) {
        if *self.created.get_mut().unwrap_or_else(|e| e.into_inner()) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn spill_error(message: String) -> TaskError {
    TaskError::new(ErrorCode::ResourcesExhausted, message)
}

/// Writes batches to a new spill file: each batch is one frame, a little-endian u32
/// length and the batch's Arrow IPC messages (the first frame also holds the schema).
pub struct SpillWriter {
    disk: Arc<SpillDisk>,
    path: PathBuf,
    file: Option<BufferedFile>,
    encoder: FrameEncoder,
    pending: Vec<u8>,
    written: u64,
    rows: usize,
    largest_batch: usize,
    buffer: usize,
    /// Holds the buffer's memory on the operator's core while the writer lives.
    _buffer_memory: Reservation,
}

impl SpillWriter {
    /// A writer gathering `buffer` bytes per write; `memory` is charged for them.
    ///
    /// # Errors
    /// When spilling is disabled or the file cannot be created.
    pub async fn create(
        space: &SpillSpace,
        schema: &SchemaRef,
        buffer: usize,
        mut memory: Reservation,
    ) -> TaskResult<SpillWriter> {
        let (disk, path) = space.new_path()?;
        let file = BufferedFile::create(&path).await.map_err(|e| {
            spill_error(format!("cannot create spill file {}: {e}", path.display()))
        })?;
        Ok(SpillWriter {
            disk,
            path,
            file: Some(file),
            encoder: FrameEncoder::new(schema)?,
            pending: Vec::new(),
            written: 0,
            rows: 0,
            largest_batch: 0,
            buffer,
            _buffer_memory: {
                // The encoded batch passes through too; one buffer's worth stands for it.
                memory.grow_forced(2 * buffer);
                memory
            },
        })
    }

    /// # Errors
    /// I/O errors, or the node's spill cap reached.
    pub async fn write(&mut self, batch: &RecordBatch) -> TaskResult<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = compact_views(batch, Compact::Wasteful)?;
        self.largest_batch = self.largest_batch.max(batch_bytes(&batch));
        self.rows += batch.num_rows();
        self.encoder.encode(&batch, &mut self.pending)?;
        if self.pending.len() >= self.buffer {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> TaskResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bytes = self.pending.len() as u64;
        if !self.disk.try_take(bytes) {
            return Err(spill_error(format!(
                "spill disk cap of {} reached in {}",
                ByteSize(self.disk.cap as usize),
                self.disk.dir.display()
            )));
        }
        let file = self.file.as_ref().expect("open until finished");
        let chunk = std::mem::take(&mut self.pending);
        let position = self.written;
        // Counted before writing, so a failed write is still given back on drop.
        self.written += bytes;
        let wrote = file
            .write_at(chunk, position)
            .await
            .map_err(|e| spill_error(format!("spill write to {}: {e}", self.path.display())))?;
        // Buffered writes to a local file are whole unless the disk is full.
        if wrote as u64 != bytes {
            return Err(spill_error(format!(
                "spill write to {} was short ({wrote} of {bytes} bytes): is the disk full?",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// # Errors
    /// I/O errors, or the node's spill cap reached.
    pub async fn finish(mut self) -> TaskResult<SpillFile> {
        self.flush().await?;
        if let Some(file) = self.file.take() {
            let _ = file.close().await;
        }
        let finished = SpillFile {
            disk: Arc::clone(&self.disk),
            path: std::mem::take(&mut self.path),
            bytes: self.written,
            rows: self.rows,
            largest_batch: self.largest_batch,
        };
        self.written = 0;
        Ok(finished)
    }
}

impl Drop for SpillWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
            self.disk.give_back(self.written);
        }
    }
}

/// A finished spill file; removed from disk when dropped.
pub struct SpillFile {
    disk: Arc<SpillDisk>,
    path: PathBuf,
    bytes: u64,
    rows: usize,
    largest_batch: usize,
}

impl SpillFile {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// In-memory bytes of the largest batch written: what reading it back needs.
    pub fn largest_batch(&self) -> usize {
        self.largest_batch
    }

    /// # Errors
    /// When the file cannot be opened.
    pub async fn reader(&self) -> TaskResult<SpillReader> {
        SpillReader::open(&self.path, 0, self.bytes, None).await
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        self.disk.give_back(self.bytes);
    }
}

/// Bytes read from disk at once: many small frames (hash partitions of batches) come
/// in one read instead of one round trip through the ring each.
const READ_AHEAD: usize = 256 << 10;

/// Reads a spill file back, one batch in memory at a time (plus a read-ahead chunk).
pub struct SpillReader {
    file: BufferedFile,
    position: u64,
    end: u64,
    /// Bytes of the file from `chunk_start`, read ahead.
    chunk: Vec<u8>,
    chunk_start: u64,
    decoder: IpcStreamDecoder,
    decoded: VecDeque<RecordBatch>,
}

impl SpillReader {
    /// Reads the frames from byte `start` to `end` of `path`; `schema` for a start
    /// past the first frame.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub async fn open(
        path: &Path,
        start: u64,
        end: u64,
        schema: Option<SchemaRef>,
    ) -> TaskResult<SpillReader> {
        let file = BufferedFile::open(path)
            .await
            .map_err(|e| spill_error(format!("cannot open {}: {e}", path.display())))?;
        Ok(SpillReader {
            file,
            position: start,
            end,
            chunk: Vec::new(),
            chunk_start: 0,
            decoder: schema.map_or_else(IpcStreamDecoder::default, IpcStreamDecoder::with_schema),
            decoded: VecDeque::new(),
        })
    }

    /// # Errors
    /// I/O errors or a damaged file.
    pub async fn next(&mut self) -> TaskResult<Option<RecordBatch>> {
        while self.decoded.is_empty() {
            if self.position >= self.end {
                return Ok(None);
            }
            let header = self.bytes(self.position, 4).await?;
            let length = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as u64;
            if length > MAX_FRAME || length > self.end - self.position - 4 {
                return Err(TaskError::internal("a spill frame runs past its file"));
            }
            let payload = self
                .bytes(self.position + 4, length as usize)
                .await?
                .to_vec();
            self.position += 4 + length;
            let batches = self
                .decoder
                .decode(&Buffer::from_vec(payload))
                .map_err(|e| TaskError::internal(format!("damaged spill file: {e}")))?;
            self.decoded.extend(batches);
        }
        Ok(self.decoded.pop_front())
    }

    /// `length` bytes at `position`, from the read-ahead chunk or a new one.
    async fn bytes(&mut self, position: u64, length: usize) -> TaskResult<&[u8]> {
        let chunk_end = self.chunk_start + self.chunk.len() as u64;
        if position < self.chunk_start || position + length as u64 > chunk_end {
            let wanted = (length.max(READ_AHEAD) as u64).min(self.end - position) as usize;
            self.chunk = self.read(position, wanted).await?;
            self.chunk_start = position;
        }
        let at = (position - self.chunk_start) as usize;
        Ok(&self.chunk[at..at + length])
    }

    async fn read(&self, position: u64, length: usize) -> TaskResult<Vec<u8>> {
        let mut bytes = Vec::with_capacity(length);
        while bytes.len() < length {
            let at = position + bytes.len() as u64;
            let read = self
                .file
                .read_at(at, length - bytes.len())
                .await
                .map_err(|e| spill_error(format!("spill read: {e}")))?;
            if read.is_empty() {
                return Err(TaskError::internal("a spill file ended early"));
            }
            bytes.extend_from_slice(&read);
        }
        Ok(bytes)
    }
}
