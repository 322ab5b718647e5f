//! Scans of external Parquet tables. Each task reads the row groups assigned to its
//! partition, one at a time: the byte ranges of the projected columns' chunks come
//! through glommio's io_uring file API (the core never blocks on a read, so its
//! heartbeats and exchanges go on), then the `parquet` crate decodes them from
//! memory, in batches of the batch size. The fetched bytes are reserved while their
//! row group is decoded (one row group at a time is the least a scan needs, so it may
//! take it beyond the budget, as any operator's first batch). Rows the page index
//! rules out are not decoded (`parquet_prune`); where few rows pass the pushed-down
//! filters, they run on their own columns before the others are decoded
//! (`parquet_filter_first`); otherwise they run on the decoded batches as for
//! in-memory tables.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use bytes::{Buf, Bytes};
use glommio::io::BufferedFile;
use parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};

use super::operator_memory::OperatorMemory;
use super::parquet_filter_first::{FilterFirst, KeptRows, Way};
use super::parquet_prune::{filter_tests, join_key_tests, may_match, page_selection};
use super::query::QueryState;
use super::stream::{BatchStream, BoxFuture, DecodedColumns, StreamContext};
use crate::catalog::parquet_table::{ParquetFile, ParquetSource};
use crate::catalog::row_group_parts::RowGroupPart;
use crate::error::{ErrorCode, TaskError, TaskResult};
use crate::plan::node::ScanNode;

pub(crate) struct ParquetScanStream {
    /// The fetched column chunks of the row group being decoded; row groups read and
    /// skipped (reported when the scan is dropped).
    memory: OperatorMemory,
    source: Arc<ParquetSource>,
    /// This partition's parts of row groups, and the next one to read.
    row_groups: Vec<RowGroupPart>,
    next_group: usize,
    reader: Option<RowGroupReader>,
    node: ScanNode,
    /// The table columns read, in file order (how they are decoded).
    decoded_columns: DecodedColumns,
    /// The scan's read columns, as its filters see them.
    read_schema: SchemaRef,
    /// Filters that may run before the other columns are decoded.
    filter_first: Option<FilterFirst>,
    /// How the open row group is read, the time its decoding took so far, and its
    /// rows.
    way: Way,
    decoding: Duration,
    group_rows: usize,
    batch_rows: usize,
    query: Arc<QueryState>,
}

/// The open row group.
enum RowGroupReader {
    /// Every decoded column at once; the filters run on the decoded batches.
    Whole(ParquetRecordBatchReader),
    /// The filters ran on their columns already: the other columns of the rows
    /// that passed, and those rows of the filter columns.
    FilteredFirst {
        others: ParquetRecordBatchReader,
        kept: KeptRows,
    },
}

impl ParquetScanStream {
    /// `name` is the operator as EXPLAIN shows it.
    pub fn new(
        node: &ScanNode,
        source: &Arc<ParquetSource>,
        name: &str,
        context: &StreamContext,
    ) -> TaskResult<Self> {
        let decoded_columns = DecodedColumns::of(node, context)?;
        let assigned = source
            .assignments
            .get(context.location.partition)
            .cloned()
            .unwrap_or_default();
        let read_schema = Arc::new(node.table.schema.project(&node.read_columns)?);
        let mut row_groups = Vec::with_capacity(assigned.len());
        for (file_index, file) in source.files.iter().enumerate() {
            let parts: Vec<&RowGroupPart> = assigned
                .iter()
                .filter(|part| part.file == file_index)
                .collect();
            let groups: Vec<usize> = parts.iter().map(|part| part.group).collect();
            let keep = may_match(file, &groups, &filter_tests(&node.filters), &read_schema);
            row_groups.extend(
                parts
                    .into_iter()
                    .zip(keep)
                    .filter(|(_, keep)| *keep)
                    .map(|(part, _)| part.clone()),
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
            filter_first: FilterFirst::of(node, &decoded_columns.columns),
            decoded_columns,
            read_schema,
            way: Way::Whole,
            decoding: Duration::ZERO,
            group_rows: 0,
            batch_rows: context.config.batch_rows.max(1),
            query: Arc::clone(&context.query),
        })
    }

