//! Late materialization of Parquet scans: a row group's filter columns are decoded
//! first and the pushed-down filters run on them; the scan's other columns are then
//! decoded only for the rows that passed (a row selection given to the decoder).
//! Every column is decoded once: the passing rows of the filter columns are kept,
//! and joined to the other columns' rows as those come.
//!
//! Whether that pays depends on more than the share of rows passing: pages are
//! decompressed whole either way, and skipping scattered rows of a cheap column can
//! cost more than decoding them all. So each scan measures: it reads its first row
//! groups one way and then the other, then the way that took less time per row,
//! trying the other again every [`RETRY_EVERY`] row groups. Where more than
//! [`MOST_PASSING`] of the rows pass, it reads whole batches without trying.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, BooleanArray, RecordBatchOptions};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_physical_expr::expressions::Column;
use datafusion_physical_expr::utils::collect_columns;
use datafusion_physical_expr::{split_conjunction, PhysicalExpr};

use crate::error::{TaskError, TaskResult};
use crate::operators::conjunction::Conjunction;
use crate::plan::node::ScanNode;

/// The largest share of filtered rows passing for which reading filters-first is
/// tried.
const MOST_PASSING: f64 = 0.5;

/// How often the way of reading not chosen is measured again, in row groups.
const RETRY_EVERY: u64 = 16;

/// How a row group is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    /// Every decoded column at once, the filters over the decoded batches.
    Whole = 0,
    /// The filter columns first, the others for the passing rows.
    FiltersFirst = 1,
}

/// A scan's pushed-down filters, run before its other columns are decoded.
pub(crate) struct FilterFirst {
    /// Over a batch of `filter_roots` only, in that order.
    conjuncts: Conjunction,
    /// The file's root columns the filters read, and the other decoded ones,
    /// ascending.
    filter_roots: Vec<usize>,
    other_roots: Vec<usize>,
    /// Rows the filters saw, and rows that passed them, over the scan so far (read
    /// either way).
    filtered: u64,
    passed: u64,
    /// Per way of reading: the time its row groups took, and their rows.
    spent: [(Duration, u64); 2],
    row_groups: u64,
}

impl FilterFirst {
    /// `None` when nothing would be saved: no filters, a filter without columns, or
    /// no decoded column outside the filters' (`decoded` are the root columns read).
    pub fn of(node: &ScanNode, decoded: &[usize]) -> Option<FilterFirst> {
        let conjuncts: Vec<&Arc<dyn PhysicalExpr>> = node
            .filters
            .iter()
            .flat_map(|f| split_conjunction(f))
            .collect();
        let mut filter_roots = Vec::new();
        for conjunct in &conjuncts {
            let columns = collect_columns(conjunct);
            if columns.is_empty() {
                return None;
            }
            for column in columns {
                filter_roots.push(*node.read_columns.get(column.index())?);
            }
        }
        filter_roots.sort_unstable();
        filter_roots.dedup();
        let other_roots: Vec<usize> = decoded
            .iter()
            .copied()
            .filter(|root| filter_roots.binary_search(root).is_err())
            .collect();
        if conjuncts.is_empty() || other_roots.is_empty() {
            return None;
        }
        let conjuncts: Vec<_> = conjuncts
            .into_iter()
            .map(|conjunct| over_roots(conjunct, &node.read_columns, &filter_roots))
            .collect::<Option<_>>()?;
        let conjuncts = Conjunction::new(&conjuncts).ok()?;
        Some(FilterFirst {
            conjuncts,
            filter_roots,
            other_roots,
            filtered: 0,
            passed: 0,
            spent: [(Duration::ZERO, 0); 2],
            row_groups: 0,
        })
    }

    pub fn filter_roots(&self) -> &[usize] {
        &self.filter_roots
    }

    pub fn other_roots(&self) -> &[usize] {
        &self.other_roots
    }

    /// How to read the next row group.
    pub fn choose(&mut self) -> Way {
        self.row_groups += 1;
        if self.passed as f64 > MOST_PASSING * self.filtered as f64 {
            return Way::Whole;
        }
        let per_row = |way: Way| {
            let (time, rows) = self.spent[way as usize];
            (rows > 0).then(|| time.as_secs_f64() / rows as f64)
        };
        match (per_row(Way::FiltersFirst), per_row(Way::Whole)) {
            (None, _) => Way::FiltersFirst,
            (Some(_), None) => Way::Whole,
            (Some(first), Some(whole)) => {
                let faster = if first <= whole {
                    Way::FiltersFirst
                } else {
                    Way::Whole
                };
                match (self.row_groups.is_multiple_of(RETRY_EVERY), faster) {
                    (false, faster) => faster,
                    (true, Way::Whole) => Way::FiltersFirst,
                    (true, Way::FiltersFirst) => Way::Whole,
                }
            }
        }
    }

    /// Counts the time a row group of `rows` rows took read `way`.
    pub fn spent(&mut self, way: Way, time: Duration, rows: usize) {
        let spent = &mut self.spent[way as usize];
        spent.0 += time;
        spent.1 += rows as u64;
    }

    /// Counts rows the filters saw and passed, read either way.
    pub fn observed(&mut self, filtered: usize, passed: usize) {
        self.filtered += filtered as u64;
        self.passed += passed as u64;
    }

    /// The rows of `batch` (of the filter columns) passing every filter, evaluated
    /// as a batch read whole is, so either way raises the same errors.
    pub fn mask(&self, batch: &RecordBatch) -> TaskResult<BooleanArray> {
        Ok(self.conjuncts.select(batch)?.into_mask(batch.num_rows()))
    }

