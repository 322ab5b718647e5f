//! SQL front end: text -> sqlparser AST -> DataFusion logical plan, analyzed and
//! optimized over our catalog. Guards run before the parser sees the text, because the
//! parser's time grows exponentially on some short inputs.

mod age;
mod array_comparisons;
mod array_constructors;
pub(crate) mod array_literals;
mod array_subqueries;
mod bitwise_not;
mod bytea_concat;
mod bytea_lengths;
mod bytea_text;
mod call_values;
mod cast_names;
mod constant_arithmetic;
mod constant_having;
mod constant_not_in;
mod copy;
pub mod copy_out;
mod correlated_predicates;
mod correlated_windows;
mod create_table;
mod cte_filters;
pub mod cursor;
mod date_arithmetic;
mod decimal_averages;
mod decimal_ceil_floor;
mod decimal_narrowing;
mod decimal_products;
mod decimal_quotients;
mod decimal_round;
mod derived_column_names;
mod distinct_from_precedence;
mod distinct_on;
mod domain_subqueries;
mod empty_tables;
mod exists_values;
mod expr_rewrite;
mod extract_fields;
mod fetch_first;
mod first_row_subqueries;
pub(crate) mod float_peers;
mod float_zeros;
mod fractional_seconds;
mod fromless_subqueries;
mod grand_total_filters;
mod grouping_set_duplicates;
mod grouping_set_ordinals;
pub mod guard;
mod guarded_rules;
mod integer_casts;
mod integer_sums;
mod interval_averages;
mod interval_groups;
mod interval_keys;
mod interval_order;
mod interval_scaling;
mod interval_text;
mod isolated;
mod join_order;
mod join_subqueries;
mod kept_failures;
mod lateral_apply;
pub(crate) mod lateral_joins;
mod lateral_projections;
mod like_escape;
mod literals;
mod make_timestamp;
mod mark_nulls;
mod nested_correlation;
mod not_in_operands;
mod not_in_subqueries;
mod null_safe_join_keys;
mod numeric_typmods;
mod order_by_ordinals;
mod order_by_output_names;
mod order_by_subqueries;
mod ordered_set_aggregates;
mod output_names;
mod parameter_casts;
pub mod parse;
mod pg_compat;
mod pg_datetime_template;
mod pg_functions;
mod pg_number_template;
mod pg_to_char;
pub mod placeholders;
pub mod provider;
mod quantified_values;
pub mod recursive_ctes;
mod recursive_fetch;
mod round_half_even;
mod row_in_subquery;
mod selects;
mod semi_join_pushdown;
mod semi_join_reduction;
mod set_all;
mod set_comparison;
mod set_returning_calls;
pub mod shared_ctes;
mod similar_to;
mod single_row_joins;
mod single_row_subqueries;
mod size_pretty;
mod split;
mod string_lengths;
mod subquery_operands;
mod symmetric_between;
mod table_function_alias;
mod text_casts;
mod timestamp_differences;
mod timestamp_literals;
pub mod transaction;
mod using_joins;
mod width_bucket;
mod window_frames;
mod window_integers;

use std::sync::Arc;

use datafusion_common::config::ConfigOptions;
use datafusion_expr::LogicalPlan;
use datafusion_optimizer::analyzer::Analyzer;
use datafusion_optimizer::optimizer::Optimizer;
use datafusion_optimizer::{OptimizerConfig, OptimizerContext, OptimizerRule};
use datafusion_sql::planner::SqlToRel;
use sqlparser::ast::Statement as SqlStatement;

use crate::catalog::csv_table::CsvOptions;
use crate::catalog::Catalog;
use crate::error::{ErrorCode, QueryError, QueryResult};
use crate::output_files::FileTarget;
pub use create_table::{CreateTarget, LoadLayout};
pub use isolated::{plan_isolated, PLANNING_DEADLINE};
pub use provider::FunctionRegistry;
use provider::PlanningContext;
pub use split::split_statements;

