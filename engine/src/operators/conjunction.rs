//! Predicates that must all hold, evaluated as a selective scan wants them: each
//! one only over the rows every earlier one kept, so TPC-H Q19's string and
//! decimal tests see the few rows its quantity ranges keep instead of all of them.
//! Joins' runtime filters (`runtime_filter.rs`) come last.
//!
//! The order is fixed by the predicates alone, never by the data or the batching:
//! those that cannot raise an error come first, in the order written, then the
//! others in the order written. A predicate that can fail (a division, a cast) so
//! sees exactly the rows that passed every one before it, whichever way the rows
//! were read (whole batches, filters first, one row at a time).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, UInt32Array};
use arrow::buffer::BooleanBuffer;
use arrow::compute::{filter_record_batch, take};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_expr::Operator;
use datafusion_physical_expr::expressions::{
    BinaryExpr, Column, InListExpr, IsNotNullExpr, IsNullExpr, Literal, NotExpr,
};
use datafusion_physical_expr::utils::collect_columns;
use datafusion_physical_expr::{split_conjunction, PhysicalExpr};

use super::runtime_filter::RuntimeFilter;
use super::{batch_with_rows, evaluate_mask};
use crate::error::TaskResult;
use crate::sql::float_peers::is_comparison;

/// Below this share of a batch's rows still passing, the next predicate is
/// evaluated over the passing rows gathered, not over the whole batch: gathering
/// a row costs a few comparisons.
const GATHER_BELOW: f64 = 0.25;

/// The conjuncts of some predicates over batches of one schema.
#[derive(Debug, Clone)]
pub struct Conjunction {
    steps: Vec<Step>,
    /// Joins' build keys, tested after every predicate (they cannot fail).
    runtime: Vec<RuntimeFilter>,
}

#[derive(Debug, Clone)]
struct Step {
    /// Over a batch of `columns` only, in that order.
    predicate: Arc<dyn PhysicalExpr>,
    /// The input's columns the predicate reads, ascending.
    columns: Vec<usize>,
    /// No row can make it raise an error, so it may run over rows an earlier
    /// predicate rejected.
    cannot_fail: bool,
}

/// The rows of a batch passing a conjunction.
#[derive(Debug)]
pub enum Selection {
    All,
    Mask(BooleanArray),
    /// Ascending positions.
    Rows(UInt32Array),
}

impl Conjunction {
    /// The conjuncts of every predicate (an `AND` tree counts as its parts).
    pub fn new(predicates: &[Arc<dyn PhysicalExpr>]) -> TaskResult<Conjunction> {
        let mut steps = predicates
            .iter()
            .flat_map(|predicate| split_conjunction(predicate))
            .map(Step::of)
            .collect::<TaskResult<Vec<_>>>()?;
        // Stable: the order written within either kind.
        steps.sort_by_key(|step| !step.cannot_fail);
        Ok(Conjunction {
            steps,
            runtime: Vec::new(),
        })
    }

    /// The same predicates, then `filters`.
    pub fn with_runtime_filters(mut self, filters: Vec<RuntimeFilter>) -> Conjunction {
        self.runtime = filters;
        self
    }

    /// The rows of `batch` where every predicate holds (NULL counts as false).
    pub fn select(&self, batch: &RecordBatch) -> TaskResult<Selection> {
        let rows = batch.num_rows();
        let mut selection = Selection::All;
        for step in &self.steps {
            selection = match selection {
                Selection::All => Selection::of_mask(step.mask(batch)?),
                Selection::Mask(mask) => {
                    let passing = mask.true_count();
                    if step.cannot_fail && (passing as f64) >= GATHER_BELOW * rows as f64 {
                        let both = arrow::compute::and(&mask, &step.mask(batch)?)?;
                        Selection::of_mask(both)
                    } else {
                        step.refine(batch, positions(&mask))?
                    }
                }
                Selection::Rows(positions) => step.refine(batch, positions)?,
            };
            if selection.is_none() {
                return Ok(selection);
            }
        }
        for filter in &self.runtime {
            selection = filter.refine(batch, selection);
            if selection.is_none() {
                break;
            }
        }
        Ok(selection)
    }

