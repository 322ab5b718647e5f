//! Correlated scalar subqueries DataFusion cannot decorrelate, rewritten into ones
//! it can. It pulls up only equalities between a subquery column and an outer one;
//! psql's `\d table` (and user queries like it) also use
//! - a comparison of an outer column that an equality already pins to a subquery
//!   column (`c.oid = a.attcollation AND a.attcollation <> t.typcollation`): the
//!   outer column is replaced by the subquery column it equals, as within the
//!   conjunction they are equal (a NULL fails the equality either way);
//! - a condition on outer columns alone (`.. AND a.atthasdef`) in a subquery whose
//!   value is an aggregate that is NULL over no rows (`max`, `min`, `sum`, `avg`):
//!   it moves out, `CASE WHEN a.atthasdef THEN (subquery) END` (`single_value`,
//!   which wraps a subquery without an aggregate, is such an aggregate too).
//!
//! Both failed with "Physical plan does not support logical expression
//! ScalarSubquery".

use std::collections::HashMap;
use std::sync::Arc;

use super::expr_rewrite::map_keeping_names;
use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, DFSchema, Result};
use datafusion_expr::expr::{AggregateFunction, BinaryExpr, Case};
use datafusion_expr::utils::{conjunction, split_conjunction};
use datafusion_expr::{Aggregate, Expr, Filter, LogicalPlan, Operator, Subquery};

/// Rewrites the scalar subqueries of `plan` (typed: after the analyzer).
pub fn simplified(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        map_keeping_names(node, |expr, schema| match expr {
            Expr::ScalarSubquery(subquery) => scalar(subquery, schema),
            other => Ok(Transformed::no(other)),
        })
    })
    .map(|transformed| transformed.data)
}

fn scalar(subquery: Subquery, outer: &DFSchema) -> Result<Transformed<Expr>> {
    let substituted = subquery
        .subquery
        .as_ref()
        .clone()
        .transform_up(|node| match node {
            LogicalPlan::Filter(filter) => pinned_outer_columns(filter),
            other => Ok(Transformed::no(other)),
        })?;
    let mut plan = substituted.data;
    let mut changed = substituted.transformed;
    let mut hoisted = Vec::new();
    if null_over_no_rows(&plan) {
        // Down from the aggregate through projections to the first filter: a filter
        // further down (under a join or a limit) is not the whole input's.
        let moved = plan.transform_down(|node| {
            let walk_on = matches!(
                node,
                LogicalPlan::Projection(_)
                    | LogicalPlan::SubqueryAlias(_)
                    | LogicalPlan::Aggregate(_)
            );
            let mut visited = match node {
                LogicalPlan::Filter(filter) => outer_only_moved(filter, outer, &mut hoisted)?,
                other => Transformed::no(other),
            };
            if !walk_on {
                visited.tnr = TreeNodeRecursion::Jump;
            }
            Ok(visited)
        })?;
        plan = moved.data;
        changed |= moved.transformed;
    }
    if !changed {
        return Ok(Transformed::no(Expr::ScalarSubquery(subquery)));
    }
    let plan = plan.recompute_schema()?;
    let outer_ref_columns = plan.all_out_ref_exprs();
    let rewritten = Expr::ScalarSubquery(Subquery {
        subquery: Arc::new(plan),
        outer_ref_columns,
        spans: subquery.spans,
    });
    Ok(Transformed::yes(match conjunction(hoisted) {
        Some(condition) => Expr::Case(Case::new(
            None,
            vec![(Box::new(condition), Box::new(rewritten))],
            None,
        )),
        None => rewritten,
    }))
}

