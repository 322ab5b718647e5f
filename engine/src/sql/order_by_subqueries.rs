//! `ORDER BY (subquery)`: `select n_name from nation order by (select count(*) from
//! supplier where s_nationkey = n_nationkey) desc` (PostgreSQL sorts by it).
//! DataFusion plans subqueries in projections, filters and aggregates only, so
//! such a query is rewritten to compute its sort keys as columns and sort outside:
//! `SELECT __c0 AS n_name FROM (SELECT n_name AS __c0, (subquery) AS __o0 FROM
//! nation) AS __ordered ORDER BY __o0 DESC`, the LIMIT and OFFSET going outside with
//! the sort. Every sort key moves inside: ordinals and output names as the output
//! column they denote, the rest as an expression of its own. A `*` or DISTINCT
//! in the SELECT list is left to the planner.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Ident, OrderByKind, Query, SelectItem, SetExpr, Statement, TableFactor, Value, VisitMut,
    VisitorMut,
};

use super::output_names::column_name;

/// Rewrites the statement in place.
pub fn sorted_outside(statement: &mut Statement) {
    let _ = statement.visit(&mut SubquerySorts);
}

struct SubquerySorts;

impl VisitorMut for SubquerySorts {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if sorts_by_subquery(query) {
            if let Some(wrapped) = wrapped(query) {
                *query = wrapped;
            }
        }
        ControlFlow::Continue(())
    }
}

fn sorts_by_subquery(query: &Query) -> bool {
    let Some(OrderByKind::Expressions(sorts)) = query.order_by.as_ref().map(|o| &o.kind) else {
        return false;
    };
    sorts.iter().any(|sort| {
        sqlparser::ast::visit_expressions(&sort.expr, |expr| match expr {
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        })
        .is_break()
    })
}

fn wrapped(query: &Query) -> Option<Query> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if select.distinct.is_some() {
        return None;
    }
    let mut inner_select = select.as_ref().clone();
    let mut shown = Vec::new();
    for (index, item) in inner_select.projection.iter_mut().enumerate() {
        let (expr, name) = match item {
            SelectItem::UnnamedExpr(expr) => (expr.clone(), column_name(expr)),
            SelectItem::ExprWithAlias { expr, alias } => {
                (expr.clone(), column_name(&Expr::Identifier(alias.clone())))
            }
            _ => return None,
        };
        *item = SelectItem::ExprWithAlias {
            expr,
            alias: Ident::new(format!("__c{index}")),
        };
        shown.push(name);
    }
    let mut order_by = query.order_by.clone()?;
    let OrderByKind::Expressions(sorts) = &mut order_by.kind else {
        return None;
    };
    for (index, sort) in sorts.iter_mut().enumerate() {
        let output = output_column(&sort.expr, &shown);
        sort.expr = match output {
            Some(column) => Expr::Identifier(Ident::new(format!("__c{column}"))),
            None => {
                let alias = Ident::new(format!("__o{index}"));
                inner_select.projection.push(SelectItem::ExprWithAlias {
                    expr: sort.expr.clone(),
                    alias: alias.clone(),
                });
                Expr::Identifier(alias)
            }
        };
    }
    let inner = Query {
        body: Box::new(SetExpr::Select(Box::new(inner_select))),
        order_by: None,
        limit_clause: None,
        fetch: None,
        ..query.clone()
    };
    let projection = shown
        .iter()
        .enumerate()
        .map(|(index, name)| format!("__c{index} AS \"{}\"", name.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(", ");
    let template = format!("SELECT {projection} FROM (SELECT 1) AS __ordered");
    let Statement::Query(mut outer) =
        sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::GenericDialect {}, &template)
            .ok()?
            .pop()?
    else {
        return None;
    };
    let SetExpr::Select(outer_select) = outer.body.as_mut() else {
        return None;
    };
    let TableFactor::Derived { subquery, .. } = &mut outer_select.from[0].relation else {
        return None;
    };
    **subquery = inner;
    outer.order_by = Some(order_by);
    outer.limit_clause = query.limit_clause.clone();
    outer.fetch = query.fetch.clone();
    Some(*outer)
}

/// The output column (0-based) a sort key denotes: an ordinal, or a bare name of
/// exactly one output column.
fn output_column(sorted: &Expr, shown: &[String]) -> Option<usize> {
    match sorted {
        Expr::Value(value) => match &value.value {
            Value::Number(digits, _) => digits
                .parse::<usize>()
                .ok()
                .filter(|ordinal| (1..=shown.len()).contains(ordinal))
                .map(|ordinal| ordinal - 1),
            _ => None,
        },
        Expr::Identifier(_) => {
            let name = column_name(sorted);
            let mut named = shown
                .iter()
                .enumerate()
                .filter(|(_, shown)| **shown == name);
            match (named.next(), named.next()) {
                (Some((index, _)), None) => Some(index),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    fn rewritten(sql: &str) -> String {
        crate::sql::rewritten_sql(sql, super::sorted_outside)
    }

    #[test]
    fn sort_keys_with_subqueries_are_computed_inside_and_sorted_outside() {
        assert_eq!(
            rewritten(
                "SELECT n_name AS Name, n_regionkey FROM nation \
                 ORDER BY (SELECT count(*) FROM supplier WHERE s_nationkey = n_nationkey) DESC, \
                 name, 2, n_nationkey LIMIT 5"
            ),
            "SELECT __c0 AS \"name\", __c1 AS \"n_regionkey\" FROM (SELECT n_name AS __c0, \
             n_regionkey AS __c1, (SELECT count(*) FROM supplier \
             WHERE s_nationkey = n_nationkey) AS __o0, n_nationkey AS __o3 FROM nation) \
             AS __ordered ORDER BY __o0 DESC, __c0, __c1, __o3 LIMIT 5"
        );
    }

    #[test]
    fn other_sorts_and_star_or_distinct_lists_are_left_alone() {
        for sql in [
            "SELECT n_name FROM nation ORDER BY n_name",
            "SELECT * FROM nation ORDER BY (SELECT 1)",
            "SELECT DISTINCT n_name FROM nation ORDER BY (SELECT 1)",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
