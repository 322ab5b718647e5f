//! Scans of `generate_series(..)`: each task generates its partition's run of the
//! series a batch at a time, then applies the scan's filters and projection.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;

use super::stream::{filter_and_project, scan_filters, BatchStream, BoxFuture, StreamContext};
use crate::catalog::series_table::SeriesSource;
use crate::error::TaskResult;
use crate::operators::conjunction::Conjunction;
use crate::plan::node::ScanNode;

pub(crate) struct SeriesScanStream {
    source: Arc<SeriesSource>,
    /// Positions of the series still to generate.
    remaining: std::ops::Range<u64>,
    /// The value at `remaining.start`.
    next_value: i64,
    node: ScanNode,
    filters: Conjunction,
    batch_rows: usize,
}

impl SeriesScanStream {
    pub fn new(
        node: &ScanNode,
        source: &Arc<SeriesSource>,
        context: &StreamContext,
    ) -> TaskResult<Self> {
        let remaining = source.share(context.location.partition, node.table.partitions.len());
        Ok(SeriesScanStream {
            next_value: source.value_at(remaining.start),
            remaining,
            source: Arc::clone(source),
            node: node.clone(),
            filters: scan_filters(node, context)?,
            batch_rows: context.config.batch_rows.max(1),
        })
    }

    fn generate(&mut self) -> TaskResult<Option<RecordBatch>> {
        let rows = (self.remaining.end - self.remaining.start).min(self.batch_rows as u64);
        if rows == 0 {
            return Ok(None);
        }
        let mut values = Vec::with_capacity(rows as usize);
        for _ in 0..rows {
            values.push(self.next_value);
            // Past the last value the next one may not exist; it is never read.
            self.next_value = self
                .source
                .next_value(self.next_value)
                .unwrap_or(self.next_value);
        }
        self.remaining.start += rows;
        let column = self.source.column(values);
        let batch = RecordBatch::try_new(Arc::clone(&self.node.table.schema), vec![column])?;
        Ok(Some(batch))
    }
}

impl BatchStream for SeriesScanStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            while let Some(batch) = self.generate()? {
                let read = batch.project(&self.node.read_columns)?;
                let batch = filter_and_project(&self.node, &self.filters, read)?;
                if batch.num_rows() > 0 {
                    return Ok(Some(batch));
                }
            }
            Ok(None)
        })
    }
}
