//! Synchronous, vectorized operator kernels over Arrow batches. No I/O, no async:
//! `exec` drives them, one batch at a time, on the core that owns the partition.

pub mod aggregate;
pub mod bounded_window;
mod checked_integer;
pub mod compact;
pub mod conjunction;
pub mod decimal;
mod decimal_divide;
mod float_keys;
pub mod group_table;
pub mod hash;
pub mod heavy_hitters;
pub mod join;
pub mod like_parts;
pub mod merge;
pub mod nested_loop;
pub mod output_limit;
pub mod partition;
pub mod runtime_filter;
pub mod sort;
pub mod window;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion_physical_expr::PhysicalExpr;

use crate::error::{TaskError, TaskResult};

pub(crate) use decimal_divide::{divided_half_away_from_zero, rounded_quotient};

/// `columns` of `rows` rows under `schema`. The row count is given, not taken from
/// the columns, so a batch without columns (`count(*)` inputs) keeps its rows.
pub fn batch_with_rows(
    schema: &SchemaRef,
    columns: Vec<ArrayRef>,
    rows: usize,
) -> TaskResult<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &options,
    )?)
}

/// Evaluates expressions over a batch into arrays of the batch's length.
pub fn evaluate(exprs: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> TaskResult<Vec<ArrayRef>> {
    exprs
        .iter()
        .map(|expr| Ok(expr.evaluate(batch)?.into_array(batch.num_rows())?))
        .collect()
}

/// Evaluates a predicate into a boolean mask; NULL counts as false.
pub fn evaluate_mask(
    predicate: &Arc<dyn PhysicalExpr>,
    batch: &RecordBatch,
) -> TaskResult<BooleanArray> {
    let mask = predicate.evaluate(batch)?.into_array(batch.num_rows())?;
    let mask = mask
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| TaskError::internal(format!("predicate {predicate} is not boolean")))?;
    Ok(match mask.logical_nulls() {
        Some(_) => arrow::compute::prep_null_mask_filter(mask),
        None => mask.clone(),
    })
}

/// Splits a batch into pieces of at most `batch_rows` rows (zero-copy slices).
pub fn split_batch(batch: RecordBatch, batch_rows: usize) -> Vec<RecordBatch> {
    let batch_rows = batch_rows.max(1);
    if batch.num_rows() <= batch_rows {
        return vec![batch];
    }
    (0..batch.num_rows())
        .step_by(batch_rows)
        .map(|offset| batch.slice(offset, batch_rows.min(batch.num_rows() - offset)))
        .collect()
}
