//! Rows of a loaded table that live on local disk rather than in memory: those a load
//! wrote when its core's table memory was full, or those a restart left in the data
//! directory's file. Scans read them back a batch at a time through io_uring.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::error::{ErrorCode, QueryError, QueryResult, TaskResult};
use crate::memory::frames::FrameFileReader;
use crate::memory::spill::{SpillFile, SpillReader};
use crate::memory::TableMemoryHold;

/// A range of frames in a file, holding rows of one partition.
#[derive(Clone)]
pub struct StoredRows {
    path: PathBuf,
    start: u64,
    end: u64,
    rows: usize,
    schema: SchemaRef,
    /// A file the load wrote: removed when the last table naming it is dropped.
    _owner: Option<Arc<SpillFile>>,
}

impl std::fmt::Debug for StoredRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "StoredRows({} rows in {} bytes {}..{})",
            self.rows,
            self.path.display(),
            self.start,
            self.end
        )
    }
}

impl StoredRows {
    /// The rows a load spilled.
    pub fn spilled(file: SpillFile, schema: SchemaRef) -> StoredRows {
        StoredRows {
            path: file.path().to_path_buf(),
            start: 0,
            end: file.bytes(),
            rows: file.rows(),
            schema,
            _owner: Some(Arc::new(file)),
        }
    }

    /// Rows in a file someone else keeps (the data directory).
    pub fn in_file(path: &Path, start: u64, end: u64, rows: usize, schema: SchemaRef) -> Self {
        StoredRows {
            path: path.to_path_buf(),
            start,
            end,
            rows,
            schema,
            _owner: None,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn bytes(&self) -> u64 {
        self.end - self.start
    }

    /// Reads the rows back on a data core.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub async fn reader(&self) -> TaskResult<SpillReader> {
        SpillReader::open(
            &self.path,
            self.start,
            self.end,
            Some(Arc::clone(&self.schema)),
        )
        .await
    }

    /// Every batch, read with blocking reads (off the data cores).
    pub fn read_batches(&self) -> impl Iterator<Item = QueryResult<RecordBatch>> {
        let damaged = |error: String| {
            QueryError::new(
                ErrorCode::DataException,
                format!("table rows on disk: {error}"),
            )
        };
        let opened = FrameFileReader::open(
            &self.path,
            self.start,
            self.end,
            Some(Arc::clone(&self.schema)),
        )
        .map_err(|e| damaged(format!("{}: {e}", self.path.display())));
        let mut reader = None;
        let mut failed = None;
        match opened {
            Ok(opened) => reader = Some(opened),
            Err(error) => failed = Some(error),
        }
        let mut pending = std::collections::VecDeque::new();
        std::iter::from_fn(move || loop {
            if let Some(error) = failed.take() {
                reader = None;
                return Some(Err(error));
            }
            if let Some(batch) = pending.pop_front() {
                return Some(Ok(batch));
            }
            match reader.as_mut()?.next_frame() {
                Ok(Some(batches)) => pending.extend(batches),
                Ok(None) => return None,
                Err(error) => failed = Some(damaged(error)),
            }
        })
    }
}

/// One partition of a loaded table on this node: batches in memory (holding table
/// memory on their core) and the rows that did not fit, on disk.
#[derive(Debug, Default)]
pub struct PartitionRows {
    pub batches: Vec<RecordBatch>,
    pub on_disk: Vec<StoredRows>,
    pub memory: Option<TableMemoryHold>,
}

impl PartitionRows {
    pub fn in_memory(batches: Vec<RecordBatch>) -> PartitionRows {
        PartitionRows {
            batches,
            ..PartitionRows::default()
        }
    }

    pub fn rows(&self) -> usize {
        self.batches
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>()
            + self.on_disk.iter().map(StoredRows::rows).sum::<usize>()
    }

    /// Every batch, those in memory first (blocking reads for the rest: not on a
    /// data core).
    pub fn read_batches(&self) -> impl Iterator<Item = QueryResult<RecordBatch>> + '_ {
        self.batches
            .iter()
            .cloned()
            .map(Ok)
            .chain(self.on_disk.iter().flat_map(StoredRows::read_batches))
    }

    /// Every batch, read into memory (small tables, tools and tests).
    ///
    /// # Errors
    /// Unreadable or damaged files.
    pub fn all_batches(&self) -> QueryResult<Vec<RecordBatch>> {
        self.read_batches().collect()
    }
}

/// What a loaded table keeps besides its in-memory batches: per partition, its rows
/// on disk, and the table memory its batches hold (given back when it is dropped).
#[derive(Debug, Default)]
pub struct LoadedStorage {
    pub on_disk: Vec<Vec<StoredRows>>,
    pub memory: Vec<TableMemoryHold>,
}

impl LoadedStorage {
    /// Rows of partition `partition` on disk.
    pub fn on_disk(&self, partition: usize) -> &[StoredRows] {
        self.on_disk.get(partition).map_or(&[], Vec::as_slice)
    }

    /// Bytes of this node's partitions in memory and on disk (a replicated table's
    /// partitions share their files: each counts once).
    pub fn bytes(&self) -> (usize, u64) {
        let memory = self.memory.iter().map(TableMemoryHold::bytes).sum();
        let files: std::collections::HashMap<(&Path, u64), u64> = self
            .on_disk
            .iter()
            .flatten()
            .map(|stored| ((stored.path.as_path(), stored.start), stored.bytes()))
            .collect();
        (memory, files.values().sum())
    }
}
