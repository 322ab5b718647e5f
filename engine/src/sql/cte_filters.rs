//! The rows of a CTE computed first that some reference can use. Each reference's
//! conditions on its own columns (conjuncts of the WHERE, or of an inner join's ON,
//! over `alias.column` only) drop the rest of its rows; a row no reference keeps
//! need not be computed at all. TPC-DS q04 names `year_total` six times, each for
//! one kind of sale and one year: computed whole, it aggregated six years of every
//! channel for the two it reads. Their disjunction goes into the CTE's query, where
//! the planner pushes it down as any filter (through the grouping on `dyear`, into
//! the scans); each reference still applies its own.
//!
//! Only references the rules below can see through count; if any other reference
//! (under an outer join, in a nested join, renaming the columns, shadowed by an
//! inner WITH of the same name) or one without such a condition exists, nothing is
//! added.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions, visit_expressions_mut, BinaryOperator, Expr, Ident, JoinConstraint,
    JoinOperator, ObjectNamePart, Query, Select, SetExpr, TableFactor, Visit, Visitor,
};

use super::recursive_ctes::{normalized, references};

/// Functions whose value may differ between two calls: a condition calling one
/// does not say which rows a reference keeps.
const VOLATILE: [&str; 6] = [
    "random",
    "random_normal",
    "setseed",
    "uuid",
    "gen_random_uuid",
    "nextval",
];

/// A condition every reference of the top-level CTE `name` of `query` puts on the
/// rows it uses, over columns qualified by `qualifier` (the CTE as its query's
/// alias); `None` when some reference may use any row.
pub fn referenced_rows(query: &Query, name: &str, qualifier: &Ident) -> Option<Expr> {
    let own = query
        .with
        .as_ref()?
        .cte_tables
        .iter()
        .find(|cte| normalized(&cte.alias.name) == name)?;
    // A table of the same name inside its own query is some other table.
    if references(&own.query, name) > 0 {
        return None;
    }
    let mut found = References {
        name,
        top: true,
        shadowed: false,
        conditions: Vec::new(),
    };
    let _ = query.visit(&mut found);
    if found.shadowed || found.conditions.len() != references(query, name) {
        return None;
    }
    let conditions = found.conditions.into_iter().collect::<Option<Vec<_>>>()?;
    if conditions.iter().any(Vec::is_empty) {
        return None;
    }
    let conditions: Vec<Vec<Condition>> = conditions
        .into_iter()
        .map(|conjuncts| {
            conjuncts
                .into_iter()
                .map(|condition| condition.qualified_by(qualifier))
                .collect()
        })
        .collect();
    Some(implied(&conditions))
}

/// One conjunct of a reference, and the columns it reads.
#[derive(Clone)]
struct Condition {
    expr: Expr,
    columns: BTreeSet<String>,
}

impl Condition {
    /// `expr` if it reads columns of `qualifier` and nothing else a reference's
    /// rows do not decide: no other table's columns, no subquery, no volatile call.
    fn of(expr: &Expr, qualifier: &str) -> Option<Condition> {
        let mut columns = BTreeSet::new();
        let verdict = visit_expressions(expr, |e| match e {
            Expr::Identifier(_) => ControlFlow::Break(()),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [table, column] if normalized(table) == qualifier => {
                    columns.insert(normalized(column));
                    ControlFlow::Continue(())
                }
                _ => ControlFlow::Break(()),
            },
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                ControlFlow::Break(())
            }
            Expr::Function(function) => {
                let volatile = match function.name.0.as_slice() {
                    [.., ObjectNamePart::Identifier(ident)] => {
                        VOLATILE.contains(&normalized(ident).as_str())
                    }
                    _ => true,
                };
                if volatile {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            }
            _ => ControlFlow::Continue(()),
        });
        (verdict.is_continue() && !columns.is_empty()).then(|| Condition {
            expr: expr.clone(),
            columns,
        })
    }

    /// The condition over `qualifier.column` instead of the reference's alias.
    fn qualified_by(mut self, qualifier: &Ident) -> Condition {
        let _ = visit_expressions_mut(&mut self.expr, |e| {
            if let Expr::CompoundIdentifier(parts) = e {
                parts[0] = qualifier.clone();
            }
            ControlFlow::<()>::Continue(())
        });
        self
    }
}

