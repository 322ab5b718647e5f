//! Nested-loop join for joins without equality keys (cross joins from scalar
//! subqueries, inequality joins, FULL joins on any condition: its right rows that
//! matched nothing come after the last left batch). The right side is buffered whole (and reserved by
//! the stream that runs this), so the planner only gives it small, replicated or
//! single-partition inputs. A left batch's pairs with it come out in pieces within
//! the [`OutputLimit`]: 8192 left rows against 10,000 right rows are 82 million
//! pairs, which must never be one batch.

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, BooleanArray, UInt32Array};
use arrow::compute::{concat_batches, filter_record_batch, take};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion_physical_expr::PhysicalExpr;

use super::compact::{compact_views, Compact};
use super::output_limit::{row_bytes, OutputLimit};
use super::{batch_with_rows, evaluate_mask};
use crate::error::TaskResult;
use crate::plan::node::{JoinKind, NestedLoopJoinNode};

/// Pairs each streamed left batch with the whole buffered right side.
pub struct NestedLoopJoin {
    right: RecordBatch,
    filter: Option<Arc<dyn PhysicalExpr>>,
    kind: JoinKind,
    schema: SchemaRef,
    limit: OutputLimit,
    right_row_bytes: usize,
    cursor: Option<Cursor>,
    /// Right rows that matched some left row, for a FULL join's unmatched ones.
    right_matched: Vec<bool>,
    /// The next right row [`NestedLoopJoin::unmatched_right`] looks at.
    next_unmatched: usize,
}

/// A left batch in progress: its pairs are numbered left row by left row, each
/// against every right row in order.
struct Cursor {
    left: RecordBatch,
    next_pair: usize,
    pairs_per_output: usize,
    /// Left rows that matched some right row (passed the filter).
    matched: Vec<bool>,
}

impl NestedLoopJoin {
    pub fn try_new(
        node: &NestedLoopJoinNode,
        right_batches: &[RecordBatch],
        limit: OutputLimit,
    ) -> TaskResult<Self> {
        let right = concat_batches(&node.right.schema(), right_batches)?;
        let right = compact_views(&right, Compact::ToOneBuffer)?;
        let right_matched = match node.kind {
            JoinKind::Full => vec![false; right.num_rows()],
            _ => Vec::new(),
        };
        Ok(NestedLoopJoin {
            right_matched,
            next_unmatched: 0,
            right_row_bytes: row_bytes(&right),
            right,
            filter: node.filter.clone(),
            kind: node.kind,
            schema: Arc::clone(&node.schema),
            limit,
            cursor: None,
        })
    }

    /// Starts joining `left`; its output then comes from
    /// [`NestedLoopJoin::next_output`] until that returns `None`.
    pub fn push(&mut self, left: RecordBatch) {
        debug_assert!(self.cursor.is_none(), "the previous batch is not done");
        self.cursor = Some(Cursor {
            pairs_per_output: self.limit.rows_for(row_bytes(&left) + self.right_row_bytes),
            matched: vec![false; left.num_rows()],
            next_pair: 0,
            left,
        });
    }

    /// The next piece of the pushed batch's output: `Some` while the batch is in
    /// progress (an empty batch when this step found nothing to output), `None` once
    /// it is done.
    ///
    /// # Errors
    /// Filter evaluation and Arrow errors.
    pub fn next_output(&mut self) -> TaskResult<Option<RecordBatch>> {
        let Some(mut cursor) = self.cursor.take() else {
            return Ok(None);
        };
        let right_rows = self.right.num_rows();
        let pairs = cursor.left.num_rows() * right_rows;
        if cursor.next_pair >= pairs {
            return self.rest(&cursor).map(Some);
        }
        let range = cursor.next_pair..pairs.min(cursor.next_pair + cursor.pairs_per_output);
        cursor.next_pair = range.end;
        let left_idx: UInt32Array = range.clone().map(|k| (k / right_rows) as u32).collect();
        let right_idx: UInt32Array = range.map(|k| (k % right_rows) as u32).collect();
        let joined = combine(&cursor.left, &self.right, &left_idx, &right_idx)?;
        let mask = match &self.filter {
            Some(filter) => evaluate_mask(filter, &joined)?,
            None => BooleanArray::from(vec![true; joined.num_rows()]),
        };
        for ((left_row, right_row), keep) in left_idx
            .values()
            .iter()
            .zip(right_idx.values().iter())
            .zip(mask.iter())
        {
            if keep == Some(true) {
                cursor.matched[*left_row as usize] = true;
                if let Some(matched) = self.right_matched.get_mut(*right_row as usize) {
                    *matched = true;
                }
            }
        }
        let output = match self.kind {
            JoinKind::Inner | JoinKind::Left | JoinKind::Full => {
                self.conform(filter_record_batch(&joined, &mask)?)?
            }
            _ => RecordBatch::new_empty(Arc::clone(&self.schema)),
        };
        self.cursor = Some(cursor);
        Ok(Some(output))
    }

