//! Window functions over rows sorted by their partition keys, then their order keys.
//! Each window partition is evaluated on its own by DataFusion's window expressions
//! (its ranking, offset and aggregate implementations, over any ROWS, RANGE or
//! GROUPS frame) and the results are appended to the rows as columns.

use std::any::Any;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::compute::concat;
use arrow::datatypes::{FieldRef, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion_common::Result as DataFusionResult;
use datafusion_expr::{LimitEffect, PartitionEvaluator, WindowUDF};
use datafusion_functions_window_common::expr::ExpressionArgs;
use datafusion_functions_window_common::field::WindowUDFFieldArgs;
use datafusion_functions_window_common::partition::PartitionEvaluatorArgs;
use datafusion_physical_expr::window::{StandardWindowFunctionExpr, WindowExpr};
use datafusion_physical_expr::PhysicalExpr;

use super::{batch_with_rows, evaluate};
use crate::error::TaskResult;

/// A window function (`row_number`, `rank`, `lag`, `first_value`, ...) as the
/// evaluator of [`datafusion_physical_expr::window::StandardWindowExpr`] needs it.
#[derive(Debug, Clone)]
pub struct WindowFunctionExpr {
    function: Arc<WindowUDF>,
    args: Vec<Arc<dyn PhysicalExpr>>,
    input_fields: Vec<FieldRef>,
    name: String,
    ignore_nulls: bool,
}

impl WindowFunctionExpr {
    pub fn new(
        function: Arc<WindowUDF>,
        args: Vec<Arc<dyn PhysicalExpr>>,
        input_fields: Vec<FieldRef>,
        name: String,
        ignore_nulls: bool,
    ) -> Self {
        WindowFunctionExpr {
            function,
            args,
            input_fields,
            name,
            ignore_nulls,
        }
    }
}

impl StandardWindowFunctionExpr for WindowFunctionExpr {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn field(&self) -> DataFusionResult<FieldRef> {
        self.function
            .field(WindowUDFFieldArgs::new(&self.input_fields, &self.name))
    }

    fn expressions(&self) -> Vec<Arc<dyn PhysicalExpr>> {
        self.function
            .expressions(ExpressionArgs::new(&self.args, &self.input_fields))
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn create_evaluator(&self) -> DataFusionResult<Box<dyn PartitionEvaluator>> {
        self.function
            .partition_evaluator_factory(PartitionEvaluatorArgs::new(
                &self.args,
                &self.input_fields,
                false,
                self.ignore_nulls,
            ))
    }

    fn limit_effect(&self) -> LimitEffect {
        self.function.inner().limit_effect(&self.args)
    }
}

/// The window partitions of `batch` (sorted by `partition_by` first): ranges of rows
/// with equal partition keys. Without keys the whole batch is one partition.
pub fn partition_ranges(
    batch: &RecordBatch,
    partition_by: &[Arc<dyn PhysicalExpr>],
) -> TaskResult<Vec<Range<usize>>> {
    if partition_by.is_empty() || batch.num_rows() == 0 {
        return Ok(std::iter::once(0..batch.num_rows()).collect());
    }
    let keys = evaluate(partition_by, batch)?;
    Ok(arrow::compute::partition(&super::float_keys::normalized(&keys))?.ranges())
}

/// Evaluates every window expression over each of `ranges` (whole window partitions
/// of `batch`) and appends the results to `batch`'s columns, under `schema`.
pub fn evaluate_windows(
    batch: &RecordBatch,
    ranges: &[Range<usize>],
    exprs: &[Arc<dyn WindowExpr>],
    schema: &SchemaRef,
) -> TaskResult<RecordBatch> {
    let mut columns = batch.columns().to_vec();
    for expr in exprs {
        let pieces = ranges
            .iter()
            .map(|range| expr.evaluate(&batch.slice(range.start, range.len())))
            .collect::<DataFusionResult<Vec<ArrayRef>>>()?;
        let column = match pieces.as_slice() {
            [one] => Arc::clone(one),
            _ => {
                let refs: Vec<&dyn Array> = pieces.iter().map(AsRef::as_ref).collect();
                concat(&refs)?
            }
        };
        columns.push(column);
    }
    batch_with_rows(schema, columns, batch.num_rows())
}
