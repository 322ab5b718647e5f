//! `EXISTS (..)` as a value in a SELECT list (`select c_custkey, exists (select 1
//! from orders where o_custkey = c_custkey)`, or inside a CASE there). DataFusion
//! decorrelates EXISTS only in filters and failed on it elsewhere with an internal
//! error. Here such an EXISTS becomes `(SELECT count(*) FROM .. WHERE ..) > 0`
//! (`= 0` for NOT EXISTS), a scalar subquery the planner decorrelates into a join.
//! Only subqueries whose rows can be counted so are rewritten: one SELECT without
//! HAVING, DISTINCT ON, windows or a LIMIT other than a positive constant; the
//! others keep failing with the planner's error.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, GroupByExpr, Ident, LimitClause, ObjectName, Query, Select, SelectItem,
    SetExpr, Statement, Value,
};

use super::selects::every_select;

/// Rewrites the statement in place: every query in it, nested ones too.
pub fn counted(statement: &mut Statement) {
    every_select(statement, rewrite_select_list);
}

/// Rewrites the EXISTS in the SELECT list of `select`.
fn rewrite_select_list(select: &mut Select) {
    for item in &mut select.projection {
        if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
            let _ = sqlparser::ast::visit_expressions_mut(expr, |expr| {
                if let Expr::Exists { subquery, negated } = expr {
                    if let Some(count) = row_count(subquery) {
                        *expr = compared(count, *negated);
                    }
                }
                ControlFlow::<()>::Continue(())
            });
        }
    }
}

/// `SELECT count(*) FROM .. WHERE ..` counting the rows `subquery` would return
/// (at least one exactly when it returns one).
fn row_count(subquery: &Query) -> Option<Query> {
    let positive_limit = match &subquery.limit_clause {
        None => true,
        Some(LimitClause::LimitOffset {
            limit: Some(Expr::Value(value)),
            offset: None,
            limit_by,
        }) if limit_by.is_empty() => {
            matches!(&value.value, Value::Number(n, _) if n.parse::<u64>().is_ok_and(|n| n > 0))
        }
        Some(_) => false,
    };
    let SetExpr::Select(select) = subquery.body.as_ref() else {
        return None;
    };
    let plain = positive_limit
        && subquery.with.is_none()
        && subquery.fetch.is_none()
        && select.having.is_none()
        && select.qualify.is_none()
        && select.named_window.is_empty()
        && !matches!(select.distinct, Some(sqlparser::ast::Distinct::On(_)));
    if !plain {
        return None;
    }
    let mut select = select.clone();
    // Grouped rows exist exactly when ungrouped ones do (without HAVING).
    select.group_by = GroupByExpr::Expressions(Vec::new(), Vec::new());
    select.distinct = None;
    select.projection = vec![SelectItem::UnnamedExpr(count_star())];
    let mut count = subquery.clone();
    count.body = Box::new(SetExpr::Select(select));
    count.order_by = None;
    count.limit_clause = None;
    Some(count)
}

fn count_star() -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("count")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Wildcard)],
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

fn compared(count: Query, negated: bool) -> Expr {
    Expr::BinaryOp {
        left: Box::new(Expr::Subquery(Box::new(count))),
        op: if negated {
            BinaryOperator::Eq
        } else {
            BinaryOperator::Gt
        },
        right: Box::new(Expr::value(Value::Number("0".to_string(), false))),
    }
}