/// A parsed statement, sorted into what Percore does with it.
#[derive(Debug)]
pub enum Statement {
    /// A query to run.
    Query(Box<LogicalPlan>),
    /// `EXPLAIN [ANALYZE] query`: show the distributed plan instead of running it.
    Explain {
        plan: Box<LogicalPlan>,
        analyze: bool,
    },
    /// `CREATE TABLE .. AS query` (or its EXPLAIN): the query's rows become a table.
    CreateTableAs {
        plan: Box<LogicalPlan>,
        target: CreateTarget,
        explain: bool,
    },
    /// `COPY (query) TO 'path'` (or its EXPLAIN): the query's rows go to files.
    CopyTo {
        plan: Box<LogicalPlan>,
        target: FileTarget,
        explain: bool,
    },
}

/// A statement about the session or the node rather than data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStatement {
    /// `SET name = value` or `SET name TO DEFAULT` (`None` resets).
    Set { name: String, value: Option<String> },
    /// `SHOW QUERIES`: the queued and running queries of the node.
    ShowQueries,
    /// `SHOW name`, or `SHOW ALL` when `None`.
    ShowSetting { name: Option<String> },
    /// `CREATE EXTERNAL TABLE name [(columns)] STORED AS PARQUET | CSV LOCATION
    /// 'path'`; columns only for CSV.
    CreateExternalTable {
        name: String,
        location: String,
        format: ExternalFormat,
        columns: Vec<sqlparser::ast::ColumnDef>,
        if_not_exists: bool,
        or_replace: bool,
    },
    /// `DROP TABLE [IF EXISTS] name`.
    DropTable { name: String, if_exists: bool },
    /// `SHOW TABLES`: the tables, their rows and where they come from.
    ShowTables,
    /// `DESCRIBE name`: a table's columns.
    Describe { name: String },
    /// `SHOW STATS name`: what the planner knows of each column's values.
    ShowStats { name: String },
}

impl SessionStatement {
    /// Whether it changes the catalog (and so must run on every node of a cluster).
    pub fn changes_catalog(&self) -> bool {
        matches!(
            self,
            SessionStatement::CreateExternalTable { .. } | SessionStatement::DropTable { .. }
        )
    }
}

/// What an external table's files hold.
#[derive(Debug, Clone, Copy)]
pub enum ExternalFormat {
    Parquet,
    Csv(CsvOptions),
}

impl PartialEq for ExternalFormat {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ExternalFormat::Parquet, ExternalFormat::Parquet) => true,
            (ExternalFormat::Csv(a), ExternalFormat::Csv(b)) => {
                a.header == b.header
                    && a.delimiter == b.delimiter
                    && a.newlines_in_values == b.newlines_in_values
            }
            _ => false,
        }
    }
}

impl Eq for ExternalFormat {}

/// One statement, guarded and parsed once: run by the session itself, or planned.
#[derive(Debug)]
pub enum ParsedStatement {
    Session(SessionStatement),
    Plannable(Box<SqlStatement>),
}

impl ParsedStatement {
    /// The statement to plan.
    ///
    /// # Errors
    /// `Unsupported` for a session statement, which is run, not planned.
    pub fn into_plannable(self) -> QueryResult<SqlStatement> {
        match self {
            ParsedStatement::Plannable(statement) => Ok(*statement),
            ParsedStatement::Session(_) => Err(QueryError::unsupported(
                "planning SET or SHOW QUERIES; they are session statements",
            )),
        }
    }
}

/// A statement to plan, for the tests of the rewrites of statements.
#[cfg(test)]
pub(crate) fn plannable(sql: &str) -> SqlStatement {
    parse_statement(sql).unwrap().into_plannable().unwrap()
}

/// Guards and parses one statement (see [`guard::check`]).
///
/// # Errors
/// Limits, syntax errors, more or fewer than one statement, and SET with a value that
/// is not one literal.
pub fn parse_statement(sql: &str) -> QueryResult<ParsedStatement> {
    let tokens = guard::check(sql)?;
    let mut statements = parse::parse(sql, tokens)?;
    if statements.len() != 1 {
        return Err(QueryError::new(
            ErrorCode::Syntax,
            format!("expected one statement, found {}", statements.len()),
        ));
    }
    let statement = statements.remove(0);
    Ok(match session_statement(&statement)? {
        Some(session) => ParsedStatement::Session(session),
        None => ParsedStatement::Plannable(Box::new(statement)),
    })
}

