//! Intervals group, join, partition and take their minimum and maximum by length, as
//! PostgreSQL's do: `1 day` and `24 hours` are one group, one DISTINCT value and one
//! join key, and `max` of `1 mon` and `31 days` is `31 days`. Arrow compares the
//! (months, days, nanoseconds) fields in turn, so they were two groups and `1 mon`
//! the larger. Comparisons and ORDER BY are `interval_order`'s; this runs on the
//! optimized plan, so it sees every aggregation (DISTINCT and UNION become ones), every
//! join key (INTERSECT and EXCEPT, decorrelated subqueries) and every window.
//!
//! - A GROUP BY key `x` (in grouping sets too) becomes its length, and the group's `x` is the one
//!   with the greatest `interval_key` (a value of the group as written, as PostgreSQL
//!   shows one of the group's values); `min`/`max(x)` become those of
//!   `interval_key(x)`, decoded; `count(DISTINCT x)` counts lengths. The aggregation's
//!   output keeps its names and types under a projection.
//! - A join key pair of intervals and a window's PARTITION BY interval compare
//!   lengths; so does a window's ORDER BY interval unless a RANGE frame measures
//!   offsets from it.
//!
//! Not covered: DISTINCT aggregates of intervals other than `count` (`sum(DISTINCT
//! x)`, `array_agg(DISTINCT x)`) and `min`/`max` as window functions, still field by
//! field.

use std::sync::Arc;

use datafusion_common::tree_node::Transformed;
use datafusion_common::{Column, DFSchema, Result};
use datafusion_expr::expr::{AggregateFunction, WindowFunction};
use datafusion_expr::utils::grouping_set_to_exprlist;
use datafusion_expr::{
    when, Aggregate, Expr, Join, LogicalPlan, LogicalPlanBuilder, WindowFrameUnits,
};
use datafusion_functions_aggregate::expr_fn::max;

use super::expr_rewrite::{map_grouping_keys, map_keeping_names};
use super::interval_keys::{interval, key};
use super::interval_order::{is_interval, span};
use super::window_frames::has_offset;

/// Rewrites every aggregation, join and window of `plan` (optimized) that groups,
/// matches or partitions intervals.
pub fn by_length(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::Aggregate(aggregate) => in_aggregate(aggregate),
        LogicalPlan::Join(join) => Ok(in_join(join)),
        window @ LogicalPlan::Window(_) => map_keeping_names(window, in_window_function),
        other => Ok(Transformed::no(other)),
    })
    .map(|transformed| transformed.data)
}

/// How an output column of the rewritten aggregation gives back the original's.
enum Output {
    Same,
    /// An aggregate over `interval_key`s.
    Decoded,
    /// An interval group key: the named representative's key, decoded.
    Representative(String),
}