    /// What a left batch adds once its pairs are out: left rows that matched nothing
    /// (left joins, with NULL right columns), or the rows a semi or anti join keeps.
    fn rest(&self, cursor: &Cursor) -> TaskResult<RecordBatch> {
        let left = &cursor.left;
        match self.kind {
            JoinKind::Inner => Ok(RecordBatch::new_empty(Arc::clone(&self.schema))),
            JoinKind::Left | JoinKind::Full => {
                let unmatched: UInt32Array = cursor
                    .matched
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| !**m)
                    .map(|(row, _)| row as u32)
                    .collect();
                let nulls = UInt32Array::new_null(unmatched.len());
                self.conform(combine(left, &self.right, &unmatched, &nulls)?)
            }
            JoinKind::LeftSemi | JoinKind::LeftAnti => {
                let want = self.kind == JoinKind::LeftSemi;
                let mask: BooleanArray = cursor.matched.iter().map(|&m| Some(m == want)).collect();
                Ok(filter_record_batch(left, &mask)?)
            }
            JoinKind::LeftMark => {
                // EXISTS under OR whose correlation folded away: every left row,
                // marked by whether some right row passed the filter.
                super::join::with_mark(left, &cursor.matched, &self.schema)
            }
        }
    }

    /// Once every left batch is done: a FULL join's right rows that matched no left
    /// row, with NULL left columns, in pieces within the output limit; `None` when
    /// there are no more (at once for other kinds of join).
    ///
    /// # Errors
    /// Arrow errors.
    pub fn unmatched_right(&mut self, left_schema: &Schema) -> TaskResult<Option<RecordBatch>> {
        let rows_per_output = self.limit.rows_for(self.right_row_bytes).max(1);
        let mut unmatched = Vec::new();
        while self.next_unmatched < self.right_matched.len() && unmatched.len() < rows_per_output {
            if !self.right_matched[self.next_unmatched] {
                unmatched.push(self.next_unmatched as u32);
            }
            self.next_unmatched += 1;
        }
        if unmatched.is_empty() {
            return Ok(None);
        }
        let right_idx = UInt32Array::from(unmatched);
        let mut columns: Vec<ArrayRef> = left_schema
            .fields()
            .iter()
            .map(|field| new_null_array(field.data_type(), right_idx.len()))
            .collect();
        for column in self.right.columns() {
            columns.push(take(column.as_ref(), &right_idx, None)?);
        }
        batch_with_rows(&self.schema, columns, right_idx.len()).map(Some)
    }

    /// Puts a joined batch under the join's schema (which may be non-nullable where the
    /// working batch was not; the data is checked against it).
    fn conform(&self, batch: RecordBatch) -> TaskResult<RecordBatch> {
        batch_with_rows(&self.schema, batch.columns().to_vec(), batch.num_rows())
    }
}

fn combine(
    left: &RecordBatch,
    right: &RecordBatch,
    left_idx: &UInt32Array,
    right_idx: &UInt32Array,
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
    let options = RecordBatchOptions::new().with_row_count(Some(left_idx.len()));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &options,
    )?)
}
