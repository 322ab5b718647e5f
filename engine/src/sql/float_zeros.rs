//! `-0.0` equals `0.0` wherever SQL compares floats. The comparison operators
//! already say so, but `nullif`, `CASE x WHEN ..` and `IN (..)` compare through
//! Arrow's and DataFusion's total order, where the two zeros differ:
//! `nullif(x * 0, 0)` with a negative `x` kept `-0`, so `y / nullif(x * 0, 0)` was
//! `-Infinity` where PostgreSQL answers NULL. Their float operands are read through
//! a function that turns `-0.0` into `0.0` (NaN stays NaN, equal to itself as in
//! PostgreSQL). Runs on the analyzed plan, where both sides have one float type.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion_common::tree_node::Transformed;
use datafusion_common::{exec_err, DFSchema, Result, ScalarValue};
use datafusion_expr::expr::{Case, InList, ScalarFunction};
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use super::expr_rewrite::each_expression;

const NAME: &str = "float_zero";

/// Rewrites every `nullif`, `CASE x WHEN` and `IN` list of `plan` that compares floats.
pub fn compared_as_equal(plan: LogicalPlan) -> Result<LogicalPlan> {
    each_expression(plan, unsigned_zeros)
}

fn unsigned_zeros(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let is_float = |expr: &Expr| {
        matches!(
            expr.get_type(schema),
            Ok(DataType::Float64 | DataType::Float32)
        )
    };
    Ok(match expr {
        Expr::ScalarFunction(ScalarFunction { func, args })
            if func.name() == "nullif" && args.iter().any(is_float) =>
        {
            let args = args.into_iter().map(unsigned).collect();
            Transformed::yes(Expr::ScalarFunction(ScalarFunction { func, args }))
        }
        Expr::Case(Case {
            expr: Some(base),
            when_then_expr,
            else_expr,
        }) if is_float(&base) => Transformed::yes(Expr::Case(Case {
            expr: Some(Box::new(unsigned(*base))),
            when_then_expr: when_then_expr
                .into_iter()
                .map(|(when, then)| (Box::new(unsigned(*when)), then))
                .collect(),
            else_expr,
        })),
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) if is_float(&expr) => Transformed::yes(Expr::InList(InList {
            expr: Box::new(unsigned(*expr)),
            list: list.into_iter().map(unsigned).collect(),
            negated,
        })),
        other => Transformed::no(other),
    })
}

/// `expr` read with `-0.0` as `0.0`; a literal or a call that cannot be `-0.0` as it is.
fn unsigned(expr: Expr) -> Expr {
    let may_be_negative_zero = match &expr {
        Expr::Literal(ScalarValue::Float64(value), _) => {
            value.is_some_and(|v| v == 0.0 && v.is_sign_negative())
        }
        Expr::Literal(ScalarValue::Float32(value), _) => {
            value.is_some_and(|v| v == 0.0 && v.is_sign_negative())
        }
        Expr::Literal(..) => false,
        Expr::ScalarFunction(ScalarFunction { func, .. }) => func.name() != NAME,
        _ => true,
    };
    if may_be_negative_zero {
        Expr::ScalarFunction(ScalarFunction::new_udf(function(), vec![expr]))
    } else {
        expr
    }
}

/// The function, for the registry (a plan read back on another node names it).
pub fn function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(FloatZero {
        signature: Signature::uniform(
            1,
            vec![DataType::Float64, DataType::Float32],
            Volatility::Immutable,
        ),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FloatZero {
    signature: Signature,
}

impl ScalarUDFImpl for FloatZero {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Float64))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("{NAME} takes one float");
        };
        // Adding +0.0 turns -0.0 into 0.0 and leaves every other value as it is.
        Ok(match value {
            ColumnarValue::Scalar(ScalarValue::Float64(v)) => {
                ColumnarValue::Scalar(ScalarValue::Float64(v.map(|v| v + 0.0)))
            }
            ColumnarValue::Scalar(ScalarValue::Float32(v)) => {
                ColumnarValue::Scalar(ScalarValue::Float32(v.map(|v| v + 0.0)))
            }
            ColumnarValue::Array(array) => ColumnarValue::Array(unsigned_array(array)?),
            ColumnarValue::Scalar(other) => {
                return exec_err!("{NAME} takes a float, not {}", other.data_type())
            }
        })
    }
}

fn unsigned_array(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Float64 => Arc::new(
            array
                .as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(|v| v + 0.0),
        ),
        DataType::Float32 => Arc::new(
            array
                .as_primitive::<Float32Type>()
                .unary::<_, Float32Type>(|v| v + 0.0),
        ),
        other => return exec_err!("{NAME} takes a float, not {other}"),
    })
}
