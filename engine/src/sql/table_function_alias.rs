//! `FROM generate_series(1, 3) g`: in PostgreSQL the alias of a function returning
//! one column names the column as well as the table, so `g` and `g.g` read it.
//! The alias without a column list gets that column list here, and a function
//! named `pg_catalog.generate_series` (as psql writes it) loses the schema, which
//! the planner would take for the function's name.

use std::ops::ControlFlow;

use sqlparser::ast::{Statement, TableAliasColumnDef, TableFactor, VisitMut, VisitorMut};

/// Rewrites the statement in place.
pub fn naming_the_column(statement: &mut Statement) {
    let _ = statement.visit(&mut Aliases);
}

struct Aliases;

impl VisitorMut for Aliases {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = factor
        {
            let in_pg_catalog = name.0.len() == 2
                && name.0[0]
                    .as_ident()
                    .is_some_and(|schema| schema.value.eq_ignore_ascii_case("pg_catalog"));
            if in_pg_catalog {
                name.0.remove(0);
            }
        }
        if let TableFactor::Table {
            args: Some(_),
            alias: Some(alias),
            ..
        } = factor
        {
            if alias.columns.is_empty() {
                alias.columns = vec![TableAliasColumnDef {
                    name: alias.name.clone(),
                    data_type: None,
                }];
            }
        }
        ControlFlow::Continue(())
    }
}
