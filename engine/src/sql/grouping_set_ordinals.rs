//! `GROUP BY ROLLUP (1, 2)`: in PostgreSQL a number inside ROLLUP, CUBE or
//! GROUPING SETS names an output column, as it does in a plain GROUP BY. DataFusion
//! reads it there as the constant 1, so `select region, count(*) .. group by
//! rollup(1)` was refused and `select 'all', k, .. group by rollup(1, k)` put NULL
//! where PostgreSQL keeps 'all'. Each such number becomes the select item it names.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, GroupByExpr, Select, SelectItem, Value, VisitMut, VisitorMut};

/// Rewrites the statement in place.
pub fn resolved(statement: &mut sqlparser::ast::Statement) {
    let _ = statement.visit(&mut Ordinals);
}

struct Ordinals;

impl VisitorMut for Ordinals {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let GroupByExpr::Expressions(keys, _) = &mut select.group_by else {
            return ControlFlow::Continue(());
        };
        let items = &select.projection;
        for key in keys.iter_mut() {
            let sets = match key {
                Expr::Rollup(sets) | Expr::Cube(sets) | Expr::GroupingSets(sets) => sets,
                _ => continue,
            };
            for expr in sets.iter_mut().flatten() {
                if let Some(item) = named_item(expr, items) {
                    *expr = item;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// The select item an ordinal `expr` names.
fn named_item(expr: &Expr, items: &[SelectItem]) -> Option<Expr> {
    let Expr::Value(value) = expr else {
        return None;
    };
    let Value::Number(digits, _) = &value.value else {
        return None;
    };
    let ordinal: usize = digits.parse().ok()?;
    match items.get(ordinal.checked_sub(1)?)? {
        SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. } => {
            Some(item.clone())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    fn rewritten(sql: &str) -> String {
        crate::sql::rewritten_sql(sql, super::resolved)
    }

    #[test]
    fn numbers_in_grouping_sets_become_the_items_they_name() {
        assert_eq!(
            rewritten("SELECT a + 1 AS x, b, count(*) FROM t GROUP BY ROLLUP (1, b), CUBE (2)"),
            "SELECT a + 1 AS x, b, count(*) FROM t GROUP BY ROLLUP (a + 1, b), CUBE (b)"
        );
        assert_eq!(
            rewritten("SELECT a, b FROM t GROUP BY GROUPING SETS ((1, 2), (2), ())"),
            "SELECT a, b FROM t GROUP BY GROUPING SETS ((a, b), (b), ())"
        );
        // Plain keys are DataFusion's to resolve; numbers past the list stay.
        assert_eq!(
            rewritten("SELECT a FROM t GROUP BY 1, ROLLUP (5)"),
            "SELECT a FROM t GROUP BY 1, ROLLUP (5)"
        );
    }
}
