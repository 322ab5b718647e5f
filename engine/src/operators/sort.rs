//! Sort and top-k. Sort keys are row-encoded with arrow-row as batches arrive, so
//! comparing two rows is one `memcmp` whatever the key types and directions, and the
//! sorted output is gathered batch by batch (no copy of the whole input). What is
//! buffered can be taken out as a sorted run at any time: the caller spills runs when
//! memory runs short and merges them with [`super::merge::Merger`].

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::compute::interleave_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use datafusion_physical_expr::PhysicalSortExpr;

use crate::error::TaskResult;
use crate::memory::size::batch_bytes;

/// Buffers batches with their encoded keys; with `fetch`, keeps only the first rows.
pub struct Sorter {
    keys: SortKeys,
    fetch: Option<usize>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    rows: Vec<Rows>,
    buffered_rows: usize,
    batch_rows: usize,
}

/// Evaluates and row-encodes sort keys; shared by sorting and merging so both
/// compare the same bytes.
#[derive(Clone)]
pub struct SortKeys {
    exprs: Vec<PhysicalSortExpr>,
    converter: Option<Arc<RowConverter>>,
}

impl SortKeys {
    pub fn new(exprs: Vec<PhysicalSortExpr>) -> SortKeys {
        SortKeys {
            exprs,
            converter: None,
        }
    }

    /// The batch's sort keys, row-encoded.
    pub fn encode(&mut self, batch: &RecordBatch) -> TaskResult<Rows> {
        let columns = self
            .exprs
            .iter()
            .map(|e| Ok(e.expr.evaluate(batch)?.into_array(batch.num_rows())?))
            .collect::<TaskResult<Vec<ArrayRef>>>()?;
        if self.converter.is_none() {
            let fields = columns
                .iter()
                .zip(&self.exprs)
                .map(|(column, expr)| {
                    SortField::new_with_options(column.data_type().clone(), expr.options)
                })
                .collect();
            self.converter = Some(Arc::new(RowConverter::new(fields)?));
        }
        let converter = self.converter.as_ref().expect("set above");
        Ok(converter.convert_columns(&columns)?)
    }
}

/// A batch and its encoded keys, ready to be buffered.
pub struct Keyed {
    pub batch: RecordBatch,
    pub rows: Rows,
}

impl Keyed {
    /// Memory the batch and its keys hold.
    pub fn bytes(&self) -> usize {
        batch_bytes(&self.batch) + self.rows.size()
    }
}

impl Sorter {
    pub fn new(
        exprs: Vec<PhysicalSortExpr>,
        fetch: Option<usize>,
        schema: SchemaRef,
        batch_rows: usize,
    ) -> Self {
        Sorter {
            keys: SortKeys::new(exprs),
            fetch,
            schema,
            batches: Vec::new(),
            rows: Vec::new(),
            buffered_rows: 0,
            batch_rows: batch_rows.max(1),
        }
    }

    pub fn keys(&self) -> &SortKeys {
        &self.keys
    }

    pub fn fetch(&self) -> Option<usize> {
        self.fetch
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Encodes a batch's keys; the caller reserves [`Keyed::bytes`] and pushes it.
    pub fn encode(&mut self, batch: RecordBatch) -> TaskResult<Keyed> {
        let rows = self.keys.encode(&batch)?;
        Ok(Keyed { batch, rows })
    }

    pub fn push(&mut self, keyed: Keyed) -> TaskResult<()> {
        if keyed.batch.num_rows() == 0 {
            return Ok(());
        }
        self.buffer(keyed);
        // Top-k keeps memory at a few times k by trimming as it goes.
        if let Some(fetch) = self.fetch {
            if self.buffered_rows > (2 * fetch).max(self.batch_rows) {
                let trimmed: Vec<RecordBatch> = self.take_sorted()?.collect::<TaskResult<_>>()?;
                for batch in trimmed {
                    let keyed = self.encode(batch)?;
                    self.buffer(keyed);
                }
            }
        }
        Ok(())
    }

    fn buffer(&mut self, keyed: Keyed) {
        self.buffered_rows += keyed.batch.num_rows();
        self.batches.push(keyed.batch);
        self.rows.push(keyed.rows);
    }

    /// Memory held by the buffered batches and their keys.
    pub fn memory_bytes(&self) -> usize {
        self.batches.iter().map(batch_bytes).sum::<usize>()
            + self.rows.iter().map(Rows::size).sum::<usize>()
    }

    /// Sorts everything buffered (keeping `fetch` rows) and empties the buffer. The
    /// run produces its output batch by batch.
    pub fn take_sorted(&mut self) -> TaskResult<SortedRun> {
        let batches = std::mem::take(&mut self.batches);
        let rows = std::mem::take(&mut self.rows);
        self.buffered_rows = 0;
        // Each row's first 16 key bytes, compared as one integer, settle most
        // comparisons without touching the encoded rows (row format is memcomparable).
        let mut keyed: Vec<(u128, u32, u32)> = rows
            .iter()
            .enumerate()
            .flat_map(|(batch, rows)| {
                rows.iter()
                    .enumerate()
                    .map(move |(row, bytes)| (prefix(bytes.as_ref()), batch as u32, row as u32))
            })
            .collect();
        let compare = |a: &(u128, u32, u32), b: &(u128, u32, u32)| {
            a.0.cmp(&b.0)
                .then_with(|| {
                    let (a_rows, b_rows) = (&rows[a.1 as usize], &rows[b.1 as usize]);
                    a_rows.row(a.2 as usize).cmp(&b_rows.row(b.2 as usize))
                })
                // Equal keys keep their arrival order: the sort is stable.
                .then_with(|| (a.1, a.2).cmp(&(b.1, b.2)))
        };
        let limit = self.fetch.unwrap_or(keyed.len()).min(keyed.len());
        if limit < keyed.len() && limit > 0 {
            keyed.select_nth_unstable_by(limit - 1, compare);
        }
        keyed.truncate(limit);
        keyed.sort_unstable_by(compare);
        let order = keyed
            .into_iter()
            .map(|(_, batch, row)| (batch as usize, row as usize))
            .collect();
        Ok(SortedRun {
            batches,
            order,
            next: 0,
            batch_rows: self.batch_rows,
            schema: Arc::clone(&self.schema),
        })
    }
}

/// The first 16 bytes of an encoded row as a big-endian integer (zero-padded), so that
/// integer order is byte order.
fn prefix(bytes: &[u8]) -> u128 {
    let mut first = [0u8; 16];
    let length = bytes.len().min(16);
    first[..length].copy_from_slice(&bytes[..length]);
    u128::from_be_bytes(first)
}

/// Sorted rows of buffered batches, gathered `batch_rows` at a time.
pub struct SortedRun {
    batches: Vec<RecordBatch>,
    order: Vec<(usize, usize)>,
    next: usize,
    batch_rows: usize,
    schema: SchemaRef,
}

impl SortedRun {
    pub fn rows(&self) -> usize {
        self.order.len()
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }
}

impl Iterator for SortedRun {
    type Item = TaskResult<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.batch_rows).min(self.order.len());
        let indices = &self.order[self.next..end];
        self.next = end;
        let batches: Vec<&RecordBatch> = self.batches.iter().collect();
        Some(interleave_record_batch(&batches, indices).map_err(Into::into))
    }
}
