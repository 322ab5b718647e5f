//! Window functions under a memory budget. The input arrives sorted by partition
//! keys (a spilling sort below); rows are held, reserved, until their window
//! partition is complete (a later row has other keys, or the input ends), then each
//! complete partition is evaluated and its rows leave in batches of the batch size.
//! What is held is at most one window partition and one input batch: a partition
//! larger than the budget fails with a clear error (without PARTITION BY, the whole
//! input is one partition).

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::operator_memory::OperatorMemory;
use super::query::QueryState;
use super::stream::{BatchStream, BoxFuture, Stream, StreamContext};
use crate::error::TaskResult;
use crate::memory::size::batch_bytes;
use crate::operators::split_batch;
use crate::operators::window::{evaluate_windows, partition_ranges};
use crate::plan::node::WindowNode;

pub(crate) struct WindowStream {
    input: Option<Stream>,
    node: WindowNode,
    memory: OperatorMemory,
    query: Arc<QueryState>,
    batch_rows: usize,
    /// Rows of the last window partition seen, not known to be complete yet.
    pending: Vec<RecordBatch>,
    /// Evaluated rows waiting to go out.
    ready: VecDeque<RecordBatch>,
}

impl WindowStream {
    /// `name` is the operator as EXPLAIN shows it.
    pub fn new(input: Stream, node: &WindowNode, name: &str, context: &StreamContext) -> Self {
        WindowStream {
            input: Some(input),
            node: node.clone(),
            memory: OperatorMemory::new(name, context),
            query: Arc::clone(&context.query),
            batch_rows: context.config.batch_rows.max(1),
            pending: Vec::new(),
            ready: VecDeque::new(),
        }
    }

    fn input_schema(&self) -> SchemaRef {
        self.node.input.schema()
    }

    /// Holds `batch`; evaluates the partitions it completes.
    fn push(&mut self, batch: RecordBatch) -> TaskResult<()> {
        let bytes = batch_bytes(&batch);
        if !self.memory.grow_first(bytes) {
            return Err(self.memory.exhausted(bytes));
        }
        if self.pending.is_empty() || !self.completes_pending(&batch)? {
            self.pending.push(batch);
            return Ok(());
        }
        self.pending.push(batch);
        let held = concat_batches(&self.input_schema(), &std::mem::take(&mut self.pending))?;
        let mut ranges = partition_ranges(&held, &self.node.partition_by)?;
        let last = ranges.pop().expect("a batch with rows has a partition");
        self.evaluate(&held.slice(0, last.start), &ranges)?;
        self.pending.push(held.slice(last.start, last.len()));
        self.rehold();
        Ok(())
    }

    /// Whether rows of `batch` start a new partition after the pending ones.
    fn completes_pending(&self, batch: &RecordBatch) -> TaskResult<bool> {
        if self.node.partition_by.is_empty() {
            return Ok(false);
        }
        if partition_ranges(batch, &self.node.partition_by)?.len() > 1 {
            return Ok(true);
        }
        let last = self.pending.last().expect("checked by the caller");
        let seam = concat_batches(
            &self.input_schema(),
            [&last.slice(last.num_rows() - 1, 1), &batch.slice(0, 1)],
        )?;
        Ok(partition_ranges(&seam, &self.node.partition_by)?.len() > 1)
    }

    /// Evaluates whole partitions of `rows`; their output waits in `ready`.
    fn evaluate(
        &mut self,
        rows: &RecordBatch,
        ranges: &[std::ops::Range<usize>],
    ) -> TaskResult<()> {
        if rows.num_rows() == 0 {
            return Ok(());
        }
        let output = evaluate_windows(rows, ranges, &self.node.exprs, &self.node.schema)?;
        self.ready.extend(split_batch(output, self.batch_rows));
        Ok(())
    }

    /// Reserves what is held now: the pending rows and the evaluated ones.
    fn rehold(&mut self) {
        let held: usize = self
            .pending
            .iter()
            .chain(&self.ready)
            .map(batch_bytes)
            .sum();
        self.memory.hold_exactly(held);
    }
}

impl BatchStream for WindowStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            loop {
                if let Some(batch) = self.ready.pop_front() {
                    self.rehold();
                    return Ok(Some(batch));
                }
                let Some(input) = self.input.as_mut() else {
                    self.memory.reservation.free();
                    return Ok(None);
                };
                match input.next().await? {
                    Some(batch) => {
                        self.query.check_cancelled()?;
                        if batch.num_rows() > 0 {
                            self.push(batch)?;
                        }
                        glommio::yield_if_needed().await;
                    }
                    None => {
                        self.input = None;
                        let held = concat_batches(
                            &self.input_schema(),
                            &std::mem::take(&mut self.pending),
                        )?;
                        let ranges = partition_ranges(&held, &self.node.partition_by)?;
                        self.evaluate(&held, &ranges)?;
                        self.rehold();
                    }
                }
            }
        })
    }
}