/// In a filter's conjunction, outer columns that equal a subquery column are that
/// column in the other conjuncts.
fn pinned_outer_columns(filter: Filter) -> Result<Transformed<LogicalPlan>> {
    let conjuncts: Vec<Expr> = split_conjunction(&filter.predicate)
        .into_iter()
        .cloned()
        .collect();
    let mut pinned: HashMap<Column, Column> = HashMap::new();
    for conjunct in &conjuncts {
        if let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) = conjunct
        {
            match (left.as_ref(), right.as_ref()) {
                (Expr::Column(inner), Expr::OuterReferenceColumn(field, outer))
                | (Expr::OuterReferenceColumn(field, outer), Expr::Column(inner))
                    if filter
                        .input
                        .schema()
                        .qualified_field_from_column(inner)
                        .is_ok_and(|(_, f)| f.data_type() == field.data_type()) =>
                {
                    pinned.entry(outer.clone()).or_insert_with(|| inner.clone());
                }
                _ => {}
            }
        }
    }
    if pinned.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Filter(filter)));
    }
    let mut changed = false;
    let mut rewritten = Vec::with_capacity(conjuncts.len());
    for conjunct in conjuncts {
        if is_pinning_equality(&conjunct) {
            rewritten.push(conjunct);
            continue;
        }
        let replaced = conjunct.transform_up(|expr| match expr {
            Expr::OuterReferenceColumn(field, outer) => match pinned.get(&outer) {
                Some(inner) => Ok(Transformed::yes(Expr::Column(inner.clone()))),
                None => Ok(Transformed::no(Expr::OuterReferenceColumn(field, outer))),
            },
            other => Ok(Transformed::no(other)),
        })?;
        changed |= replaced.transformed;
        rewritten.push(replaced.data);
    }
    if !changed {
        return Ok(Transformed::no(LogicalPlan::Filter(filter)));
    }
    let predicate = conjunction(rewritten).expect("a filter has a predicate");
    Filter::try_new(predicate, filter.input)
        .map(|filter| Transformed::yes(LogicalPlan::Filter(filter)))
}

fn is_pinning_equality(expr: &Expr) -> bool {
    matches!(expr, Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right })
    if matches!(
        (left.as_ref(), right.as_ref()),
        (Expr::Column(_), Expr::OuterReferenceColumn(..))
            | (Expr::OuterReferenceColumn(..), Expr::Column(_))
    ))
}

/// Whether the subquery's value is an ungrouped aggregate that is NULL over no
/// rows, under projections only.
fn null_over_no_rows(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Projection(projection) => null_over_no_rows(&projection.input),
        LogicalPlan::SubqueryAlias(alias) => null_over_no_rows(&alias.input),
        LogicalPlan::Aggregate(Aggregate {
            group_expr,
            aggr_expr,
            ..
        }) => {
            group_expr.is_empty()
                && aggr_expr.iter().all(|expr| {
                    let expr = match expr {
                        Expr::Alias(alias) => alias.expr.as_ref(),
                        other => other,
                    };
                    matches!(expr, Expr::AggregateFunction(AggregateFunction { func, .. })
                        if matches!(func.name(), "max" | "min" | "sum" | "avg" | "single_value"))
                })
        }
        _ => false,
    }
}

/// Moves the conjuncts of `filter` that read only outer columns (all of them
/// columns of `outer`) into `hoisted`, as outer expressions.
fn outer_only_moved(
    filter: Filter,
    outer: &DFSchema,
    hoisted: &mut Vec<Expr>,
) -> Result<Transformed<LogicalPlan>> {
    let mut kept = Vec::new();
    let mut moved = Vec::new();
    for conjunct in split_conjunction(&filter.predicate) {
        match as_outer_expression(conjunct, outer)? {
            Some(outer_expr) => moved.push(outer_expr),
            None => kept.push(conjunct.clone()),
        }
    }
    if moved.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Filter(filter)));
    }
    hoisted.extend(moved);
    let plan = match conjunction(kept) {
        Some(predicate) => LogicalPlan::Filter(Filter::try_new(predicate, filter.input)?),
        None => filter.input.as_ref().clone(),
    };
    Ok(Transformed::yes(plan))
}

/// `expr` as the outer query would write it, when it reads outer columns only.
fn as_outer_expression(expr: &Expr, outer: &DFSchema) -> Result<Option<Expr>> {
    let mut outer_only = true;
    let mut reads_any = false;
    expr.apply(|e| {
        match e {
            Expr::Column(_) | Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) => {
                outer_only = false
            }
            Expr::OuterReferenceColumn(_, column) => {
                reads_any = true;
                outer_only &= outer.has_column(column);
            }
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if !(outer_only && reads_any) || expr.is_volatile() {
        return Ok(None);
    }
    expr.clone()
        .transform_up(|e| match e {
            Expr::OuterReferenceColumn(_, column) => Ok(Transformed::yes(Expr::Column(column))),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| Some(t.data))
}
