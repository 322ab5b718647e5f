//! Output columns that share a name. PostgreSQL answers `select n_name, n_name`,
//! `select count(*), count(*)` or `select 1 as a, 2 as a` with two columns of the
//! same name; DataFusion's planner refuses any projection whose names repeat
//! (`cast(x as int), x` too, as a cast takes its operand's name). When it refuses
//! one, the statement is planned again with the outermost query's columns given
//! names of their own, and a last projection shows them under the names PostgreSQL
//! would give them: the alias, or the column's or function's name, or `?column?`.
//! The same retry serves a bare scalar subquery named like an outer column
//! (`select n_name, (select n2.n_name ..) from nation n1`), which DataFusion calls
//! ambiguous.
//! Its aliases carry distinct qualifiers, which is what DataFusion's check
//! compares; the client sees only the names.

use datafusion_common::{Column, DataFusionError, Result, TableReference};
use datafusion_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use sqlparser::ast::{Expr as SqlExpr, Ident, Query, SelectItem, SetExpr, Statement};

/// `plan(statement, None)`; when that fails only over output names (`message` reads
/// the error), `plan` again with the outermost columns named apart and the names
/// to show them under.
///
/// # Errors
/// `plan`'s.
pub fn retried<T, E>(
    statement: Statement,
    message: impl Fn(&E) -> String,
    mut plan: impl FnMut(Statement, Option<Vec<String>>) -> Result<T, E>,
) -> Result<T, E> {
    match plan(statement.clone(), None) {
        Err(error) if is_repeated_name(&message(&error)) => {
            let mut statement = statement;
            match named_apart(&mut statement) {
                Some(names) => plan(statement, Some(names)),
                None => Err(error),
            }
        }
        planned => planned,
    }
}

/// Whether planning failed (`message`) only because output names repeat, or because
/// an output column is named like a qualified one (DataFusion names a bare scalar
/// subquery after its column, unqualified, and calls that ambiguous beside
/// `t.column`).
fn is_repeated_name(message: &str) -> bool {
    message.contains("require unique expression names")
        || (message.contains("and unqualified field name") && message.contains("ambiguous"))
}

/// Gives every column of the outermost query that could clash a name of its own,
/// returning the names to show; `None` when the statement is not a query whose
/// columns can be named here (a `*` among them).
fn named_apart(statement: &mut Statement) -> Option<Vec<String>> {
    let Statement::Query(query) = statement else {
        return None;
    };
    let mut shown = None;
    name_set(query.body.as_mut(), &mut shown)?;
    shown
}

fn name_set(body: &mut SetExpr, shown: &mut Option<Vec<String>>) -> Option<()> {
    match body {
        SetExpr::Select(select) => {
            let names = name_items(&mut select.projection)?;
            shown.get_or_insert(names);
            Some(())
        }
        SetExpr::Query(query) => name_set(query.body.as_mut(), shown),
        SetExpr::SetOperation { left, right, .. } => {
            name_set(left, shown)?;
            let mut right_names = None;
            name_set(right, &mut right_names)
        }
        _ => None,
    }
}

/// Renames the items whose name could repeat; the names PostgreSQL would show.
fn name_items(items: &mut [SelectItem]) -> Option<Vec<String>> {
    let aliases: Vec<Option<String>> = items
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            _ => None,
        })
        .collect();
    let mut shown = Vec::with_capacity(items.len());
    for (index, item) in items.iter_mut().enumerate() {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(expr) => (expr, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            _ => return None,
        };
        let unique_alias = alias
            .as_ref()
            .is_some_and(|alias| aliases.iter().flatten().filter(|a| *a == alias).count() == 1);
        shown.push(alias.clone().unwrap_or_else(|| column_name(expr)));
        if !unique_alias {
            let expr = std::mem::replace(expr, SqlExpr::value(sqlparser::ast::Value::Null));
            *item = SelectItem::ExprWithAlias {
                expr,
                alias: Ident::new(internal_name(index)),
            };
        }
    }
    Some(shown)
}

/// The names PostgreSQL gives the columns of a query, from its first SELECT; `None`
/// for a statement whose columns this cannot name (a `*` among them, VALUES).
pub fn postgres_names(query: &Query) -> Option<Vec<String>> {
    fn first_select(body: &SetExpr) -> Option<&[SelectItem]> {
        match body {
            SetExpr::Select(select) => Some(&select.projection),
            SetExpr::Query(query) => first_select(&query.body),
            SetExpr::SetOperation { left, .. } => first_select(left),
            _ => None,
        }
    }
    first_select(&query.body)?
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(expr) => Some(column_name(expr)),
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            _ => None,
        })
        .collect()
}

