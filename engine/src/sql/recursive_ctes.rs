//! `WITH RECURSIVE`, evaluated by iteration as PostgreSQL defines it: the
//! non-recursive term runs once, then the recursive term runs again and again over
//! the rows the previous step added (the working table), until a step adds none.
//! Every step is a whole distributed query of its own; the working table and, at the
//! end, the CTE's rows travel with the next statement as a [`BoundRelation`] named
//! like the CTE, so the cluster plans each step from SQL text as it plans any query.
//!
//! The rows a recursive CTE accumulates are held by the coordinator and bounded by
//! the per-core memory budget: a recursion that never ends fails with 53000 instead
//! of growing without limit. With `UNION` (not `ALL`) a step keeps only rows not seen
//! before, so a recursion over a cyclic graph ends.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::compute::{can_cast_types, cast_with_options, CastOptions};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use sqlparser::ast::{
    visit_relations, CopySource, Cte, Ident, ObjectNamePart, Query, SetExpr, SetOperator,
    SetQuantifier, Statement, Visit, VisitMut, Visitor, VisitorMut, With,
};

use crate::catalog::bound::BoundRelation;
use crate::error::{ErrorCode, QueryError, QueryResult};
use crate::memory::ByteSize;

/// A statement whose top-level `WITH RECURSIVE` has CTEs that refer to themselves.
#[derive(Debug)]
pub struct RecursiveStatement {
    /// The statement without its recursive CTEs, whose names then resolve to their
    /// bound relations.
    rest: Statement,
    ctes: Vec<RecursiveCte>,
    /// Rows of the last CTE beyond which the rest reads none (`recursive_fetch`).
    rows_needed: Option<usize>,
}

#[derive(Debug)]
struct RecursiveCte {
    name: String,
    /// The names the CTE gives its columns (`r(n)`), else those of its first term.
    columns: Vec<String>,
    non_recursive: Query,
    recursive: Query,
    /// `UNION` rather than `UNION ALL`: rows seen before are dropped.
    distinct: bool,
}

/// Runs one step: plans SQL text with the relations bound so far and returns its
/// result's schema and what became of its rows, which may hold at most the given
/// number of bytes.
pub type StepRunner<'a> =
    dyn FnMut(&str, &[BoundRelation], usize) -> QueryResult<(SchemaRef, StepRows)> + 'a;

/// The rows of a step.
#[derive(Debug)]
pub enum StepRows {
    /// The step was planned, not run: the runner wanted the statement's columns or
    /// parameter types, for which each term is planned once.
    Planned,
    Rows(Vec<RecordBatch>),
    /// The step's rows held more than its byte limit; it was stopped there.
    OverLimit,
}

impl StepRows {
    /// Every batch `next` yields, or its first error, or `OverLimit` as soon as the
    /// batches hold more than `limit` bytes (the query is dropped, which stops it).
    ///
    /// # Errors
    /// The first error `next` yields.
    pub fn collect(
        mut next: impl FnMut() -> Option<QueryResult<RecordBatch>>,
        limit: usize,
    ) -> QueryResult<StepRows> {
        let mut batches = Vec::new();
        let mut bytes = 0usize;
        while let Some(batch) = next() {
            let batch = batch?;
            bytes = bytes.saturating_add(batch.get_array_memory_size());
            if bytes > limit {
                return Ok(StepRows::OverLimit);
            }
            batches.push(batch);
        }
        Ok(StepRows::Rows(batches))
    }
}

/// The recursive CTEs of `statement`, or `None` when it has none. A `WITH RECURSIVE`
/// whose CTEs do not refer to themselves is planned as a plain `WITH`.
///
/// # Errors
/// A recursive CTE not of the form `term UNION [ALL] term`, one that refers to
/// itself more than once, recursion inside a subquery, and `EXPLAIN` of one.
pub fn recursive_ctes(statement: &mut Statement) -> QueryResult<Option<RecursiveStatement>> {
    let explained = matches!(statement, Statement::Explain { .. });
    let found = match top_query(statement) {
        Some(query) => take_recursive(query)?,
        None => Vec::new(),
    };
    let mut nested = NestedRecursion::default();
    let _ = Visit::visit(&*statement, &mut nested);
    if nested.found {
        return Err(QueryError::unsupported(
            "WITH RECURSIVE inside a subquery or another CTE (write it at the top of the \
             statement)",
        ));
    }
    let _ = VisitMut::visit(statement, &mut PlainWith);
    if found.is_empty() {
        return Ok(None);
    }
    if explained {
        return Err(QueryError::unsupported(
            "EXPLAIN of WITH RECURSIVE (its steps run before the final plan is known)",
        ));
    }
    let rows_needed = found
        .last()
        .and_then(|last| super::recursive_fetch::rows_needed(statement, &last.name));
    Ok(Some(RecursiveStatement {
        rest: statement.clone(),
        ctes: found,
        rows_needed,
    }))
}

