//! `sum` of integers that fails on overflow instead of wrapping around. DataFusion
//! sums integers in 64 bits with wrapping adds, so a sum past 2^63 came out as a
//! wrong, often negative, number. Here each integer `sum` adds in 38-digit decimals
//! and the total is cast back to BIGINT, which fails (22003) when it does not fit;
//! PostgreSQL would return the exact numeric, never a wrapped one. The aggregate's
//! output keeps its name and type, so nothing above it changes. The same holds for
//! `sum(x) OVER (..)`, whose running totals wrapped alike.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{Column, DFSchema, Result};
use datafusion_expr::expr::{AggregateFunction, Cast, WindowFunction};
use datafusion_expr::{
    Aggregate, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, Window,
    WindowFunctionDefinition,
};

/// Exact: no sum of 64-bit integers over fewer than 10^19 rows overflows it.
const WIDE: DataType = DataType::Decimal128(38, 0);

/// Rewrites every integer `sum` of every aggregation and window in `plan` (typed:
/// after the analyzer).
pub fn checked(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::Aggregate(aggregate) => widened(aggregate),
        LogicalPlan::Window(window) => widened_window(window),
        other => Ok(Transformed::no(other)),
    })
    .map(|transformed| transformed.data)
}

fn widened_window(window: Window) -> Result<Transformed<LogicalPlan>> {
    let input_schema = window.input.schema();
    let first = input_schema.fields().len();
    let mut narrowed = Vec::new();
    let mut window_expr = Vec::with_capacity(window.window_expr.len());
    for (index, expr) in window.window_expr.iter().enumerate() {
        match wide_window_sum(expr, input_schema)? {
            Some(wide) => {
                let name = window.schema.field(first + index).name();
                window_expr.push(wide.alias(name));
                narrowed.push(name.clone());
            }
            None => window_expr.push(expr.clone()),
        }
    }
    if narrowed.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Window(window)));
    }
    let original = Arc::clone(&window.schema);
    let wide = Window::try_new(window_expr, window.input)?;
    narrowed_back(LogicalPlan::Window(wide), &original, &narrowed)
}

fn widened(aggregate: Aggregate) -> Result<Transformed<LogicalPlan>> {
    let input_schema = aggregate.input.schema();
    let mut narrowed = Vec::new();
    let mut aggr_expr = Vec::with_capacity(aggregate.aggr_expr.len());
    for (index, expr) in aggregate.aggr_expr.iter().enumerate() {
        match wide_sum(expr, input_schema)? {
            Some(wide) => {
                let name = aggregate
                    .schema
                    .field(aggregate.group_expr_len()? + index)
                    .name();
                aggr_expr.push(wide.alias(name));
                narrowed.push(name.clone());
            }
            None => aggr_expr.push(expr.clone()),
        }
    }
    if narrowed.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
    }
    let original = Arc::clone(&aggregate.schema);
    let wide = Aggregate::try_new(aggregate.input, aggregate.group_expr, aggr_expr)?;
    narrowed_back(LogicalPlan::Aggregate(wide), &original, &narrowed)
}

/// `wide` under a projection that casts its `narrowed` columns back to their types
/// in `original`, the schema `wide` replaces.
fn narrowed_back(
    wide: LogicalPlan,
    original: &DFSchema,
    narrowed: &[String],
) -> Result<Transformed<LogicalPlan>> {
    let output = original
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
            if narrowed.contains(field.name()) {
                Expr::Cast(Cast::new(Box::new(column), field.data_type().clone()))
                    .alias_qualified(qualifier.cloned(), field.name())
            } else {
                column
            }
        })
        .collect::<Vec<_>>();
    LogicalPlanBuilder::from(wide)
        .project(output)?
        .build()
        .map(Transformed::yes)
}

/// `sum(cast(x as DECIMAL(38, 0))) OVER (..)` for `sum(x) OVER (..)` of an integer.
fn wide_window_sum(expr: &Expr, schema: &DFSchema) -> Result<Option<Expr>> {
    let Expr::WindowFunction(function) = expr else {
        return Ok(None);
    };
    let WindowFunctionDefinition::AggregateUDF(func) = &function.fun else {
        return Ok(None);
    };
    let params = &function.params;
    if func.name() != "sum" || params.args.len() != 1 {
        return Ok(None);
    }
    if !params.args[0].get_type(schema)?.is_integer() {
        return Ok(None);
    }
    let mut params = params.clone();
    let argument = params.args.remove(0);
    params
        .args
        .push(Expr::Cast(Cast::new(Box::new(argument), WIDE)));
    Ok(Some(Expr::WindowFunction(Box::new(WindowFunction {
        fun: function.fun.clone(),
        params,
    }))))
}

/// `sum(cast(x as DECIMAL(38, 0)))` for `sum(x)` of an integer `x`.
fn wide_sum(expr: &Expr, schema: &DFSchema) -> Result<Option<Expr>> {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = expr else {
        return Ok(None);
    };
    if func.name() != "sum" || params.args.len() != 1 {
        return Ok(None);
    }
    if !params.args[0].get_type(schema)?.is_integer() {
        return Ok(None);
    }
    let mut params = params.clone();
    let argument = params.args.remove(0);
    params
        .args
        .push(Expr::Cast(Cast::new(Box::new(argument), WIDE)));
    Ok(Some(Expr::AggregateFunction(AggregateFunction {
        func: Arc::clone(func),
        params,
    })))
}
