//! A table whose rows the catalog holds in memory and which has none (most of the
//! system catalog: `pg_policy`, `pg_inherits`, `pg_publication_rel` ...) is planned
//! as an empty relation, so the optimizer drops what reads it. psql's `\d TABLE`
//! asks such tables questions that need more than Percore plans, a lateral
//! `generate_series` over a row's array for one; over no rows they need no plan.
//! Tables read from files or disk are left alone: their rows are counted when
//! they are read.
//!
//! Before planning, a scalar subquery in the SELECT list of a block that inner-joins
//! such a table (and does not aggregate) becomes NULL: it would be evaluated for no
//! row, and may be one the planner cannot plan (the lateral call above).

use std::ops::ControlFlow;

use datafusion_common::tree_node::Transformed;
use datafusion_common::{Result, TableReference};
use datafusion_expr::{EmptyRelation, LogicalPlan};
use sqlparser::ast::{
    Expr, GroupByExpr, JoinOperator, ObjectName, Select, SelectItem, Statement, TableFactor, Value,
    VisitMut, VisitorMut,
};

use super::provider::FunctionRegistry;
use crate::catalog::{Catalog, Table};

/// Whether the catalog holds all of `table`'s rows, and they are none.
fn known_empty(table: &Table) -> bool {
    table.row_count == 0
        && table.parquet.is_none()
        && table.csv.is_none()
        && table.series.is_none()
        && table.stored.is_none()
        && table.partitions.iter().flatten().all(|b| b.num_rows() == 0)
}

/// Rewrites the statement in place.
pub fn unevaluated_subqueries(
    statement: &mut Statement,
    catalog: &Catalog,
    functions: &FunctionRegistry,
) {
    let _ = statement.visit(&mut NoRowBlocks { catalog, functions });
}

struct NoRowBlocks<'a> {
    catalog: &'a Catalog,
    functions: &'a FunctionRegistry,
}

impl VisitorMut for NoRowBlocks<'_> {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        if self.has_no_rows(select) {
            select.projection.iter_mut().for_each(without_subqueries);
        }
        ControlFlow::Continue(())
    }
}

impl NoRowBlocks<'_> {
    fn has_no_rows(&self, select: &Select) -> bool {
        let groups = !matches!(&select.group_by, GroupByExpr::Expressions(keys, _) if keys.is_empty())
            || select.having.is_some();
        // Aggregates of this block, not of its subqueries.
        let mut own = select.projection.clone();
        own.iter_mut().for_each(without_subqueries);
        let aggregates = own.iter().any(|item| {
            sqlparser::ast::visit_expressions(item, |expr| match expr {
                Expr::Function(function) if self.functions.is_aggregate_call(function) => {
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            })
            .is_break()
        });
        if groups || aggregates {
            return false;
        }
        // A FROM item with no rows has none whatever it is joined to, unless a
        // join keeps the rows of a side that is not empty (RIGHT, FULL, ANTI, ...).
        select.from.iter().any(|from| {
            let inner = |operator: &JoinOperator| {
                matches!(
                    operator,
                    JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)
                )
            };
            let keeps_left_only = from.joins.iter().all(|join| {
                inner(&join.join_operator)
                    || matches!(
                        join.join_operator,
                        JoinOperator::Left(_)
                            | JoinOperator::LeftOuter(_)
                            | JoinOperator::Semi(_)
                            | JoinOperator::LeftSemi(_)
                    )
            });
            if !keeps_left_only {
                return false;
            }
            let joined = from
                .joins
                .iter()
                .filter(|join| inner(&join.join_operator))
                .map(|join| &join.relation);
            std::iter::once(&from.relation)
                .chain(joined)
                .any(|relation| self.is_empty_table(relation))
        })
    }

    fn is_empty_table(&self, relation: &TableFactor) -> bool {
        let TableFactor::Table {
            name, args: None, ..
        } = relation
        else {
            return false;
        };
        reference(name)
            .and_then(|reference| self.catalog.resolve(&reference))
            .is_some_and(|table| known_empty(table))
    }
}

/// The item with each scalar subquery in it replaced by NULL.
fn without_subqueries(item: &mut SelectItem) {
    if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
        let _ = sqlparser::ast::visit_expressions_mut(expr, |expr| {
            if matches!(expr, Expr::Subquery(_)) {
                *expr = Expr::value(Value::Null);
            }
            ControlFlow::<()>::Continue(())
        });
    }
}

fn reference(name: &ObjectName) -> Option<TableReference> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| {
            let ident = part.as_ident()?;
            Some(match ident.quote_style {
                Some(_) => ident.value.clone(),
                None => ident.value.to_ascii_lowercase(),
            })
        })
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [table] => Some(TableReference::bare(table.as_str())),
        [schema, table] => Some(TableReference::partial(schema.as_str(), table.as_str())),
        _ => None,
    }
}

/// Replaces the scans of empty in-memory tables in `plan`, subqueries included.
pub fn as_empty_relations(plan: LogicalPlan, catalog: &Catalog) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = &node else {
            return Ok(Transformed::no(node));
        };
        let empty = catalog
            .resolve(&scan.table_name)
            .is_some_and(|table| known_empty(table));
        if !empty {
            return Ok(Transformed::no(node));
        }
        let schema = std::sync::Arc::clone(&scan.projected_schema);
        Ok(Transformed::yes(LogicalPlan::EmptyRelation(
            EmptyRelation {
                produce_one_row: false,
                schema,
            },
        )))
    })
    .map(|transformed| transformed.data)
}