impl RecursiveStatement {
    /// The statement to plan once [`RecursiveStatement::evaluate`] bound its CTEs.
    pub fn rest_sql(&self) -> String {
        self.rest.to_string()
    }

    /// Evaluates every recursive CTE in order, each step through `run`, and returns
    /// their rows; the accumulated rows of each may hold at most `memory_limit` bytes.
    ///
    /// # Errors
    /// The steps' errors; mismatched terms; a recursion over the memory limit.
    pub fn evaluate(
        &self,
        run: &mut StepRunner<'_>,
        memory_limit: usize,
    ) -> QueryResult<Vec<BoundRelation>> {
        let mut bound = Vec::with_capacity(self.ctes.len());
        for (index, cte) in self.ctes.iter().enumerate() {
            let last = index + 1 == self.ctes.len();
            let rows_needed = self.rows_needed.filter(|_| last);
            let relation = cte.evaluate(&bound, run, memory_limit, rows_needed)?;
            bound.push(relation);
        }
        Ok(bound)
    }
}

impl RecursiveCte {
    fn evaluate(
        &self,
        bound: &[BoundRelation],
        run: &mut StepRunner<'_>,
        memory_limit: usize,
        rows_needed: Option<usize>,
    ) -> QueryResult<BoundRelation> {
        let (first_schema, first_rows) = run(&self.non_recursive.to_string(), bound, memory_limit)?;
        let planning_only = matches!(first_rows, StepRows::Planned);
        let schema = self.schema(&first_schema)?;
        let mut seen = if self.distinct {
            Some(SeenRows::new(&schema)?)
        } else {
            None
        };
        let first_rows = self.rows_of(first_rows, memory_limit, 0)?;
        let mut work = self.conform(&schema, first_rows, seen.as_mut())?;
        let mut all = work.clone();
        let mut rows_bytes = held_bytes(&all);
        let mut row_count = rows_in(&all);
        let recursive_sql = self.recursive.to_string();
        let mut steps = 0usize;
        let enough =
            |rows: usize| !planning_only && rows_needed.is_some_and(|needed| rows >= needed);
        while (work.iter().any(|batch| batch.num_rows() > 0) && !enough(row_count))
            || (planning_only && steps == 0)
        {
            steps += 1;
            let mut with_work = bound.to_vec();
            with_work.push(BoundRelation {
                name: self.name.clone(),
                schema: Arc::clone(&schema),
                batches: std::mem::take(&mut work),
            });
            let held = rows_bytes + seen.as_ref().map_or(0, SeenRows::bytes);
            let (_, rows) = run(
                &recursive_sql,
                &with_work,
                memory_limit.saturating_sub(held),
            )?;
            let rows = self.rows_of(rows, memory_limit, steps)?;
            work = self.conform(&schema, rows, seen.as_mut())?;
            all.extend(work.iter().cloned());
            rows_bytes += held_bytes(&work);
            row_count += rows_in(&work);
            if enough(row_count) {
                break;
            }
            let held = rows_bytes + seen.as_ref().map_or(0, SeenRows::bytes);
            if held > memory_limit {
                return Err(self.over_limit(memory_limit, steps));
            }
        }
        Ok(BoundRelation {
            name: self.name.clone(),
            schema,
            batches: all,
        })
    }

    /// A step's batches (none when it was only planned).
    fn rows_of(
        &self,
        rows: StepRows,
        memory_limit: usize,
        steps: usize,
    ) -> QueryResult<Vec<RecordBatch>> {
        match rows {
            StepRows::Rows(batches) => Ok(batches),
            StepRows::Planned => Ok(Vec::new()),
            StepRows::OverLimit => Err(self.over_limit(memory_limit, steps)),
        }
    }

