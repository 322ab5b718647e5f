//! `ORDER BY` inside an aggregate call (`string_agg(x, ',' ORDER BY y)`,
//! `percentile_cont(0.5) WITHIN GROUP (ORDER BY x)`). Percore aggregates partially
//! on every partition and merges the states after the exchange, and spills states
//! to merge them later, so it never relies on rows arriving in order: only
//! aggregates whose accumulators order their own values (keeping the ordering
//! keys in their state and merging sorted states) or use the ordering only for its
//! direction are planned with it. Where the order cannot change the answer it is
//! dropped; any other aggregate with an ORDER BY is refused by name.

use std::borrow::Cow;

use datafusion_expr::expr::{AggregateFunction, Alias};
use datafusion_expr::Expr;

use crate::error::{QueryError, QueryResult};

/// Aggregates whose accumulators sort their own input by the ORDER BY keys
/// (DataFusion's order-sensitive `array_agg`, which `string_agg` builds on;
/// `first_value`/`last_value` compare the keys; `percentile_disc` and `mode` sort
/// their values), or read only its direction.
const ORDERED_BY_THEMSELVES: &[&str] = &[
    "array_agg",
    "string_agg",
    "first_value",
    "last_value",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "approx_percentile_cont",
    "approx_percentile_cont_with_weight",
];

/// Aggregates whose answer does not depend on the order of their input.
const ORDER_INDEPENDENT: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "bool_and",
    "bool_or",
    "bit_and",
    "bit_or",
    "bit_xor",
    "stddev",
    "stddev_pop",
    "var",
    "var_pop",
    "corr",
    "covar_pop",
    "covar_samp",
    "median",
    "approx_distinct",
    "approx_median",
    "regr_slope",
    "regr_intercept",
    "regr_count",
    "regr_r2",
    "regr_avgx",
    "regr_avgy",
    "regr_sxx",
    "regr_syy",
    "regr_sxy",
];

/// `expr` (an aggregate call, maybe aliased) as it can be planned: unchanged, or
/// without an ORDER BY that cannot change its answer.
///
/// # Errors
/// An ORDER BY inside an aggregate that needs its rows in order to arrive in order.
pub(super) fn plannable(expr: &Expr) -> QueryResult<Cow<'_, Expr>> {
    let call = match expr {
        Expr::Alias(Alias { expr, .. }) => expr.as_ref(),
        other => other,
    };
    let Expr::AggregateFunction(AggregateFunction { func, params }) = call else {
        return Ok(Cow::Borrowed(expr));
    };
    if params.order_by.is_empty() || ORDERED_BY_THEMSELVES.contains(&func.name()) {
        return Ok(Cow::Borrowed(expr));
    }
    if !ORDER_INDEPENDENT.contains(&func.name()) {
        return Err(QueryError::unsupported(format!(
            "ORDER BY inside {}: only array_agg, string_agg, first_value, last_value and the \
             percentiles take an ordering",
            func.name()
        )));
    }
    let mut unordered = params.clone();
    unordered.order_by.clear();
    let call = Expr::AggregateFunction(AggregateFunction {
        func: func.clone(),
        params: unordered,
    });
    Ok(Cow::Owned(match expr {
        Expr::Alias(alias) => Expr::Alias(Alias {
            expr: Box::new(call),
            ..alias.clone()
        }),
        _ => call,
    }))
}
