//! The column a `RIGHT` or `FULL JOIN .. USING (k)` merges. In PostgreSQL an
//! unqualified `k` above such a join is the right side's `k` (RIGHT) or
//! `COALESCE(left.k, right.k)` (FULL), and `*` lists it once, first; DataFusion's
//! planner reads it as the left side's column, so every row found only on the
//! right had a NULL key (`select k from a full join b using (k)`). In each SELECT
//! over such a join, unqualified references to a merged column become its
//! expression (named `k` in the output) and `*` becomes the merged columns followed
//! by each relation's own columns (`a.* EXCLUDE (k)`); qualified references (`a.k`)
//! keep the side's own value, so `where a.k is null` still finds the rows missing
//! from `a`. Where a side's column cannot be named (a side that is a join chain
//! not merged by USING, or a subquery without an alias), and for `NATURAL` RIGHT and
//! FULL joins (whose columns only the schema tells), the statement is refused.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    ExcludeSelectItem, Expr, Ident, JoinConstraint, JoinOperator, ObjectName, OrderByKind, Query,
    Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor,
    TableWithJoins, VisitMut, VisitorMut, WildcardAdditionalOptions,
};

use crate::error::{QueryError, QueryResult};

use super::pg_compat::function_call;

/// Rewrites the statement in place.
///
/// # Errors
/// A RIGHT or FULL join whose merged column cannot be written out (see above).
pub fn merged(statement: &mut Statement) -> QueryResult<()> {
    let mut visitor = MergedColumns { refused: None };
    let _ = statement.visit(&mut visitor);
    match visitor.refused {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

struct MergedColumns {
    refused: Option<QueryError>,
}

impl VisitorMut for MergedColumns {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            let merged = match merged_columns(&select.from) {
                Ok(merged) => merged,
                Err(error) => {
                    self.refused = Some(error);
                    return ControlFlow::Break(());
                }
            };
            if merged.columns.is_empty() {
                return ControlFlow::Continue(());
            }
            rewrite_select(select, &merged);
            // A bare name in ORDER BY means an output column first.
            let output_names: HashSet<String> = select
                .projection
                .iter()
                .filter_map(|item| match item {
                    SelectItem::ExprWithAlias { alias, .. } => Some(normalized(alias)),
                    SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                        parts.last().map(normalized)
                    }
                    _ => None,
                })
                .collect();
            if let Some(OrderByKind::Expressions(sorts)) =
                query.order_by.as_mut().map(|order_by| &mut order_by.kind)
            {
                for sort in sorts {
                    replace_references(&mut sort.expr, &merged, &output_names);
                }
            }
        } else if let Err(error) = rewrite_branches(query.body.as_mut()) {
            self.refused = Some(error);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// The SELECTs under a UNION, INTERSECT or EXCEPT (the query's ORDER BY names
/// output columns, not any branch's).
fn rewrite_branches(body: &mut SetExpr) -> QueryResult<()> {
    match body {
        SetExpr::Select(select) => {
            let merged = merged_columns(&select.from)?;
            if !merged.columns.is_empty() {
                rewrite_select(select, &merged);
            }
            Ok(())
        }
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_branches(left)?;
            rewrite_branches(right)
        }
        _ => Ok(()),
    }
}

/// What the RIGHT and FULL USING joins of a FROM clause merge.
#[derive(Default)]
struct Merged {
    /// Each merged column's name and expression, in the order `*` lists them.
    columns: Vec<(String, Expr)>,
    /// Every relation of the FROM clause, in order: its qualifier and the merged
    /// columns it takes part in (left out where `*` lists its own columns).
    relations: Vec<(ObjectName, Vec<String>)>,
}

/// The join's constraint and whether the join is RIGHT or FULL.
fn constraint(join: &JoinOperator) -> Option<(&JoinConstraint, bool)> {
    match join {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c) => Some((c, false)),
        JoinOperator::Right(c) | JoinOperator::RightOuter(c) | JoinOperator::FullOuter(c) => {
            Some((c, true))
        }
        _ => None,
    }
}

