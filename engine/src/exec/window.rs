//! Window functions under a memory budget. The input arrives sorted by partition
//! keys (a spilling sort below); rows are held, reserved, until their window
//! partition is complete (a later row has other keys, or the input ends), then each
//! complete partition is evaluated and its rows leave in batches of the batch size.
//! What is held is at most one window partition and one input batch. A partition
//! that outgrows the budget (without PARTITION BY, the whole input is one) goes on
//! as a [`BoundedWindow`], holding only what its frames still read, when every
//! frame ends before the partition does; otherwise the query fails with a clear
//! error naming what needs the whole partition.

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
use crate::operators::bounded_window::BoundedWindow;
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
    /// The partition being evaluated as it arrives, once it outgrew the budget.
    streaming: Option<Streaming>,
    /// Input rows taken in but not yet given to the streamed partition.
    backlog: VecDeque<RecordBatch>,
}

struct Streaming {
    window: BoundedWindow,
    /// The partition's last row so far, to tell where it ends.
    last_row: Option<RecordBatch>,
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
            streaming: None,
            backlog: VecDeque::new(),
        }
    }

    fn input_schema(&self) -> SchemaRef {
        self.node.input.schema()
    }

    /// Takes `batch` in: its rows of a streamed partition go to it, the rest are
    /// held until their partitions are complete.
    fn push(&mut self, mut batch: RecordBatch) -> TaskResult<()> {
        if self.streaming.is_some() {
            match self.push_streaming(batch)? {
                Some(rest) => batch = rest,
                None => return Ok(()),
            }
        }
        let bytes = batch_bytes(&batch);
        if self.memory.grow_first(bytes) {
            return self.hold(batch);
        }
        if !BoundedWindow::supports(&self.node.exprs) {
            let mut error = self.memory.exhausted(bytes);
            error.message.push_str(
                " (a window partition larger than the budget: a frame that reaches its \
                 end, or ntile, percent_rank, cume_dist, needs all of its rows at once)",
            );
            return Err(error);
        }
        // The pending partition goes on as it arrives: its rows so far, then
        // `batch`, are given to it one batch at a time as the output drains, so
        // its results never pile up beside them.
        self.streaming = Some(Streaming {
            window: BoundedWindow::new(
                &self.node.exprs,
                self.input_schema(),
                Arc::clone(&self.node.schema),
            ),
            last_row: None,
        });
        self.backlog.extend(std::mem::take(&mut self.pending));
        self.backlog.push_back(batch);
        self.rehold();
        Ok(())
    }

    /// Holds `batch`, reserved already; evaluates the partitions it completes.
    fn hold(&mut self, batch: RecordBatch) -> TaskResult<()> {
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

    /// Gives the streamed partition its rows at the front of `batch`; when `batch`
    /// holds rows of later partitions, the partition is complete and they return.
    fn push_streaming(&mut self, batch: RecordBatch) -> TaskResult<Option<RecordBatch>> {
        let streaming = self.streaming.as_mut().expect("checked by the caller");
        let own = rows_of_partition(&self.node.partition_by, streaming.last_row.as_ref(), &batch)?;
        let ended = own < batch.num_rows();
        if let Some(output) = streaming.window.push(&batch.slice(0, own), ended)? {
            self.ready.extend(split_batch(output, self.batch_rows));
        }
        if own > 0 {
            streaming.last_row = Some(batch.slice(own - 1, 1));
        }
        if ended {
            self.streaming = None;
        }
        self.rehold();
        Ok(ended.then(|| batch.slice(own, batch.num_rows() - own)))
    }

    /// Completes the streamed partition: the input has ended.
    fn finish_streaming(&mut self) -> TaskResult<()> {
        let mut streaming = self.streaming.take().expect("checked by the caller");
        let none = RecordBatch::new_empty(self.input_schema());
        if let Some(output) = streaming.window.push(&none, true)? {
            self.ready.extend(split_batch(output, self.batch_rows));
        }
        self.rehold();
        Ok(())
    }

    /// Whether rows of `batch` start a new partition after the pending ones.
    fn completes_pending(&self, batch: &RecordBatch) -> TaskResult<bool> {
        let last = self.pending.last().expect("checked by the caller");
        let last_row = last.slice(last.num_rows() - 1, 1);
        let own = rows_of_partition(&self.node.partition_by, Some(&last_row), batch)?;
        Ok(own < batch.num_rows())
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
            .chain(&self.backlog)
            .map(batch_bytes)
            .sum::<usize>()
            + self.streaming.as_ref().map_or(0, |s| s.window.held_bytes());
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
                if let Some(batch) = self.backlog.pop_front() {
                    self.push(batch)?;
                    continue;
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
                    None if self.streaming.is_some() => {
                        self.input = None;
                        self.finish_streaming()?;
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

/// How many rows at the front of `batch` continue the partition whose last row is
/// `last_row` (with none, the partition of `batch`'s first row).
fn rows_of_partition(
    partition_by: &[Arc<dyn datafusion_physical_expr::PhysicalExpr>],
    last_row: Option<&RecordBatch>,
    batch: &RecordBatch,
) -> TaskResult<usize> {
    if partition_by.is_empty() || batch.num_rows() == 0 {
        return Ok(batch.num_rows());
    }
    let first = partition_ranges(batch, partition_by)?[0].len();
    let Some(last_row) = last_row else {
        return Ok(first);
    };
    let seam = concat_batches(&batch.schema(), [last_row, &batch.slice(0, 1)])?;
    let continues = partition_ranges(&seam, partition_by)?.len() == 1;
    Ok(if continues { first } else { 0 })
}