/// `SET` and `SHOW QUERIES`; `None` for anything else (plan it).
fn session_statement(statement: &SqlStatement) -> QueryResult<Option<SessionStatement>> {
    Ok(match statement {
        SqlStatement::Set(sqlparser::ast::Set::SingleAssignment {
            variable, values, ..
        }) => Some(setting(&variable.to_string(), values)?),
        SqlStatement::ShowVariable { variable }
            if variable.len() == 1 && variable[0].value.eq_ignore_ascii_case("queries") =>
        {
            Some(SessionStatement::ShowQueries)
        }
        SqlStatement::ShowVariable { variable }
            if variable.len() == 2 && variable[0].value.eq_ignore_ascii_case("stats") =>
        {
            Some(SessionStatement::ShowStats {
                name: variable[1].value.clone(),
            })
        }
        SqlStatement::ShowVariable { variable }
            if variable.len() == 1 && variable[0].value.eq_ignore_ascii_case("all") =>
        {
            Some(SessionStatement::ShowSetting { name: None })
        }
        // `SHOW TRANSACTION ISOLATION LEVEL` is PostgreSQL's spelling of one setting.
        SqlStatement::ShowVariable { variable } => {
            let words: Vec<String> = variable.iter().map(|word| word.value.clone()).collect();
            let name = if words.iter().map(|w| w.to_ascii_lowercase()).eq([
                "transaction",
                "isolation",
                "level",
            ]) {
                "transaction_isolation".to_string()
            } else {
                words.join(".")
            };
            Some(SessionStatement::ShowSetting { name: Some(name) })
        }
        SqlStatement::ShowTables { .. } => Some(SessionStatement::ShowTables),
        SqlStatement::ExplainTable { table_name, .. } => Some(SessionStatement::Describe {
            name: table_name.to_string(),
        }),
        SqlStatement::CreateTable(create) if create.external => Some(external_table(create)?),
        SqlStatement::Drop {
            object_type: sqlparser::ast::ObjectType::Table,
            if_exists,
            names,
            ..
        } => match names.as_slice() {
            [name] => Some(SessionStatement::DropTable {
                name: name.to_string(),
                if_exists: *if_exists,
            }),
            _ => {
                return Err(QueryError::unsupported(
                    "DROP TABLE of several tables in one statement",
                ))
            }
        },
        _ => None,
    })
}

fn external_table(create: &sqlparser::ast::CreateTable) -> QueryResult<SessionStatement> {
    use sqlparser::ast::FileFormat;
    let format = match create.file_format {
        Some(FileFormat::PARQUET) => ExternalFormat::Parquet,
        Some(FileFormat::TEXTFILE) => ExternalFormat::Csv(csv_options(&create.table_options)?),
        Some(other) => {
            return Err(QueryError::unsupported(format!(
                "external tables STORED AS {other} (PARQUET or CSV)"
            )))
        }
        None => {
            return Err(QueryError::new(
                ErrorCode::Syntax,
                "CREATE EXTERNAL TABLE needs STORED AS PARQUET or STORED AS CSV",
            ))
        }
    };
    if format == ExternalFormat::Parquet && !create.columns.is_empty() {
        return Err(QueryError::unsupported(
            "column definitions for a Parquet table (its schema comes from the files' metadata)",
        ));
    }
    numeric_typmods::refused_in_columns(&create.columns)?;
    let location = create.location.clone().ok_or_else(|| {
        QueryError::new(
            ErrorCode::Syntax,
            "CREATE EXTERNAL TABLE needs LOCATION 'path'",
        )
    })?;
    Ok(SessionStatement::CreateExternalTable {
        name: create.name.to_string(),
        location,
        format,
        columns: create.columns.clone(),
        if_not_exists: create.if_not_exists,
        or_replace: create.or_replace,
    })
}