fn merged_columns(from: &[TableWithJoins]) -> QueryResult<Merged> {
    let mut merged = Merged::default();
    let merges = from.iter().flat_map(|chain| &chain.joins).any(|join| {
        matches!(
            constraint(&join.join_operator),
            Some((JoinConstraint::Using(_) | JoinConstraint::Natural, true))
        )
    });
    if !merges {
        return Ok(merged);
    }
    for chain in from {
        let first = merged.relations.len();
        let left = qualifier(&chain.relation).ok_or_else(|| unnamed("left"))?;
        merged.relations.push((left.clone(), Vec::new()));
        // Each USING column of this chain and its expression so far.
        let mut current: Vec<(String, Expr)> = Vec::new();
        for (position, join) in chain.joins.iter().enumerate() {
            let right = qualifier(&join.relation).ok_or_else(|| unnamed("right"))?;
            merged.relations.push((right.clone(), Vec::new()));
            let Some((constraint, outer)) = constraint(&join.join_operator) else {
                continue;
            };
            let names = match constraint {
                JoinConstraint::Using(names) => names,
                JoinConstraint::Natural => {
                    return Err(QueryError::unsupported(
                        "NATURAL JOIN where a RIGHT or FULL join merges columns (name the \
                         columns with USING (..))",
                    ))
                }
                _ => continue,
            };
            let full = matches!(join.join_operator, JoinOperator::FullOuter(_));
            for name in names {
                let column = object_column(name);
                let known = current.iter().position(|(known, _)| *known == column);
                let left_expr = match known {
                    Some(index) => current[index].1.clone(),
                    None if position == 0 => {
                        merged.relations[first].1.push(column.clone());
                        qualified(&left, &column)
                    }
                    None => return Err(unnamed("left")),
                };
                if let Some((_, columns)) = merged.relations.last_mut() {
                    columns.push(column.clone());
                }
                let right_expr = qualified(&right, &column);
                let expr = match (outer, full) {
                    (true, true) => function_call("coalesce", vec![left_expr, right_expr]),
                    (true, false) => right_expr,
                    (false, _) => left_expr,
                };
                match known {
                    Some(index) => current[index].1 = expr,
                    None => current.push((column, expr)),
                }
            }
        }
        merged.columns.extend(current);
    }
    Ok(merged)
}

fn unnamed(side: &str) -> QueryError {
    QueryError::unsupported(format!(
        "RIGHT or FULL JOIN .. USING in a FROM clause where a {side} side's columns have no \
         one name (a subquery without an alias, or a join chain before a USING column's \
         first join): give it an alias or join with ON"
    ))
}

/// The name that qualifies a relation's columns: its alias, or a table's name.
fn qualifier(relation: &TableFactor) -> Option<ObjectName> {
    match relation {
        TableFactor::Table {
            alias: Some(alias), ..
        }
        | TableFactor::Derived {
            alias: Some(alias), ..
        }
        | TableFactor::Function {
            alias: Some(alias), ..
        }
        | TableFactor::TableFunction {
            alias: Some(alias), ..
        }
        | TableFactor::UNNEST {
            alias: Some(alias), ..
        } => Some(ObjectName::from(vec![alias.name.clone()])),
        TableFactor::Table {
            name, alias: None, ..
        } => Some(name.clone()),
        _ => None,
    }
}

fn object_column(name: &ObjectName) -> String {
    match name.0.last().and_then(|part| part.as_ident()) {
        Some(ident) => normalized(ident),
        None => name.to_string().to_lowercase(),
    }
}

