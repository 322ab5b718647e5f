//! `ORDER BY 3` where the third output column is a window function over
//! aggregates (`select k, sum(v), rank() over (order by sum(v)) .. group by k order
//! by 3`): DataFusion's planner turns the ordinal into a reference to the projected
//! column and then finds that column neither grouped nor aggregated, refusing a
//! valid query. Spelled out (`order by rank() over (..)`) it plans, so an ordinal
//! that names an unaliased item holding a window function becomes that item, with
//! its named windows (`over w`) written in place, as ORDER BY cannot see them.
//!
//! Any other unaliased expression an ordinal names (`select max(v) + 1 from t order
//! by 1`, `select k || max(s) .. group by k order by 1`) met the same refusal; such
//! an item is given the name PostgreSQL shows for it as an alias, which DataFusion
//! resolves (`.. as m order by 1` planned). The name is the one shown anyway.

use std::ops::ControlFlow;

use super::output_names::column_name;
use sqlparser::ast::{
    visit_expressions, visit_expressions_mut, Expr, Ident, NamedWindowDefinition, NamedWindowExpr,
    OrderByKind, Query, SelectItem, SetExpr, Statement, Value, VisitMut, VisitorMut, WindowType,
};

/// Rewrites the statement in place.
pub fn spelled_out(statement: &mut Statement) {
    let _ = statement.visit(&mut Ordinals);
}

struct Ordinals;

impl VisitorMut for Ordinals {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        let Some(order_by) = query.order_by.as_mut() else {
            return ControlFlow::Continue(());
        };
        let OrderByKind::Expressions(sorts) = &mut order_by.kind else {
            return ControlFlow::Continue(());
        };
        for sort in sorts {
            let Expr::Value(value) = &sort.expr else {
                continue;
            };
            let Value::Number(digits, _) = &value.value else {
                continue;
            };
            let Some(item) = digits
                .parse::<usize>()
                .ok()
                .and_then(|ordinal| select.projection.get_mut(ordinal.checked_sub(1)?))
            else {
                continue;
            };
            let SelectItem::UnnamedExpr(expr) = item else {
                continue;
            };
            if holds_window_function(expr) {
                if let Some(inlined) = with_windows_inlined(expr, &select.named_window) {
                    sort.expr = inlined;
                }
            } else if !matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                let alias = Ident::with_quote('"', column_name(expr));
                let expr = std::mem::replace(expr, Expr::value(Value::Null));
                *item = SelectItem::ExprWithAlias { expr, alias };
            }
        }
        ControlFlow::Continue(())
    }
}

fn holds_window_function(expr: &Expr) -> bool {
    visit_expressions(expr, |expr| match expr {
        Expr::Function(function) if function.over.is_some() => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// `expr` with each `OVER name` replaced by the window it names; `None` where a
/// name is not defined as a window specification.
fn with_windows_inlined(expr: &Expr, windows: &[NamedWindowDefinition]) -> Option<Expr> {
    let mut inlined = expr.clone();
    let resolved = visit_expressions_mut(&mut inlined, |expr| {
        let Expr::Function(function) = expr else {
            return ControlFlow::Continue(());
        };
        let Some(WindowType::NamedWindow(name)) = &function.over else {
            return ControlFlow::Continue(());
        };
        let spec = windows.iter().find_map(|window| match window {
            NamedWindowDefinition(defined, NamedWindowExpr::WindowSpec(spec))
                if defined.value == name.value =>
            {
                Some(spec.clone())
            }
            _ => None,
        });
        match spec {
            Some(spec) => {
                function.over = Some(WindowType::WindowSpec(spec));
                ControlFlow::Continue(())
            }
            None => ControlFlow::Break(()),
        }
    });
    resolved.is_continue().then_some(inlined)
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        spelled_out(&mut statement);
        statement.to_string()
    }

    #[test]
    fn ordinals_naming_unaliased_items_are_spelled_out_or_named() {
        assert_eq!(
            rewritten("SELECT k, rank() OVER (ORDER BY sum(v)) FROM t GROUP BY k ORDER BY 2, 1"),
            "SELECT k, rank() OVER (ORDER BY sum(v)) FROM t GROUP BY k \
             ORDER BY rank() OVER (ORDER BY sum(v)), 1"
        );
        let kept = [
            "SELECT k, rank() OVER (ORDER BY k) AS r FROM t ORDER BY 2",
            "SELECT k, 1 + rank() OVER (ORDER BY k) FROM t ORDER BY 3",
            "SELECT t.k, 1 + sum(v) FROM t GROUP BY k ORDER BY 1",
        ];
        for sql in kept {
            assert_eq!(rewritten(sql), sql);
        }
        assert_eq!(
            rewritten("SELECT rank() OVER w FROM t WINDOW w AS (ORDER BY k) ORDER BY 1"),
            "SELECT rank() OVER w FROM t WINDOW w AS (ORDER BY k) ORDER BY rank() OVER (ORDER BY k)"
        );
        assert_eq!(
            rewritten("SELECT 1 + rank() OVER (ORDER BY k) FROM t ORDER BY 1 DESC"),
            "SELECT 1 + rank() OVER (ORDER BY k) FROM t ORDER BY 1 + rank() OVER (ORDER BY k) DESC"
        );
        assert_eq!(
            rewritten("SELECT k, sum(v) + 1, upper(k) FROM t GROUP BY k ORDER BY 2, 3"),
            "SELECT k, sum(v) + 1 AS \"?column?\", upper(k) AS \"upper\" FROM t GROUP BY k ORDER BY 2, 3"
        );
    }
}