/// `OPTIONS (header = 'true', delimiter = ',')` of a CSV table.
fn csv_options(options: &sqlparser::ast::CreateTableOptions) -> QueryResult<CsvOptions> {
    use sqlparser::ast::{CreateTableOptions, Expr, SqlOption, Value};
    let mut csv = CsvOptions::default();
    let list = match options {
        CreateTableOptions::None => return Ok(csv),
        CreateTableOptions::Options(list) | CreateTableOptions::With(list) => list,
        other => {
            return Err(QueryError::unsupported(format!(
                "table options {other}; use OPTIONS (header = 'true', delimiter = ',')"
            )))
        }
    };
    for option in list {
        let SqlOption::KeyValue { key, value } = option else {
            return Err(QueryError::unsupported(format!("CSV option {option}")));
        };
        let text = match value {
            Expr::Value(value) => match &value.value {
                Value::SingleQuotedString(text) => text.clone(),
                Value::Boolean(flag) => flag.to_string(),
                other => other.to_string(),
            },
            other => other.to_string(),
        };
        let bad = |what: &str| {
            QueryError::new(
                ErrorCode::Syntax,
                format!("CSV option {key} takes {what}, not {text}"),
            )
        };
        match key.value.to_ascii_lowercase().as_str() {
            "header" => {
                csv.header = match text.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("'true' or 'false'")),
                }
            }
            "delimiter" => {
                let [byte] = text.as_bytes() else {
                    return Err(bad("one ASCII character"));
                };
                csv.delimiter = *byte;
            }
            "newlines_in_values" => {
                csv.newlines_in_values = match text.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("'true' or 'false'")),
                }
            }
            other => {
                return Err(QueryError::unsupported(format!(
                    "CSV option {other} (header, delimiter and newlines_in_values are known)"
                )))
            }
        }
    }
    Ok(csv)
}

/// Parses and plans one SQL statement into an optimized logical plan.
///
/// # Errors
/// Syntax errors, unknown names, more than one statement, session statements, and
/// unsupported statements.
pub fn plan_statement(
    sql: &str,
    catalog: &Catalog,
    functions: &FunctionRegistry,
) -> QueryResult<Statement> {
    plan_parsed(parse_statement(sql)?.into_plannable()?, catalog, functions)
}

/// Plans one parsed statement into an optimized logical plan.
///
/// # Errors
/// Unknown names, type errors and unsupported statements.
pub fn plan_parsed(
    statement: SqlStatement,
    catalog: &Catalog,
    functions: &FunctionRegistry,
) -> QueryResult<Statement> {
    let (statement, explain, analyze) = match statement {
        SqlStatement::Explain {
            statement, analyze, ..
        } => (*statement, true, analyze),
        other => (other, false, false),
    };
    if analyze
        && matches!(
            statement,
            SqlStatement::CreateTable(_) | SqlStatement::Copy { .. }
        )
    {
        return Err(QueryError::unsupported(
            "EXPLAIN ANALYZE of CREATE TABLE or COPY (it would write)",
        ));
    }
    let (mut statement, target, copy) = match statement {
        SqlStatement::CreateTable(create) if !create.external => {
            let (target, query) = create_table::create_table_as(create)?;
            (query, Some(target), None)
        }
        SqlStatement::Copy { .. } => {
            let (target, query) = copy::copy_to(statement)?;
            (query, None, Some(target))
        }
        SqlStatement::Query(_) => (statement, None, None),
        other => {
            let kind = other.to_string();
            let kind: String = kind
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            return Err(QueryError::unsupported(format!(
                "statement '{kind}'; only queries, EXPLAIN, CREATE TABLE .. AS and COPY .. TO run"
            )));
        }
    };
    // Named before the rewrites below, which may change how a column is spelled.
    let names = match &statement {
        SqlStatement::Query(query) => output_names::postgres_names(query),
        _ => None,
    };
    literals::exponents_as_doubles(&mut statement);
    numeric_typmods::as_calls(&mut statement)?;
    pg_compat::normalize(&mut statement);
    array_subqueries::as_aggregates(&mut statement, functions)?;
    empty_tables::unevaluated_subqueries(&mut statement, catalog, functions);
    extract_fields::from_years(&mut statement);
    age::from_today(&mut statement);
    array_comparisons::as_element_comparisons(&mut statement);
    fetch_first::as_limits(&mut statement)?;
    like_escape::as_backslashes(&mut statement);
    using_joins::merged(&mut statement)?;
    first_row_subqueries::as_first_values(&mut statement, functions);
    pg_to_char::chrono_formats(&mut statement)?;
    order_by_subqueries::sorted_outside(&mut statement);
    order_by_output_names::resolved(&mut statement);
    order_by_ordinals::spelled_out(&mut statement);
    grouping_set_ordinals::resolved(&mut statement);
    grouping_set_duplicates::once_per_set(&mut statement);
    table_function_alias::naming_the_column(&mut statement);
    set_returning_calls::unnested_in_select_lists(&mut statement);
    timestamp_literals::complete(&mut statement);
    exists_values::counted(&mut statement);
    quantified_values::as_scalar_subqueries(&mut statement);
    row_in_subquery::as_exists(&mut statement);
    derived_column_names::from_column_lists(&mut statement);
    constant_having::as_one_row(&mut statement, functions);
    array_constructors::as_calls(&mut statement);
    let plan = to_logical_plan(statement, catalog, functions)?;
    let plan = match &names {
        Some(names) => output_names::named_as_postgresql(plan, names)?,
        None => plan,
    };
    if let Some(target) = copy {
        return Ok(Statement::CopyTo {
            plan: Box::new(plan),
            target,
            explain,
        });
    }
    if let Some(target) = target {
        return Ok(Statement::CreateTableAs {
            plan: Box::new(plan),
            target,
            explain,
        });
    }
    Ok(if explain {
        Statement::Explain {
            plan: Box::new(plan),
            analyze,
        }
    } else {
        Statement::Query(Box::new(plan))
    })
}

