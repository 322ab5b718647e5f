//! Scans of external Parquet tables. Each task reads the row groups assigned to its
//! partition, one at a time: the byte ranges of the projected columns' chunks come
//! through glommio's io_uring file API (the core never blocks on a read, so its
//! heartbeats and exchanges go on), then the `parquet` crate decodes them from
//! memory, in batches of the batch size. The fetched bytes are reserved while their
//! row group is decoded (one row group at a time is the least a scan needs, so it may
//! take it beyond the budget, as any operator's first batch). Pushed-down filters
//! run on the decoded batches as for in-memory tables.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use bytes::{Buf, Bytes};
use glommio::io::BufferedFile;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};

use super::operator_memory::OperatorMemory;
use super::parquet_prune::may_match;
use super::query::QueryState;
use super::stream::{BatchStream, BoxFuture, DecodedColumns, StreamContext};
use crate::catalog::parquet_table::{ParquetFile, ParquetSource};
use crate::error::{ErrorCode, TaskError, TaskResult};
use crate::plan::node::ScanNode;

pub(crate) struct ParquetScanStream {
    /// The fetched column chunks of the row group being decoded; row groups read and
    /// skipped (reported when the scan is dropped).
    memory: OperatorMemory,
    source: Arc<ParquetSource>,
    /// This partition's (file, row group) pairs, and the next one to read.
    row_groups: Vec<(usize, usize)>,
    next_group: usize,
    reader: Option<ParquetRecordBatchReader>,
    node: ScanNode,
    /// The table columns read, in file order (how they are decoded).
    decoded_columns: DecodedColumns,
    batch_rows: usize,
    query: Arc<QueryState>,
}

impl ParquetScanStream {
    /// `name` is the operator as EXPLAIN shows it.
    pub fn new(
        node: &ScanNode,
        source: &Arc<ParquetSource>,
        name: &str,
        context: &StreamContext,
    ) -> TaskResult<Self> {
        let decoded_columns = DecodedColumns::of(node);
        let assigned = source
            .assignments
            .get(context.location.partition)
            .cloned()
            .unwrap_or_default();
        let read_schema = node.table.schema.project(&node.read_columns)?;
        let mut row_groups = Vec::with_capacity(assigned.len());
        for (file_index, file) in source.files.iter().enumerate() {
            let groups: Vec<usize> = assigned
                .iter()
                .filter(|(f, _)| *f == file_index)
                .map(|(_, g)| *g)
                .collect();
            let keep = may_match(file, &groups, &node.filters, &read_schema);
            row_groups.extend(
                groups
                    .iter()
                    .zip(keep)
                    .filter(|(_, keep)| *keep)
                    .map(|(g, _)| (file_index, *g)),
            );
        }
        let mut memory = OperatorMemory::new(name, context);
        memory.row_groups(row_groups.len(), assigned.len() - row_groups.len());
        Ok(ParquetScanStream {
            memory,
            row_groups,
            source: Arc::clone(source),
            next_group: 0,
            reader: None,
            node: node.clone(),
            decoded_columns,
            batch_rows: context.config.batch_rows.max(1),
            query: Arc::clone(&context.query),
        })
    }

    /// Opens the next row group: reads its projected column chunks.
    async fn open_next(&mut self) -> TaskResult<bool> {
        let Some(&(file_index, group)) = self.row_groups.get(self.next_group) else {
            return Ok(false);
        };
        self.next_group += 1;
        let file = &self.source.files[file_index];
        let metadata = file.metadata.metadata();
        let schema = metadata.file_metadata().schema_descr();
        let mask = ProjectionMask::roots(schema, self.decoded_columns.columns.iter().copied());
        let row_group = metadata.row_group(group);
        let mut ranges = Vec::new();
        for leaf in 0..row_group.num_columns() {
            if mask.leaf_included(leaf) {
                ranges.push(row_group.column(leaf).byte_range());
            }
        }
        self.memory.reservation.free();
        let bytes: u64 = ranges.iter().map(|(_, length)| length).sum();
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        if !self.memory.grow_first(bytes) {
            return Err(self.memory.exhausted(bytes));
        }
        let fetched = fetch(file, &ranges).await?;
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(fetched, file.metadata.clone())
                .with_row_groups(vec![group])
                .with_projection(mask)
                .with_batch_size(self.batch_rows)
                .build()
                .map_err(|e| file_error(file, &e.to_string()))?;
        self.reader = Some(reader);
        Ok(true)
    }

