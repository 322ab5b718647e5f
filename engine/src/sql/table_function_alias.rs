//! `FROM generate_series(1, 3) g`: in PostgreSQL the alias of a function returning
//! one column names the column as well as the table, so `g` and `g.g` read it.
//! The alias without a column list gets that column list here, and a function
//! named `pg_catalog.generate_series` (as psql writes it) loses the schema, which
//! the planner would take for the function's name. `pg_catalog.unnest(a) x` (psql's
//! `\d+`) and `LATERAL unnest(t.a)` are the UNNEST table factor that plain
//! `unnest(a) x` parses to.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Ident, Statement, TableAlias, TableAliasColumnDef,
    TableFactor, Value, VisitMut, VisitorMut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::pg_compat::function_call;

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
        if let TableFactor::UNNEST {
            alias, array_exprs, ..
        } = factor
        {
            if array_exprs.iter().any(reads_a_column) {
                if let Some(lateral) = as_lateral_select(array_exprs, alias.take()) {
                    *factor = lateral;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// `unnest(a, ..)` written as a table function call (its schema removed above, or
/// `LATERAL unnest(t.a)`) as the UNNEST factor, when its arguments are plain
/// expressions. `WITH ORDINALITY` is one more array zipped to the others: the
/// numbers from 1 to the longest one's length.
fn as_unnest(factor: &TableFactor) -> Option<TableFactor> {
    let (name, args, with_ordinality, alias) = match factor {
        TableFactor::Table {
            name,
            args: Some(args),
            with_ordinality,
            alias,
            ..
        } if args.settings.is_none() => (name, &args.args, *with_ordinality, alias),
        TableFactor::Function {
            name,
            args,
            with_ordinality,
            alias,
            ..
        } => (name, args, *with_ordinality, alias),
        TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset: false,
            with_ordinality: true,
            ..
        } => return Some(numbered(array_exprs.clone(), true, alias.clone())),
        _ => return None,
    };
    let is_unnest = name.0.len() == 1
        && name.0[0]
            .as_ident()
            .is_some_and(|ident| ident.value.eq_ignore_ascii_case("unnest"));
    if !is_unnest {
        return None;
    }
    let array_exprs = args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(expr.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(numbered(array_exprs, with_ordinality, alias.clone()))
}

/// The UNNEST factor of `array_exprs`, numbering the rows if `with_ordinality`.
fn numbered(
    mut array_exprs: Vec<Expr>,
    with_ordinality: bool,
    mut alias: Option<TableAlias>,
) -> TableFactor {
    if with_ordinality {
        let lengths: Vec<Expr> = array_exprs
            .iter()
            .map(|array| function_call("cardinality", vec![array.clone()]))
            .collect();
        let longest = match <[Expr; 1]>::try_from(lengths) {
            Ok([length]) => length,
            Err(lengths) => function_call("greatest", lengths),
        };
        let one = Expr::value(Value::Number("1".into(), false));
        alias = Some(ordinality_named(alias, array_exprs.len()));
        array_exprs.push(function_call("generate_series", vec![one, longest]));
    }
    TableFactor::UNNEST {
        alias,
        array_exprs,
        with_offset: false,
        with_offset_alias: None,
        with_ordinality: false,
    }
}

/// The alias of `unnest(..) WITH ORDINALITY` over `arrays` arrays, naming the last
/// column `ordinality` as PostgreSQL does where the query names no columns.
fn ordinality_named(alias: Option<TableAlias>, arrays: usize) -> TableAlias {
    let mut alias = alias.unwrap_or_else(|| TableAlias {
        explicit: false,
        name: Ident::new("unnest"),
        columns: Vec::new(),
        at: None,
    });
    if alias.columns.is_empty() && arrays == 1 {
        alias
            .columns
            .push(TableAliasColumnDef::from_name(alias.name.value.clone()));
    }
    if alias.columns.len() == arrays {
        alias
            .columns
            .push(TableAliasColumnDef::from_name("ordinality"));
    }
    alias
}

/// Whether `expr` names a column (of an earlier FROM item, or of a query outside).
fn reads_a_column(expr: &Expr) -> bool {
    sqlparser::ast::visit_expressions(expr, |expr| match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// `unnest(t.a, ..) u` as `LATERAL (SELECT unnest(t.a), ..) u`: DataFusion plans an
/// UNNEST factor's arguments without the columns of the FROM items before it (or
/// of the query around) unless they are qualified; a LATERAL select list sees them
/// as PostgreSQL does. The select list's unnest zips its arrays to the longest, as
/// the factor does.
fn as_lateral_select(array_exprs: &[Expr], alias: Option<TableAlias>) -> Option<TableFactor> {
    let unnested: Vec<String> = array_exprs
        .iter()
        .map(|array| format!("unnest({array})"))
        .collect();
    let sql = format!("SELECT {}", unnested.join(", "));
    let parsed = Parser::parse_sql(&PostgreSqlDialect {}, &sql).ok()?;
    let Some(Statement::Query(subquery)) = parsed.into_iter().next() else {
        return None;
    };
    let alias = alias.unwrap_or_else(|| TableAlias {
        explicit: false,
        name: Ident::new("unnest"),
        columns: if array_exprs.len() == 1 {
            vec![TableAliasColumnDef::from_name("unnest")]
        } else {
            Vec::new()
        },
        at: None,
    });
    Some(TableFactor::Derived {
        lateral: true,
        subquery,
        alias: Some(alias),
        sample: None,
    })
}