fn setting(name: &str, values: &[sqlparser::ast::Expr]) -> QueryResult<SessionStatement> {
    use sqlparser::ast::{Expr, Value};
    let value = match values {
        [Expr::Value(value)] => match &value.value {
            Value::SingleQuotedString(text) | Value::Number(text, _) => Some(text.clone()),
            _ => None,
        },
        [Expr::Identifier(ident)] if ident.value.eq_ignore_ascii_case("default") => {
            return Ok(SessionStatement::Set {
                name: name.to_ascii_lowercase(),
                value: None,
            })
        }
        [Expr::Identifier(ident)] => Some(ident.value.clone()),
        _ => None,
    };
    let value = value.ok_or_else(|| {
        QueryError::new(
            ErrorCode::Syntax,
            format!("SET {name} takes one value, a number or a quoted string"),
        )
    })?;
    Ok(SessionStatement::Set {
        name: name.to_ascii_lowercase(),
        value: Some(value),
    })
}

fn to_logical_plan(
    statement: SqlStatement,
    catalog: &Catalog,
    functions: &FunctionRegistry,
) -> QueryResult<LogicalPlan> {
    // Output names DataFusion refuses (repeated, or clashing with a qualified column)
    // are named apart and planned again; see `output_names`.
    output_names::retried(
        statement,
        |error: &QueryError| error.message.clone(),
        |statement, names| match planned_as(statement.clone(), catalog, functions, names.clone()) {
            Err(error) if cast_names::collided(&error.message) => {
                let mut statement = statement;
                if !cast_names::marked(&mut statement) {
                    return Err(error);
                }
                planned_as(statement, catalog, functions, names)
            }
            planned => planned,
        },
    )
}

