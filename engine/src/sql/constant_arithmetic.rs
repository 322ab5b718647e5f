//! Integer `+`, `-` and `*` of constants that fail on overflow. DataFusion's
//! optimizer folds constant expressions with its wrapping arithmetic, so
//! `select 9223372036854775807 + 1` answered -9223372036854775808 before any
//! checked kernel ran (see `operators::checked_integer` for the columns' side).
//! This rule runs before each of DataFusion's simplification passes and folds such
//! arithmetic itself, checked. An overflowing one becomes a call that fails with
//! 22003 ("bigint out of range", as PostgreSQL says) when it is evaluated: a
//! `CASE` branch never taken does not fail the statement.

use std::sync::Arc;

use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion_expr::expr::{BinaryExpr, Cast, ScalarFunction};
use datafusion_expr::type_coercion::binary::BinaryTypeCoercer;
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion_optimizer::optimizer::ApplyOrder;
use datafusion_optimizer::{OptimizerConfig, OptimizerRule};

use super::expr_rewrite::map_keeping_names;
use crate::operators::rounded_quotient;

/// The optimizer rule; see the module's documentation.
#[derive(Debug, Default)]
pub struct CheckedConstantArithmetic;

impl OptimizerRule for CheckedConstantArithmetic {
    fn name(&self) -> &str {
        "checked_constant_arithmetic"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        map_keeping_names(plan, |expr, schema| {
            let expr = typed_zero_product(expr, schema)?;
            if expr.transformed {
                return Ok(expr);
            }
            fold(expr.data)
        })
    }
}

/// `x * 0` of decimals is a zero of the product's type. DataFusion's simplifier
/// answers the literal `0` as it was cast for the product (`DECIMAL(20, 0)` where
/// the product is `DECIMAL(36, 2)`), so `nullif(price * 0, 0)` compared zeros of
/// two scales and kept the row's value. Folded here, typed, where the simplifier
/// would fold it (`x` never NULL); left alone where it would not.
fn typed_zero_product(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Multiply,
        right,
    }) = &expr
    else {
        return Ok(Transformed::no(expr));
    };
    let is_zero =
        |side: &Expr| matches!(side, Expr::Literal(ScalarValue::Decimal128(Some(0), ..), _));
    let other = match (is_zero(left), is_zero(right)) {
        (true, _) => right,
        (_, true) => left,
        _ => return Ok(Transformed::no(expr)),
    };
    // A node may read columns its input schema lacks (a scan's pushed-down filters
    // read columns it does not project): such an operand is left alone.
    if other.nullable(schema).unwrap_or(true) {
        return Ok(Transformed::no(expr));
    }
    let Ok(product @ DataType::Decimal128(..)) = expr.get_type(schema) else {
        return Ok(Transformed::no(expr));
    };
    Ok(Transformed::yes(Expr::Literal(
        ScalarValue::new_zero(&product)?,
        None,
    )))
}

fn fold(expr: Expr) -> Result<Transformed<Expr>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (Expr::Literal(l, _), Expr::Literal(r, _)) = (left.as_ref(), right.as_ref()) else {
                return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op,
                    right,
                })));
            };
            if let Some(quotient) = decimal_quotient(l, &op, r) {
                return Ok(Transformed::yes(Expr::Literal(quotient, None)));
            }
            let kind = l.data_type();
            let foldable = matches!(op, Operator::Plus | Operator::Minus | Operator::Multiply)
                && kind.is_integer()
                && kind == r.data_type()
                && !l.is_null()
                && !r.is_null();
            if !foldable {
                return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op,
                    right,
                })));
            }
            let value = match op {
                Operator::Plus => l.add_checked(r),
                Operator::Minus => l.sub_checked(r),
                _ => l.mul_checked(r),
            };
            Ok(Transformed::yes(match value {
                Ok(value) => Expr::Literal(value, None),
                Err(_) => out_of_range(kind),
            }))
        }
        // Folded here too, so `cast(9223372036854775807 as bigint) + 1` is seen as
        // two constants; a cast that fails is left to fail as DataFusion fails it.
        Expr::Cast(Cast { expr, field }) => match expr.as_ref() {
            Expr::Literal(value, _)
                if field.data_type().is_integer()
                    || matches!(field.data_type(), DataType::Decimal128(..)) =>
            {
                match value.cast_to(field.data_type()) {
                    Ok(cast)
                        if value.data_type().is_integer()
                            || matches!(value.data_type(), DataType::Decimal128(..)) =>
                    {
                        Ok(Transformed::yes(Expr::Literal(cast, None)))
                    }
                    _ => Ok(Transformed::no(Expr::Cast(Cast { expr, field }))),
                }
            }
            _ => Ok(Transformed::no(Expr::Cast(Cast { expr, field }))),
        },
        other => Ok(Transformed::no(other)),
    }
}

/// `l / r` of two decimal constants, rounded as a column's quotient is
/// (`operators::rounded_quotient`; DataFusion's folding truncates: `2.0 / 3` was
/// 0.66666). `None` where the division is not of decimals or fails: it is left to
/// fail, or not, when evaluated.
fn decimal_quotient(l: &ScalarValue, op: &Operator, r: &ScalarValue) -> Option<ScalarValue> {
    let (
        ScalarValue::Decimal128(Some(dividend), _, s1),
        ScalarValue::Decimal128(Some(divisor), _, s2),
    ) = (l, r)
    else {
        return None;
    };
    if *op != Operator::Divide {
        return None;
    }
    let DataType::Decimal128(precision, scale) =
        BinaryTypeCoercer::new(&l.data_type(), op, &r.data_type())
            .get_result_type()
            .ok()?
    else {
        return None;
    };
    let shift = i32::from(scale) - i32::from(*s1) + i32::from(*s2);
    let quotient = rounded_quotient(*dividend, *divisor, shift, precision).ok()?;
    Some(ScalarValue::Decimal128(Some(quotient), precision, scale))
}

/// A value of type `kind` that fails with 22003 when evaluated. Volatile, so no
/// simplification folds it away or evaluates it early.
fn out_of_range(kind: DataType) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::from(OutOfRange {
            signature: Signature::nullary(Volatility::Volatile),
            kind,
        })),
        vec![],
    ))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct OutOfRange {
    signature: Signature,
    kind: DataType,
}

impl ScalarUDFImpl for OutOfRange {
    fn name(&self) -> &str {
        "integer_out_of_range"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.kind.clone())
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = match self.kind {
            DataType::Int16 | DataType::UInt16 | DataType::Int8 | DataType::UInt8 => "smallint",
            DataType::Int32 | DataType::UInt32 => "integer",
            _ => "bigint",
        };
        Err(DataFusionError::ArrowError(
            Box::new(ArrowError::ArithmeticOverflow(format!(
                "{name} out of range"
            ))),
            None,
        ))
    }
}
