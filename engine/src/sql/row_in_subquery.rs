//! `(a, b) IN (SELECT x, y ..)` in a WHERE clause. DataFusion's planner takes only
//! one column on either side of IN. As a condition of WHERE (alone or ANDed with
//! others) it means the same as `EXISTS (SELECT 1 FROM (SELECT x, y ..) AS
//! __in_row(__in_1, __in_2) WHERE __in_row.__in_1 = a AND __in_row.__in_2 = b)`:
//! a row whose comparison is NULL is filtered out either way. That form the
//! planner decorrelates into a semi join on both columns. Elsewhere (a SELECT
//! list, under NOT or OR) NULL and false differ, and `NOT IN` is not rewritten: the
//! planner's error stands there.

use sqlparser::ast::{BinaryOperator, Expr, Ident, Query, SetExpr, Statement, TableFactor};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use super::selects::every_select;

/// Rewrites the statement in place: every query in it, nested ones too.
pub fn as_exists(statement: &mut Statement) {
    every_select(statement, |select| {
        if let Some(selection) = &mut select.selection {
            rewrite_conjuncts(selection);
        }
    });
}

fn rewrite_conjuncts(expr: &mut Expr) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            rewrite_conjuncts(left);
            rewrite_conjuncts(right);
        }
        Expr::Nested(inner) => rewrite_conjuncts(inner),
        Expr::InSubquery {
            expr: tuple,
            subquery,
            negated: false,
        } if matches!(tuple.as_ref(), Expr::Tuple(values) if values.len() > 1) => {
            let Expr::Tuple(values) = tuple.as_ref() else {
                return;
            };
            if let Some(exists) = exists_of(values.clone(), subquery.as_ref().clone()) {
                *expr = exists;
            }
        }
        _ => {}
    }
}

fn exists_of(values: Vec<Expr>, subquery: Query) -> Option<Expr> {
    let names: Vec<String> = (1..=values.len()).map(|i| format!("__in_{i}")).collect();
    let template = format!("SELECT 1 FROM (SELECT 1) AS __in_row({})", names.join(", "));
    let mut query = Parser::new(&GenericDialect {})
        .try_with_sql(&template)
        .and_then(|mut parser| parser.parse_query())
        .ok()?;
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let TableFactor::Derived {
        subquery: derived, ..
    } = &mut select.from.first_mut()?.relation
    else {
        return None;
    };
    **derived = subquery;
    select.selection = values
        .into_iter()
        .zip(names)
        .map(|(value, name)| Expr::BinaryOp {
            left: Box::new(Expr::CompoundIdentifier(vec![
                Ident::new("__in_row"),
                Ident::new(name),
            ])),
            op: BinaryOperator::Eq,
            right: Box::new(value),
        })
        .reduce(|left, right| Expr::BinaryOp {
            left: Box::new(left),
            op: BinaryOperator::And,
            right: Box::new(right),
        });
    Some(Expr::Exists {
        subquery: query,
        negated: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&GenericDialect {}, sql)
            .unwrap()
            .remove(0);
        as_exists(&mut statement);
        statement.to_string()
    }

    #[test]
    fn row_in_subquery_among_where_conditions_becomes_exists() {
        assert_eq!(
            rewritten("SELECT * FROM t WHERE k > 1 AND (a, b + 1) IN (SELECT x, y FROM u)"),
            "SELECT * FROM t WHERE k > 1 AND EXISTS (SELECT 1 FROM (SELECT x, y FROM u) \
             AS __in_row (__in_1, __in_2) WHERE __in_row.__in_1 = a AND __in_row.__in_2 = b + 1)"
        );
        for kept in [
            "SELECT * FROM t WHERE (a, b) NOT IN (SELECT x, y FROM u)",
            "SELECT * FROM t WHERE k > 1 OR (a, b) IN (SELECT x, y FROM u)",
            "SELECT (a, b) IN (SELECT x, y FROM u) FROM t",
            "SELECT * FROM t WHERE a IN (SELECT x FROM u)",
        ] {
            assert_eq!(rewritten(kept), kept);
        }
    }
}