/// The optimized plan of `statement`, its columns shown as `shown_names` if given.
fn planned_as(
    statement: SqlStatement,
    catalog: &Catalog,
    functions: &FunctionRegistry,
    shown_names: Option<Vec<String>>,
) -> QueryResult<LogicalPlan> {
    let mut options = ConfigOptions::default();
    // Scalar subqueries become joins here; Percore has no separate subquery operator.
    options
        .optimizer
        .enable_physical_uncorrelated_scalar_subquery = false;
    // `0.1` is the exact decimal 0.1, as in PostgreSQL: compared with a DECIMAL column
    // or added to another literal it must not pass through a binary float.
    options.sql_parser.parse_float_as_decimal = true;
    let options = std::sync::Arc::new(options);
    let context = PlanningContext {
        catalog,
        functions,
        options: (*options).clone(),
    };
    let planner = SqlToRel::new(&context);
    let plan = planner.sql_statement_to_plan(statement)?;
    mark_nulls::refuse_negated_nullable_in(&plan)?;
    // Before the NOT IN rewrite, which would put a subquery operand inside another.
    let plan = subquery_operands::computed_below(plan)?;
    let plan = not_in_subqueries::as_not_exists(plan)?;
    // Before the analyzer, which refuses a correlated scalar subquery in a join.
    let plan = join_subqueries::lifted(plan)?;
    let plan = empty_tables::as_empty_relations(plan, catalog)?;
    let plan = date_arithmetic::with_time_of_day(plan)?;
    let plan = bytea_concat::typed_by_the_bytea(plan)?;
    let plan = fractional_seconds::kept(plan)?;
    let plan = float_peers::as_floats(plan)?;
    let plan = decimal_ceil_floor::whole(plan)?;
    let plan = decimal_round::typed_once(plan)?;
    let plan = decimal_quotients::widened(plan)?;
    let plan = single_row_subqueries::checked(plan)?;
    let plan = distinct_on::as_window(plan)?;
    let plan = window_frames::as_peer_groups(plan)?;
    let plan = window_integers::as_bigint(plan)?;
    let plan = set_all::with_counts(plan)?;
    let plan = set_comparison::with_distinct_names(plan)?;
    let config = OptimizerContext::new_with_config_options(options).with_skip_failing_rules(false);
    let plan = Analyzer::new().execute_and_check(plan, &config.options(), |_, _| {})?;
    let plan = cast_names::unmarked(plan)?;
    let plan = text_casts::as_postgresql(plan)?;
    let plan = bytea_text::read_as_postgresql(plan)?;
    let plan = float_zeros::compared_as_equal(plan)?;
    // Before the subquery rewrites, which treat a correlation through an expression
    // apart from one between columns.
    let plan = interval_order::by_length(plan)?;
    let plan = correlated_predicates::simplified(plan)?;
    // Before the domain rewrite, which then copies the rewritten LATERALs into the
    // domain of a subquery that reads them.
    let plan = lateral_apply::decorrelated(plan)?;
    let plan = lateral_projections::pulled_up(plan)?;
    let plan = lateral_apply::outer_references_refreshed(plan)?;
    let plan = domain_subqueries::decorrelated(plan)?;
    let plan = integer_casts::rounding(plan)?;
    let plan = decimal_narrowing::kept_in_comparisons(plan)?;
    let plan = round_half_even::in_round_calls(plan)?;
    let plan = integer_sums::checked(plan)?;
    let plan = decimal_averages::rounded(plan)?;
    let rules = Optimizer::new()
        .rules
        .into_iter()
        .map(guarded_rules::guarded)
        .collect();
    let rules = placed_before(
        rules,
        "simplify_expressions",
        &[
            Arc::new(constant_arithmetic::CheckedConstantArithmetic),
            Arc::new(kept_failures::KeptFailures),
        ],
    );
    let rules = placed_before(
        rules,
        not_in_operands::RUNS_BEFORE,
        &[Arc::new(not_in_operands::NullableNotInOperands)],
    );
    let rules = placed_before(
        rules,
        constant_not_in::RUNS_BEFORE,
        &[Arc::new(constant_not_in::ConstantNotIn)],
    );
    if std::env::var_os("PERCORE_TRACE_RULES").is_some() {
        eprintln!("== before the optimizer\n{}", plan.display_indent());
    }
    nested_correlation::refused(&plan)?;
    correlated_windows::refused(&plan)?;
    let plan = Optimizer::with_rules(rules).optimize(plan, &config, observe_rule)?;
    let plan = kept_failures::unwrapped(plan)?;
    let plan = interval_groups::by_length(plan)?;
    let plan = semi_join_pushdown::apply(plan)?;
    let plan = semi_join_reduction::apply(plan)?;
    let plan = single_row_joins::apply(plan)?;
    let plan = join_order::apply(plan, catalog)?;
    Ok(match shown_names {
        Some(names) => output_names::shown_as(plan, &names)?,
        None => plan,
    })
}

