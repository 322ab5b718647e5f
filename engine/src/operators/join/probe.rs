//! Probing a built [`JoinTable`], resumable. A probe batch goes in with
//! [`HashJoinProbe::push`] and its output comes out of [`HashJoinProbe::next_output`]
//! in pieces within the [`OutputLimit`], however many build rows its rows match: the
//! prober keeps its place (the probe row, and how many of its matches are out)
//! between pieces. A key with a million matches on each side so becomes many batches
//! of bounded size, each one reserved-or-bounded memory and one cancellation check
//! apart, never one batch of a trillion pairs.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, UInt32Array};
use arrow::compute::{filter, filter_record_batch, take};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion_physical_expr::PhysicalExpr;

use super::table::{all_valid, JoinTable, KeyRange};
use crate::error::TaskResult;
use crate::operators::output_limit::{row_bytes, OutputLimit};
use crate::operators::{evaluate, evaluate_mask};
use crate::plan::node::{HashJoinNode, JoinKind};

/// What the table stands for, and so what a probe batch's unmatched rows mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeMode {
    /// The whole build side (or a whole partition of it): probe rows that matched
    /// nothing come out as the join kind says, after the batch's pairs.
    Whole,
    /// One chunk of a build side too large for memory: only pairs come out; which
    /// probe rows matched is left to the caller ([`HashJoinProbe::take_matched`]),
    /// which combines it over the chunks.
    Chunk,
}

/// Probes batches against a built [`JoinTable`] with the join's semantics.
pub struct HashJoinProbe {
    table: JoinTable,
    probe_keys: Vec<Arc<dyn PhysicalExpr>>,
    filter: Option<Arc<dyn PhysicalExpr>>,
    kind: JoinKind,
    /// The probe side is the join's left input (false for joins built left).
    probe_is_left: bool,
    /// A semi or anti join built on its left: outputs build rows after the probe side.
    outputs_build_rows: bool,
    /// [`HashJoinNode::outputs_unmatched_build_rows`]: after the probe side.
    unmatched_build_out: bool,
    /// [`HashJoinNode::outputs_unmatched_probe_rows`].
    unmatched_probe_out: bool,
    null_aware: bool,
    schema: SchemaRef,
    mode: ProbeMode,
    limit: OutputLimit,
    build_row_bytes: usize,
    /// Per build row, whether some probe row matched it (for joins that output build
    /// rows by whether they matched; empty otherwise).
    build_matched: Vec<bool>,
    /// The probe batch being joined.
    cursor: Option<Cursor>,
    /// Which rows of the last probe batch matched, once it was done.
    last_matched: Option<Vec<bool>>,
    /// The build row [`HashJoinProbe::finish`] continues from.
    finish_from: usize,
}

/// A probe batch in progress and the place its output has reached.
struct Cursor {
    batch: RecordBatch,
    /// Per probe row, the build rows with its key.
    ranges: Vec<KeyRange>,
    /// The probe row whose pairs come next.
    row: usize,
    /// How many of `row`'s build rows are out already.
    offset: u32,
    /// Probe rows that matched a build row (and passed the join filter).
    matched: Vec<bool>,
    pairs_per_output: usize,
    pairs_done: bool,
}

impl Cursor {
    /// The next (probe row, build row) pairs with equal keys, at most a piece's worth.
    /// With `first_only`, one pair per probe row (semi and anti joins only ask whether
    /// there is a match).
    fn next_pairs(&mut self, first_only: bool) -> (UInt32Array, UInt32Array) {
        let max = self.pairs_per_output;
        let capacity = max.min(self.ranges.len() - self.row);
        let (mut probe, mut build) = (Vec::with_capacity(capacity), Vec::with_capacity(capacity));
        while probe.len() < max && self.row < self.ranges.len() {
            let [start, length] = self.ranges[self.row];
            if length <= 1 {
                // The common case of unique keys (or no match) without the loop below.
                if length == 1 {
                    probe.push(self.row as u32);
                    build.push(start);
                }
                self.row += 1;
                continue;
            }
            let length = if first_only { 1 } else { length };
            let count = (length - self.offset).min((max - probe.len()) as u32);
            let first = start + self.offset;
            probe.extend(std::iter::repeat_n(self.row as u32, count as usize));
            build.extend(first..first + count);
            self.offset += count;
            if self.offset == length {
                self.row += 1;
                self.offset = 0;
            }
        }
        self.pairs_done = self.row == self.ranges.len();
        (UInt32Array::from(probe), UInt32Array::from(build))
    }
}