    /// The scan's read columns (under `read_schema`) of `rows` rows: the filter
    /// columns from `kept`, the others from `others`.
    pub fn joined(
        &self,
        read_columns: &[usize],
        read_schema: &SchemaRef,
        kept: &RecordBatch,
        others: &RecordBatch,
    ) -> TaskResult<RecordBatch> {
        let columns: Vec<ArrayRef> = read_columns
            .iter()
            .map(|root| match self.filter_roots.binary_search(root) {
                Ok(position) => Arc::clone(kept.column(position)),
                Err(_) => {
                    let position = self
                        .other_roots
                        .binary_search(root)
                        .expect("every read column is decoded");
                    Arc::clone(others.column(position))
                }
            })
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(others.num_rows()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(read_schema),
            columns,
            &options,
        )?)
    }
}

/// The passing rows of a row group's filter columns, taken in order as the other
/// columns' rows arrive.
#[derive(Default)]
pub(crate) struct KeptRows {
    batches: VecDeque<RecordBatch>,
}

impl KeptRows {
    /// Keeps the rows of `batch` that `mask` selects; returns their count.
    pub fn keep(&mut self, batch: &RecordBatch, mask: &BooleanArray) -> TaskResult<usize> {
        let kept = filter_record_batch(batch, mask)?;
        let rows = kept.num_rows();
        if rows > 0 {
            self.batches.push_back(kept);
        }
        Ok(rows)
    }

    /// The next `rows` rows, in order.
    pub fn take(&mut self, rows: usize) -> TaskResult<RecordBatch> {
        let mut pieces = Vec::new();
        let mut wanted = rows;
        while wanted > 0 {
            let Some(front) = self.batches.pop_front() else {
                break;
            };
            if front.num_rows() > wanted {
                pieces.push(front.slice(0, wanted));
                self.batches
                    .push_front(front.slice(wanted, front.num_rows() - wanted));
                wanted = 0;
            } else {
                wanted -= front.num_rows();
                pieces.push(front);
            }
        }
        let taken = match pieces.as_slice() {
            [one] => one.clone(),
            _ => {
                let schema = pieces
                    .first()
                    .map(RecordBatch::schema)
                    .ok_or_else(|| TaskError::internal("the filtered rows ran out"))?;
                concat_batches(&schema, &pieces)?
            }
        };
        if taken.num_rows() != rows {
            return Err(TaskError::internal(format!(
                "{rows} filtered rows wanted, {} left",
                taken.num_rows()
            )));
        }
        Ok(taken)
    }

    pub fn bytes(&self) -> usize {
        self.batches
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum()
    }
}

/// `conjunct` (over the scan's read columns) rewritten over a batch holding only
/// `roots`, in that order.
fn over_roots(
    conjunct: &Arc<dyn PhysicalExpr>,
    read_columns: &[usize],
    roots: &[usize],
) -> Option<Arc<dyn PhysicalExpr>> {
    Arc::clone(conjunct)
        .transform_down(|expr| {
            let Some(column) = expr.downcast_ref::<Column>() else {
                return Ok(Transformed::no(expr));
            };
            let root = read_columns[column.index()];
            let position = roots
                .binary_search(&root)
                .expect("the filters' roots hold their columns");
            Ok(Transformed::yes(
                Arc::new(Column::new(column.name(), position)) as Arc<dyn PhysicalExpr>,
            ))
        })
        .map(|t| t.data)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int32Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(values: std::ops::Range<i32>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from_iter_values(values))]).unwrap()
    }

    #[test]
    fn kept_rows_come_back_in_order_across_batches() {
        let mut kept = KeptRows::default();
        let every_other = BooleanArray::from_iter((0..10).map(|i| Some(i % 2 == 0)));
        assert_eq!(kept.keep(&batch(0..10), &every_other).unwrap(), 5);
        assert_eq!(kept.keep(&batch(10..20), &every_other).unwrap(), 5);
        let values = |b: RecordBatch| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .values()
                .to_vec()
        };
        assert_eq!(values(kept.take(3).unwrap()), [0, 2, 4]);
        assert_eq!(values(kept.take(4).unwrap()), [6, 8, 10, 12]);
        assert_eq!(values(kept.take(3).unwrap()), [14, 16, 18]);
        assert!(kept.take(1).is_err(), "none left");
    }

    fn unmeasured() -> FilterFirst {
        FilterFirst {
            conjuncts: Conjunction::new(&[]).unwrap(),
            filter_roots: vec![0],
            other_roots: vec![1],
            filtered: 0,
            passed: 0,
            spent: [(Duration::ZERO, 0); 2],
            row_groups: 0,
        }
    }

    #[test]
    fn both_ways_are_measured_then_the_faster_is_kept_and_the_other_retried() {
        let mut first = unmeasured();
        assert_eq!(first.choose(), Way::FiltersFirst);
        first.spent(Way::FiltersFirst, Duration::from_millis(2), 1000);
        assert_eq!(first.choose(), Way::Whole);
        first.spent(Way::Whole, Duration::from_millis(5), 1000);
        let ways: Vec<Way> = (0..14).map(|_| first.choose()).collect();
        // Row groups 3 to 16: the 16th retries the slower way.
        let whole_at: Vec<usize> = (0..14).filter(|i| ways[*i] == Way::Whole).collect();
        assert_eq!(whole_at, [13], "{ways:?}");
    }

    #[test]
    fn most_rows_passing_reads_whole_batches() {
        let mut first = unmeasured();
        first.observed(1000, 20);
        assert_eq!(first.choose(), Way::FiltersFirst);
        first.observed(1000, 990);
        assert_eq!(first.choose(), Way::Whole);
        assert_eq!(first.choose(), Way::Whole);
    }
}
