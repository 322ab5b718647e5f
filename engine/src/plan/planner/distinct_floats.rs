//! DISTINCT aggregates of floats count -0 and 0 as one value, as PostgreSQL does
//! and as Percore's group tables do (`operators::float_keys`). A query with two
//! DISTINCT aggregates uses DataFusion's distinct accumulators, whose sets compare
//! floats by their bits; adding `+0.0` turns -0 into 0 (IEEE 754: -0 + 0 = 0) and
//! changes no other value, so the argument becomes `x + 0.0` there.

use std::borrow::Cow;

use arrow::datatypes::DataType;
use datafusion_common::{DFSchema, ScalarValue};
use datafusion_expr::expr::{AggregateFunction, Alias};
use datafusion_expr::{Expr, ExprSchemable};

/// `expr` (an aggregate call, maybe aliased) with each float argument of a
/// DISTINCT aggregate made `argument + 0.0`.
pub(super) fn without_negative_zero<'a>(expr: Cow<'a, Expr>, schema: &DFSchema) -> Cow<'a, Expr> {
    let call = match expr.as_ref() {
        Expr::Alias(Alias { expr, .. }) => expr.as_ref(),
        other => other,
    };
    let Expr::AggregateFunction(AggregateFunction { func, params }) = call else {
        return expr;
    };
    let zero = |argument: &Expr| match argument.get_type(schema) {
        Ok(DataType::Float64) => Some(ScalarValue::Float64(Some(0.0))),
        Ok(DataType::Float32) => Some(ScalarValue::Float32(Some(0.0))),
        _ => None,
    };
    if !params.distinct || !params.args.iter().any(|argument| zero(argument).is_some()) {
        return expr;
    }
    let mut params = params.clone();
    for argument in &mut params.args {
        if let Some(zero) = zero(argument) {
            *argument = argument.clone() + Expr::Literal(zero, None);
        }
    }
    let call = Expr::AggregateFunction(AggregateFunction {
        func: func.clone(),
        params,
    });
    Cow::Owned(match expr.as_ref() {
        Expr::Alias(alias) => Expr::Alias(Alias {
            expr: Box::new(call),
            ..alias.clone()
        }),
        _ => call,
    })
}