    fn over_limit(&self, memory_limit: usize, steps: usize) -> QueryError {
        QueryError::new(
            ErrorCode::ResourcesExhausted,
            format!(
                "recursive query \"{}\" holds more than {} after {steps} steps \
                 (percore.memory_per_core); does its recursive term ever stop adding \
                 rows?",
                self.name,
                ByteSize(memory_limit)
            ),
        )
    }

    /// The CTE's schema: the first term's types under the CTE's column names, every
    /// column nullable (later steps may add NULLs).
    fn schema(&self, first: &Schema) -> QueryResult<SchemaRef> {
        if !self.columns.is_empty() && self.columns.len() != first.fields().len() {
            return Err(QueryError::new(
                ErrorCode::Syntax,
                format!(
                    "recursive query \"{}\" names {} columns but its non-recursive term \
                     returns {}",
                    self.name,
                    self.columns.len(),
                    first.fields().len()
                ),
            ));
        }
        let fields: Vec<Field> = first
            .fields()
            .iter()
            .enumerate()
            .map(|(index, field)| {
                let name = self.columns.get(index).unwrap_or(field.name());
                Field::new(name, field.data_type().clone(), true)
            })
            .collect();
        Ok(Arc::new(Schema::new(fields)))
    }

    /// A step's rows in the CTE's schema (each column cast to the first term's type,
    /// as PostgreSQL types a recursive CTE by its non-recursive term), without rows
    /// seen before when the CTE is a `UNION`.
    fn conform(
        &self,
        schema: &SchemaRef,
        batches: Vec<RecordBatch>,
        mut seen: Option<&mut SeenRows>,
    ) -> QueryResult<Vec<RecordBatch>> {
        let strict = CastOptions {
            safe: false,
            ..CastOptions::default()
        };
        let mut conformed = Vec::with_capacity(batches.len());
        for batch in batches.into_iter().filter(|batch| batch.num_rows() > 0) {
            if batch.num_columns() != schema.fields().len() {
                return Err(QueryError::new(
                    ErrorCode::Syntax,
                    format!(
                        "the terms of recursive query \"{}\" return {} and {} columns",
                        self.name,
                        schema.fields().len(),
                        batch.num_columns()
                    ),
                ));
            }
            let columns = batch
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(column, field)| {
                    cast_with_options(column, field.data_type(), &strict)
                        .map_err(|error| self.cast_error(field, column, &error))
                })
                .collect::<QueryResult<Vec<ArrayRef>>>()?;
            let batch = RecordBatch::try_new(Arc::clone(schema), columns)?;
            let batch = match seen.as_deref_mut() {
                Some(seen) => seen.keep_new(&batch)?,
                None => batch,
            };
            if batch.num_rows() > 0 {
                conformed.push(batch);
            }
        }
        Ok(conformed)
    }
}

impl RecursiveCte {
    /// Why a step's column does not fit the CTE's: no cast between the types (42804),
    /// or a value out of the first term's range (22003).
    fn cast_error(&self, field: &Field, column: &ArrayRef, error: &ArrowError) -> QueryError {
        let (from, to) = (column.data_type(), field.data_type());
        let code = if !can_cast_types(from, to) {
            ErrorCode::DatatypeMismatch
        } else if from.is_numeric() && to.is_numeric() {
            ErrorCode::NumericOutOfRange
        } else {
            ErrorCode::DataException
        };
        QueryError::new(
            code,
            format!(
                "recursive query \"{}\" column {} has type {to} in its non-recursive term; \
                 its recursive term's {from} does not fit: {error}",
                self.name,
                field.name()
            ),
        )
    }
}

/// The rows a `UNION` recursion has produced so far, in Arrow's row format.
struct SeenRows {
    converter: RowConverter,
    rows: HashSet<Box<[u8]>>,
    bytes: usize,
}

impl SeenRows {
    fn new(schema: &Schema) -> QueryResult<SeenRows> {
        let fields = schema
            .fields()
            .iter()
            .map(|field| SortField::new(field.data_type().clone()))
            .collect();
        Ok(SeenRows {
            converter: RowConverter::new(fields)?,
            rows: HashSet::new(),
            bytes: 0,
        })
    }

    /// The rows of `batch` not seen before (each kept once), now seen.
    fn keep_new(&mut self, batch: &RecordBatch) -> QueryResult<RecordBatch> {
        let rows = self.converter.convert_columns(batch.columns())?;
        let mut keep = Vec::with_capacity(batch.num_rows());
        for row in rows.iter() {
            let bytes: Box<[u8]> = row.as_ref().into();
            let size = bytes.len();
            let new = self.rows.insert(bytes);
            if new {
                // The key and the set's slot for it.
                self.bytes += size + 3 * std::mem::size_of::<usize>();
            }
            keep.push(new);
        }
        let keep = arrow::array::BooleanArray::from(keep);
        Ok(arrow::compute::filter_record_batch(batch, &keep)?)
    }

    fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The memory held batches keep alive: every buffer they reference, whole (unlike
/// `memory::size::batch_bytes`, which counts only the rows of a slice).
fn rows_in(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

pub(crate) fn held_bytes(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::get_array_memory_size).sum()
}

/// The query of a statement that runs one: a query, `CREATE TABLE .. AS`, `COPY
/// (query) TO`, or what `EXPLAIN` explains.
pub(super) fn top_query(statement: &mut Statement) -> Option<&mut Query> {
    match statement {
        Statement::Query(query) => Some(query),
        Statement::CreateTable(create) => create.query.as_deref_mut(),
        Statement::Copy {
            source: CopySource::Query(query),
            ..
        } => Some(query),
        Statement::Explain { statement, .. } => top_query(statement),
        _ => None,
    }
}

/// Takes the self-referring CTEs out of `query`'s `WITH RECURSIVE`, each with the
/// plain CTEs its terms need.
fn take_recursive(query: &mut Query) -> QueryResult<Vec<RecursiveCte>> {
    let Some(with) = query.with.as_mut().filter(|with| with.recursive) else {
        return Ok(Vec::new());
    };
    let (recursive, plain): (Vec<Cte>, Vec<Cte>) = std::mem::take(&mut with.cte_tables)
        .into_iter()
        .partition(refers_to_itself);
    with.recursive = false;
    with.cte_tables = plain;
    let plain = with.cte_tables.clone();
    if with.cte_tables.is_empty() {
        query.with = None;
    }
    recursive
        .into_iter()
        .map(|cte| split_terms(cte, &plain))
        .collect()
}

/// `name AS (non-recursive UNION [ALL] recursive)`, checked as PostgreSQL does.
fn split_terms(cte: Cte, plain: &[Cte]) -> QueryResult<RecursiveCte> {
    let name = normalized(&cte.alias.name);
    let invalid = |why: &str| {
        QueryError::new(
            ErrorCode::InvalidRecursion,
            format!("recursive query \"{name}\" {why}"),
        )
    };
    let query = *cte.query;
    if query.order_by.is_some() || query.limit_clause.is_some() || query.fetch.is_some() {
        return Err(QueryError::unsupported(format!(
            "ORDER BY, LIMIT or FETCH in recursive query \"{name}\""
        )));
    }
    if query.with.is_some() {
        return Err(QueryError::unsupported(format!(
            "WITH inside recursive query \"{name}\""
        )));
    }
    let SetExpr::SetOperation {
        op: SetOperator::Union,
        set_quantifier,
        left,
        right,
    } = *query.body
    else {
        return Err(invalid(
            "does not have the form non-recursive-term UNION [ALL] recursive-term",
        ));
    };
    let distinct = match set_quantifier {
        SetQuantifier::All => false,
        SetQuantifier::Distinct | SetQuantifier::None => true,
        other => {
            return Err(QueryError::unsupported(format!(
                "UNION {other} in recursive query \"{name}\""
            )))
        }
    };
    let non_recursive = term_query(*left, plain);
    let recursive = term_query(*right, plain);
    if references(&non_recursive, &name) > 0 {
        return Err(invalid("refers to itself in its non-recursive term"));
    }
    if references(&recursive, &name) > 1 {
        return Err(invalid(
            "refers to itself more than once in its recursive term",
        ));
    }
    Ok(RecursiveCte {
        columns: cte
            .alias
            .columns
            .iter()
            .map(|c| normalized(&c.name))
            .collect(),
        name,
        non_recursive,
        recursive,
        distinct,
    })
}

/// A term as a query of its own, with the plain CTEs it refers to (directly or
/// through each other).
fn term_query(body: SetExpr, plain: &[Cte]) -> Query {
    let mut query = Query {
        with: None,
        body: Box::new(body),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    };
    let ctes = needed_ctes(&query, plain);
    if !ctes.is_empty() {
        query.with = Some(With {
            with_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
            recursive: false,
            cte_tables: ctes,
        });
    }
    query
}

/// The CTEs of `plain` that `query` refers to, directly or through each other, in
/// their order.
pub(super) fn needed_ctes(query: &Query, plain: &[Cte]) -> Vec<Cte> {
    let mut needed = vec![false; plain.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for (index, cte) in plain.iter().enumerate() {
            if needed[index] {
                continue;
            }
            let name = normalized(&cte.alias.name);
            let used = references(query, &name) > 0
                || plain
                    .iter()
                    .zip(&needed)
                    .any(|(other, &kept)| kept && references(&other.query, &name) > 0);
            if used {
                needed[index] = true;
                changed = true;
            }
        }
    }
    plain
        .iter()
        .zip(&needed)
        .filter(|(_, &kept)| kept)
        .map(|(cte, _)| cte.clone())
        .collect()
}

/// Whether a CTE's query names the CTE.
fn refers_to_itself(cte: &Cte) -> bool {
    references(&cte.query, &normalized(&cte.alias.name)) > 0
}

/// How many times `query` names the table `name` without a schema.
pub(super) fn references(query: &Query, name: &str) -> usize {
    let mut count = 0;
    let _ = visit_relations(query, |relation| {
        if let [ObjectNamePart::Identifier(ident)] = relation.0.as_slice() {
            if normalized(ident) == name {
                count += 1;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    count
}

/// An identifier as the catalog keys it: lower case unless quoted.
pub(super) fn normalized(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

/// Finds a `WITH RECURSIVE` left after the top level's was taken: one inside a
/// subquery or a CTE.
#[derive(Default)]
struct NestedRecursion {
    found: bool,
}

impl Visitor for NestedRecursion {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let recursive = query
            .with
            .as_ref()
            .is_some_and(|with| with.recursive && with.cte_tables.iter().any(refers_to_itself));
        if recursive {
            self.found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// Turns every `WITH RECURSIVE` without self-reference into a plain `WITH` (the
/// planner refuses the keyword itself).
struct PlainWith;

impl VisitorMut for PlainWith {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(with) = query.with.as_mut() {
            with.recursive = false;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sql::plannable as parsed;

    fn split(sql: &str) -> QueryResult<Option<RecursiveStatement>> {
        recursive_ctes(&mut parsed(sql))
    }

    #[test]
    fn terms_are_split_and_take_the_plain_ctes_they_use() {
        let found = split(
            "with recursive base as (select 1 as n), unused as (select 2), \
             r(n) as (select n from base union all select n + 1 from r where n < 3) \
             select * from r",
        )
        .unwrap()
        .unwrap();
        let cte = &found.ctes[0];
        assert_eq!(cte.name, "r");
        assert_eq!(cte.columns, ["n"]);
        assert!(!cte.distinct);
        assert_eq!(
            cte.non_recursive.to_string(),
            "WITH base AS (SELECT 1 AS n) SELECT n FROM base"
        );
        assert_eq!(cte.recursive.to_string(), "SELECT n + 1 FROM r WHERE n < 3");
        assert_eq!(
            found.rest_sql(),
            "WITH base AS (SELECT 1 AS n), unused AS (SELECT 2) SELECT * FROM r"
        );
    }

    #[test]
    fn a_with_recursive_that_does_not_recurse_is_plain() {
        let mut statement = parsed("with recursive a as (select 1) select * from a");
        assert!(recursive_ctes(&mut statement).unwrap().is_none());
        assert_eq!(
            statement.to_string(),
            "WITH a AS (SELECT 1) SELECT * FROM a"
        );
    }

    #[test]
    fn malformed_recursion_is_refused_as_postgresql_does() {
        let code = |sql: &str| split(sql).unwrap_err().code;
        assert_eq!(
            code("with recursive r as (select 1 union all select n from r, r s) select 1"),
            ErrorCode::InvalidRecursion
        );
        assert_eq!(
            code("with recursive r as (select n from r union all select 1) select 1"),
            ErrorCode::InvalidRecursion
        );
        assert_eq!(
            code("with recursive r as (select n from r) select 1"),
            ErrorCode::InvalidRecursion
        );
        assert_eq!(
            code(
                "select * from (with recursive r as (select 1 n union all \
                 select n + 1 from r where n < 2) select * from r) t"
            ),
            ErrorCode::Unsupported
        );
        assert_eq!(
            code(
                "explain with recursive r as (select 1 n union all \
                 select n + 1 from r where n < 2) select * from r"
            ),
            ErrorCode::Unsupported
        );
    }
}
