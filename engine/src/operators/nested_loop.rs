//! Nested-loop join for joins without equality keys (cross joins from scalar
//! subqueries, inequality joins). The right side is buffered whole, so the planner
//! only gives it small, replicated or single-partition inputs.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, UInt32Array};
use arrow::compute::{concat_batches, filter_record_batch, take};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion_physical_expr::PhysicalExpr;

use super::compact::{compact_views, Compact};
use super::evaluate_mask;
use crate::error::TaskResult;
use crate::plan::node::{JoinKind, NestedLoopJoinNode};

/// Pairs each streamed left batch with the whole buffered right side.
pub struct NestedLoopJoin {
    right: RecordBatch,
    filter: Option<Arc<dyn PhysicalExpr>>,
    kind: JoinKind,
    schema: SchemaRef,
    batch_rows: usize,
}

impl NestedLoopJoin {
    pub fn try_new(
        node: &NestedLoopJoinNode,
        right_batches: &[RecordBatch],
        batch_rows: usize,
    ) -> TaskResult<Self> {
        let right = concat_batches(&node.right.schema(), right_batches)?;
        let right = compact_views(&right, Compact::ToOneBuffer)?;
        Ok(NestedLoopJoin {
            right,
            filter: node.filter.clone(),
            kind: node.kind,
            schema: Arc::clone(&node.schema),
            batch_rows: batch_rows.max(1),
        })
    }

    /// Joins one left batch; output pieces are bounded by `batch_rows` pairs each.
    pub fn join(&self, left: &RecordBatch) -> TaskResult<Vec<RecordBatch>> {
        let right_rows = self.right.num_rows();
        let mut matched = vec![false; left.num_rows()];
        let mut output = Vec::new();
        let left_rows_per_chunk = (self.batch_rows / right_rows.max(1)).max(1);
        let mut start = 0;
        while start < left.num_rows() && right_rows > 0 {
            let end = (start + left_rows_per_chunk).min(left.num_rows());
            let pairs = (end - start) * right_rows;
            let left_idx: UInt32Array = (start..end)
                .flat_map(|l| std::iter::repeat_n(l as u32, right_rows))
                .collect();
            let right_idx: UInt32Array = (0..end - start)
                .flat_map(|_| 0..right_rows as u32)
                .collect();
            let joined = combine(left, &self.right, &left_idx, &right_idx, pairs)?;
            let mask = match &self.filter {
                Some(filter) => evaluate_mask(filter, &joined)?,
                None => BooleanArray::from(vec![true; pairs]),
            };
            for (pair, keep) in mask.iter().enumerate() {
                if keep == Some(true) {
                    matched[left_idx.value(pair) as usize] = true;
                }
            }
            if matches!(self.kind, JoinKind::Inner | JoinKind::Left) {
                let kept = filter_record_batch(&joined, &mask)?;
                output.push(self.conform(kept)?);
            }
            start = end;
        }
        match self.kind {
            JoinKind::Inner => {}
            JoinKind::Left => {
                let unmatched: UInt32Array = matched
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| !**m)
                    .map(|(row, _)| row as u32)
                    .collect();
                if !unmatched.is_empty() {
                    let nulls = UInt32Array::from(vec![None::<u32>; unmatched.len()]);
                    let padded = combine(left, &self.right, &unmatched, &nulls, unmatched.len())?;
                    output.push(self.conform(padded)?);
                }
            }
            JoinKind::LeftSemi | JoinKind::LeftAnti => {
                let want = self.kind == JoinKind::LeftSemi;
                let mask: BooleanArray = matched.iter().map(|&m| Some(m == want)).collect();
                output.push(filter_record_batch(left, &mask)?);
            }
            JoinKind::Full => unreachable!("the planner rejects FULL JOIN without keys"),
        }
        Ok(output)
    }

    /// Puts a joined batch under the join's schema (which may be non-nullable where the
    /// working batch was not; the data is checked against it).
    fn conform(&self, batch: RecordBatch) -> TaskResult<RecordBatch> {
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            batch.columns().to_vec(),
            &options,
        )?)
    }
}

fn combine(
    left: &RecordBatch,
    right: &RecordBatch,
    left_idx: &UInt32Array,
    right_idx: &UInt32Array,
    rows: usize,
) -> TaskResult<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(left.num_columns() + right.num_columns());
    for column in left.columns() {
        columns.push(take(column.as_ref(), left_idx, None)?);
    }
    for column in right.columns() {
        columns.push(take(column.as_ref(), right_idx, None)?);
    }
    let fields: Vec<_> = left
        .schema()
        .fields()
        .iter()
        .chain(right.schema().fields())
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &options,
    )?)
}