    /// Opens the next row group: reads its projected column chunks, and runs the
    /// filters first where that pays. `false` when no row group is left.
    async fn open_next(&mut self) -> TaskResult<bool> {
        let Some(part) = self.row_groups.get(self.next_group).cloned() else {
            return Ok(false);
        };
        let (file_index, group) = (part.file, part.group);
        self.next_group += 1;
        let source = Arc::clone(&self.source);
        let file = &source.files[file_index];
        let metadata = file.metadata.metadata();
        let schema = metadata.file_metadata().schema_descr();
        let row_group = metadata.row_group(group);
        let rows = usize::try_from(row_group.num_rows()).unwrap_or(0);
        // Joins above publish their build keys before the first row group is opened
        // (they build first); a row group none of whose keys they have is not read.
        let pages = {
            let join_keys = join_key_tests(&self.decoded_columns.join_keys);
            if may_match(file, &[group], &join_keys, &self.read_schema) == [false] {
                self.memory.row_group_skipped_by_join_keys();
                return Ok(true);
            }
            let mut tests = filter_tests(&self.node.filters);
            tests.extend(join_keys);
            page_selection(file, group, &tests, &self.read_schema)
        };
        // A part of a row group cut between partitions selects its rows; its pages'
        // byte ranges are then all that is read, where the file has an offset index.
        let pages = if part.rows == (0..rows) {
            pages
        } else {
            let part_rows =
                RowSelection::from_consecutive_ranges(std::iter::once(part.rows.clone()), rows);
            Some(match pages {
                Some(pages) => pages.intersection(&part_rows),
                None => part_rows,
            })
        };
        let selected = pages.as_ref().map_or(rows, RowSelection::row_count);
        self.memory
            .rows_skipped_by_pages(part.rows.len().saturating_sub(selected));
        if selected == 0 {
            return Ok(true);
        }
        let decoded = ProjectionMask::roots(schema, self.decoded_columns.columns.iter().copied());
        let leaves: Vec<usize> = (0..row_group.num_columns())
            .filter(|leaf| decoded.leaf_included(*leaf))
            .collect();
        let ranges = byte_ranges(file, group, &leaves, pages.as_ref());
        self.memory.reservation.free();
        let bytes: u64 = ranges.iter().map(|(_, length)| length).sum();
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        if !self.memory.grow_first(bytes) {
            return Err(self.memory.exhausted(bytes));
        }
        let fetched = fetch(file, &ranges).await?;
        self.memory.read_from_file(bytes);
        let started = Instant::now();
        self.group_rows = selected;
        let reader = |roots: &[usize], selection: Option<RowSelection>| {
            let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(
                fetched.clone(),
                file.metadata.clone(),
            )
            .with_row_groups(vec![group])
            .with_projection(ProjectionMask::roots(schema, roots.iter().copied()))
            .with_batch_size(self.batch_rows);
            if let Some(selection) = selection {
                builder = builder.with_row_selection(selection);
            }
            builder
                .build()
                .map_err(|e| file_error(file, &e.to_string()))
        };
        self.way = self
            .filter_first
            .as_mut()
            .map_or(Way::Whole, FilterFirst::choose);
        let first = match (&self.filter_first, self.way) {
            (Some(first), Way::FiltersFirst) => first,
            _ => {
                let whole = reader(&self.decoded_columns.columns, pages)?;
                self.reader = Some(RowGroupReader::Whole(whole));
                self.decoding = started.elapsed();
                return Ok(true);
            }
        };
        // The filter columns of the selected rows, then the others of those passing.
        let mut kept = KeptRows::default();
        let mut masks = Vec::new();
        let mut passed = 0;
        for batch in reader(first.filter_roots(), pages.clone())? {
            let batch = batch.map_err(|e| file_error(file, &e.to_string()))?;
            let mask = first.mask(&batch)?;
            passed += kept.keep(&batch, &mask)?;
            masks.push(mask);
        }
        self.memory.hold_exactly(bytes + kept.bytes());
        self.memory.filtered_first();
        let selection = RowSelection::from_filters(&masks);
        let selection = match pages {
            Some(pages) => pages.and_then(&selection),
            None => selection,
        };
        let others = reader(first.other_roots(), Some(selection))?;
        if let Some(first) = self.filter_first.as_mut() {
            first.observed(selected, passed);
        }
        self.decoding = started.elapsed();
        if passed > 0 {
            self.reader = Some(RowGroupReader::FilteredFirst { others, kept });
        } else {
            self.row_group_done();
        }
        Ok(true)
    }

