//! `x IN (SELECT ..)`, `x NOT IN (..)` and `x op ANY / ALL (SELECT ..)` as values in
//! a SELECT list (`select k, a in (select b from t2) from t1`). DataFusion turns
//! these into joins only among a filter's conditions; as values they were refused
//! (or failed with an internal error). PostgreSQL's answer is three-valued: true if
//! some row compares true (ALL: false if some row compares false), else NULL if some
//! comparison is NULL, else false (ALL: true), so also over no rows.
//!
//! Here each becomes one aggregated scalar subquery over the original one, which the
//! planner decorrelates like any other (over the distinct outer values when the
//! comparison reads outer columns):
//!
//! ```text
//! x op ANY (q)  =  (SELECT CASE max(CASE WHEN x op c THEN 2 WHEN (x op c) IS NULL
//!                                   THEN 1 ELSE 0 END)
//!                          WHEN 2 THEN true WHEN 1 THEN NULL ELSE false END
//!                   FROM (q) AS __quantified(__quantified_value))
//! ```
//!
//! and ALL alike with `min`, 0 meaning false and no rows true. `IN` is `= ANY`, `NOT
//! IN` is `<> ALL`. Subqueries nested in the item keep their own IN and EXISTS.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, Query, SelectItem, SetExpr, Statement, TableFactor, VisitMut,
    VisitorMut,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use super::selects::every_select;

/// The placeholder for the compared operand in the template.
const OPERAND: &str = "__quantified_operand";

/// Rewrites the statement in place: the SELECT lists of every query in it.
pub fn as_scalar_subqueries(statement: &mut Statement) {
    every_select(statement, |select| {
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
                let _ = expr.visit(&mut OutsideSubqueries { depth: 0 });
            }
        }
    });
}

/// Rewrites the quantified comparisons of one expression that are not inside a
/// subquery of it.
struct OutsideSubqueries {
    depth: usize,
}

impl VisitorMut for OutsideSubqueries {
    type Break = ();

    fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.depth == 0 {
            if let Some(rewritten) = rewritten(expr) {
                *expr = rewritten;
            }
        }
        ControlFlow::Continue(())
    }
}

fn rewritten(expr: &Expr) -> Option<Expr> {
    let (operand, op, query, all) = match expr {
        Expr::InSubquery {
            expr,
            subquery,
            negated,
        } => {
            let op = if *negated {
                BinaryOperator::NotEq
            } else {
                BinaryOperator::Eq
            };
            (expr, op, subquery, *negated)
        }
        Expr::AnyOp {
            left,
            compare_op,
            right,
            ..
        } => match right.as_ref() {
            Expr::Subquery(query) => (left, compare_op.clone(), query, false),
            _ => return None,
        },
        Expr::AllOp {
            left,
            compare_op,
            right,
        } => match right.as_ref() {
            Expr::Subquery(query) => (left, compare_op.clone(), query, true),
            _ => return None,
        },
        _ => return None,
    };
    if matches!(operand.as_ref(), Expr::Tuple(_)) {
        return None;
    }
    quantified(operand, &op, query, all)
}

/// The scalar subquery standing for `operand op ANY (query)` (`ALL` if `all`).
fn quantified(operand: &Expr, op: &BinaryOperator, query: &Query, all: bool) -> Option<Expr> {
    let (aggregate, decisive, decided, otherwise) = if all {
        ("min", 0, "false", "true")
    } else {
        ("max", 2, "true", "false")
    };
    let template = format!(
        "SELECT (SELECT CASE {aggregate}(CASE WHEN {OPERAND} {op} __quantified.__quantified_value THEN 2 \
         WHEN ({OPERAND} {op} __quantified.__quantified_value) IS NULL THEN 1 ELSE 0 END) \
         WHEN {decisive} THEN {decided} WHEN 1 THEN NULL ELSE {otherwise} END \
         FROM (SELECT 1) AS __quantified(__quantified_value))"
    );
    let Ok(mut parsed) = Parser::parse_sql(&GenericDialect {}, &template) else {
        return None;
    };
    let Some(Statement::Query(outer)) = parsed.pop() else {
        return None;
    };
    let SetExpr::Select(select) = *outer.body else {
        return None;
    };
    let Some(SelectItem::UnnamedExpr(Expr::Subquery(mut subquery))) =
        select.projection.into_iter().next()
    else {
        return None;
    };
    // Before the query goes in, so that only the template's placeholders are seen.
    let _ = subquery.visit(&mut Placeholder {
        operand: operand.clone(),
    });
    let SetExpr::Select(inner) = subquery.body.as_mut() else {
        return None;
    };
    let TableFactor::Derived { subquery: from, .. } = &mut inner.from.first_mut()?.relation else {
        return None;
    };
    **from = query.clone();
    Some(Expr::Subquery(subquery))
}

/// Puts the operand where the template names it.
struct Placeholder {
    operand: Expr,
}

impl VisitorMut for Placeholder {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if matches!(expr, Expr::Identifier(Ident { value, .. }) if value == OPERAND) {
            *expr = self.operand.clone();
        }
        ControlFlow::Continue(())
    }
}
