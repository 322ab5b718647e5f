//! `select generate_series(1, 3)`: in PostgreSQL a set-returning function in the
//! select list makes rows, three here. DataFusion's `generate_series` called as a
//! scalar function makes one array, `[1, 2, 3]`, a wrong answer to a PostgreSQL
//! user. In a select list it is unnested here, as PostgreSQL would; in FROM it is
//! already the table function. Several of them (or with `unnest`) zip to the
//! longest, as in PostgreSQL 10 and later, which is what the unnest operator does.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Function, ObjectName, Query, SelectItem, SetExpr, Statement, VisitMut, VisitorMut,
};

use super::pg_compat::function_call;

/// Rewrites the statement in place.
pub fn unnested_in_select_lists(statement: &mut Statement) {
    let _ = statement.visit(&mut SelectLists);
}

/// Finds every query's select lists.
struct SelectLists;

impl VisitorMut for SelectLists {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        in_select_lists(&mut query.body);
        ControlFlow::Continue(())
    }
}

/// The select lists of `body`'s SELECTs, set operations' branches included (a
/// nested query is the visitor's).
fn in_select_lists(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item
                {
                    if calls_generate_series(expr) {
                        let _ = expr.visit(&mut SeriesCalls::default());
                    }
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            in_select_lists(left);
            in_select_lists(right);
        }
        _ => {}
    }
}

/// Whether `expr` calls `generate_series` (cheap check before the rewrite).
fn calls_generate_series(expr: &Expr) -> bool {
    sqlparser::ast::visit_expressions(expr, |expr| match expr {
        Expr::Function(function) if named(function, "generate_series") => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Unnests each `generate_series(..)` call of a select-list expression that is not
/// inside a subquery (whose select list is its own) or already an argument of
/// `unnest`.
#[derive(Default)]
struct SeriesCalls {
    in_subquery: usize,
    in_unnest: usize,
}

impl VisitorMut for SeriesCalls {
    type Break = ();

    fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.in_subquery += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.in_subquery -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if matches!(expr, Expr::Function(function) if named(function, "unnest")) {
            self.in_unnest += 1;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Function(function) if named(function, "unnest") => self.in_unnest -= 1,
            Expr::Function(function)
                if named(function, "generate_series")
                    && self.in_subquery == 0
                    && self.in_unnest == 0
                    && function.over.is_none() =>
            {
                // The scalar function's name has no schema.
                function.name.0.drain(..function.name.0.len() - 1);
                let call = std::mem::replace(expr, Expr::value(sqlparser::ast::Value::Null));
                *expr = function_call("unnest", vec![call]);
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Whether `function` is `name` (or `pg_catalog.name`).
fn named(function: &Function, name: &str) -> bool {
    let ObjectName(parts) = &function.name;
    let Some((last, schema)) = parts.split_last() else {
        return false;
    };
    let in_pg_catalog = schema.iter().all(|part| {
        part.as_ident()
            .is_some_and(|ident| ident.value.eq_ignore_ascii_case("pg_catalog"))
    });
    in_pg_catalog
        && last
            .as_ident()
            .is_some_and(|ident| ident.value.eq_ignore_ascii_case(name))
}
