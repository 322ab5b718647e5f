//! Scans of external CSV tables. Each task reads the files assigned to its
//! partition in chunks through glommio's io_uring file API and pushes them into
//! Arrow's streaming CSV decoder, which returns batches of the batch size (only the
//! read columns are parsed). A value that does not parse as its column's type fails
//! the query naming the file and the line.

use std::sync::Arc;

use arrow::csv::reader::Decoder;
use arrow::csv::ReaderBuilder;
use arrow::record_batch::RecordBatch;
use glommio::io::BufferedFile;

use super::query::QueryState;
use super::stream::{BatchStream, BoxFuture, DecodedColumns, StreamContext};
use crate::catalog::csv_table::{CsvFile, CsvSource};
use crate::error::{ErrorCode, TaskError, TaskResult};
use crate::plan::node::ScanNode;

/// Bytes read from a file at a time.
const CHUNK: usize = 1 << 20;

pub(crate) struct CsvScanStream {
    source: Arc<CsvSource>,
    files: Vec<usize>,
    next_file: usize,
    current: Option<OpenFile>,
    node: ScanNode,
    /// The table columns read, in table order (how they are decoded).
    decoded_columns: DecodedColumns,
    batch_rows: usize,
    query: Arc<QueryState>,
}

struct OpenFile {
    index: usize,
    handle: BufferedFile,
    position: u64,
    /// Read but not yet consumed by the decoder.
    buffer: Vec<u8>,
    consumed: usize,
    decoder: Decoder,
    ended: bool,
}

impl CsvScanStream {
    pub fn new(node: &ScanNode, source: &Arc<CsvSource>, context: &StreamContext) -> Self {
        let decoded_columns = DecodedColumns::of(node);
        CsvScanStream {
            files: source
                .assignments
                .get(context.location.partition)
                .cloned()
                .unwrap_or_default(),
            source: Arc::clone(source),
            next_file: 0,
            current: None,
            node: node.clone(),
            decoded_columns,
            batch_rows: context.config.batch_rows.max(1),
            query: Arc::clone(&context.query),
        }
    }

    async fn open_next(&mut self) -> TaskResult<bool> {
        let Some(&index) = self.files.get(self.next_file) else {
            return Ok(false);
        };
        self.next_file += 1;
        let file = &self.source.files[index];
        let handle = BufferedFile::open(&file.path)
            .await
            .map_err(|e| file_error(file, &e.to_string()))?;
        let decoder = ReaderBuilder::new(Arc::clone(&self.node.table.schema))
            .with_header(self.source.options.header)
            .with_delimiter(self.source.options.delimiter)
            .with_batch_size(self.batch_rows)
            .with_projection(self.decoded_columns.columns.clone())
            .build_decoder();
        self.current = Some(OpenFile {
            index,
            handle,
            position: 0,
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
        let file = &self.source.files[open.index];
        loop {
            if open.consumed == open.buffer.len() && !open.ended {
                let read = open
                    .handle
                    .read_at(open.position, CHUNK)
                    .await
                    .map_err(|e| file_error(file, &e.to_string()))?;
                open.ended = read.is_empty();
                open.position += read.len() as u64;
                open.buffer = read.to_vec();
                open.consumed = 0;
            }
            let decoded = open
                .decoder
                .decode(&open.buffer[open.consumed..])
                .map_err(|e| file_error(file, &e.to_string()))?;
            open.consumed += decoded;
            // A full batch, or the end of the file: what the decoder holds comes out.
            let full = open.consumed < open.buffer.len() || open.decoder.capacity() == 0;
            if full || open.ended {
                let batch = open
                    .decoder
                    .flush()
                    .map_err(|e| file_error(file, &e.to_string()))?;
                match batch {
                    Some(batch) => return Ok(Some(batch)),
                    None if open.ended => return Ok(None),
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

fn file_error(file: &CsvFile, message: &str) -> TaskError {
    TaskError::new(
        ErrorCode::DataException,
        format!("cannot read CSV file {}: {message}", file.path.display()),
    )
}
