//! How far a recursive CTE needs evaluating. PostgreSQL evaluates a `WITH` query
//! only as far as its reader fetches, so `WITH RECURSIVE t(n) AS (VALUES (1) UNION
//! ALL SELECT n + 1 FROM t) SELECT n FROM t LIMIT 100` answers although the recursion
//! never ends (its manual shows this form). When the rest of the statement only
//! projects the CTE's rows under a constant LIMIT, iteration stops once that many
//! rows exist; any other reader (a filter, a join, an aggregate, an ORDER BY) needs
//! every row, and the recursion runs to its end.

use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions, Expr, GroupByExpr, LimitClause, ObjectNamePart, SetExpr, Statement,
    TableFactor, Value,
};

use super::recursive_ctes::normalized;

/// The most rows of the CTE `name` that `rest` reads (`LIMIT` plus `OFFSET`), when it
/// reads no more than those whatever the CTE holds; `None` when it may read all.
pub fn rows_needed(rest: &Statement, name: &str) -> Option<usize> {
    let Statement::Query(query) = rest else {
        return None;
    };
    if query.order_by.is_some() || query.fetch.is_some() {
        return None;
    }
    let Some(LimitClause::LimitOffset {
        limit: Some(limit),
        offset,
        limit_by,
    }) = &query.limit_clause
    else {
        return None;
    };
    if !limit_by.is_empty() {
        return None;
    }
    let offset = match offset {
        Some(offset) => constant(&offset.value)?,
        None => 0,
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let ungrouped = matches!(&select.group_by, GroupByExpr::Expressions(keys, modifiers)
        if keys.is_empty() && modifiers.is_empty());
    let projects_only = ungrouped
        && select.selection.is_none()
        && select.prewhere.is_none()
        && select.having.is_none()
        && select.qualify.is_none()
        && select.distinct.is_none()
        && select.named_window.is_empty()
        && select.lateral_views.is_empty()
        && select.from.len() == 1
        && select.from[0].joins.is_empty();
    if !projects_only {
        return None;
    }
    let TableFactor::Table {
        name: table,
        args: None,
        ..
    } = &select.from[0].relation
    else {
        return None;
    };
    let [ObjectNamePart::Identifier(table)] = table.0.as_slice() else {
        return None;
    };
    if normalized(table) != name {
        return None;
    }
    // A function may aggregate or window over every row; a subquery may read the CTE.
    let reads_more = visit_expressions(&select.projection, |expr| match expr {
        Expr::Function(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    if reads_more.is_break() {
        return None;
    }
    constant(limit)?.checked_add(offset)
}

fn constant(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Number(number, _) => number.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    use super::*;

    fn needed(sql: &str) -> Option<usize> {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        rows_needed(&statement, "t")
    }

    #[test]
    fn only_a_limited_projection_of_the_cte_stops_early() {
        assert_eq!(needed("select n from t limit 10"), Some(10));
        assert_eq!(
            needed("select n * 2 as m, n from t limit 10 offset 5"),
            Some(15)
        );
        for reads_all in [
            "select n from t",
            "select n from t where n > 3 limit 10",
            "select n from t order by n limit 10",
            "select count(*) from t limit 1",
            "select distinct n from t limit 10",
            "select n from t, u limit 10",
            "select n from u limit 10",
            "select (select max(n) from t) from t limit 1",
            "select n from t group by n limit 10",
        ] {
            assert_eq!(needed(reads_all), None, "{reads_all}");
        }
    }
}