/// The schema of declared columns (`CREATE EXTERNAL TABLE t (a INT, b VARCHAR NOT
/// NULL) ...`), typed as the planner types SQL types everywhere else.
///
/// # Errors
/// Types the planner does not know, and columns named twice.
pub fn declared_schema(
    columns: &[sqlparser::ast::ColumnDef],
    catalog: &Catalog,
    functions: &FunctionRegistry,
) -> QueryResult<arrow::datatypes::SchemaRef> {
    let context = PlanningContext {
        catalog,
        functions,
        options: ConfigOptions::default(),
    };
    let schema = SqlToRel::new(&context).build_schema(columns.to_vec())?;
    let mut names = std::collections::HashSet::new();
    for field in schema.fields() {
        if !names.insert(field.name().to_ascii_lowercase()) {
            return Err(QueryError::new(
                ErrorCode::Semantic,
                format!("column {} is declared twice", field.name()),
            ));
        }
    }
    Ok(std::sync::Arc::new(schema))
}

/// The types the planner infers for a statement's parameters (`$1` is entry 0),
/// from where they are used (`l_orderkey > $1` makes `$1` an Int64); `None` where
/// nothing says.
///
/// # Errors
/// Names the statement uses that do not exist, and statements that are not queries.
pub fn parameter_types(
    statement: SqlStatement,
    catalog: &Catalog,
    functions: &FunctionRegistry,
) -> QueryResult<Vec<Option<arrow::datatypes::DataType>>> {
    let statement = match statement {
        SqlStatement::Query(_) => statement,
        _ => return Ok(Vec::new()),
    };
    let mut options = ConfigOptions::default();
    options.sql_parser.parse_float_as_decimal = true;
    let context = PlanningContext {
        catalog,
        functions,
        options,
    };
    let planner = SqlToRel::new(&context);
    let casts = parameter_casts::cast_types(&statement, &planner);
    let mut statement = statement;
    let arrays = parameter_casts::compared_by_element(&mut statement);
    let plan = output_names::retried(
        statement,
        |error: &datafusion_common::DataFusionError| error.find_root().to_string(),
        |statement, _| planner.sql_statement_to_plan(statement),
    )?;
    let mut found = plan.get_parameter_types()?;
    for name in arrays {
        if let Some(Some(element)) = found.get_mut(&name) {
            *element = arrow::datatypes::DataType::new_list(element.clone(), true);
        }
    }
    for (name, data_type) in casts {
        let entry = found.entry(name).or_insert(None);
        if entry.is_none() {
            *entry = Some(data_type);
        }
    }
    let count = found
        .keys()
        .filter_map(|id| id.strip_prefix('$')?.parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    Ok((1..=count)
        .map(|n| found.get(&format!("${n}")).cloned().flatten())
        .collect())
}

/// `rules` with `extra` placed before each rule named `name`: rules that fold, guard
/// or prepare what that rule would otherwise get wrong.
fn placed_before(
    rules: Vec<Arc<dyn OptimizerRule + Send + Sync>>,
    name: &str,
    extra: &[Arc<dyn OptimizerRule + Send + Sync>],
) -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    let mut placed = Vec::with_capacity(rules.len() + extra.len());
    for rule in rules {
        if rule.name() == name {
            placed.extend(extra.iter().cloned());
        }
        placed.push(rule);
    }
    placed
}

/// With `PERCORE_TRACE_RULES` set, prints the plan after each optimizer rule to
/// stderr: how a condition that vanished from a plan is found.
fn observe_rule(plan: &LogicalPlan, rule: &dyn OptimizerRule) {
    static TRACED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *TRACED.get_or_init(|| std::env::var_os("PERCORE_TRACE_RULES").is_some()) {
        eprintln!("== after {}\n{}", rule.name(), plan.display_indent());
    }
}

/// A statement's SQL after `rewrite`, for the rewrites' unit tests.
#[cfg(test)]
pub(crate) fn rewritten_sql(
    sql: &str,
    rewrite: impl FnOnce(&mut sqlparser::ast::Statement),
) -> String {
    let dialect = sqlparser::dialect::GenericDialect {};
    let mut statement = sqlparser::parser::Parser::parse_sql(&dialect, sql)
        .expect("parses")
        .remove(0);
    rewrite(&mut statement);
    statement.to_string()
}