/// `plan` with its columns named `names` where they are named otherwise; as it is
/// when the counts differ (a rewrite changed the columns).
///
/// # Errors
/// DataFusion's, building the projection.
pub fn named_as_postgresql(plan: LogicalPlan, names: &[String]) -> Result<LogicalPlan> {
    let schema = plan.schema();
    let same = schema.fields().len() != names.len()
        || schema
            .fields()
            .iter()
            .zip(names)
            .all(|(field, name)| field.name() == name);
    if same {
        return Ok(plan);
    }
    shown_as(plan, names)
}

fn internal_name(index: usize) -> String {
    format!("__output_{index}")
}

/// PostgreSQL's name for an unnamed output column.
pub(super) fn column_name(expr: &SqlExpr) -> String {
    let ident = |ident: &Ident| match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    };
    match expr {
        SqlExpr::Identifier(name) => ident(name),
        SqlExpr::CompoundIdentifier(parts) => parts.last().map_or_else(unnamed, ident),
        SqlExpr::Function(function) => function
            .name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .map_or_else(unnamed, ident),
        SqlExpr::Nested(expr) => column_name(expr),
        // A cast names its column after its operand, or else after its type.
        SqlExpr::Cast {
            expr, data_type, ..
        } => match column_name(expr) {
            name if name == UNNAMED => type_name(data_type),
            name => name,
        },
        SqlExpr::TypedString(typed) => type_name(&typed.data_type),
        SqlExpr::Extract { .. } => "extract".to_string(),
        SqlExpr::Substring { .. } => "substring".to_string(),
        SqlExpr::Trim { .. } => "btrim".to_string(),
        SqlExpr::Position { .. } => "position".to_string(),
        SqlExpr::Ceil { .. } => "ceil".to_string(),
        SqlExpr::Floor { .. } => "floor".to_string(),
        SqlExpr::Exists { .. } => "exists".to_string(),
        SqlExpr::Interval(_) => "interval".to_string(),
        // A scalar subquery is named after its one column.
        SqlExpr::Subquery(query) => match query.body.as_ref() {
            SetExpr::Select(select) => match select.projection.as_slice() {
                [SelectItem::ExprWithAlias { alias, .. }] => ident(alias),
                [SelectItem::UnnamedExpr(expr)] => column_name(expr),
                _ => unnamed(),
            },
            _ => unnamed(),
        },
        SqlExpr::Case { .. } => "case".to_string(),
        _ => unnamed(),
    }
}

const UNNAMED: &str = "?column?";

fn unnamed() -> String {
    UNNAMED.to_string()
}

/// PostgreSQL's internal name of a type, as it names a cast constant's column.
fn type_name(data_type: &sqlparser::ast::DataType) -> String {
    use sqlparser::ast::DataType as T;
    match data_type {
        T::SmallInt(_) | T::Int2(_) => "int2",
        T::Int(_) | T::Integer(_) | T::Int4(_) => "int4",
        T::BigInt(_) | T::Int8(_) => "int8",
        T::Real | T::Float4 => "float4",
        T::Double(_) | T::DoublePrecision | T::Float8 | T::Float(_) => "float8",
        T::Numeric(_) | T::Decimal(_) | T::Dec(_) => "numeric",
        T::Text | T::String(_) => "text",
        T::Varchar(_) | T::CharacterVarying(_) => "varchar",
        T::Char(_) | T::Character(_) => "bpchar",
        T::Boolean | T::Bool => "bool",
        T::Date => "date",
        T::Timestamp(
            _,
            sqlparser::ast::TimezoneInfo::Tz | sqlparser::ast::TimezoneInfo::WithTimeZone,
        ) => "timestamptz",
        T::Timestamp(..) => "timestamp",
        T::Time(..) => "time",
        T::Interval { .. } => "interval",
        T::Bytea => "bytea",
        _ => UNNAMED,
    }
    .to_string()
}

/// `plan` under a projection showing its columns as `names`.
pub fn shown_as(plan: LogicalPlan, names: &[String]) -> Result<LogicalPlan> {
    let schema = plan.schema();
    if schema.fields().len() != names.len() {
        return Err(DataFusionError::Plan(format!(
            "output names: {} columns, {} names",
            schema.fields().len(),
            names.len()
        )));
    }
    let shown = schema
        .iter()
        .zip(names)
        .enumerate()
        .map(|(index, ((qualifier, field), name))| {
            Expr::Column(Column::new(qualifier.cloned(), field.name()))
                .alias_qualified(Some(TableReference::bare(index.to_string())), name)
        })
        .collect::<Vec<_>>();
    LogicalPlanBuilder::from(plan).project(shown)?.build()
}
