//! `x NOT IN (subquery)` where DataFusion's null-aware anti join answers wrongly.
//! That join empties the result when any subquery row is NULL, which is right only
//! when every outer row sees the same subquery rows. A correlated subquery's rows
//! differ per outer row (`b NOT IN (SELECT a FROM s WHERE s.k = t.k)` answered 0
//! rows where PostgreSQL answers 19: a NULL in one group emptied every group), and a
//! constant `x` (`7 NOT IN (SELECT a FROM s)`) leaves the join no outer key, so its
//! condition was pushed into the subquery and the NULL rows were never seen (all
//! rows answered where PostgreSQL answers none).
//!
//! In a filter's top-level conjunct, where NULL and false drop the row alike,
//! `x NOT IN (S)` keeps exactly the rows for which no row of S has
//! `s = x OR s IS NULL OR x IS NULL`, so those become that NOT EXISTS: an anti join
//! on the correlation's keys with the rest as its condition. A subquery that is an
//! aggregate without groups answers one row per outer row, even over no rows, which
//! an EXISTS would lose in decorrelation: there NOT IN is `x <> (subquery)`.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{Column, DFSchema, ExprSchema, Result};
use datafusion_expr::expr::{Exists, InSubquery};
use datafusion_expr::utils::{conjunction, split_conjunction_owned};
use datafusion_expr::{Expr, LogicalPlan, LogicalPlanBuilder, Subquery};

/// Rewrites such NOT IN conjuncts of every filter of `plan` (before the analyzer).
pub fn as_not_exists(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::Filter(mut filter) = node else {
            return Ok(Transformed::no(node));
        };
        let conjuncts = split_conjunction_owned(filter.predicate.clone());
        let mut changed = false;
        let mut rewritten = Vec::with_capacity(conjuncts.len());
        for conjunct in conjuncts {
            match not_exists(&conjunct, filter.input.schema())? {
                Some(replacement) => {
                    changed = true;
                    rewritten.push(replacement);
                }
                None => rewritten.push(conjunct),
            }
        }
        if !changed {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        }
        filter.predicate = conjunction(rewritten).expect("a filter has a conjunct");
        Ok(Transformed::yes(LogicalPlan::Filter(filter)))
    })
    .map(|transformed| transformed.data)
}

/// The NOT EXISTS that `conjunct` means, if it is a NOT IN the anti join gets wrong.
fn not_exists(conjunct: &Expr, schema: &DFSchema) -> Result<Option<Expr>> {
    let Expr::InSubquery(InSubquery {
        expr,
        subquery,
        negated: true,
    }) = conjunct
    else {
        return Ok(None);
    };
    let correlated = !subquery.outer_ref_columns.is_empty();
    let columns = expr.column_refs();
    // A value that already reads a query further out is left as it is.
    if (!correlated && !columns.is_empty()) || expr.contains_outer() {
        return Ok(None);
    }
    if is_one_row(&subquery.subquery) {
        // An aggregate without groups answers one row, also for no input rows (its
        // NULL then keeps no outer row): NOT IN is `<>` its value.
        let one = Expr::ScalarSubquery(subquery.clone());
        return Ok(Some(expr.as_ref().clone().not_eq(one)));
    }
    let Some((qualifier, field)) = subquery.subquery.schema().iter().next() else {
        return Ok(None);
    };
    let value = Expr::Column(Column::new(qualifier.cloned(), field.name()));
    let mut outer_ref_columns = subquery.outer_ref_columns.clone();
    let outer = expr.as_ref().clone().transform_up(|expr| match expr {
        Expr::Column(column) => {
            let field = Arc::clone(schema.field_from_column(&column)?);
            let reference = Expr::OuterReferenceColumn(field, column);
            if !outer_ref_columns.contains(&reference) {
                outer_ref_columns.push(reference.clone());
            }
            Ok(Transformed::yes(reference))
        }
        other => Ok(Transformed::no(other)),
    })?;
    let outer = outer.data;
    let blocks = value
        .clone()
        .eq(outer.clone())
        .or(value.is_null())
        .or(outer.is_null());
    let plan = LogicalPlanBuilder::from(subquery.subquery.as_ref().clone())
        .filter(blocks)?
        .build()?;
    Ok(Some(Expr::Exists(Exists {
        subquery: Subquery {
            subquery: Arc::new(plan),
            outer_ref_columns,
            spans: subquery.spans.clone(),
        },
        negated: true,
    })))
}

/// Whether `plan` answers exactly one row: an aggregate without groups, under
/// projections only.
fn is_one_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate(aggregate) => aggregate.group_expr.is_empty(),
        LogicalPlan::Projection(projection) => is_one_row(&projection.input),
        LogicalPlan::SubqueryAlias(alias) => is_one_row(&alias.input),
        _ => false,
    }
}
