//! `ROLLUP (a, a)`, `CUBE (a, a)` and `GROUPING SETS ((a, a))`: PostgreSQL groups by
//! `a` once in each set (and keeps the sets that come out equal, so their groups
//! appear once per set). DataFusion names an output column per key, and a key twice
//! failed with "Schema contains duplicate qualified field name". A ROLLUP or CUBE
//! with a key written twice becomes the GROUPING SETS it stands for, each set with
//! every key once; the same for each set of GROUPING SETS.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, GroupByExpr, Select, Statement, VisitMut, VisitorMut};

/// PostgreSQL's limit on CUBE's elements: the sets double with each.
const LARGEST_CUBE: usize = 12;

/// Rewrites the statement in place.
pub fn once_per_set(statement: &mut Statement) {
    let _ = statement.visit(&mut Duplicates);
}

struct Duplicates;

impl VisitorMut for Duplicates {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let GroupByExpr::Expressions(keys, _) = &mut select.group_by else {
            return ControlFlow::Continue(());
        };
        for key in keys.iter_mut() {
            if let Some(sets) = expanded(key) {
                *key = Expr::GroupingSets(sets.into_iter().map(each_once).collect());
            }
        }
        ControlFlow::Continue(())
    }
}

/// The grouping sets `key` stands for, if a key is written twice in one of them.
fn expanded(key: &Expr) -> Option<Vec<Vec<Expr>>> {
    let sets = match key {
        Expr::Rollup(elements) if repeats(elements.iter().flatten()) => (0..=elements.len())
            .rev()
            .map(|length| elements[..length].concat())
            .collect(),
        Expr::Cube(elements)
            if elements.len() <= LARGEST_CUBE && repeats(elements.iter().flatten()) =>
        {
            (0..1usize << elements.len())
                .rev()
                .map(|mask| {
                    elements
                        .iter()
                        .enumerate()
                        .filter(|(index, _)| mask & (1 << index) != 0)
                        .flat_map(|(_, element)| element.iter().cloned())
                        .collect()
                })
                .collect()
        }
        Expr::GroupingSets(sets) if sets.iter().any(|set| repeats(set.iter())) => sets.clone(),
        _ => return None,
    };
    Some(sets)
}

fn repeats<'a>(keys: impl Iterator<Item = &'a Expr>) -> bool {
    let keys: Vec<&Expr> = keys.collect();
    keys.iter().enumerate().any(|(index, key)| {
        keys[..index]
            .iter()
            .any(|earlier| unparenthesized(earlier) == unparenthesized(key))
    })
}

fn each_once(set: Vec<Expr>) -> Vec<Expr> {
    let mut once: Vec<Expr> = Vec::with_capacity(set.len());
    for key in set {
        if !once
            .iter()
            .any(|kept| unparenthesized(kept) == unparenthesized(&key))
        {
            once.push(key);
        }
    }
    once
}

/// `(a - b)` inside ROLLUP parses as `a - b`, an ordinal naming it as `(a - b)`.
fn unparenthesized(expr: &Expr) -> &Expr {
    match expr {
        Expr::Nested(inner) => unparenthesized(inner),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    fn rewritten(sql: &str) -> String {
        crate::sql::rewritten_sql(sql, super::once_per_set)
    }

    #[test]
    fn repeated_keys_become_grouping_sets_with_each_key_once() {
        assert_eq!(
            rewritten("SELECT a FROM t GROUP BY ROLLUP (a, b, a)"),
            "SELECT a FROM t GROUP BY GROUPING SETS ((a, b), (a, b), (a), ())"
        );
        assert_eq!(
            rewritten("SELECT a FROM t GROUP BY CUBE (a, a)"),
            "SELECT a FROM t GROUP BY GROUPING SETS ((a), (a), (a), ())"
        );
        assert_eq!(
            rewritten("SELECT a FROM t GROUP BY ROLLUP ((a - b), a - b)"),
            "SELECT a FROM t GROUP BY GROUPING SETS ((a - b), (a - b), ())"
        );
        assert_eq!(
            rewritten("SELECT a FROM t GROUP BY c, GROUPING SETS ((a, a), (b))"),
            "SELECT a FROM t GROUP BY c, GROUPING SETS ((a), (b))"
        );
        // Without a repeated key each stays as written.
        assert_eq!(
            rewritten("SELECT a FROM t GROUP BY ROLLUP (a, (b, c)), CUBE (d)"),
            "SELECT a FROM t GROUP BY ROLLUP (a, (b, c)), CUBE (d)"
        );
    }
}
