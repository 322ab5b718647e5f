//! `CREATE TABLE name [PARTITIONED BY HASH (columns) | PARTITIONED BY REPLICATED] AS
//! query`: a query whose rows stay on the cores that computed them, laid out as the
//! statement says, and become a table. The layout is what a user pays a shuffle for
//! once, at load time, so that later joins and aggregations on the key need none.

use sqlparser::ast::{
    CreateTable, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    Statement as SqlStatement,
};

use crate::error::{ErrorCode, QueryError, QueryResult};

/// How a loaded table's rows are spread over the partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadLayout {
    /// Partition `p` holds the rows whose key columns hash to `p`, by the same hash
    /// the exchanges use, so the planner treats a scan as a hash exchange's output.
    Hash(Vec<String>),
    /// Every partition holds every row (small dimension tables).
    Replicated,
    /// Where the query left them (no clause): its partitioning, if it had one.
    AsComputed,
}

/// The table a `CREATE TABLE .. AS` statement makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTarget {
    pub name: String,
    pub layout: LoadLayout,
    pub if_not_exists: bool,
    pub or_replace: bool,
}

/// Splits `CREATE TABLE .. AS query` into the table to make and the query to run.
///
/// # Errors
/// What Percore cannot create: column definitions without a query, temporary tables,
/// range partitioning, an unknown layout.
pub(crate) fn create_table_as(create: CreateTable) -> QueryResult<(CreateTarget, SqlStatement)> {
    let Some(query) = create.query else {
        return Err(QueryError::unsupported(
            "CREATE TABLE with column definitions: tables are loaded from a query \
             (CREATE TABLE t AS SELECT ..) or read from files (CREATE EXTERNAL TABLE)",
        ));
    };
    if !create.columns.is_empty() {
        return Err(QueryError::unsupported(
            "column definitions in CREATE TABLE .. AS (the columns come from the query)",
        ));
    }
    if create.temporary {
        return Err(QueryError::unsupported("CREATE TEMPORARY TABLE"));
    }
    let layout = match create.partition_by {
        None => LoadLayout::AsComputed,
        Some(expr) => layout(&expr)?,
    };
    let target = CreateTarget {
        name: create.name.to_string(),
        layout,
        if_not_exists: create.if_not_exists,
        or_replace: create.or_replace,
    };
    Ok((target, SqlStatement::Query(query)))
}

fn layout(expr: &Expr) -> QueryResult<LoadLayout> {
    let bad = || {
        QueryError::new(
            ErrorCode::Syntax,
            format!("PARTITIONED BY {expr}: expected HASH (column, ..) or REPLICATED"),
        )
    };
    match expr {
        Expr::Identifier(ident) if ident.value.eq_ignore_ascii_case("replicated") => {
            Ok(LoadLayout::Replicated)
        }
        Expr::Function(function) => {
            let name = function.name.to_string().to_ascii_lowercase();
            if name == "range" {
                return Err(QueryError::unsupported(
                    "PARTITIONED BY RANGE for loaded tables; use PARTITIONED BY HASH (columns)",
                ));
            }
            if name != "hash" {
                return Err(bad());
            }
            let FunctionArguments::List(list) = &function.args else {
                return Err(bad());
            };
            let columns = list
                .args
                .iter()
                .map(|arg| match arg {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(ident))) => {
                        Ok(normalized(ident))
                    }
                    _ => Err(QueryError::unsupported(format!(
                        "PARTITIONED BY HASH of {arg}: name columns of the query's result"
                    ))),
                })
                .collect::<QueryResult<Vec<_>>>()?;
            if columns.is_empty() {
                return Err(bad());
            }
            Ok(LoadLayout::Hash(columns))
        }
        _ => Err(bad()),
    }
}

/// An identifier as the SQL planner names columns: unquoted ones in lower case.
fn normalized(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{parse_statement, ParsedStatement};

    fn target(sql: &str) -> QueryResult<CreateTarget> {
        let ParsedStatement::Plannable(statement) = parse_statement(sql)? else {
            panic!("{sql} is a session statement");
        };
        let SqlStatement::CreateTable(create) = *statement else {
            panic!("{sql} is not CREATE TABLE");
        };
        create_table_as(create).map(|(target, _)| target)
    }

    #[test]
    fn layouts_parse_in_both_spellings() {
        let hashed = target("CREATE TABLE t PARTITIONED BY HASH (A, \"B\") AS SELECT 1 a, 2 \"B\"");
        assert_eq!(
            hashed.unwrap().layout,
            LoadLayout::Hash(vec!["a".into(), "B".into()])
        );
        let replicated = target("create table if not exists t partition by replicated as select 1");
        let replicated = replicated.unwrap();
        assert_eq!(replicated.layout, LoadLayout::Replicated);
        assert!(replicated.if_not_exists);
        assert_eq!(
            target("CREATE TABLE t AS SELECT 1").unwrap().layout,
            LoadLayout::AsComputed
        );
    }

    #[test]
    fn what_cannot_be_loaded_is_named() {
        let range = target("CREATE TABLE t PARTITIONED BY RANGE (a) AS SELECT 1 a").unwrap_err();
        assert_eq!(range.code, ErrorCode::Unsupported);
        assert!(range.message.contains("RANGE"), "{}", range.message);
        let columns = target("CREATE TABLE t (a INT)").unwrap_err();
        assert!(
            columns.message.contains("column definitions"),
            "{}",
            columns.message
        );
        let expression = target("CREATE TABLE t PARTITIONED BY HASH (a + 1) AS SELECT 1 a");
        assert!(expression.unwrap_err().message.contains("name columns"));
        let unknown = target("CREATE TABLE t PARTITION BY month(a) AS SELECT 1 a").unwrap_err();
        assert_eq!(unknown.code, ErrorCode::Syntax);
    }
}