    fn process(&self, batch: RecordBatch) -> TaskResult<RecordBatch> {
        self.decoded_columns.scan(&self.node, batch)
    }
}

impl BatchStream for ParquetScanStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            loop {
                self.query.check_cancelled()?;
                if let Some(reader) = self.reader.as_mut() {
                    match reader.next() {
                        Some(Ok(batch)) => {
                            let batch = self.process(batch)?;
                            if batch.num_rows() > 0 {
                                return Ok(Some(batch));
                            }
                            glommio::yield_if_needed().await;
                            continue;
                        }
                        Some(Err(error)) => {
                            let (file, _) = self.row_groups[self.next_group - 1];
                            return Err(file_error(&self.source.files[file], &error.to_string()));
                        }
                        None => self.reader = None,
                    }
                }
                if !self.open_next().await? {
                    self.memory.reservation.free();
                    return Ok(None);
                }
            }
        })
    }
}

fn file_error(file: &ParquetFile, message: &str) -> TaskError {
    TaskError::new(
        ErrorCode::DataException,
        format!(
            "cannot read Parquet file {}: {message}",
            file.path.display()
        ),
    )
}

/// Reads the byte ranges `(start, length)` of `file`.
async fn fetch(file: &ParquetFile, ranges: &[(u64, u64)]) -> TaskResult<FetchedRanges> {
    let handle = BufferedFile::open(&file.path)
        .await
        .map_err(|e| file_error(file, &e.to_string()))?;
    let mut fetched = Vec::with_capacity(ranges.len());
    for &(start, length) in ranges {
        if start.saturating_add(length) > file.size {
            let _ = handle.close().await;
            return Err(file_error(
                file,
                &format!(
                    "a column chunk at {start}+{length} runs past the file's {} bytes",
                    file.size
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(length as usize);
        while (bytes.len() as u64) < length {
            let at = start + bytes.len() as u64;
            let read = handle
                .read_at(at, (length - bytes.len() as u64) as usize)
                .await
                .map_err(|e| file_error(file, &e.to_string()))?;
            if read.is_empty() {
                return Err(file_error(file, "the file ended early (truncated?)"));
            }
            bytes.extend_from_slice(&read);
        }
        fetched.push((start, Bytes::from(bytes)));
    }
    let _ = handle.close().await;
    Ok(FetchedRanges {
        ranges: fetched,
        length: file.size,
    })
}

/// The fetched byte ranges of a file, read by the decoder as if it were the file.
struct FetchedRanges {
    ranges: Vec<(u64, Bytes)>,
    length: u64,
}

impl FetchedRanges {
    fn range(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.ranges
            .iter()
            .find(|(at, bytes)| *at <= start && start + length as u64 <= *at + bytes.len() as u64)
            .map(|(at, bytes)| {
                let offset = (start - at) as usize;
                bytes.slice(offset..offset + length)
            })
            .ok_or_else(|| {
                ParquetError::General(format!(
                    "bytes {start}+{length} are outside the column chunks read"
                ))
            })
    }
}

impl Length for FetchedRanges {
    fn len(&self) -> u64 {
        self.length
    }
}

impl ChunkReader for FetchedRanges {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let (at, bytes) = self
            .ranges
            .iter()
            .find(|(at, bytes)| *at <= start && start < *at + bytes.len() as u64)
            .ok_or_else(|| {
                ParquetError::General(format!("byte {start} is outside the column chunks read"))
            })?;
        Ok(bytes.slice((start - at) as usize..).reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.range(start, length)
    }
}