    /// The rows of `batch` where every predicate holds.
    pub fn filter(&self, batch: &RecordBatch) -> TaskResult<RecordBatch> {
        self.select(batch)?.apply(batch)
    }
}

impl Step {
    fn of(conjunct: &Arc<dyn PhysicalExpr>) -> TaskResult<Step> {
        let mut columns: Vec<usize> = collect_columns(conjunct)
            .iter()
            .map(Column::index)
            .collect();
        columns.sort_unstable();
        columns.dedup();
        let predicate = Arc::clone(conjunct)
            .transform_down(|expr| {
                let Some(column) = expr.downcast_ref::<Column>() else {
                    return Ok(Transformed::no(expr));
                };
                let position = columns
                    .binary_search(&column.index())
                    .expect("collect_columns found every column");
                Ok(Transformed::yes(
                    Arc::new(Column::new(column.name(), position)) as Arc<dyn PhysicalExpr>,
                ))
            })?
            .data;
        Ok(Step {
            cannot_fail: cannot_fail(conjunct),
            predicate,
            columns,
        })
    }

    /// The predicate over every row of `batch`.
    fn mask(&self, batch: &RecordBatch) -> TaskResult<BooleanArray> {
        evaluate_mask(&self.predicate, &batch.project(&self.columns)?)
    }

    /// Of the rows of `batch` at `positions`, those where the predicate holds.
    fn refine(&self, batch: &RecordBatch, positions: UInt32Array) -> TaskResult<Selection> {
        let columns = self
            .columns
            .iter()
            .map(|&column| take(batch.column(column), &positions, None))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(positions.len()));
        let gathered = RecordBatch::try_new_with_options(
            Arc::new(batch.schema().project(&self.columns)?),
            columns,
            &options,
        )?;
        let mask = evaluate_mask(&self.predicate, &gathered)?;
        let kept = arrow::compute::filter(&positions, &mask)?;
        Ok(Selection::Rows(
            kept.as_any()
                .downcast_ref::<UInt32Array>()
                .expect("filtering keeps the type")
                .clone(),
        ))
    }
}

impl Selection {
    pub(crate) fn of_mask(mask: BooleanArray) -> Selection {
        if mask.true_count() == mask.len() {
            Selection::All
        } else {
            Selection::Mask(mask)
        }
    }

    /// How many of a batch's `rows` rows are selected.
    pub(crate) fn count(&self, rows: usize) -> usize {
        match self {
            Selection::All => rows,
            Selection::Mask(mask) => mask.true_count(),
            Selection::Rows(positions) => positions.len(),
        }
    }

    /// No row passes.
    pub(crate) fn is_none(&self) -> bool {
        match self {
            Selection::All => false,
            Selection::Mask(mask) => mask.true_count() == 0,
            Selection::Rows(positions) => positions.is_empty(),
        }
    }

    /// The selected rows of `batch`, the batch the selection was made over.
    pub fn apply(&self, batch: &RecordBatch) -> TaskResult<RecordBatch> {
        Ok(match self {
            Selection::All => batch.clone(),
            Selection::Mask(mask) => filter_record_batch(batch, mask)?,
            Selection::Rows(positions) => {
                let columns = batch
                    .columns()
                    .iter()
                    .map(|column| take(column, positions, None))
                    .collect::<Result<Vec<_>, _>>()?;
                // Counted, not taken from the columns: `count(*)` scans have none.
                batch_with_rows(&batch.schema(), columns, positions.len())?
            }
        })
    }

    /// The selection as a mask over `rows` rows.
    pub fn into_mask(self, rows: usize) -> BooleanArray {
        match self {
            Selection::All => BooleanArray::from(BooleanBuffer::new_set(rows)),
            Selection::Mask(mask) => mask,
            Selection::Rows(positions) => {
                let mut bits = arrow::array::BooleanBufferBuilder::new(rows);
                bits.append_n(rows, false);
                for &position in positions.values() {
                    bits.set_bit(position as usize, true);
                }
                BooleanArray::from(bits.finish())
            }
        }
    }
}

