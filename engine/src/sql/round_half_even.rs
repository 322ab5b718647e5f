//! Rounding of a float to a whole float with halves to even, as C's `rint` and
//! PostgreSQL's float-to-integer casts do (`2.5::float8::int` is 2, `3.5` is 4).
//! DataFusion's `round` takes halves away from zero, which is PostgreSQL's rule for
//! numeric only: `round(x)` of a float is this function too (`round(2.5::float8)` is
//! 2 in PostgreSQL, 3 in DataFusion).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion_common::{exec_err, Result};

use datafusion_common::tree_node::Transformed;
use datafusion_expr::{
    expr::ScalarFunction, ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::call_values::Arguments;
use super::expr_rewrite::map_keeping_names;

/// Every one-argument `round` of a float in `plan` rounds halves to even (typed:
/// after the analyzer).
pub fn in_round_calls(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        map_keeping_names(node, |expr, schema| match expr {
            Expr::ScalarFunction(ScalarFunction { func, mut args })
                if func.name() == "round"
                    && args.len() == 1
                    && args[0]
                        .get_type(schema)
                        .is_ok_and(|kind| kind.is_floating()) =>
            {
                Ok(Transformed::yes(round_half_even(args.remove(0))))
            }
            other => Ok(Transformed::no(other)),
        })
    })
    .map(|transformed| transformed.data)
}

/// `expr` (a float) rounded with halves to even, in its own type.
pub fn round_half_even(expr: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::from(RoundHalfEven {
            signature: Signature::uniform(
                1,
                vec![DataType::Float64, DataType::Float32],
                Volatility::Immutable,
            ),
        })),
        vec![expr],
    ))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RoundHalfEven {
    signature: Signature,
}

impl ScalarUDFImpl for RoundHalfEven {
    fn name(&self) -> &str {
        "round_half_even"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Float64))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let Some(values) = arguments.arrays.first() else {
            return exec_err!("round_half_even takes one argument");
        };
        let rounded: ArrayRef = match values.data_type() {
            DataType::Float64 => Arc::new(
                values
                    .as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(f64::round_ties_even),
            ),
            DataType::Float32 => Arc::new(
                values
                    .as_primitive::<Float32Type>()
                    .unary::<_, Float32Type>(f32::round_ties_even),
            ),
            other => return exec_err!("round_half_even of {other}"),
        };
        arguments.answer(rounded)
    }
}