impl HashJoinProbe {
    pub fn new(node: &HashJoinNode, table: JoinTable, limit: OutputLimit, mode: ProbeMode) -> Self {
        let probe_is_left = !node.build_left;
        let probe_keys = node
            .on
            .iter()
            .map(|(l, r)| Arc::clone(if probe_is_left { l } else { r }))
            .collect();
        let build_matched =
            if node.outputs_unmatched_build_rows() || node.outputs_build_rows_by_match() {
                vec![false; table.num_rows()]
            } else {
                Vec::new()
            };
        HashJoinProbe {
            build_row_bytes: row_bytes(&table.batch),
            table,
            probe_keys,
            filter: node.filter.clone(),
            kind: node.kind,
            probe_is_left,
            outputs_build_rows: node.outputs_build_rows_by_match(),
            unmatched_build_out: node.outputs_unmatched_build_rows(),
            unmatched_probe_out: node.outputs_unmatched_probe_rows(),
            null_aware: node.null_aware,
            schema: Arc::clone(&node.schema),
            mode,
            limit,
            build_matched,
            cursor: None,
            last_matched: None,
            finish_from: 0,
        }
    }

    /// Starts joining `batch`; its output then comes from [`HashJoinProbe::next_output`]
    /// until that returns `None`.
    ///
    /// # Errors
    /// Key evaluation errors, or keys of different types on the two sides.
    pub fn push(&mut self, batch: RecordBatch) -> TaskResult<()> {
        debug_assert!(self.cursor.is_none(), "the previous batch is not done");
        let rows = batch.num_rows();
        self.last_matched = None;
        if self.null_aware && self.table.has_null_key {
            // x NOT IN (.. NULL ..) is never true: nothing of this batch comes out.
            self.last_matched = Some(vec![false; rows]);
            return Ok(());
        }
        let keys = evaluate(&self.probe_keys, &batch)?;
        let ranges = self.table.ranges(&keys, rows)?;
        let mut matched = vec![false; rows];
        if self.null_aware && self.kind == JoinKind::LeftAnti && self.table.total_rows > 0 {
            // NULL NOT IN (non-empty set) is unknown: the row counts as matched, so it
            // never comes out.
            if let Some(valid) = all_valid(&keys, rows) {
                for (seen, is_valid) in matched.iter_mut().zip(valid) {
                    *seen |= !is_valid;
                }
            }
        }
        let pairs_per_output = self
            .limit
            .rows_for(row_bytes(&batch) + self.build_row_bytes);
        self.cursor = Some(Cursor {
            batch,
            ranges,
            row: 0,
            offset: 0,
            matched,
            pairs_per_output,
            pairs_done: false,
        });
        Ok(())
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
        if cursor.pairs_done {
            let rest = match self.mode {
                ProbeMode::Whole => self.probe_rest(&cursor.batch, &cursor.matched)?,
                ProbeMode::Chunk => None,
            };
            self.last_matched = Some(cursor.matched);
            return Ok(Some(rest.unwrap_or_else(|| self.empty())));
        }
        let output = self.pairs_output(&mut cursor)?;
        self.cursor = Some(cursor);
        Ok(Some(output))
    }

    /// Which rows of the last pushed batch matched some build row, once its output is
    /// done.
    pub fn take_matched(&mut self) -> Option<Vec<bool>> {
        self.last_matched.take()
    }

    fn empty(&self) -> RecordBatch {
        RecordBatch::new_empty(Arc::clone(&self.schema))
    }

    /// The pairs a piece holds (after the join filter), recording what they matched;
    /// for joins that output pairs, those pairs as a batch.
    fn pairs_output(&mut self, cursor: &mut Cursor) -> TaskResult<RecordBatch> {
        let first_only = matches!(
            self.kind,
            JoinKind::LeftSemi | JoinKind::LeftAnti | JoinKind::LeftMark
        ) && !self.outputs_build_rows
            && self.filter.is_none();
        let (probe_idx, build_idx) = cursor.next_pairs(first_only);
        let (probe_idx, build_idx) = self.filtered(&cursor.batch, probe_idx, build_idx)?;
        for &row in probe_idx.values() {
            cursor.matched[row as usize] = true;
        }
        if !self.build_matched.is_empty() {
            for &row in build_idx.values() {
                self.build_matched[row as usize] = true;
            }
        }
        match self.kind {
            JoinKind::Inner | JoinKind::Left | JoinKind::Full => {
                self.combine(&cursor.batch, &probe_idx, &build_idx, false)
            }
            JoinKind::LeftSemi | JoinKind::LeftAnti | JoinKind::LeftMark => Ok(self.empty()),
        }
    }

    /// The pairs that pass the join filter.
    fn filtered(
        &self,
        batch: &RecordBatch,
        probe_idx: UInt32Array,
        build_idx: UInt32Array,
    ) -> TaskResult<(UInt32Array, UInt32Array)> {
        let Some(predicate) = &self.filter else {
            return Ok((probe_idx, build_idx));
        };
        if probe_idx.is_empty() {
            return Ok((probe_idx, build_idx));
        }
        let joined = self.combine(batch, &probe_idx, &build_idx, true)?;
        let mask = evaluate_mask(predicate, &joined)?;
        let keep = |indices: &UInt32Array| -> TaskResult<UInt32Array> {
            Ok(filter(indices, &mask)?
                .as_any()
                .downcast_ref::<UInt32Array>()
                .expect("filtering keeps the type")
                .clone())
        };
        Ok((keep(&probe_idx)?, keep(&build_idx)?))
    }

