//! `SELECT 1 FROM t WHERE false HAVING true`: HAVING without GROUP BY makes the query
//! one group of all its rows, even of none, so PostgreSQL answers one row when the
//! condition holds. DataFusion plans HAVING only over an aggregation and refused one
//! without aggregates ("must appear in the GROUP BY clause"). Such a SELECT, whose
//! items and condition read no column and call no aggregate (as PostgreSQL requires
//! of it), reads its one row from `(SELECT count(*) FROM t WHERE ..)` instead, its
//! HAVING becoming the WHERE: the FROM and WHERE are still planned and run, so a
//! missing table or a failing condition fails as before.

use std::ops::ControlFlow;

use sqlparser::ast::{
    self, Expr, GroupByExpr, Query, Select, SelectItem, SetExpr, Statement, TableFactor, VisitMut,
    VisitorMut,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use super::provider::FunctionRegistry;

/// Rewrites the statement in place.
pub fn as_one_row(statement: &mut Statement, functions: &FunctionRegistry) {
    let _ = statement.visit(&mut ConstantHaving { functions });
}

struct ConstantHaving<'a> {
    functions: &'a FunctionRegistry,
}

impl VisitorMut for ConstantHaving<'_> {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let ungrouped =
            matches!(&select.group_by, GroupByExpr::Expressions(keys, _) if keys.is_empty());
        let Some(having) = select.having.take() else {
            return ControlFlow::Continue(());
        };
        let constant = ungrouped
            && self.constant(&having)
            && select.projection.iter().all(|item| match item {
                SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                    self.constant(expr)
                }
                _ => false,
            });
        if constant {
            if let Some(from) = grand_total(select) {
                select.from = from;
                select.selection = Some(having);
                return ControlFlow::Continue(());
            }
        }
        select.having = Some(having);
        ControlFlow::Continue(())
    }
}

impl ConstantHaving<'_> {
    /// Reads no column and calls no aggregate or window function.
    fn constant(&self, expr: &Expr) -> bool {
        ast::visit_expressions(expr, |expr| match expr {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Subquery(_) => {
                ControlFlow::Break(())
            }
            Expr::Function(function)
                if function.over.is_some() || self.functions.is_aggregate_call(function) =>
            {
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        })
        .is_continue()
    }
}

/// `FROM (SELECT count(*) FROM <select's FROM> WHERE <select's WHERE>)`.
fn grand_total(select: &mut Select) -> Option<Vec<ast::TableWithJoins>> {
    let template = "SELECT 1 FROM (SELECT count(*)) AS __grand_total";
    let Ok(mut parsed) = Parser::parse_sql(&GenericDialect {}, template) else {
        return None;
    };
    let Some(Statement::Query(query)) = parsed.pop() else {
        return None;
    };
    let Query { body, .. } = *query;
    let SetExpr::Select(mut outer) = *body else {
        return None;
    };
    let mut from = std::mem::take(&mut outer.from);
    let TableFactor::Derived { subquery, .. } = &mut from.first_mut()?.relation else {
        return None;
    };
    let SetExpr::Select(inner) = subquery.body.as_mut() else {
        return None;
    };
    inner.from = std::mem::take(&mut select.from);
    inner.selection = select.selection.take();
    Some(from)
}
