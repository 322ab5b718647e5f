//! Scalar subqueries inside aggregates and window functions: `avg((select max(a)
//! from s where s.k = t.k))`, `group by (select ..)`, `row_number() over (partition
//! by (select ..))`. DataFusion turns subqueries
//! into joins only where they sit in a projection or a filter, and refused these
//! (PostgreSQL runs them). Before the analyzer, each such subquery becomes a column
//! of a projection placed below the aggregate or window, computed once per input row
//! as a subquery in a SELECT list is, and the aggregate or window reads that column;
//! its output names stay those of the original expressions. A window's extra
//! columns are projected away above it.

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, Result};
use datafusion_expr::{Aggregate, Expr, LogicalPlan, LogicalPlanBuilder, Window};

use super::expr_rewrite::map_keeping_names;

/// Names the computed subqueries take in the projection below.
const OPERAND_PREFIX: &str = "__subquery_operand_";

/// Rewrites every aggregate and window of `plan`, inside subqueries too.
pub fn computed_below(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::Aggregate(_) | LogicalPlan::Window(_) => computed_in(node),
        other => Ok(Transformed::no(other)),
    })
    .map(|transformed| transformed.data)
}

fn computed_in(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let subqueries = subqueries_of(&node)?;
    if subqueries.is_empty() {
        return Ok(Transformed::no(node));
    }
    let original_schema = node.schema().clone();
    let input = node.inputs()[0].clone();
    let names: Vec<String> = (0..subqueries.len())
        .map(|n| format!("{OPERAND_PREFIX}{n}"))
        .collect();
    let computed = input
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .chain(
            subqueries
                .iter()
                .zip(&names)
                .map(|(subquery, name)| subquery.clone().alias(name)),
        );
    let input = LogicalPlanBuilder::from(input).project(computed)?.build()?;
    let read = map_keeping_names(node, |expr, _| {
        Ok(match subqueries.iter().position(|found| *found == expr) {
            Some(n) => Transformed::new(
                Expr::Column(Column::from_name(&names[n])),
                true,
                TreeNodeRecursion::Jump,
            ),
            None => Transformed::no(expr),
        })
    })?
    .data;
    let rebuilt = match read {
        LogicalPlan::Aggregate(aggregate) => LogicalPlan::Aggregate(Aggregate::try_new(
            input.into(),
            aggregate.group_expr,
            aggregate.aggr_expr,
        )?),
        LogicalPlan::Window(window) => {
            let window = LogicalPlan::Window(Window::try_new(window.window_expr, input.into())?);
            let shown = original_schema.columns().into_iter().map(Expr::Column);
            LogicalPlanBuilder::from(window).project(shown)?.build()?
        }
        other => other,
    };
    Ok(Transformed::yes(rebuilt))
}

/// The distinct scalar subqueries among `node`'s expressions, outermost only. IN and
/// EXISTS stay (and are refused): DataFusion turns those into joins only in filters.
fn subqueries_of(node: &LogicalPlan) -> Result<Vec<Expr>> {
    let mut found: Vec<Expr> = Vec::new();
    node.apply_expressions(|expr| {
        expr.apply(|inner| {
            Ok(match inner {
                Expr::ScalarSubquery(_) => {
                    if !found.contains(inner) {
                        found.push(inner.clone());
                    }
                    TreeNodeRecursion::Jump
                }
                _ => TreeNodeRecursion::Continue,
            })
        })
    })?;
    Ok(found)
}
