//! Scans of external CSV tables. Each task reads the byte ranges assigned to its
//! partition in chunks through glommio's io_uring file API and pushes them into
//! Arrow's streaming CSV decoder, which returns batches of the batch size (only the
//! read columns are parsed). A range owns the lines that start in it: it skips the
//! line it begins inside (the previous range's) and reads past its end to finish its
//! last line. A value that does not parse as its column's type fails the query
//! naming the file, the range and the line within it.

use std::sync::Arc;

use arrow::csv::reader::Decoder;
use arrow::csv::ReaderBuilder;
use arrow::record_batch::RecordBatch;
use glommio::io::BufferedFile;

use super::query::QueryState;
use super::stream::{BatchStream, BoxFuture, DecodedColumns, StreamContext};
use crate::catalog::csv_table::{CsvFile, CsvRange, CsvSource};
use crate::error::{ErrorCode, TaskError, TaskResult};
use crate::plan::node::ScanNode;

/// Bytes read from a file at a time.
const CHUNK: usize = 1 << 20;

pub(crate) struct CsvScanStream {
    source: Arc<CsvSource>,
    ranges: Vec<CsvRange>,
    next_range: usize,
    current: Option<OpenFile>,
    node: ScanNode,
    /// The table columns read, in table order (how they are decoded).
    decoded_columns: DecodedColumns,
    batch_rows: usize,
    query: Arc<QueryState>,
}

struct OpenFile {
    range: CsvRange,
    handle: BufferedFile,
    /// Where the next read starts.
    position: u64,
    /// The range began inside a line: bytes up to its newline are the previous
    /// range's.
    skipping_first_line: bool,
    /// Read but not yet consumed by the decoder.
    buffer: Vec<u8>,
    consumed: usize,
    decoder: Decoder,
    ended: bool,
}

impl CsvScanStream {
    pub fn new(
        node: &ScanNode,
        source: &Arc<CsvSource>,
        context: &StreamContext,
    ) -> TaskResult<Self> {
        let decoded_columns = DecodedColumns::of(node, context)?;
        Ok(CsvScanStream {
            ranges: source
                .assignments
                .get(context.location.partition)
                .cloned()
                .unwrap_or_default(),
            source: Arc::clone(source),
            next_range: 0,
            current: None,
            node: node.clone(),
            decoded_columns,
            batch_rows: context.config.batch_rows.max(1),
            query: Arc::clone(&context.query),
        })
    }

    async fn open_next(&mut self) -> TaskResult<bool> {
        let Some(&range) = self.ranges.get(self.next_range) else {
            return Ok(false);
        };
        self.next_range += 1;
        let file = &self.source.files[range.file];
        let handle = BufferedFile::open(&file.path)
            .await
            .map_err(|e| file_error(file, range, &e.to_string()))?;
        let decoder = ReaderBuilder::new(Arc::clone(&self.node.table.schema))
            .with_header(self.source.options.header && range.start == 0)
            .with_delimiter(self.source.options.delimiter)
            .with_batch_size(self.batch_rows)
            .with_projection(self.decoded_columns.columns.clone())
            .build_decoder();
        self.current = Some(OpenFile {
            range,
            handle,
            // From the byte before the range: if it is a newline, the range begins
            // on a line start.
            position: range.start.saturating_sub(1),
            skipping_first_line: range.start > 0,
            buffer: Vec::new(),
            consumed: 0,
            decoder,
            ended: false,
        });
        Ok(true)
    }

    /// The next decoded batch of the open file, or `None` at its end.
    async fn next_of_file(&mut self) -> TaskResult<Option<RecordBatch>> {
        let open = self.current.as_mut().expect("a file is open");
        let range = open.range;
        let file = &self.source.files[range.file];
        loop {
            if open.consumed == open.buffer.len() && !open.ended {
                let read = open
                    .handle
                    .read_at(open.position, CHUNK)
                    .await
                    .map_err(|e| file_error(file, range, &e.to_string()))?;
                let base = open.position;
                open.ended = read.is_empty();
                open.position += read.len() as u64;
                open.buffer = read.to_vec();
                open.consumed = 0;
                open.take_owned_lines(base);
            }
            let decoded = open
                .decoder
                .decode(&open.buffer[open.consumed..])
                .map_err(|e| file_error(file, range, &e.to_string()))?;
            open.consumed += decoded;
            if open.ended && open.consumed == open.buffer.len() {
                // An empty input is the decoder's end of data: it completes the last
                // record (a range ends at a newline, not at the file's end).
                open.decoder
                    .decode(&[])
                    .map_err(|e| file_error(file, range, &e.to_string()))?;
            }
            // A full batch, or the end of the file: what the decoder holds comes out.
            let full = open.consumed < open.buffer.len() || open.decoder.capacity() == 0;
            let drained = open.ended && open.consumed == open.buffer.len();
            if full || drained {
                let batch = open
                    .decoder
                    .flush()
                    .map_err(|e| file_error(file, range, &e.to_string()))?;
                match batch {
                    Some(batch) => return Ok(Some(batch)),
                    None if drained => return Ok(None),
                    None => {}
                }
            }
        }
    }

    fn process(&self, batch: RecordBatch) -> TaskResult<RecordBatch> {
        self.decoded_columns.scan(&self.node, batch)
    }
}

impl BatchStream for CsvScanStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            loop {
                self.query.check_cancelled()?;
                if self.current.is_some() {
                    match self.next_of_file().await? {
                        Some(batch) => {
                            let batch = self.process(batch)?;
                            if batch.num_rows() > 0 {
                                return Ok(Some(batch));
                            }
                            glommio::yield_if_needed().await;
                            continue;
                        }
                        None => {
                            if let Some(open) = self.current.take() {
                                let _ = open.handle.close().await;
                            }
                        }
                    }
                }
                if !self.open_next().await? {
                    return Ok(None);
                }
            }
        })
    }
}

impl OpenFile {
    /// Trims a chunk just read (starting at byte `base` of the file) to the lines
    /// the range owns: drops the line it began inside, and ends after the newline
    /// that finishes the last line starting before the range's end.
    fn take_owned_lines(&mut self, base: u64) {
        if self.skipping_first_line {
            match self.buffer.iter().position(|&b| b == b'\n') {
                Some(at) => {
                    self.skipping_first_line = false;
                    self.consumed = at + 1;
                    // The next line starts at or past the end: the range owns none.
                    if base + at as u64 + 1 >= self.range.end {
                        self.buffer.truncate(self.consumed);
                        self.ended = true;
                        return;
                    }
                }
                None => {
                    self.consumed = self.buffer.len();
                    return;
                }
            }
        }
        // The line holding byte `end - 1` started inside the range: it is the last.
        let last_line_byte = self.range.end.saturating_sub(1);
        let chunk_end = base + self.buffer.len() as u64;
        if chunk_end > last_line_byte {
            let from = (last_line_byte.saturating_sub(base) as usize).max(self.consumed);
            if let Some(at) = self.buffer[from..].iter().position(|&b| b == b'\n') {
                self.buffer.truncate(from + at + 1);
                self.ended = true;
            }
        }
    }
}

fn file_error(file: &CsvFile, range: CsvRange, message: &str) -> TaskError {
    let place = if range.start == 0 && range.end == file.size {
        String::new()
    } else {
        format!(
            " (bytes {}..{}; lines counted from there)",
            range.start, range.end
        )
    };
    TaskError::new(
        ErrorCode::DataException,
        format!(
            "cannot read CSV file {}{place}: {message}",
            file.path.display()
        ),
    )
}
