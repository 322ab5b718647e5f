//! A decimal cast to fewer decimal places rounds (`cast(-2.50 as numeric(10, 0))` is
//! -3), so a comparison of the cast is not one of the value: `cast(d as bigint) > -3`
//! is false for -2.50. DataFusion's simplifier unwraps casts in comparisons with a
//! constant as if they kept every value (`d > -3.00`, true), a wrong answer for
//! every cast that drops decimal places, explicit or made by `integer_casts`. Such
//! casts become a call the simplifier leaves alone, computed by the same Arrow cast.
//! Runs on the analyzed plan, after `integer_casts`.

use std::sync::Arc;

use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{exec_err, DFSchema, Result};
use datafusion_expr::expr::{Cast, ScalarFunction};
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use super::expr_rewrite::each_expression;

const NAME: &str = "decimal_rescaled";

/// Rewrites every cast of `plan` that drops decimal places.
pub fn kept_in_comparisons(plan: LogicalPlan) -> Result<LogicalPlan> {
    each_expression(plan, opaque)
}

fn opaque(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::Cast(Cast { expr: value, field }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    let target = field.data_type();
    let narrows = match (value.get_type(schema), target) {
        (Ok(DataType::Decimal128(_, from)), DataType::Decimal128(_, to)) => *to < from,
        _ => false,
    };
    if !narrows {
        return Ok(Transformed::no(expr));
    }
    let udf = Arc::new(ScalarUDF::from(DecimalRescaled {
        target: target.clone(),
        signature: Signature::any(1, Volatility::Immutable),
    }));
    Ok(Transformed::yes(Expr::ScalarFunction(
        ScalarFunction::new_udf(udf, vec![*value.clone()]),
    )))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DecimalRescaled {
    target: DataType,
    signature: Signature,
}

impl ScalarUDFImpl for DecimalRescaled {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.target.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("{NAME} takes one decimal");
        };
        // Arrow's decimal cast rounds half away from zero, as PostgreSQL's numeric does.
        Ok(match value {
            ColumnarValue::Array(array) => ColumnarValue::Array(cast(array, &self.target)?),
            ColumnarValue::Scalar(scalar) => ColumnarValue::Scalar(scalar.cast_to(&self.target)?),
        })
    }
}
