//! `FROM generate_series(1, 3) g`: in PostgreSQL the alias of a function returning
//! one column names the column as well as the table, so `g` and `g.g` read it.
//! The alias without a column list gets that column list here, and a function
//! named `pg_catalog.generate_series` (as psql writes it) loses the schema, which
//! the planner would take for the function's name. `pg_catalog.unnest(a) x` (psql's
//! `\d+`) is the UNNEST table factor that plain `unnest(a) x` parses to.

use std::ops::ControlFlow;

use sqlparser::ast::{
    FunctionArg, FunctionArgExpr, Statement, TableAliasColumnDef, TableFactor, VisitMut, VisitorMut,
};

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
        if let Some(unnest) = as_unnest(factor) {
            *factor = unnest;
        }
        let one_column = match factor {
            TableFactor::Table { args, .. } => args.is_some(),
            TableFactor::UNNEST { array_exprs, .. } => array_exprs.len() == 1,
            _ => false,
        };
        if let TableFactor::Table {
            alias: Some(alias), ..
        }
        | TableFactor::UNNEST {
            alias: Some(alias), ..
        } = factor
        {
            if one_column && alias.columns.is_empty() {
                alias.columns = vec![TableAliasColumnDef {
                    name: alias.name.clone(),
                    data_type: None,
                }];
            }
        }
        ControlFlow::Continue(())
    }
}

/// `unnest(a, ..)` written as a table function call (its schema removed above) as
/// the UNNEST factor, when its arguments are plain expressions.
fn as_unnest(factor: &TableFactor) -> Option<TableFactor> {
    let TableFactor::Table {
        name,
        args: Some(args),
        alias,
        ..
    } = factor
    else {
        return None;
    };
    let is_unnest = name.0.len() == 1
        && name.0[0]
            .as_ident()
            .is_some_and(|ident| ident.value.eq_ignore_ascii_case("unnest"));
    if !is_unnest || args.settings.is_some() {
        return None;
    }
    let array_exprs = args
        .args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(expr.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(TableFactor::UNNEST {
        alias: alias.clone(),
        array_exprs,
        with_offset: false,
        with_offset_alias: None,
        with_ordinality: false,
    })
}
