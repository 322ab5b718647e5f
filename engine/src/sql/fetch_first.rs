//! The SQL standard's `FETCH FIRST n ROWS ONLY` and `.. WITH TIES` (PostgreSQL has
//! both; DataFusion's planner refuses any FETCH). `ONLY` is `LIMIT n`. `WITH TIES`
//! keeps every row that sorts equal to the n-th: the rows whose
//! `rank() OVER (ORDER BY ..)` is at most n (plus the offset, as the OFFSET rows come
//! first in the same order), as a QUALIFY of the same SELECT.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Fetch, Ident, LimitClause, OrderByExpr, OrderByKind, Query, SelectItem,
    SetExpr, Statement, Value, VisitMut, VisitorMut, WindowSpec, WindowType,
};

use super::pg_compat::function_call;
use crate::error::{QueryError, QueryResult};

/// Rewrites every FETCH of the statement in place.
///
/// # Errors
/// `FETCH .. PERCENT`, and `WITH TIES` where PostgreSQL refuses it (no ORDER BY) or
/// a QUALIFY cannot express it (a set operation, DISTINCT, a QUALIFY already there).
pub fn as_limits(statement: &mut Statement) -> QueryResult<()> {
    match statement.visit(&mut Fetches) {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Fetches;

impl VisitorMut for Fetches {
    type Break = QueryError;

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<QueryError> {
        match rewritten(query) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }
}

fn rewritten(query: &mut Query) -> QueryResult<()> {
    let Some(Fetch {
        with_ties,
        percent,
        quantity,
    }) = query.fetch.take()
    else {
        return Ok(());
    };
    if percent {
        return Err(QueryError::unsupported("FETCH FIRST .. PERCENT"));
    }
    let count = quantity.unwrap_or_else(|| Expr::value(Value::Number("1".into(), false)));
    let offset = match query.limit_clause.take() {
        None => None,
        Some(LimitClause::LimitOffset {
            limit: None,
            offset,
            limit_by,
        }) if limit_by.is_empty() => offset,
        Some(_) => return Err(QueryError::unsupported("LIMIT together with FETCH FIRST")),
    };
    if !with_ties {
        query.limit_clause = Some(LimitClause::LimitOffset {
            limit: Some(count),
            offset,
            limit_by: Vec::new(),
        });
        return Ok(());
    }
    let sorts = match query.order_by.as_ref().map(|order_by| &order_by.kind) {
        Some(OrderByKind::Expressions(sorts)) if !sorts.is_empty() => sorts.clone(),
        _ => {
            return Err(QueryError::new(
                crate::error::ErrorCode::Syntax,
                "WITH TIES cannot be specified without ORDER BY clause",
            ))
        }
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Err(QueryError::unsupported(
            "FETCH .. WITH TIES over a set operation (UNION, INTERSECT, EXCEPT)",
        ));
    };
    if select.distinct.is_some() || select.qualify.is_some() {
        return Err(QueryError::unsupported(
            "FETCH .. WITH TIES together with DISTINCT or QUALIFY",
        ));
    }
    let order_by = sorts
        .into_iter()
        .map(|sort| {
            Ok(OrderByExpr {
                expr: as_input_expression(sort.expr, &select.projection)?,
                ..sort
            })
        })
        .collect::<QueryResult<Vec<_>>>()?;
    let kept = match &offset {
        Some(offset) => Expr::BinaryOp {
            left: Box::new(count),
            op: BinaryOperator::Plus,
            right: Box::new(offset.value.clone()),
        },
        None => count,
    };
    select.qualify = Some(Expr::BinaryOp {
        left: Box::new(rank_over(order_by)),
        op: BinaryOperator::LtEq,
        right: Box::new(Expr::Nested(Box::new(kept))),
    });
    query.limit_clause = offset.map(|offset| LimitClause::LimitOffset {
        limit: None,
        offset: Some(offset),
        limit_by: Vec::new(),
    });
    Ok(())
}

/// An ORDER BY key as the SELECT's input sees it: an ordinal or an output name
/// becomes the item's expression (a window cannot see output names).
fn as_input_expression(expr: Expr, projection: &[SelectItem]) -> QueryResult<Expr> {
    if let Expr::Value(value) = &expr {
        if let Value::Number(digits, _) = &value.value {
            let item = digits
                .parse::<usize>()
                .ok()
                .and_then(|ordinal| projection.get(ordinal.checked_sub(1)?));
            return match item {
                Some(
                    SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. },
                ) => Ok(item.clone()),
                _ => Err(QueryError::unsupported(format!(
                    "FETCH .. WITH TIES ordered by position {digits} of a SELECT * list"
                ))),
            };
        }
    }
    if let Expr::Identifier(name) = &expr {
        let aliased = projection.iter().find_map(|item| match item {
            SelectItem::ExprWithAlias { expr, alias } if same_name(alias, name) => Some(expr),
            _ => None,
        });
        if let Some(aliased) = aliased {
            return Ok(aliased.clone());
        }
    }
    Ok(expr)
}

/// Whether two identifiers name the same thing (unquoted ones in any case).
fn same_name(a: &Ident, b: &Ident) -> bool {
    match (a.quote_style, b.quote_style) {
        (None, None) => a.value.eq_ignore_ascii_case(&b.value),
        _ => a.value == b.value,
    }
}

fn rank_over(order_by: Vec<OrderByExpr>) -> Expr {
    let mut rank = function_call("rank", Vec::new());
    if let Expr::Function(function) = &mut rank {
        function.over = Some(WindowType::WindowSpec(WindowSpec {
            window_name: None,
            partition_by: Vec::new(),
            order_by,
            window_frame: None,
        }));
    }
    rank
}