    /// Counts the open row group's decoding time against its way of reading.
    fn row_group_done(&mut self) {
        if let (Some(first), true) = (self.filter_first.as_mut(), self.group_rows > 0) {
            first.spent(self.way, self.decoding, self.group_rows);
        }
        self.group_rows = 0;
        self.reader = None;
    }

    /// The next batch of the open row group, timed.
    fn timed_next(&mut self) -> Option<TaskResult<RecordBatch>> {
        let started = Instant::now();
        let next = self.next_of_row_group();
        self.decoding += started.elapsed();
        next
    }

    /// The next batch of the open row group through the scan, `None` at its end.
    fn next_of_row_group(&mut self) -> Option<TaskResult<RecordBatch>> {
        let file = || &self.source.files[self.row_groups[self.next_group - 1].file];
        match self.reader.as_mut()? {
            RowGroupReader::Whole(reader) => {
                let batch = match reader.next()? {
                    Ok(batch) => batch,
                    Err(error) => return Some(Err(file_error(file(), &error.to_string()))),
                };
                let decoded = batch.num_rows();
                let scanned = self.decoded_columns.scan(&self.node, batch);
                if let (Ok(scanned), Some(first)) = (&scanned, self.filter_first.as_mut()) {
                    first.observed(decoded, scanned.num_rows());
                }
                Some(scanned)
            }
            RowGroupReader::FilteredFirst { others, kept } => {
                let others = match others.next()? {
                    Ok(batch) => batch,
                    Err(error) => return Some(Err(file_error(file(), &error.to_string()))),
                };
                let first = self.filter_first.as_ref()?;
                Some(kept.take(others.num_rows()).and_then(|kept| {
                    let read =
                        first.joined(&self.node.read_columns, &self.read_schema, &kept, &others)?;
                    self.decoded_columns.scan_passed(&self.node, read)
                }))
            }
        }
    }
}

impl BatchStream for ParquetScanStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            loop {
                self.query.check_cancelled()?;
                match self.timed_next() {
                    Some(batch) => {
                        let batch = batch?;
                        if batch.num_rows() > 0 {
                            return Ok(Some(batch));
                        }
                        glommio::yield_if_needed().await;
                        continue;
                    }
                    None => self.row_group_done(),
                }
                if !self.open_next().await? {
                    self.memory.reservation.free();
                    return Ok(None);
                }
            }
        })
    }
}

/// The byte ranges of `leaves` (column chunks of row group `group`) the decoder will
/// read: whole chunks, or with a page selection and an offset index, each chunk's
/// dictionary and the pages holding selected rows, adjacent ranges merged.
fn byte_ranges(
    file: &ParquetFile,
    group: usize,
    leaves: &[usize],
    pages: Option<&RowSelection>,
) -> Vec<(u64, u64)> {
    let metadata = file.metadata.metadata();
    let row_group = metadata.row_group(group);
    let offsets = metadata.offset_index().and_then(|index| index.get(group));
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for &leaf in leaves {
        let (start, length) = row_group.column(leaf).byte_range();
        let locations = offsets
            .and_then(|columns| columns.get(leaf))
            .map(|index| index.page_locations().as_slice())
            .unwrap_or_default();
        let (Some(pages), Some(first)) = (pages, locations.first()) else {
            ranges.push((start, length));
            continue;
        };
        let data_start = u64::try_from(first.offset).unwrap_or(start);
        let mut pieces = Vec::new();
        if data_start > start {
            pieces.push(start..data_start);
        }
        pieces.extend(pages.scan_ranges(locations));
        // Locations come from the file: a damaged one must fail the read (past the
        // file's end), not the arithmetic.
        for piece in pieces {
            let piece_length = piece.end.saturating_sub(piece.start);
            match ranges.last_mut() {
                Some((at, length)) if at.saturating_add(*length) == piece.start => {
                    *length = length.saturating_add(piece_length);
                }
                _ => ranges.push((piece.start, piece_length)),
            }
        }
    }
    ranges
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
#[derive(Clone)]
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