/// The disjunction of every reference's conditions; before it, for each column that
/// every reference has conditions on alone, the disjunction of those (implied by
/// the whole, and a plain filter on one column the planner can push down, where the
/// whole mixes columns it cannot).
fn implied(references: &[Vec<Condition>]) -> Expr {
    let mut single: BTreeMap<&str, Vec<Vec<&Expr>>> = BTreeMap::new();
    for (index, conditions) in references.iter().enumerate() {
        for condition in conditions {
            if let [column] = condition.columns.iter().collect::<Vec<_>>().as_slice() {
                let per_reference = single.entry(column.as_str()).or_default();
                per_reference.resize_with(index + 1, Vec::new);
                per_reference[index].push(&condition.expr);
            }
        }
    }
    let mut parts: Vec<Expr> = single
        .into_values()
        .filter(|per_reference| {
            per_reference.len() == references.len() && per_reference.iter().all(|c| !c.is_empty())
        })
        .map(|per_reference| any_of(per_reference.into_iter().map(all_of)))
        .collect();
    let whole = any_of(
        references
            .iter()
            .map(|conditions| all_of(conditions.iter().map(|c| &c.expr).collect())),
    );
    if !parts
        .iter()
        .any(|part| part.to_string() == whole.to_string())
    {
        parts.push(whole);
    }
    all_of(parts.iter().collect())
}

fn all_of(exprs: Vec<&Expr>) -> Expr {
    combine(exprs.into_iter().cloned(), BinaryOperator::And)
}

/// The disjunction of `exprs`, each distinct one once.
fn any_of(exprs: impl Iterator<Item = Expr>) -> Expr {
    let mut seen = BTreeSet::new();
    let distinct = exprs.filter(|expr| seen.insert(expr.to_string()));
    combine(distinct, BinaryOperator::Or)
}

/// `exprs` joined by `op`, each in parentheses (the conditions come from anywhere in
/// a statement: none may bind to its neighbour).
fn combine(exprs: impl Iterator<Item = Expr>, op: BinaryOperator) -> Expr {
    exprs
        .map(|expr| match expr {
            Expr::Nested(_) => expr,
            other => Expr::Nested(Box::new(other)),
        })
        .reduce(|left, right| Expr::BinaryOp {
            left: Box::new(left),
            op: op.clone(),
            right: Box::new(right),
        })
        .unwrap_or(Expr::Value(sqlparser::ast::Value::Boolean(true).into()))
}

/// The references of one CTE name, each with its conditions (`None`: it may use
/// any row).
struct References<'a> {
    name: &'a str,
    /// The next query visited is the statement's own (whose WITH defines the name).
    top: bool,
    shadowed: bool,
    conditions: Vec<Option<Vec<Condition>>>,
}

impl Visitor for References<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let defines = query.with.as_ref().is_some_and(|with| {
            with.cte_tables
                .iter()
                .any(|cte| normalized(&cte.alias.name) == self.name)
        });
        if defines && !std::mem::take(&mut self.top) {
            self.shadowed = true;
            return ControlFlow::Break(());
        }
        self.top = false;
        self.in_set_expr(&query.body);
        ControlFlow::Continue(())
    }
}

