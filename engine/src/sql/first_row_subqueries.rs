//! A scalar subquery that picks one row by its order (`(select o_orderdate from
//! orders where o_custkey = c_custkey order by o_orderdate desc limit 1)`, the
//! latest order of each customer): correlated, DataFusion cannot turn it into a
//! join, so it was refused. It means the first value in that order, which is the
//! aggregate `first_value(x ORDER BY ..)` over the same rows (NULL over none, as the
//! LIMIT gives), and an aggregated subquery decorrelates into a join.

use std::ops::ControlFlow;

use sqlparser::ast::{
    self, Expr, FunctionArgumentClause, FunctionArguments, GroupByExpr, LimitClause, OrderByKind,
    Query, SelectItem, SetExpr, Statement, Value,
};

use super::pg_compat::function_call;
use super::provider::FunctionRegistry;

/// Rewrites the statement in place.
pub fn as_first_values(statement: &mut Statement, functions: &FunctionRegistry) {
    let _ = ast::visit_expressions_mut(statement, |expr| {
        if let Expr::Subquery(query) = expr {
            rewrite(query, functions);
        }
        ControlFlow::<()>::Continue(())
    });
}

fn rewrite(query: &mut Query, functions: &FunctionRegistry) {
    let limited_to_one = matches!(
        &query.limit_clause,
        Some(LimitClause::LimitOffset { limit: Some(Expr::Value(value)), offset: None, limit_by })
            if limit_by.is_empty() && matches!(&value.value, Value::Number(n, _) if n == "1")
    );
    if !limited_to_one || query.with.is_some() || query.fetch.is_some() {
        return;
    }
    let Some(OrderByKind::Expressions(sorts)) = query.order_by.as_ref().map(|o| &o.kind) else {
        return;
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let plain = select.distinct.is_none()
        && matches!(&select.group_by, GroupByExpr::Expressions(keys, _) if keys.is_empty())
        && select.having.is_none()
        && select.qualify.is_none()
        && select.named_window.is_empty();
    let (value, alias) = match select.projection.as_slice() {
        [SelectItem::UnnamedExpr(value)] if plain => (value.clone(), None),
        [SelectItem::ExprWithAlias { expr, alias }] if plain => (expr.clone(), Some(alias)),
        _ => return,
    };
    if aggregates_or_windows(&value, functions) {
        return;
    }
    let mut order = Vec::with_capacity(sorts.len());
    for sort in sorts {
        let mut sort = sort.clone();
        match &sort.expr {
            // An ordinal or the item's alias names the value itself.
            Expr::Value(_) => return,
            Expr::Identifier(name) if alias.is_some_and(|alias| alias.value == name.value) => {
                sort.expr = value.clone();
            }
            _ => {}
        }
        if sort.with_fill.is_some() {
            return;
        }
        order.push(sort);
    }
    let mut first = function_call("first_value", vec![value]);
    if let Expr::Function(function) = &mut first {
        if let FunctionArguments::List(list) = &mut function.args {
            list.clauses.push(FunctionArgumentClause::OrderBy(order));
        }
    }
    select.projection = vec![match alias {
        Some(alias) => SelectItem::ExprWithAlias {
            expr: first,
            alias: alias.clone(),
        },
        None => SelectItem::UnnamedExpr(first),
    }];
    query.order_by = None;
    query.limit_clause = None;
}

/// Whether `expr` calls an aggregate or a window function (then the subquery's
/// rows are not the table's, and it is left alone).
fn aggregates_or_windows(expr: &Expr, functions: &FunctionRegistry) -> bool {
    ast::visit_expressions(expr, |expr| match expr {
        Expr::Function(function)
            if function.over.is_some() || functions.is_aggregate_call(function) =>
        {
            ControlFlow::Break(())
        }
        Expr::Subquery(_) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}
