//! `ARRAY(subquery)`: the subquery's one column collected into an array, in the
//! subquery's order, `{}` when it has no rows (psql's `\d TABLE` lists a policy's
//! roles this way). DataFusion plans no such constructor, so it becomes a scalar
//! subquery aggregating the column:
//! `ARRAY(SELECT v FROM t WHERE p ORDER BY k)` is
//! `(SELECT coalesce(array_agg(v ORDER BY k), ARRAY[]) FROM t WHERE p)`, which keeps a
//! correlated `p` where the planner decorrelates it. A subquery that aggregates,
//! groups, limits or is a set operation is kept whole in a derived table, its sort
//! keys computed beside the value.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FunctionArguments, GroupByExpr, Ident, ObjectNamePart, OrderByExpr, OrderByKind, Query,
    SelectItem, SetExpr, Statement, Value, Visit, VisitMut, Visitor, VisitorMut,
};

use super::output_names::column_name;
use super::provider::FunctionRegistry;
use crate::error::{QueryError, QueryResult};

const VALUE: &str = "__array_value";

/// Rewrites the statement in place.
///
/// # Errors
/// A subquery of more than one column, or one sorted by what cannot be computed
/// beside its column.
pub fn as_aggregates(statement: &mut Statement, functions: &FunctionRegistry) -> QueryResult<()> {
    let mut visitor = ArraySubqueries {
        functions,
        error: None,
    };
    let _ = statement.visit(&mut visitor);
    visitor.error.map_or(Ok(()), Err)
}

struct ArraySubqueries<'a> {
    functions: &'a FunctionRegistry,
    error: Option<QueryError>,
}

impl VisitorMut for ArraySubqueries<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Some(subquery) = array_subquery(expr) else {
            return ControlFlow::Continue(());
        };
        match aggregated(subquery, self.functions) {
            Ok(query) => {
                *expr = Expr::Subquery(Box::new(query));
                ControlFlow::Continue(())
            }
            Err(error) => {
                self.error = Some(error);
                ControlFlow::Break(())
            }
        }
    }
}

fn array_subquery(expr: &Expr) -> Option<&Query> {
    let Expr::Function(function) = expr else {
        return None;
    };
    let [ObjectNamePart::Identifier(name)] = function.name.0.as_slice() else {
        return None;
    };
    if !name.value.eq_ignore_ascii_case("array") {
        return None;
    }
    match &function.args {
        FunctionArguments::Subquery(query) => Some(query),
        _ => None,
    }
}

fn aggregated(subquery: &Query, functions: &FunctionRegistry) -> QueryResult<Query> {
    let unsupported = |what: &str| QueryError::unsupported(format!("ARRAY(subquery) {what}"));
    let sorts: Vec<OrderByExpr> = match subquery.order_by.as_ref().map(|o| &o.kind) {
        None => Vec::new(),
        Some(OrderByKind::Expressions(sorts)) => sorts.clone(),
        Some(OrderByKind::All(_)) => return Err(unsupported("sorted by ORDER BY ALL")),
    };
    let select = match subquery.body.as_ref() {
        SetExpr::Select(select) => Some(select.as_ref()),
        _ => None,
    };
    let value = match select.map(|select| select.projection.as_slice()) {
        Some([SelectItem::UnnamedExpr(expr)]) => Some((expr.clone(), column_name(expr))),
        Some([SelectItem::ExprWithAlias { expr, alias }]) => {
            Some((expr.clone(), column_name(&Expr::Identifier(alias.clone()))))
        }
        Some(_) => {
            return Err(unsupported(
                "of more than one column, or of `*`: it must name one column",
            ))
        }
        None => None,
    };
    if let (Some(select), Some((value, _))) = (select, &value) {
        let plain = select.distinct.is_none()
            && matches!(&select.group_by, GroupByExpr::Expressions(keys, _) if keys.is_empty())
            && select.having.is_none()
            && select.qualify.is_none()
            && select.named_window.is_empty()
            && subquery.limit_clause.is_none()
            && subquery.fetch.is_none()
            && subquery.with.is_none()
            && !computes_over_rows(value, functions);
        if plain {
            return direct(select, value, &sorts);
        }
    }
    derived(subquery, value, &sorts)
}

/// The aggregate over the subquery's own FROM and WHERE.
fn direct(
    select: &sqlparser::ast::Select,
    value: &Expr,
    sorts: &[OrderByExpr],
) -> QueryResult<Query> {
    let keys = sorts
        .iter()
        .map(|sort| {
            let key = match denotes_value(&sort.expr, value) {
                true => value.clone(),
                false => sort.expr.clone(),
            };
            OrderByExpr {
                expr: key,
                ..sort.clone()
            }
        })
        .collect::<Vec<_>>();
    let mut query = template(value, &keys)?;
    let SetExpr::Select(outer) = query.body.as_mut() else {
        return Err(QueryError::internal("ARRAY(subquery) template"));
    };
    outer.from = select.from.clone();
    outer.selection = select.selection.clone();
    Ok(query)
}