fn positions(mask: &BooleanArray) -> UInt32Array {
    UInt32Array::from_iter_values(mask.values().set_indices_u32())
}

/// Whether evaluating `expr` can raise an error for some row: only comparisons,
/// boolean logic and NULL tests of columns and literals are known not to.
fn cannot_fail(expr: &Arc<dyn PhysicalExpr>) -> bool {
    if expr.is::<Column>() || expr.is::<Literal>() {
        return true;
    }
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        let op = *binary.op();
        let infallible_op = is_comparison(op) || matches!(op, Operator::And | Operator::Or);
        return infallible_op && cannot_fail(binary.left()) && cannot_fail(binary.right());
    }
    if let Some(not) = expr.downcast_ref::<NotExpr>() {
        return cannot_fail(not.arg());
    }
    if let Some(is_null) = expr.downcast_ref::<IsNullExpr>() {
        return cannot_fail(is_null.arg());
    }
    if let Some(is_not_null) = expr.downcast_ref::<IsNotNullExpr>() {
        return cannot_fail(is_not_null.arg());
    }
    if let Some(in_list) = expr.downcast_ref::<InListExpr>() {
        return cannot_fail(in_list.expr()) && in_list.list().iter().all(cannot_fail);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion_physical_expr::expressions::{binary, col, is_not_null, lit};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Int64, false),
            Field::new("c", DataType::Int64, false),
        ])
    }

    /// `a` is NULL every 7th row, else the row number; `b` counts 0..10, `c` is 0 on
    /// the rows where `b` is 0.
    fn batch(rows: i64) -> RecordBatch {
        let a = Int64Array::from_iter((0..rows).map(|i| (i % 7 != 0).then_some(i)));
        let b = Int64Array::from_iter_values((0..rows).map(|i| i % 10));
        let c = Int64Array::from_iter_values((0..rows).map(|i| if i % 10 == 0 { 0 } else { i }));
        RecordBatch::try_new(
            Arc::new(schema()),
            vec![Arc::new(a), Arc::new(b), Arc::new(c)],
        )
        .unwrap()
    }

    fn compare(column: &str, op: Operator, value: i64) -> Arc<dyn PhysicalExpr> {
        binary(col(column, &schema()).unwrap(), op, lit(value), &schema()).unwrap()
    }

    /// `100 / c > 1`: fails where `c` is 0.
    fn division() -> Arc<dyn PhysicalExpr> {
        let quotient = binary(
            lit(100i64),
            Operator::Divide,
            col("c", &schema()).unwrap(),
            &schema(),
        )
        .unwrap();
        binary(quotient, Operator::Gt, lit(1i64), &schema()).unwrap()
    }

    /// `b + 0 <> 0`: true where `c` is not 0, and arithmetic, so it might fail.
    fn b_not_zero_by_arithmetic() -> Arc<dyn PhysicalExpr> {
        let sum = binary(
            col("b", &schema()).unwrap(),
            Operator::Plus,
            lit(0i64),
            &schema(),
        )
        .unwrap();
        binary(sum, Operator::NotEq, lit(0i64), &schema()).unwrap()
    }

    type RowTest = Box<dyn Fn(i64) -> bool>;

    fn selected_a(conjunction: &Conjunction, batch: &RecordBatch) -> Vec<Option<i64>> {
        let kept = conjunction.filter(batch).unwrap();
        let a = kept
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        a.iter().collect()
    }

    #[test]
    fn selects_the_rows_every_predicate_holds_for_whether_dense_or_sparse() {
        let batch = batch(1000);
        let a = |i: i64| (i % 7 != 0).then_some(i);
        let cases: Vec<(Vec<Arc<dyn PhysicalExpr>>, RowTest)> = vec![
            // Most rows pass both: the masks are combined.
            (
                vec![
                    compare("a", Operator::Lt, 900),
                    compare("b", Operator::NotEq, 3),
                ],
                Box::new(|i| i % 7 != 0 && i < 900 && i % 10 != 3),
            ),
            // Few pass the first: the second sees those rows gathered.
            (
                vec![
                    compare("a", Operator::Lt, 100),
                    compare("b", Operator::Eq, 4),
                    is_not_null(col("a", &schema()).unwrap()).unwrap(),
                ],
                Box::new(|i| i % 7 != 0 && i < 100 && i % 10 == 4),
            ),
            // None pass.
            (
                vec![
                    compare("b", Operator::Gt, 20),
                    compare("a", Operator::Gt, 0),
                ],
                Box::new(|_| false),
            ),
            // All pass.
            (vec![compare("b", Operator::GtEq, 0)], Box::new(|_| true)),
        ];
        for (predicates, holds) in cases {
            let conjunction = Conjunction::new(&predicates).unwrap();
            let expected: Vec<Option<i64>> = (0..1000).filter(|&i| holds(i)).map(a).collect();
            assert_eq!(selected_a(&conjunction, &batch), expected, "{predicates:?}");
            let mask = conjunction.select(&batch).unwrap().into_mask(1000);
            let from_mask: Vec<bool> = mask.iter().map(Option::unwrap).collect();
            let wanted: Vec<bool> = (0..1000).map(&holds).collect();
            assert_eq!(from_mask, wanted, "{predicates:?}");
        }
        // An AND tree counts as its parts.
        let and = binary(
            compare("a", Operator::Lt, 100),
            Operator::And,
            compare("b", Operator::Eq, 4),
            &schema(),
        )
        .unwrap();
        let conjunction = Conjunction::new(&[and]).unwrap();
        assert_eq!(conjunction.steps.len(), 2);
        assert_eq!(selected_a(&conjunction, &batch).len(), 8);
    }

    #[test]
    fn a_selection_keeps_its_row_count_over_a_batch_without_columns() {
        let batch = batch(1000);
        let no_columns = batch.project(&[]).unwrap();
        for (predicates, rows) in [
            (vec![compare("b", Operator::Eq, 4)], 100),
            (
                vec![
                    compare("a", Operator::Lt, 100),
                    compare("b", Operator::Eq, 4),
                ],
                8,
            ),
            (vec![compare("b", Operator::GtEq, 0)], 1000),
        ] {
            let selection = Conjunction::new(&predicates)
                .unwrap()
                .select(&batch)
                .unwrap();
            assert_eq!(selection.apply(&no_columns).unwrap().num_rows(), rows);
        }
    }

    #[test]
    fn a_predicate_that_can_fail_sees_only_the_rows_the_ones_before_it_kept() {
        let batch = batch(100);
        // Written first, it sees every row and divides by zero.
        let fails = Conjunction::new(&[division(), b_not_zero_by_arithmetic()]).unwrap();
        let error = fails.select(&batch).unwrap_err();
        assert!(error.to_string().contains("division by zero"), "{error}");
        // Written after one that rejects the zeros, it never sees them.
        let guarded = Conjunction::new(&[b_not_zero_by_arithmetic(), division()]).unwrap();
        let passing = selected_a(&guarded, &batch);
        // 100 / c > 1 for c up to 50, the multiples of 10 rejected.
        assert_eq!(passing.len(), 45, "{passing:?}");
        // A comparison cannot fail, so it runs first wherever it is written.
        let compared = Conjunction::new(&[division(), compare("c", Operator::NotEq, 0)]).unwrap();
        assert_eq!(selected_a(&compared, &batch), passing);
        // The same holds however the batch is cut.
        for rows in [1, 3, 10, 33] {
            let pieces: Vec<Option<i64>> = (0..100)
                .step_by(rows)
                .flat_map(|offset| {
                    let piece = batch.slice(offset, rows.min(100 - offset));
                    selected_a(&guarded, &piece)
                })
                .collect();
            assert_eq!(pieces, passing, "{rows} rows a batch");
            assert!((0..100).step_by(rows).any(|offset| fails
                .select(&batch.slice(offset, rows.min(100 - offset)))
                .is_err()));
        }
    }
}
