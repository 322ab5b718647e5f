//! CTEs a statement names more than once, computed once, as PostgreSQL does by
//! default: each runs first as a query of its own, and its rows travel with the rest
//! of the statement as a [`crate::catalog::bound::BoundRelation`] named like the CTE,
//! as a recursive CTE's do. Planned inline, every reference would compute it again
//! (TPC-H Q15 scanned and aggregated lineitem twice for `revenue0`), and a volatile
//! function in it could give each reference different rows.
//!
//! The rows of a CTE computed first are held by every node for the statement, so only
//! small ones are (the session decides, see `Cluster::bind_shared`); a larger one
//! stays inline. (PostgreSQL's `AS [NOT] MATERIALIZED` does not parse in the dialect
//! Percore reads.)

use sqlparser::ast::Statement;

use super::cte_filters::referenced_rows;
use super::recursive_ctes::{needed_ctes, normalized, references, top_query};

/// The names of the top-level CTEs of `statement` it names more than once, in the
/// order of its `WITH`. `EXPLAIN` runs nothing, so its CTEs stay inline (`EXPLAIN
/// ANALYZE` computes them first, as the statement would).
pub fn shared_ctes(statement: &mut Statement) -> Vec<String> {
    if matches!(statement, Statement::Explain { analyze: false, .. }) {
        return Vec::new();
    }
    let Some(query) = top_query(statement) else {
        return Vec::new();
    };
    let Some(with) = query.with.as_ref().filter(|with| !with.recursive) else {
        return Vec::new();
    };
    let mut shared = Vec::new();
    for cte in &with.cte_tables {
        let name = normalized(&cte.alias.name);
        // Relations are keyed in lower case on their way to the peers.
        if name != name.to_ascii_lowercase() {
            continue;
        }
        // Its own body may name a table of the same name; that is not a reference.
        let named = references(query, &name).saturating_sub(references(&cte.query, &name));
        if named > 1 {
            shared.push(name);
        }
    }
    shared
}

/// The query computing the rows of the top-level CTE `name`, under its column names
/// and with the CTEs before it that it needs, and only the rows some reference can
/// use ([`referenced_rows`]); `None` when `statement` has no such CTE. CTEs already
/// taken out by [`take_cte`] are relations by then.
pub fn cte_query(statement: &mut Statement, name: &str) -> Option<String> {
    let query = top_query(statement)?;
    let ctes = &query.with.as_ref()?.cte_tables;
    let index = ctes
        .iter()
        .position(|cte| normalized(&cte.alias.name) == name)?;
    let cte = &ctes[index];
    let needed = needed_ctes(&cte.query, &ctes[..index]);
    let mut sql = String::new();
    if !needed.is_empty() {
        let needed: Vec<String> = needed.iter().map(ToString::to_string).collect();
        sql.push_str(&format!("WITH {} ", needed.join(", ")));
    }
    sql.push_str(&format!(
        "SELECT * FROM ({}) AS {}",
        cte.query, cte.alias.name
    ));
    if !cte.alias.columns.is_empty() {
        let columns: Vec<String> = cte.alias.columns.iter().map(ToString::to_string).collect();
        sql.push_str(&format!(" ({})", columns.join(", ")));
    }
    if let Some(used) = referenced_rows(query, name, &cte.alias.name) {
        sql.push_str(&format!(" WHERE {used}"));
    }
    Some(sql)
}

/// Takes the top-level CTE `name` out of `statement`, so its references resolve to
/// the relation bound in its place.
pub fn take_cte(statement: &mut Statement, name: &str) {
    let Some(query) = top_query(statement) else {
        return;
    };
    let Some(with) = query.with.as_mut() else {
        return;
    };
    with.cte_tables
        .retain(|cte| normalized(&cte.alias.name) != name);
    if with.cte_tables.is_empty() {
        query.with = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sql::plannable as parsed;

    fn names(sql: &str) -> Vec<String> {
        shared_ctes(&mut parsed(sql))
    }

    #[test]
    fn ctes_named_twice_anywhere_in_the_statement_are_shared() {
        assert_eq!(
            names(
                "with a as (select 1 x), b as (select x from a), c as (select 2 y) \
                 select * from b, c where x in (select x from a)"
            ),
            vec!["a"]
        );
        assert_eq!(
            names("with a as (select 1 x) select * from a join a a2 using (x)"),
            vec!["a"]
        );
        assert_eq!(
            names("with a as (select 1 x) select * from a"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn explain_and_quoted_upper_case_names_stay_inline() {
        assert_eq!(
            names("explain with a as (select 1 x) select * from a, a b"),
            Vec::<String>::new()
        );
        assert_eq!(
            names("explain analyze with a as (select 1 x) select * from a, a b"),
            vec!["a"]
        );
        assert_eq!(
            names("with \"A\" as (select 1 x) select * from \"A\", \"A\" b"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_cte_query_brings_the_ctes_it_needs_and_its_column_names() {
        let mut statement = parsed(
            "with a as (select 1 x), z as (select 3 w), b (y) as (select x from a) \
             select * from b, b b2",
        );
        let sql = cte_query(&mut statement, "b").unwrap();
        assert!(sql.starts_with("WITH a AS ("), "{sql}");
        assert!(!sql.contains("z AS"), "{sql}");
        assert!(sql.ends_with(") AS b (y)"), "{sql}");
        take_cte(&mut statement, "a");
        let sql = cte_query(&mut statement, "b").unwrap();
        assert!(
            sql.starts_with("SELECT * FROM (SELECT x FROM a) AS b (y)"),
            "{sql}"
        );
        take_cte(&mut statement, "b");
        take_cte(&mut statement, "z");
        assert_eq!(statement.to_string(), "SELECT * FROM b, b b2");
    }
}
