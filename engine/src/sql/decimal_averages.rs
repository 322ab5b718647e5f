//! `avg` of decimals rounded at its last digit. DataFusion divides the sum by the
//! count with integer division, so the average was truncated: `avg(l_discount)` of
//! TPC-H's (N, F) group, 0.0477586.., came out 0.047758 where PostgreSQL's digits
//! round to 0.047759. Here each decimal `avg(x)` becomes `sum(x) / count(x)` through
//! our decimal division, which rounds half away from zero at the same scale
//! (DataFusion's avg scale, the argument's + 4), cast to the type `avg` had, so
//! nothing above it changes. Aggregates and windows alike; DISTINCT and FILTER carry
//! over to both halves. Partial aggregation before an exchange works as for any sum
//! and count.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{Column, DFSchema, Result};
use datafusion_expr::expr::{AggregateFunction, Cast, WindowFunction};
use datafusion_expr::{
    Aggregate, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, Window,
    WindowFunctionDefinition,
};
use datafusion_functions_aggregate::count::count_udaf;
use datafusion_functions_aggregate::sum::sum_udaf;

/// A count as a decimal dividend's peer: every `i64` fits.
const COUNT_AS_DECIMAL: DataType = DataType::Decimal128(20, 0);

/// Rewrites every decimal `avg` of every aggregation and window in `plan` (typed:
/// after the analyzer).
pub fn rounded(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::Aggregate(aggregate) => in_aggregate(aggregate),
        LogicalPlan::Window(window) => in_window(window),
        other => Ok(Transformed::no(other)),
    })
    .map(|transformed| transformed.data)
}

/// An average's output name, and the names of the sum and count that replace it.
struct Split {
    name: String,
    sum: String,
    count: String,
}

fn in_aggregate(aggregate: Aggregate) -> Result<Transformed<LogicalPlan>> {
    let input_schema = aggregate.input.schema();
    let first = aggregate.group_expr_len()?;
    let mut splits = Vec::new();
    let mut aggr_expr = Vec::with_capacity(aggregate.aggr_expr.len());
    let mut counts = Vec::new();
    for (index, expr) in aggregate.aggr_expr.iter().enumerate() {
        let name = aggregate.schema.field(first + index).name();
        match decimal_average(expr, input_schema)? {
            Some((argument, params)) => {
                let split = split_names(name, index);
                aggr_expr.push(
                    Expr::AggregateFunction(AggregateFunction {
                        func: sum_udaf(),
                        params: params.clone(),
                    })
                    .alias(&split.sum),
                );
                let mut count_params = params;
                count_params.args = vec![argument];
                counts.push(
                    Expr::AggregateFunction(AggregateFunction {
                        func: count_udaf(),
                        params: count_params,
                    })
                    .alias(&split.count),
                );
                splits.push(split);
            }
            None => aggr_expr.push(expr.clone()),
        }
    }
    if splits.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
    }
    aggr_expr.extend(counts);
    let original = Arc::clone(&aggregate.schema);
    let split = Aggregate::try_new(aggregate.input, aggregate.group_expr, aggr_expr)?;
    divided(LogicalPlan::Aggregate(split), &original, &splits)
}

fn in_window(window: Window) -> Result<Transformed<LogicalPlan>> {
    let input_schema = window.input.schema();
    let first = input_schema.fields().len();
    let mut splits = Vec::new();
    let mut window_expr = Vec::with_capacity(window.window_expr.len());
    let mut counts = Vec::new();
    for (index, expr) in window.window_expr.iter().enumerate() {
        let name = window.schema.field(first + index).name();
        // The analyzer aliases a function whose arguments it retyped.
        let Expr::WindowFunction(function) = unaliased(expr) else {
            window_expr.push(expr.clone());
            continue;
        };
        let average = match &function.fun {
            WindowFunctionDefinition::AggregateUDF(func) if func.name() == "avg" => {
                decimal_argument(&function.params.args, input_schema)?
            }
            _ => None,
        };
        let Some(argument) = average else {
            window_expr.push(expr.clone());
            continue;
        };
        let split = split_names(name, index);
        let half = |func, args| {
            let mut params = function.params.clone();
            params.args = args;
            Expr::WindowFunction(Box::new(WindowFunction {
                fun: WindowFunctionDefinition::AggregateUDF(func),
                params,
            }))
        };
        window_expr.push(half(sum_udaf(), vec![argument.clone()]).alias(&split.sum));
        counts.push(half(count_udaf(), vec![argument]).alias(&split.count));
        splits.push(split);
    }
    if splits.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Window(window)));
    }
    window_expr.extend(counts);
    let original = Arc::clone(&window.schema);
    let split = Window::try_new(window_expr, window.input)?;
    divided(LogicalPlan::Window(split), &original, &splits)
}

fn split_names(name: &str, index: usize) -> Split {
    Split {
        name: name.to_string(),
        sum: format!("__avg_sum_{index}"),
        count: format!("__avg_count_{index}"),
    }
}

/// The argument and parameters of `avg(x)` for a decimal `x`.
fn decimal_average(
    expr: &Expr,
    schema: &DFSchema,
) -> Result<Option<(Expr, datafusion_expr::expr::AggregateFunctionParams)>> {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = unaliased(expr) else {
        return Ok(None);
    };
    if func.name() != "avg" {
        return Ok(None);
    }
    Ok(decimal_argument(&params.args, schema)?.map(|argument| (argument, params.clone())))
}

fn unaliased(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(alias) => unaliased(&alias.expr),
        other => other,
    }
}

fn decimal_argument(args: &[Expr], schema: &DFSchema) -> Result<Option<Expr>> {
    let [argument] = args else {
        return Ok(None);
    };
    Ok(match argument.get_type(schema)? {
        DataType::Decimal128(..) => Some(argument.clone()),
        _ => None,
    })
}

/// `split` under a projection giving back `original`'s columns, each average as its
/// sum divided by its count, in the average's type.
fn divided(
    split: LogicalPlan,
    original: &DFSchema,
    splits: &[Split],
) -> Result<Transformed<LogicalPlan>> {
    let output = original
        .iter()
        .map(|(qualifier, field)| {
            let Some(average) = splits.iter().find(|s| &s.name == field.name()) else {
                return Expr::Column(Column::new(qualifier.cloned(), field.name()));
            };
            let sum = Expr::Column(Column::new_unqualified(&average.sum));
            let count = Expr::Cast(Cast::new(
                Box::new(Expr::Column(Column::new_unqualified(&average.count))),
                COUNT_AS_DECIMAL,
            ));
            Expr::Cast(Cast::new(Box::new(sum / count), field.data_type().clone()))
                .alias_qualified(qualifier.cloned(), field.name())
        })
        .collect::<Vec<_>>();
    LogicalPlanBuilder::from(split)
        .project(output)?
        .build()
        .map(Transformed::yes)
}