/// The aggregate over the whole subquery as a derived table, each sort key that is
/// not the value computed as a column of its own.
fn derived(
    subquery: &Query,
    value: Option<(Expr, String)>,
    sorts: &[OrderByExpr],
) -> QueryResult<Query> {
    let mut inner = subquery.clone();
    let mut keys = Vec::new();
    for (index, sort) in sorts.iter().enumerate() {
        let is_value = match &value {
            Some((expr, name)) => {
                denotes_value(&sort.expr, expr) || column_name(&sort.expr) == *name
            }
            None => is_first_ordinal(&sort.expr),
        };
        let key = if is_value {
            VALUE.to_string()
        } else {
            let SetExpr::Select(select) = inner.body.as_mut() else {
                return Err(QueryError::unsupported(
                    "ARRAY(subquery) of a set operation sorted by other than its column",
                ));
            };
            let alias = format!("__array_key{index}");
            select.projection.push(SelectItem::ExprWithAlias {
                expr: sort.expr.clone(),
                alias: Ident::new(&alias),
            });
            alias
        };
        keys.push(OrderByExpr {
            expr: Expr::Identifier(Ident::new(key)),
            ..sort.clone()
        });
    }
    if let SetExpr::Select(select) = inner.body.as_mut() {
        if let Some(first) = select.projection.first_mut() {
            let expr = match first {
                SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                    expr.clone()
                }
                _ => return Err(QueryError::unsupported("ARRAY(subquery) of `*`")),
            };
            *first = SelectItem::ExprWithAlias {
                expr,
                alias: Ident::new(VALUE),
            };
        }
    }
    let mut query = template(&Expr::Identifier(Ident::new(VALUE)), &keys)?;
    let SetExpr::Select(outer) = query.body.as_mut() else {
        return Err(QueryError::internal("ARRAY(subquery) template"));
    };
    let columns = if matches!(inner.body.as_ref(), SetExpr::Select(_)) {
        String::new()
    } else {
        // A set operation's column is named by its first branch: name it here.
        format!("({VALUE})")
    };
    let from = parsed_query(&format!("SELECT 1 FROM (SELECT 1) AS __array{columns}"))?;
    let SetExpr::Select(from) = from.body.as_ref() else {
        return Err(QueryError::internal("ARRAY(subquery) template"));
    };
    outer.from = from.from.clone();
    if let sqlparser::ast::TableFactor::Derived { subquery, .. } = &mut outer.from[0].relation {
        **subquery = inner;
    }
    Ok(query)
}

/// `SELECT coalesce(array_agg(value ORDER BY keys), ARRAY[])`, FROM and WHERE to fill.
fn template(value: &Expr, keys: &[OrderByExpr]) -> QueryResult<Query> {
    let order = if keys.is_empty() {
        String::new()
    } else {
        let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
        format!(" ORDER BY {}", keys.join(", "))
    };
    parsed_query(&format!(
        "SELECT coalesce(array_agg({value}{order}), ARRAY[])"
    ))
}

fn parsed_query(sql: &str) -> QueryResult<Query> {
    let parsed =
        sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql)
            .map_err(|e| QueryError::internal(format!("ARRAY(subquery) rewrite: {e}")))?;
    match parsed.into_iter().next() {
        Some(Statement::Query(query)) => Ok(*query),
        _ => Err(QueryError::internal("ARRAY(subquery) rewrite: not a query")),
    }
}

/// Whether a sort key is the subquery's column: ordinal 1, or the column itself.
fn denotes_value(key: &Expr, value: &Expr) -> bool {
    is_first_ordinal(key) || key == value
}

fn is_first_ordinal(key: &Expr) -> bool {
    matches!(key, Expr::Value(v) if matches!(&v.value, Value::Number(digits, _) if digits == "1"))
}

/// Whether the column aggregates or is a window function, so it cannot be
/// aggregated again in place (an aggregate inside a subquery of the column is that
/// subquery's, not this one's).
fn computes_over_rows(value: &Expr, functions: &FunctionRegistry) -> bool {
    struct OverRows<'a> {
        functions: &'a FunctionRegistry,
        in_subquery: usize,
    }
    impl Visitor for OverRows<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.in_subquery += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.in_subquery -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            match expr {
                Expr::Function(function)
                    if self.in_subquery == 0
                        && (function.over.is_some()
                            || self.functions.is_aggregate_call(function)) =>
                {
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    value
        .visit(&mut OverRows {
            functions,
            in_subquery: 0,
        })
        .is_break()
}

#[cfg(test)]
mod tests {
    fn rewritten(sql: &str) -> String {
        let functions = crate::sql::provider::FunctionRegistry::new();
        crate::sql::rewritten_sql(sql, |statement| {
            super::as_aggregates(statement, &functions).unwrap();
        })
    }

    #[test]
    fn a_plain_subquery_aggregates_in_place_keeping_its_correlation() {
        assert_eq!(
            rewritten(
                "SELECT ARRAY(SELECT rolname FROM pg_roles WHERE oid = ANY(p.polroles) ORDER BY 1) \
                 FROM pg_policy AS p"
            ),
            "SELECT (SELECT coalesce(array_agg(rolname ORDER BY rolname), ARRAY[]) \
             FROM pg_roles WHERE oid = ANY(p.polroles)) FROM pg_policy AS p"
        );
    }

    #[test]
    fn a_limited_or_grouped_subquery_is_aggregated_whole_with_its_sort_keys() {
        assert_eq!(
            rewritten("SELECT ARRAY(SELECT a FROM t ORDER BY b DESC LIMIT 3)"),
            "SELECT (SELECT coalesce(array_agg(__array_value ORDER BY __array_key0 DESC), \
             ARRAY[]) FROM (SELECT a AS __array_value, b AS __array_key0 FROM t \
             ORDER BY b DESC LIMIT 3) AS __array)"
        );
        assert_eq!(
            rewritten("SELECT ARRAY(SELECT count(*) FROM t GROUP BY a)"),
            "SELECT (SELECT coalesce(array_agg(__array_value), ARRAY[]) \
             FROM (SELECT count(*) AS __array_value FROM t GROUP BY a) AS __array)"
        );
    }
}