fn in_aggregate(aggregate: Aggregate) -> Result<Transformed<LogicalPlan>> {
    let input_schema = Arc::clone(aggregate.input.schema());
    let width = aggregate.schema.fields().len();
    let mut outputs: Vec<Output> = (0..width).map(|_| Output::Same).collect();
    let mut interval_keys = Vec::new();
    let mut representatives = Vec::new();
    // The keys in the order of their output columns, each once (as in grouping sets).
    for (position, expr) in grouping_set_to_exprlist(&aggregate.group_expr)?
        .into_iter()
        .enumerate()
    {
        if is_interval(expr, &input_schema) {
            let name = format!("__interval_representative_{position}");
            let representative = max(key(expr.clone().unalias()));
            representatives.push(representative.alias(&name));
            outputs[position] = Output::Representative(name);
            interval_keys.push(expr.clone());
        }
    }
    let by_length_key = |expr: Expr| match interval_keys.contains(&expr) {
        true => span(expr.unalias()),
        false => expr,
    };
    let group_expr = aggregate
        .group_expr
        .iter()
        .map(|expr| match expr {
            Expr::GroupingSet(set) => {
                Ok(Expr::GroupingSet(map_grouping_keys(set.clone(), |key| {
                    Ok(by_length_key(key))
                })?))
            }
            other => Ok(by_length_key(other.clone())),
        })
        .collect::<Result<Vec<_>>>()?;
    let first = aggregate.group_expr_len()?;
    let mut aggr_expr = Vec::with_capacity(aggregate.aggr_expr.len() + representatives.len());
    for (index, expr) in aggregate.aggr_expr.iter().enumerate() {
        let name = aggregate.schema.field(first + index).name();
        match by_length_aggregate(expr, &input_schema) {
            Some((rewritten, output)) => {
                aggr_expr.push(rewritten.alias(name));
                outputs[first + index] = output;
            }
            None => aggr_expr.push(expr.clone()),
        }
    }
    if outputs.iter().all(|output| matches!(output, Output::Same)) {
        return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
    }
    aggr_expr.extend(representatives);
    let original = Arc::clone(&aggregate.schema);
    let rewritten =
        LogicalPlan::Aggregate(Aggregate::try_new(aggregate.input, group_expr, aggr_expr)?);
    let rewritten_schema = Arc::clone(rewritten.schema());
    let columns = original
        .iter()
        .zip(outputs)
        .enumerate()
        .map(|(position, ((qualifier, field), output))| {
            let (rewritten_qualifier, rewritten_field) = rewritten_schema.qualified_field(position);
            let column = Expr::Column(Column::new(
                rewritten_qualifier.cloned(),
                rewritten_field.name(),
            ));
            let expr = match output {
                Output::Same => column,
                Output::Decoded => interval(column),
                // The length is NULL for the NULL group and where a grouping set
                // leaves the key out.
                Output::Representative(name) => when(
                    column.is_not_null(),
                    interval(Expr::Column(Column::new_unqualified(name))),
                )
                .end()?,
            };
            Ok(expr.alias_qualified(qualifier.cloned(), field.name()))
        })
        .collect::<Result<Vec<_>>>()?;
    LogicalPlanBuilder::from(rewritten)
        .project(columns)?
        .build()
        .map(Transformed::yes)
}

/// `min`/`max` of an interval over its keys, `count(DISTINCT ..)` of intervals over
/// their lengths.
fn by_length_aggregate(expr: &Expr, schema: &DFSchema) -> Option<(Expr, Output)> {
    let Expr::AggregateFunction(AggregateFunction { func, mut params }) = expr.clone().unalias()
    else {
        return None;
    };
    let output = match (func.name(), params.args.as_mut_slice()) {
        ("min" | "max", [argument]) if is_interval(argument, schema) => {
            *argument = key(argument.clone());
            Output::Decoded
        }
        ("count", arguments)
            if params.distinct && arguments.iter().any(|a| is_interval(a, schema)) =>
        {
            for argument in arguments.iter_mut() {
                if is_interval(argument, schema) {
                    *argument = span(argument.clone());
                }
            }
            Output::Same
        }
        _ => return None,
    };
    Some((
        Expr::AggregateFunction(AggregateFunction { func, params }),
        output,
    ))
}

fn in_join(mut join: Join) -> Transformed<LogicalPlan> {
    let (left, right) = (join.left.schema(), join.right.schema());
    let mut changed = false;
    for (l, r) in &mut join.on {
        if is_interval(l, left) && is_interval(r, right) {
            *l = span(l.clone());
            *r = span(r.clone());
            changed = true;
        }
    }
    Transformed::new_transformed(LogicalPlan::Join(join), changed)
}

fn in_window_function(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::WindowFunction(mut function) = expr else {
        return Ok(Transformed::no(expr));
    };
    let WindowFunction { params, .. } = function.as_mut();
    let mut changed = false;
    for key in &mut params.partition_by {
        if is_interval(key, schema) {
            *key = span(key.clone());
            changed = true;
        }
    }
    if !(params.window_frame.units == WindowFrameUnits::Range && has_offset(&params.window_frame)) {
        for sort in &mut params.order_by {
            if is_interval(&sort.expr, schema) {
                sort.expr = span(sort.expr.clone());
                changed = true;
            }
        }
    }
    Ok(Transformed::new_transformed(
        Expr::WindowFunction(function),
        changed,
    ))
}