    /// The probe rows of `batch` a left, full, semi or anti join outputs once its
    /// pairs are out, given which of them matched (for a build side joined in chunks:
    /// matched any chunk).
    ///
    /// # Errors
    /// Arrow errors building the output.
    pub fn probe_rest(
        &self,
        batch: &RecordBatch,
        matched: &[bool],
    ) -> TaskResult<Option<RecordBatch>> {
        if self.null_aware && self.table.has_null_key
            || self.outputs_build_rows
            || self.kind == JoinKind::Left && !self.unmatched_probe_out
        {
            return Ok(None);
        }
        let keep =
            |want: bool| -> BooleanArray { matched.iter().map(|&m| Some(m == want)).collect() };
        Ok(match self.kind {
            JoinKind::Inner => None,
            JoinKind::LeftSemi => Some(filter_record_batch(batch, &keep(true))?),
            JoinKind::LeftAnti => Some(filter_record_batch(batch, &keep(false))?),
            JoinKind::LeftMark => Some(super::with_mark(batch, matched, &self.schema)?),
            JoinKind::Left | JoinKind::Full => {
                let unmatched: UInt32Array = matched
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| !**m)
                    .map(|(row, _)| Some(row as u32))
                    .collect();
                let nulls = UInt32Array::new_null(unmatched.len());
                Some(self.combine(batch, &unmatched, &nulls, false)?)
            }
        })
    }

    /// After the last probe batch, a piece per call (`None` when there is no more):
    /// for full joins and left joins built left, the build rows that never matched,
    /// with NULL probe columns; for semi and anti joins built left, the build rows
    /// that matched (semi) or did not (anti).
    ///
    /// # Errors
    /// Arrow errors building the output.
    pub fn finish(&mut self) -> TaskResult<Option<RecordBatch>> {
        let want = if self.outputs_build_rows {
            self.kind == JoinKind::LeftSemi
        } else if self.unmatched_build_out {
            false
        } else {
            return Ok(None);
        };
        let max = self.limit.rows_for(self.build_row_bytes);
        let mut rows = Vec::with_capacity(max.min(self.build_matched.len()));
        while self.finish_from < self.build_matched.len() && rows.len() < max {
            if self.build_matched[self.finish_from] == want {
                rows.push(self.finish_from as u32);
            }
            self.finish_from += 1;
        }
        if rows.is_empty() {
            return Ok(None);
        }
        let rows = UInt32Array::from(rows);
        if self.outputs_build_rows {
            let columns = take_all(self.table.batch.columns(), &rows)?;
            let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
            return Ok(Some(RecordBatch::try_new_with_options(
                Arc::clone(&self.schema),
                columns,
                &options,
            )?));
        }
        let probe_nulls = UInt32Array::new_null(rows.len());
        let empty_probe = RecordBatch::new_empty(self.probe_schema());
        Ok(Some(self.combine(
            &empty_probe,
            &probe_nulls,
            &rows,
            false,
        )?))
    }

    fn probe_schema(&self) -> SchemaRef {
        let build_width = self.table.batch.num_columns();
        let probe_width = self.schema.fields().len() - build_width;
        let range = if self.probe_is_left {
            0..probe_width
        } else {
            build_width..build_width + probe_width
        };
        Arc::new(Schema::new(self.schema.fields()[range].to_vec()))
    }

    /// Takes the indexed rows of both sides into one (left ++ right) batch. With
    /// `for_filter`, the output schema is built from the arrays themselves, since the
    /// join's own schema may have only the left side's columns.
    fn combine(
        &self,
        probe: &RecordBatch,
        probe_idx: &UInt32Array,
        build_idx: &UInt32Array,
        for_filter: bool,
    ) -> TaskResult<RecordBatch> {
        let probe_columns = take_all(probe.columns(), probe_idx)?;
        let build_columns = take_all(self.table.batch.columns(), build_idx)?;
        let (left, right) = if self.probe_is_left {
            (probe_columns, build_columns)
        } else {
            (build_columns, probe_columns)
        };
        let columns: Vec<ArrayRef> = left.into_iter().chain(right).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(probe_idx.len()));
        if for_filter {
            let (left_schema, right_schema) = if self.probe_is_left {
                (probe.schema(), self.table.batch.schema())
            } else {
                (self.table.batch.schema(), probe.schema())
            };
            let fields: Vec<_> = left_schema
                .fields()
                .iter()
                .chain(right_schema.fields())
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect();
            let schema = Arc::new(Schema::new(fields));
            return Ok(RecordBatch::try_new_with_options(
                schema, columns, &options,
            )?);
        }
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &options,
        )?)
    }
}

fn take_all(columns: &[ArrayRef], indices: &UInt32Array) -> TaskResult<Vec<ArrayRef>> {
    columns
        .iter()
        .map(|c| Ok(take(c.as_ref(), indices, None)?))
        .collect()
}
