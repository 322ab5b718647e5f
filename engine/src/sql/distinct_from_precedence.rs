//! `a IS [NOT] DISTINCT FROM b AND c` means `(a IS DISTINCT FROM b) AND c`, as every
//! `IS` test binds tighter than NOT, AND and OR. sqlparser 0.62 reads the operand
//! after `FROM` as a whole expression, so it parsed `a IS DISTINCT FROM (b AND c)`:
//! a type error over non-boolean columns, and a wrong answer over boolean ones
//! (`true is distinct from false and false` was true). It also takes the AND/OR
//! away from an enclosing `x AND ..` or `NOT ..`.
//!
//! The parser never puts an unparenthesized AND or OR under `IS DISTINCT FROM`, an
//! OR under an AND, or either under NOT (parentheses would show as `Nested`), so
//! each such node was taken from its parent and is given back here.

use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions_mut, BinaryOperator, Expr, Statement, UnaryOperator};

/// Regroups every expression of `statement` as PostgreSQL reads it.
pub fn regrouped(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        let taken = std::mem::replace(expr, Expr::Value(sqlparser::ast::Value::Null.into()));
        *expr = regroup(taken);
        ControlFlow::<()>::Continue(())
    });
}

fn regroup(expr: Expr) -> Expr {
    match expr {
        Expr::IsDistinctFrom(left, right) => match *right {
            Expr::BinaryOp {
                left: inner,
                op,
                right,
            } if is_logical(&op) => Expr::BinaryOp {
                left: Box::new(regroup(Expr::IsDistinctFrom(left, inner))),
                op,
                right,
            },
            right => Expr::IsDistinctFrom(left, Box::new(right)),
        },
        Expr::IsNotDistinctFrom(left, right) => match *right {
            Expr::BinaryOp {
                left: inner,
                op,
                right,
            } if is_logical(&op) => Expr::BinaryOp {
                left: Box::new(regroup(Expr::IsNotDistinctFrom(left, inner))),
                op,
                right,
            },
            right => Expr::IsNotDistinctFrom(left, Box::new(right)),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => match *expr {
            Expr::BinaryOp { left, op, right } if is_logical(&op) => Expr::BinaryOp {
                left: Box::new(regroup(Expr::UnaryOp {
                    op: UnaryOperator::Not,
                    expr: left,
                })),
                op,
                right,
            },
            expr => Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr: Box::new(expr),
            },
        },
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => match *right {
            Expr::BinaryOp {
                left: inner,
                op: BinaryOperator::Or,
                right,
            } => Expr::BinaryOp {
                left: Box::new(regroup(Expr::BinaryOp {
                    left,
                    op: BinaryOperator::And,
                    right: inner,
                })),
                op: BinaryOperator::Or,
                right,
            },
            right => Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right: Box::new(right),
            },
        },
        other => other,
    }
}

fn is_logical(op: &BinaryOperator) -> bool {
    matches!(op, BinaryOperator::And | BinaryOperator::Or)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;

    fn parsed(sql: &str) -> Statement {
        Parser::parse_sql(&GenericDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    /// `sql` with its parentheses dropped from the tree, which keeps the grouping.
    fn grouping_of(sql: &str) -> Statement {
        let mut statement = parsed(sql);
        let _ = visit_expressions_mut(&mut statement, |expr| {
            if let Expr::Nested(inner) = expr {
                *expr = inner.as_ref().clone();
            }
            ControlFlow::<()>::Continue(())
        });
        statement
    }

    #[test]
    fn is_distinct_from_binds_tighter_than_and_or_not() {
        let cases = [
            ("a IS DISTINCT FROM b AND c", "(a IS DISTINCT FROM b) AND c"),
            (
                "a IS NOT DISTINCT FROM b OR c AND d",
                "(a IS NOT DISTINCT FROM b) OR (c AND d)",
            ),
            (
                "x AND a IS DISTINCT FROM b OR c",
                "(x AND (a IS DISTINCT FROM b)) OR c",
            ),
            (
                "NOT a IS DISTINCT FROM b AND c",
                "(NOT (a IS DISTINCT FROM b)) AND c",
            ),
            (
                "a IS DISTINCT FROM b = c AND d",
                "(a IS DISTINCT FROM (b = c)) AND d",
            ),
        ];
        for (sql, meant) in cases {
            let mut statement = parsed(&format!("SELECT {sql}"));
            regrouped(&mut statement);
            assert_eq!(statement, grouping_of(&format!("SELECT {meant}")), "{sql}");
        }
        // Written parentheses are kept.
        let sql = "SELECT a IS DISTINCT FROM (b AND c)";
        let mut statement = parsed(sql);
        regrouped(&mut statement);
        assert_eq!(statement, parsed(sql));
    }
}
