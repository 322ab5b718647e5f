//! A LATERAL subquery whose select list reads the outer row (`join lateral (select
//! x.a * 2 as k, l.b from t l where l.k = x.k) y`) cannot be decorrelated by
//! DataFusion: its rewrite pulls correlated filters up into the join, but a select
//! list is not a filter, so the plan kept its `Subquery` and was refused. Here the
//! select list moves above the join instead: the subquery returns the inner columns
//! its expressions read, under hidden names, and a projection over the join
//! computes each expression there, where the outer row is an input. For a LEFT
//! join, an expression that reads the outer row is NULL where no inner row
//! matched (as every column of a missing inner row is), told by a hidden marker
//! that is NULL only there. The join's ON condition reads the expressions
//! themselves.
//!
//! Every output of the subquery gets a hidden name, also those that do not read the
//! outer row: DataFusion's decorrelation appends the inner columns its pulled-up
//! filters read (`l.a`) beside the select list, and an alias of the same name (`a`)
//! made the schema ambiguous.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{Column, Result, TableReference};
use datafusion_expr::expr::Case;
use datafusion_expr::utils::conjunction;

use super::lateral_joins::{
    each_join, expr_reads_outer_row, has_subquery, lateral_subquery, outer_references,
};
use datafusion_expr::{
    lit, Expr, Join, JoinType, LogicalPlan, Projection, Subquery, SubqueryAlias,
};

/// Names of the columns a rewritten LATERAL subquery returns.
const HIDDEN_PREFIX: &str = "__lateral_";

/// Rewrites every LATERAL join of `plan` (analyzed, before the optimizer) whose
/// subquery ends in a select list.
pub fn pulled_up(plan: LogicalPlan) -> Result<LogicalPlan> {
    each_join(plan, rewritten)
}

fn rewritten(join: Join, hidden_names: &mut usize) -> Result<Transformed<LogicalPlan>> {
    let lateral = match lateral_select_list(&join) {
        Some(lateral) => lateral,
        None => return Ok(Transformed::no(LogicalPlan::Join(join))),
    };
    let LateralSelect {
        alias,
        subquery,
        projection,
    } = lateral;
    let left_join = join.join_type == JoinType::Left;
    let mut hide = |inner: &mut Vec<Expr>, expr: Expr| {
        let name = format!("{HIDDEN_PREFIX}{hidden_names}");
        *hidden_names += 1;
        inner.push(expr.alias(name.clone()));
        Expr::Column(Column::new(alias.clone(), name))
    };

    // What the subquery returns (inner), and what each of its outputs is over the
    // join: unmatched is what a LEFT join's missing inner row gives.
    let mut inner = Vec::new();
    let mut matched = None;
    let mut outputs = Vec::with_capacity(projection.expr.len());
    for expr in &projection.expr {
        let expr = expr.clone().unalias();
        if !expr_reads_outer_row(&expr) {
            let column = hide(&mut inner, expr);
            outputs.push((column.clone(), column));
            continue;
        }
        let mut read = HashMap::new();
        let computed = expr
            .transform_up(|node| {
                Ok(match node {
                    Expr::OuterReferenceColumn(_, column) => Transformed::yes(Expr::Column(column)),
                    Expr::Column(column) => {
                        let hidden = match read.get(&column) {
                            Some(hidden) => Expr::clone(hidden),
                            None => {
                                let hidden = hide(&mut inner, Expr::Column(column.clone()));
                                read.insert(column, hidden.clone());
                                hidden
                            }
                        };
                        Transformed::yes(hidden)
                    }
                    other => Transformed::no(other),
                })
            })?
            .data;
        let shown = if left_join {
            let marker = matched
                .get_or_insert_with(|| hide(&mut inner, lit(true)))
                .clone();
            Expr::Case(Case::new(
                None,
                vec![(Box::new(marker.is_not_null()), Box::new(computed.clone()))],
                None,
            ))
        } else {
            computed.clone()
        };
        outputs.push((computed, shown));
    }
    if inner.is_empty() {
        // A select list that reads only the outer row: the subquery still says how
        // many rows match.
        hide(&mut inner, lit(true));
    }

    let input = Arc::clone(&projection.input);
    let select = LogicalPlan::Projection(Projection::try_new(inner, input)?);
    let outer_ref_columns = outer_references(&select);
    // Still correlated (through its filters) it stays a subquery for DataFusion's
    // decorrelation; otherwise it is a plain join input.
    let right = if outer_ref_columns.is_empty() {
        select
    } else {
        LogicalPlan::Subquery(Subquery {
            subquery: Arc::new(select),
            outer_ref_columns,
            spans: subquery.spans.clone(),
        })
    };
    let right = match &alias {
        Some(alias) => {
            LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(Arc::new(right), alias.clone())?)
        }
        None => right,
    };

    // The subquery's outputs as the join's condition and the plans above read them.
    let right_columns: HashMap<Column, usize> = join
        .right
        .schema()
        .columns()
        .into_iter()
        .enumerate()
        .map(|(index, column)| (column, index))
        .collect();
    let equalities = join
        .on
        .iter()
        .map(|(left, right)| left.clone().eq(right.clone()));
    let condition = conjunction(equalities.chain(join.filter.clone()))
        .map(|condition| {
            condition.transform_up(|node| {
                Ok(match node {
                    Expr::Column(column) => match right_columns.get(&column) {
                        Some(&index) => Transformed::yes(outputs[index].0.clone()),
                        None => Transformed::no(Expr::Column(column)),
                    },
                    other => Transformed::no(other),
                })
            })
        })
        .transpose()?
        .map(|transformed| transformed.data);
    let left_width = join.left.schema().fields().len();
    let shown = join
        .schema
        .iter()
        .enumerate()
        .map(
            |(index, (qualifier, field))| match index.checked_sub(left_width) {
                None => Expr::Column(Column::new(qualifier.cloned(), field.name())),
                Some(index) => outputs[index]
                    .1
                    .clone()
                    .alias_qualified(qualifier.cloned(), field.name()),
            },
        )
        .collect();
    let joined = LogicalPlan::Join(Join::try_new(
        join.left,
        Arc::new(right),
        vec![],
        condition,
        join.join_type,
        join.join_constraint,
        join.null_equality,
        join.null_aware,
    )?);
    Ok(Transformed::yes(LogicalPlan::Projection(
        Projection::try_new(shown, Arc::new(joined))?,
    )))
}

/// A LATERAL subquery ending in a select list, its alias and the subquery node.
struct LateralSelect {
    alias: Option<TableReference>,
    subquery: Subquery,
    projection: Projection,
}

/// The LATERAL subquery on the right of `join` if this rewrite applies to it: an
/// inner or LEFT join (the only kinds a LATERAL takes), a select list on top, and
/// an outer row read only from the join's left input (a subquery that also reads a
/// query further out is left as it is).
fn lateral_select_list(join: &Join) -> Option<LateralSelect> {
    let (alias, subquery) = lateral_subquery(join)?;
    let LogicalPlan::Projection(projection) = subquery.subquery.as_ref() else {
        return None;
    };
    let left = join.left.schema();
    let from_left = subquery.outer_ref_columns.iter().all(|outer| match outer {
        Expr::OuterReferenceColumn(_, column) => left.has_column(column),
        _ => false,
    });
    let plain = projection.expr.iter().all(|expr| !has_subquery(expr));
    (from_left && plain).then(|| LateralSelect {
        alias,
        subquery: subquery.clone(),
        projection: projection.clone(),
    })
}