impl References<'_> {
    /// The SELECTs of a query body; nested queries are visited on their own.
    fn in_set_expr(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Select(select) => self.in_select(select),
            SetExpr::SetOperation { left, right, .. } => {
                self.in_set_expr(left);
                self.in_set_expr(right);
            }
            _ => {}
        }
    }

    fn in_select(&mut self, select: &Select) {
        let mut conjuncts = Vec::new();
        if let Some(selection) = &select.selection {
            split_and(selection, &mut conjuncts);
        }
        for from in &select.from {
            let inner = from.joins.iter().all(|join| {
                matches!(
                    join.join_operator,
                    JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)
                )
            });
            let mut pool = conjuncts.clone();
            for join in &from.joins {
                if let JoinOperator::Join(JoinConstraint::On(on))
                | JoinOperator::Inner(JoinConstraint::On(on)) = &join.join_operator
                {
                    split_and(on, &mut pool);
                }
            }
            let factors =
                std::iter::once(&from.relation).chain(from.joins.iter().map(|join| &join.relation));
            for factor in factors {
                let TableFactor::Table {
                    name, alias, args, ..
                } = factor
                else {
                    continue;
                };
                let [ObjectNamePart::Identifier(table)] = name.0.as_slice() else {
                    continue;
                };
                if normalized(table) != self.name {
                    continue;
                }
                let qualifier = alias
                    .as_ref()
                    .map_or_else(|| normalized(table), |alias| normalized(&alias.name));
                // `c AS x(a, b)` renames the columns: `x.a` need not be the CTE's `a`.
                let renamed = alias
                    .as_ref()
                    .is_some_and(|alias| !alias.columns.is_empty());
                let conditions = (inner && args.is_none() && !renamed).then(|| {
                    pool.iter()
                        .filter_map(|conjunct| Condition::of(conjunct, &qualifier))
                        .collect()
                });
                self.conditions.push(conditions);
            }
        }
    }
}

fn split_and<'a>(expr: &'a Expr, into: &mut Vec<&'a Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(left, into);
            split_and(right, into);
        }
        Expr::Nested(inner) => split_and(inner, into),
        other => into.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sql::plannable as parsed;

    fn pushed(sql: &str) -> Option<String> {
        let statement = parsed(sql);
        let sqlparser::ast::Statement::Query(query) = statement else {
            panic!("a query");
        };
        referenced_rows(&query, "c", &Ident::new("c")).map(|expr| expr.to_string())
    }

    #[test]
    fn each_column_conditioned_by_every_reference_gets_its_own_disjunction() {
        let sql = "with c as (select k, y, t, v from f) \
                   select * from c c1, c c2, c as c3 \
                   where c1.y = 2001 and c1.t = 's' and c1.v > 0 and c2.y = 2002 \
                   and c2.t = 's' and c3.t = 'w' and c3.y = 2001 and c1.k = c2.k";
        assert_eq!(
            pushed(sql).unwrap(),
            "((c.t = 's') OR (c.t = 'w')) AND ((c.y = 2001) OR (c.y = 2002)) AND \
             (((c.y = 2001) AND (c.t = 's') AND (c.v > 0)) OR ((c.y = 2002) AND (c.t = 's')) \
             OR ((c.t = 'w') AND (c.y = 2001)))"
        );
    }

    #[test]
    fn inner_join_conditions_and_references_in_subqueries_count() {
        let sql = "with c as (select k from f) \
                   select * from g join c on c.k = g.k and c.k < 10 \
                   where g.k in (select c.k from c where c.k > 90)";
        assert_eq!(pushed(sql).unwrap(), "((c.k < 10) OR (c.k > 90))");
    }

    #[test]
    fn a_reference_that_may_use_any_row_adds_nothing() {
        let unconditioned = "with c as (select k from f) \
                             select * from c c1, c c2 where c1.k = 1 and c2.k = c1.k";
        assert_eq!(pushed(unconditioned), None);
        let outer = "with c as (select k from f) \
                     select * from c c1 left join c c2 on c2.k = 1 where c1.k = 2";
        assert_eq!(pushed(outer), None);
        let unqualified = "with c as (select k from f) \
                           select * from c, c c2 where k = 1 and c2.k = 2";
        assert_eq!(pushed(unqualified), None);
        let volatile = "with c as (select k from f) \
                        select * from c c1, c c2 where c1.k > random() and c2.k = 2";
        assert_eq!(pushed(volatile), None);
        let shadowed = "with c as (select k from f) select * from c c1 where c1.k = 1 \
                        and c1.k in (with c as (select 5 k) select c.k from c where c.k = 5)";
        assert_eq!(pushed(shadowed), None);
        let nested = "with c as (select k from f) \
                      select * from c c1, (g join c c2 on true) where c1.k = 1 and c2.k = 2";
        assert_eq!(pushed(nested), None);
        let renamed = "with c as (select a, b from f) \
                       select * from c c1, c as c2(b, a) where c1.a = 1 and c2.a = 2";
        assert_eq!(pushed(renamed), None);
    }
}
