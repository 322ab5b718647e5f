//! One window partition evaluated as its rows arrive, for a partition too large to
//! hold whole. DataFusion's stateful window evaluation computes each row's result as
//! soon as its frame is complete and tells how far back the frames still reach;
//! rows before that are dropped. What stays held is bounded by the frames (a few rows
//! for `lag`, a ROWS frame or a running aggregate; one peer group for a RANGE frame
//! ending at the current row), not by the partition.
//!
//! Only frames that end before the partition's end can run this way
//! ([`BoundedWindow::supports`]): `count(*) OVER (PARTITION BY k)`, `ntile`,
//! `cume_dist` or `last_value` over an unbounded frame need the whole partition.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion_expr::window_state::PartitionBatchState;
use datafusion_physical_expr::window::{
    PartitionBatches, PartitionKey, PartitionWindowAggStates, WindowEvalContext, WindowExpr,
};

use super::batch_with_rows;
use super::compact::{compact_view_column, compact_views, Compact};
use crate::error::TaskResult;
use crate::memory::size::batch_bytes;

pub struct BoundedWindow {
    exprs: Vec<Arc<dyn WindowExpr>>,
    /// The output: the input's columns, then one per window expression.
    schema: SchemaRef,
    /// The partition's rows its frames may still read (DataFusion prunes from the
    /// front as frames move on); one entry, as one partition is evaluated at a time.
    frames: PartitionBatches,
    /// Per expression, its evaluation state and the results not yet emitted.
    states: Vec<PartitionWindowAggStates>,
    /// Input rows whose results have not all been computed yet, in order.
    unemitted: RecordBatch,
}

/// The one partition's key in DataFusion's per-partition maps.
fn key() -> PartitionKey {
    Vec::new()
}

impl BoundedWindow {
    /// Whether every expression can be evaluated without its whole partition.
    pub fn supports(exprs: &[Arc<dyn WindowExpr>]) -> bool {
        exprs.iter().all(|expr| expr.uses_bounded_memory())
    }

    /// Starts a partition; `input` is the schema of its rows, `schema` the output's.
    pub fn new(exprs: &[Arc<dyn WindowExpr>], input: SchemaRef, schema: SchemaRef) -> Self {
        let mut frames = PartitionBatches::default();
        frames.insert(
            key(),
            PartitionBatchState::new_with_batch(RecordBatch::new_empty(Arc::clone(&input))),
        );
        BoundedWindow {
            exprs: exprs.to_vec(),
            schema,
            frames,
            states: exprs
                .iter()
                .map(|_| PartitionWindowAggStates::default())
                .collect(),
            unemitted: RecordBatch::new_empty(input),
        }
    }

    /// Takes the partition's next rows (`last`: no more follow) and returns the rows
    /// whose results every expression has computed, with those results appended.
    pub fn push(&mut self, rows: &RecordBatch, last: bool) -> TaskResult<Option<RecordBatch>> {
        let state = &mut self.frames[0];
        if rows.num_rows() > 0 {
            state.extend(rows)?;
            self.unemitted = concat_batches(&self.unemitted.schema(), [&self.unemitted, rows])?;
        }
        state.is_end = last;
        let context = WindowEvalContext::default();
        for (expr, states) in self.exprs.iter().zip(&mut self.states) {
            expr.evaluate_stateful(&self.frames, states, &context)?;
        }
        let output = self.take_complete()?;
        self.prune()?;
        Ok(output)
    }

    /// Bytes held: rows the frames may read, rows waiting for results, results
    /// waiting for the other expressions.
    pub fn held_bytes(&self) -> usize {
        let results: usize = self
            .states
            .iter()
            .filter_map(|states| states.get(&key()))
            .map(|state| state.state.out_col.get_array_memory_size())
            .sum();
        batch_bytes(&self.frames[0].record_batch) + batch_bytes(&self.unemitted) + results
    }

    /// The leading rows every expression has a result for, with the results.
    fn take_complete(&mut self) -> TaskResult<Option<RecordBatch>> {
        let complete = self
            .states
            .iter()
            .map(|states| states.get(&key()).map_or(0, |s| s.state.out_col.len()))
            .min()
            .unwrap_or(0);
        if complete == 0 {
            return Ok(None);
        }
        let mut columns: Vec<ArrayRef> = self
            .unemitted
            .columns()
            .iter()
            .map(|column| column.slice(0, complete))
            .collect();
        for states in &mut self.states {
            let out = &mut states[0].state.out_col;
            columns.push(out.slice(0, complete));
            *out = compact_view_column(
                &out.slice(complete, out.len() - complete),
                Compact::Wasteful,
            );
        }
        let rest = self.unemitted.num_rows() - complete;
        self.unemitted = compact_views(&self.unemitted.slice(complete, rest), Compact::Wasteful)?;
        batch_with_rows(&self.schema, columns, complete).map(Some)
    }

    /// Drops the rows no frame will read again: before every expression's frame
    /// start and already evaluated by all.
    fn prune(&mut self) -> TaskResult<()> {
        let prunable = self
            .states
            .iter()
            .filter_map(|states| states.get(&key()))
            .map(|s| {
                s.state
                    .window_frame_range
                    .start
                    .min(s.state.last_calculated_index)
            })
            .min()
            .unwrap_or(0);
        if prunable == 0 {
            return Ok(());
        }
        let frame = &mut self.frames[0];
        let rows = frame.record_batch.num_rows();
        // Concatenated string views keep every input's data buffers: compacting
        // what is kept, once most of its buffers are dead, frees the partition's
        // earlier rows rather than keeping them behind the few still read.
        let kept = frame.record_batch.slice(prunable, rows - prunable);
        frame.record_batch = compact_views(&kept, Compact::Wasteful)?;
        for states in &mut self.states {
            states[0].state.prune_state(prunable);
        }
        Ok(())
    }
}
