//! A guard for `IN (subquery)` that DataFusion decorrelates into a mark join. A mark
//! join says true or false for each row, but `x IN (subquery)` is NULL when no row
//! matches and `x` or some subquery value is NULL, and the join cannot tell an `IN`
//! from an `EXISTS` (always true or false) once both are equalities. Where NULL and
//! false lead to the same rows (a positive `IN` among `OR`ed conditions of a WHERE),
//! the mark is right; under a negation (`NOT IN`, `NOT (.. OR x IN ..)`) it is not:
//! `k NOT IN (SELECT ..) OR v > 10` returned rows PostgreSQL does not. Such
//! statements are refused when the compared values can be NULL, not answered wrongly.
//! Top-level conjuncts are planned as semi and null-aware anti joins, which are right
//! (a correlated NOT IN, or one of a constant, as NOT EXISTS: `not_in_subqueries`).

use datafusion_common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion_common::DFSchema;
use datafusion_expr::expr::InSubquery;
use datafusion_expr::utils::split_conjunction;
use datafusion_expr::{Expr, ExprSchemable, LogicalPlan};

use crate::error::{QueryError, QueryResult};

/// Refuses a negated `IN (subquery)` over nullable values below the top level of a
/// filter, anywhere in `plan`.
pub fn refuse_negated_nullable_in(plan: &LogicalPlan) -> QueryResult<()> {
    let mut found = None;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Filter(filter) = node {
            for conjunct in split_conjunction(&filter.predicate) {
                let top = match conjunct {
                    Expr::InSubquery(_) => true,
                    Expr::Not(inner) => matches!(inner.as_ref(), Expr::InSubquery(_)),
                    _ => false,
                };
                if !top && found.is_none() {
                    found = negated_nullable_in(conjunct, false, filter.input.schema());
                }
            }
        }
        Ok(if found.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    match found {
        Some(what) => Err(QueryError::unsupported(format!(
            "{what} inside OR or under NOT where its values can be NULL (its NULL result \
             would be read as false); write it as NOT EXISTS or filter the NULLs out"
        ))),
        None => Ok(()),
    }
}

/// The first `IN (subquery)` under an odd number of negations whose compared values
/// may be NULL.
fn negated_nullable_in(expr: &Expr, negated: bool, schema: &DFSchema) -> Option<String> {
    match expr {
        Expr::Not(inner) => negated_nullable_in(inner, !negated, schema),
        Expr::InSubquery(InSubquery {
            expr: value,
            subquery,
            negated: not_in,
        }) => {
            let nullable = value.nullable(schema).unwrap_or(true)
                || subquery
                    .subquery
                    .schema()
                    .fields()
                    .first()
                    .is_none_or(|field| field.is_nullable());
            ((negated != *not_in) && nullable).then(|| {
                if *not_in {
                    "NOT IN (subquery)".to_string()
                } else {
                    "IN (subquery) under NOT".to_string()
                }
            })
        }
        Expr::BinaryExpr(binary) => negated_nullable_in(&binary.left, negated, schema)
            .or_else(|| negated_nullable_in(&binary.right, negated, schema)),
        other => {
            let mut found = None;
            let _ = other.apply_children(|child| {
                found = negated_nullable_in(child, negated, schema);
                Ok(if found.is_some() {
                    TreeNodeRecursion::Stop
                } else {
                    TreeNodeRecursion::Continue
                })
            });
            found
        }
    }
}
