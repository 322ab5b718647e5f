//! Scalar subqueries inside aggregates and window functions: `avg((select max(a)
//! from s where s.k = t.k))`, `group by (select ..)`, `row_number() over (partition
//! by (select ..))`. DataFusion turns subqueries
//! into joins only where they sit in a projection or a filter, and refused these
//! (PostgreSQL runs them). Before the analyzer, each such subquery becomes a column
//! of a projection placed below the aggregate or window, computed once per input row
//! as a subquery in a SELECT list is, and the aggregate or window reads that column;
//! its output names stay those of the original expressions. A window's extra
//! columns are projected away above it.
//!
//! The same holds for a scalar subquery on the left of `IN (SELECT ..)`, `= ANY
//! (SELECT ..)` or `<> ALL (..)` in a filter or a projection: DataFusion's rewrite moves that operand into
//! EXISTS subqueries, where the subquery's outer columns would be two levels out
//! ("No field named"); computed below, the operand is a column of the outer row.

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, Result};
use datafusion_expr::expr::{InSubquery, SetComparison};
use datafusion_expr::{Aggregate, Expr, Filter, LogicalPlan, LogicalPlanBuilder, Window};

use super::expr_rewrite::map_keeping_names;

/// Names the computed subqueries take in the projection below.
const OPERAND_PREFIX: &str = "__subquery_operand_";

/// Rewrites every aggregate, window, filter and projection of `plan`, inside
/// subqueries too.
pub fn computed_below(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::Aggregate(_)
        | LogicalPlan::Window(_)
        | LogicalPlan::Filter(_)
        | LogicalPlan::Projection(_) => computed_in(node),
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
        LogicalPlan::Filter(filter) => {
            let filter = LogicalPlan::Filter(Filter::try_new(filter.predicate, input.into())?);
            let shown = original_schema.columns().into_iter().map(Expr::Column);
            LogicalPlanBuilder::from(filter).project(shown)?.build()?
        }
        LogicalPlan::Projection(projection) => LogicalPlanBuilder::from(input)
            .project(projection.expr)?
            .build()?,
        other => other,
    };
    Ok(Transformed::yes(rebuilt))
}

/// The distinct scalar subqueries that must be computed below `node`, outermost
/// only: in an aggregate or a window, all of them; in a filter or a projection,
/// those on the left of IN or of a comparison with ANY or ALL.
fn subqueries_of(node: &LogicalPlan) -> Result<Vec<Expr>> {
    let everywhere = matches!(node, LogicalPlan::Aggregate(_) | LogicalPlan::Window(_));
    let mut found: Vec<Expr> = Vec::new();
    node.apply_expressions(|expr| {
        expr.apply(|inner| match inner {
            Expr::SetComparison(SetComparison { expr: operand, .. })
            | Expr::InSubquery(InSubquery { expr: operand, .. })
                if !everywhere =>
            {
                collect_scalar_subqueries(operand, &mut found)?;
                Ok(TreeNodeRecursion::Continue)
            }
            _ if !everywhere => Ok(TreeNodeRecursion::Continue),
            _ => {
                collect_scalar_subqueries(inner, &mut found)?;
                Ok(TreeNodeRecursion::Jump)
            }
        })
    })?;
    Ok(found)
}

/// Adds the outermost scalar subqueries of `expr` not yet in `found`.
fn collect_scalar_subqueries(expr: &Expr, found: &mut Vec<Expr>) -> Result<()> {
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
    .map(|_| ())
}
