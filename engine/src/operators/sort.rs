//! Sort and top-k. Sort keys are row-encoded with arrow-row, so comparing two rows is
//! one `memcmp` whatever the key types and directions.

use arrow::array::UInt32Array;
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion_physical_expr::PhysicalSortExpr;

use super::split_batch;
use crate::error::TaskResult;

/// Buffers batches and emits them sorted; with `fetch`, keeps only the first rows.
pub struct Sorter {
    exprs: Vec<PhysicalSortExpr>,
    fetch: Option<usize>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    buffered_rows: usize,
    batch_rows: usize,
}

impl Sorter {
    pub fn new(
        exprs: Vec<PhysicalSortExpr>,
        fetch: Option<usize>,
        schema: SchemaRef,
        batch_rows: usize,
    ) -> Self {
        Sorter {
            exprs,
            fetch,
            schema,
            batches: Vec::new(),
            buffered_rows: 0,
            batch_rows,
        }
    }

    pub fn push(&mut self, batch: RecordBatch) -> TaskResult<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.buffered_rows += batch.num_rows();
        self.batches.push(batch);
        // Top-k keeps memory at a few times k by trimming as it goes.
        if let Some(fetch) = self.fetch {
            if self.buffered_rows > (2 * fetch).max(self.batch_rows) {
                let trimmed = self.sort_buffered()?;
                self.buffered_rows = trimmed.num_rows();
                self.batches = vec![trimmed];
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> TaskResult<Vec<RecordBatch>> {
        let sorted = self.sort_buffered()?;
        Ok(split_batch(sorted, self.batch_rows))
    }

    fn sort_buffered(&mut self) -> TaskResult<RecordBatch> {
        let batch = concat_batches(&self.schema, &self.batches)?;
        let columns = self
            .exprs
            .iter()
            .map(|e| Ok(e.expr.evaluate(&batch)?.into_array(batch.num_rows())?))
            .collect::<TaskResult<Vec<_>>>()?;
        let fields = columns
            .iter()
            .zip(&self.exprs)
            .map(|(column, expr)| {
                SortField::new_with_options(column.data_type().clone(), expr.options)
            })
            .collect();
        let converter = RowConverter::new(fields)?;
        let rows = converter.convert_columns(&columns)?;
        let mut indices: Vec<u32> = (0..batch.num_rows() as u32).collect();
        let limit = self.fetch.unwrap_or(indices.len()).min(indices.len());
        if limit < indices.len() && limit > 0 {
            indices.select_nth_unstable_by(limit - 1, |&a, &b| {
                rows.row(a as usize).cmp(&rows.row(b as usize))
            });
            indices.truncate(limit);
        }
        indices.truncate(limit);
        // Stable, so equal keys keep their arrival order.
        indices.sort_by(|&a, &b| rows.row(a as usize).cmp(&rows.row(b as usize)));
        Ok(take_record_batch(&batch, &UInt32Array::from(indices))?)
    }
}