fn normalized(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn qualified(relation: &ObjectName, column: &str) -> Expr {
    let mut parts: Vec<Ident> = relation
        .0
        .iter()
        .filter_map(|part| part.as_ident().cloned())
        .collect();
    parts.push(Ident::with_quote('"', column));
    Expr::CompoundIdentifier(parts)
}

fn rewrite_select(select: &mut Select, merged: &Merged) {
    let none = HashSet::new();
    let mut projection = Vec::with_capacity(select.projection.len());
    for item in std::mem::take(&mut select.projection) {
        match item {
            SelectItem::Wildcard(options) if plain(&options) => {
                projection.extend(expanded(merged));
            }
            SelectItem::UnnamedExpr(Expr::Identifier(ident)) => {
                // A bare merged column keeps its name in the output.
                projection.push(match find(merged, &normalized(&ident)) {
                    Some(expr) => SelectItem::ExprWithAlias {
                        expr: expr.clone(),
                        alias: ident,
                    },
                    None => SelectItem::UnnamedExpr(Expr::Identifier(ident)),
                });
            }
            SelectItem::UnnamedExpr(mut expr) => {
                replace_references(&mut expr, merged, &none);
                projection.push(SelectItem::UnnamedExpr(expr));
            }
            SelectItem::ExprWithAlias { mut expr, alias } => {
                replace_references(&mut expr, merged, &none);
                projection.push(SelectItem::ExprWithAlias { expr, alias });
            }
            other => projection.push(other),
        }
    }
    select.projection = projection;
    for expr in [
        select.selection.as_mut(),
        select.having.as_mut(),
        select.qualify.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        replace_references(expr, merged, &none);
    }
    if let sqlparser::ast::GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
        for expr in exprs {
            replace_references(expr, merged, &none);
        }
    }
}

fn plain(options: &WildcardAdditionalOptions) -> bool {
    options.opt_ilike.is_none()
        && options.opt_exclude.is_none()
        && options.opt_except.is_none()
        && options.opt_replace.is_none()
        && options.opt_rename.is_none()
        && options.opt_alias.is_none()
}

/// `*` as PostgreSQL expands it over the merged columns.
fn expanded(merged: &Merged) -> Vec<SelectItem> {
    let mut items: Vec<SelectItem> = merged
        .columns
        .iter()
        .map(|(name, expr)| SelectItem::ExprWithAlias {
            expr: expr.clone(),
            alias: Ident::with_quote('"', name),
        })
        .collect();
    for (relation, columns) in &merged.relations {
        let opt_exclude = (!columns.is_empty()).then(|| {
            ExcludeSelectItem::Multiple(
                columns
                    .iter()
                    .map(|column| ObjectName::from(vec![Ident::with_quote('"', column)]))
                    .collect(),
            )
        });
        items.push(SelectItem::QualifiedWildcard(
            SelectItemQualifiedWildcardKind::ObjectName(relation.clone()),
            WildcardAdditionalOptions {
                opt_exclude,
                ..WildcardAdditionalOptions::default()
            },
        ));
    }
    items
}

fn find<'a>(merged: &'a Merged, name: &str) -> Option<&'a Expr> {
    merged
        .columns
        .iter()
        .find(|(column, _)| column == name)
        .map(|(_, expr)| expr)
}

/// Replaces unqualified references to merged columns in `expr`, but not in its
/// subqueries (their own FROM may name the column) nor names in `shadowed` (output
/// aliases an ORDER BY refers to).
fn replace_references(expr: &mut Expr, merged: &Merged, shadowed: &HashSet<String>) {
    let _ = expr.visit(&mut References {
        merged,
        shadowed,
        depth: 0,
    });
}

struct References<'a> {
    merged: &'a Merged,
    shadowed: &'a HashSet<String>,
    /// How many subqueries deep the walk is.
    depth: usize,
}

impl VisitorMut for References<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        if let Expr::Identifier(ident) = expr {
            let name = normalized(ident);
            if !self.shadowed.contains(&name) {
                if let Some(replacement) = find(self.merged, &name) {
                    *expr = replacement.clone();
                }
            }
        }
        ControlFlow::Continue(())
    }
}
