//! Expressions that can fail are evaluated even where their value does not matter.
//! DataFusion's simplifier drops an operand it knows cannot be NULL when the result
//! does not depend on its value: `a / 0 IS NULL` became `false`, `x * 0` became `0`,
//! `a / 0 = a / 0` became `true`. PostgreSQL evaluates the operand and fails with
//! 22012 (or 22003, 22P02 ..); answering instead is a wrong answer. This rule runs
//! before each simplification pass and hides such operands behind `may_fail`, an
//! identity whose result the simplifier must assume nullable, so nothing is dropped;
//! [`unwrapped`] removes it once the optimizer is done, and no extra work runs.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result, ScalarValue};
use datafusion_expr::expr::{BinaryExpr, Like, ScalarFunction};
use datafusion_expr::{
    ColumnarValue, Expr, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion_optimizer::optimizer::ApplyOrder;
use datafusion_optimizer::{OptimizerConfig, OptimizerRule};

use super::expr_rewrite::{map_keeping_names, retyped};
use super::float_peers::is_comparison;

/// The optimizer rule; see the module's documentation.
#[derive(Debug, Default)]
pub struct KeptFailures;

impl OptimizerRule for KeptFailures {
    fn name(&self) -> &str {
        "kept_failures"
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
        map_keeping_names(plan, |expr, _| Ok(guard_discarded_operands(expr)))
    }
}

/// `plan` without the `may_fail` wrappers [`KeptFailures`] placed.
///
/// # Errors
/// Only DataFusion's own, recomputing a schema.
pub fn unwrapped(plan: LogicalPlan) -> Result<LogicalPlan> {
    retyped(plan, |expr, _: &DFSchema| {
        Ok(match expr {
            Expr::ScalarFunction(call) if is_may_fail(&call) => Transformed::yes(
                call.args
                    .into_iter()
                    .next()
                    .expect("may_fail has one argument"),
            ),
            other => Transformed::no(other),
        })
    })
}

/// Wraps the operands of `expr` that one of the simplifier's rules would drop,
/// where evaluating them could fail.
fn guard_discarded_operands(expr: Expr) -> Transformed<Expr> {
    match expr {
        Expr::IsNull(operand) => guarded(*operand).update_data(|e| Expr::IsNull(Box::new(e))),
        Expr::IsNotNull(operand) => guarded(*operand).update_data(|e| Expr::IsNotNull(Box::new(e))),
        Expr::IsUnknown(operand) => guarded(*operand).update_data(|e| Expr::IsUnknown(Box::new(e))),
        Expr::IsNotUnknown(operand) => {
            guarded(*operand).update_data(|e| Expr::IsNotUnknown(Box::new(e)))
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (left, right) = (*left, *right);
            let (left, right) = if left == right || is_inverse_of(&right, &left) {
                (guarded(left), Transformed::no(right))
            } else if is_inverse_of(&left, &right) {
                (Transformed::no(left), guarded(right))
            } else {
                match op {
                    Operator::Multiply | Operator::BitwiseAnd if is_zero(&right) => {
                        (guarded(left), Transformed::no(right))
                    }
                    Operator::Multiply | Operator::BitwiseAnd if is_zero(&left) => {
                        (Transformed::no(left), guarded(right))
                    }
                    Operator::Modulo if is_one(&right) => (guarded(left), Transformed::no(right)),
                    _ => (Transformed::no(left), Transformed::no(right)),
                }
            };
            let transformed = left.transformed || right.transformed;
            Transformed::new_transformed(
                Expr::BinaryExpr(BinaryExpr::new(
                    Box::new(left.data),
                    op,
                    Box::new(right.data),
                )),
                transformed,
            )
        }
        // `x LIKE '%'` is `true` for any x that is not NULL.
        Expr::Like(like) if matches_everything(&like.pattern) => {
            let Like {
                negated,
                expr,
                pattern,
                escape_char,
                case_insensitive,
            } = like;
            guarded(*expr).update_data(|expr| {
                Expr::Like(Like::new(
                    negated,
                    Box::new(expr),
                    pattern,
                    escape_char,
                    case_insensitive,
                ))
            })
        }
        other => Transformed::no(other),
    }
}

/// `expr` behind `may_fail` if evaluating it could fail and it is not already.
fn guarded(expr: Expr) -> Transformed<Expr> {
    if cannot_fail(&expr) {
        return Transformed::no(expr);
    }
    if let Expr::ScalarFunction(call) = &expr {
        if is_may_fail(call) {
            return Transformed::no(expr);
        }
    }
    Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::from(MayFail::default())),
        vec![expr],
    )))
}

/// Whether evaluating `expr` can never raise an error: columns, constants and
/// comparisons or logic over such. Anything else (arithmetic, casts, functions) may.
fn cannot_fail(expr: &Expr) -> bool {
    match expr {
        Expr::Column(_) | Expr::Literal(..) | Expr::Placeholder(_) | Expr::ScalarVariable(..) => {
            true
        }
        Expr::Alias(alias) => cannot_fail(&alias.expr),
        Expr::Not(e)
        | Expr::IsNull(e)
        | Expr::IsNotNull(e)
        | Expr::IsTrue(e)
        | Expr::IsFalse(e)
        | Expr::IsUnknown(e)
        | Expr::IsNotTrue(e)
        | Expr::IsNotFalse(e)
        | Expr::IsNotUnknown(e) => cannot_fail(e),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            (is_comparison(*op) || matches!(op, Operator::And | Operator::Or))
                && cannot_fail(left)
                && cannot_fail(right)
        }
        _ => false,
    }
}

/// Whether `expr` is `NOT other` or `-other`, the forms the simplifier's
/// `A AND NOT A` and `A | -A` rules look for.
fn is_inverse_of(expr: &Expr, other: &Expr) -> bool {
    match expr {
        Expr::Not(inner) | Expr::Negative(inner) => inner.as_ref() == other,
        _ => false,
    }
}

fn is_zero(expr: &Expr) -> bool {
    is_constant(expr, ScalarValue::new_zero)
}

fn is_one(expr: &Expr) -> bool {
    is_constant(expr, ScalarValue::new_one)
}

fn is_constant(expr: &Expr, constant: impl Fn(&DataType) -> Result<ScalarValue>) -> bool {
    let Expr::Literal(value, _) = expr else {
        return false;
    };
    constant(&value.data_type()).is_ok_and(|constant| &constant == value)
}

/// Whether `pattern` is a constant of only `%`, cast or not (type coercion casts
/// it, and the simplifier folds the cast in the same pass that drops the operand).
fn matches_everything(pattern: &Expr) -> bool {
    match pattern {
        Expr::Cast(cast) => matches_everything(&cast.expr),
        Expr::TryCast(cast) => matches_everything(&cast.expr),
        Expr::Literal(ScalarValue::Utf8(Some(text)) | ScalarValue::LargeUtf8(Some(text)), _)
        | Expr::Literal(ScalarValue::Utf8View(Some(text)), _) => {
            !text.is_empty() && text.chars().all(|c| c == '%')
        }
        _ => false,
    }
}

fn is_may_fail(call: &ScalarFunction) -> bool {
    let implementation: &dyn std::any::Any = call.func.inner().as_ref();
    implementation.is::<MayFail>()
}

/// The identity, declared nullable so that no rule assumes its value.
#[derive(Debug, PartialEq, Eq, Hash)]
struct MayFail {
    signature: Signature,
}

impl Default for MayFail {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for MayFail {
    fn name(&self) -> &str {
        "may_fail"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(args
            .args
            .into_iter()
            .next()
            .expect("may_fail has one argument"))
    }
}
