//! A derived table or CTE with a column list names its columns as PostgreSQL does,
//! however its SELECT names them: `(select a, a from t) q(x, y)` and `(select
//! count(*), count(*) ..) q(c1, c2)` failed ("Projections require unique expression
//! names": DataFusion builds the inner projection before it applies the list), and a
//! list shorter than the columns (`(select a, b, c ..) q(x)`, PostgreSQL: x, b, c)
//! failed as too short. Here each unaliased item of the body's first SELECT takes its
//! name from the list, and a short list is completed with the names PostgreSQL gives
//! the remaining columns. Items with an alias of their own keep it (the list renames
//! them above), so ORDER BY, GROUP BY and HAVING inside still find them. A body with
//! `*` among its items is left as it is.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Ident, Query, SelectItem, SetExpr, Statement, TableAlias, TableAliasColumnDef, TableFactor,
    VisitMut, VisitorMut,
};

use super::output_names::postgres_names;

/// Rewrites the statement in place.
pub fn from_column_lists(statement: &mut Statement) {
    let _ = statement.visit(&mut ColumnLists);
}

struct ColumnLists;

impl VisitorMut for ColumnLists {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(with) = &mut query.with {
            for cte in &mut with.cte_tables {
                named(&mut cte.query, &mut cte.alias);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Derived {
            subquery,
            alias: Some(alias),
            ..
        } = factor
        {
            named(subquery, alias);
        }
        ControlFlow::Continue(())
    }
}

fn named(query: &mut Query, alias: &mut TableAlias) {
    if alias.columns.is_empty() {
        return;
    }
    let Some(names) = postgres_names(query) else {
        return;
    };
    if alias.columns.len() > names.len() {
        return; // too many names: the planner's error says so
    }
    for name in &names[alias.columns.len()..] {
        alias.columns.push(TableAliasColumnDef {
            name: Ident::with_quote('"', name),
            data_type: None,
        });
    }
    let Some(items) = first_select(&mut query.body) else {
        return;
    };
    for (item, column) in items.iter_mut().zip(&alias.columns) {
        if let SelectItem::UnnamedExpr(expr) = item {
            let expr = std::mem::replace(
                expr,
                sqlparser::ast::Expr::value(sqlparser::ast::Value::Null),
            );
            *item = SelectItem::ExprWithAlias {
                expr,
                alias: column.name.clone(),
            };
        }
    }
}

fn first_select(body: &mut SetExpr) -> Option<&mut Vec<SelectItem>> {
    match body {
        SetExpr::Select(select) => Some(&mut select.projection),
        SetExpr::Query(query) => first_select(&mut query.body),
        SetExpr::SetOperation { left, .. } => first_select(left),
        _ => None,
    }
}
