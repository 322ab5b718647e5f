//! Statements with recursive CTEs (see [`crate::sql::recursive_ctes`]): their steps
//! run as queries of their own, then the rest of the statement is planned over the
//! rows the steps bound.

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, SchemaRef};

use super::Cluster;
use crate::catalog::bound::BoundRelation;
use crate::catalog::Catalog;
use crate::error::{QueryError, QueryResult};
use crate::plan::DistributedPlan;
use crate::session::StatementKind;
use crate::settings::SessionSettings;
use crate::sql::recursive_ctes::{recursive_ctes, StepRows, StepRunner};
use crate::sql::{plan_isolated, plan_parsed, Statement};

/// What is left of a statement once its recursive CTEs were evaluated: the SQL to
/// plan and the relations it names. Whoever runs it elsewhere (a cluster's peers)
/// needs both.
pub struct BoundStatement {
    pub sql: String,
    pub relations: Vec<BoundRelation>,
}

impl Cluster {
    /// Plans SQL text with a statement's bound relations in front of the catalog.
    ///
    /// # Errors
    /// As [`Cluster::plan`].
    pub fn plan_with(
        &self,
        sql: &str,
        relations: &[BoundRelation],
    ) -> QueryResult<(DistributedPlan, StatementKind)> {
        self.plan_parsed_with(self.parse(sql)?.into_plannable()?, relations)
    }

    /// Evaluates the recursive CTEs of `statement` step by step through `run`; what
    /// is left to plan over their rows, or `None` (and `statement` ready to plan as
    /// usual) when it has none.
    ///
    /// # Errors
    /// Malformed recursion, the steps' errors, a recursion over `memory_limit`.
    pub fn bind_recursive(
        &self,
        statement: &mut sqlparser::ast::Statement,
        memory_limit: usize,
        run: &mut StepRunner<'_>,
    ) -> QueryResult<Option<BoundStatement>> {
        let Some(recursive) = recursive_ctes(statement)? else {
            return Ok(None);
        };
        let relations = recursive.evaluate(run, memory_limit)?;
        Ok(Some(BoundStatement {
            sql: recursive.rest_sql(),
            relations,
        }))
    }

    /// Plans a statement, evaluating its recursive CTEs first (each step through
    /// `run`), or else the CTEs it names more than once that are worth computing
    /// once; the bound statement, when there were any, is what peers must plan.
    ///
    /// # Errors
    /// As [`Cluster::bind_recursive`] and [`Cluster::plan_parsed`].
    pub fn plan_statement(
        &self,
        mut statement: sqlparser::ast::Statement,
        memory_limit: usize,
        run: &mut StepRunner<'_>,
    ) -> QueryResult<(Option<BoundStatement>, DistributedPlan, StatementKind)> {
        let bound = match self.bind_recursive(&mut statement, memory_limit, run)? {
            Some(bound) => Some(bound),
            None => self.bind_shared(&mut statement, memory_limit, run)?,
        };
        match bound {
            Some(bound) => {
                let (plan, kind) = self.plan_with(&bound.sql, &bound.relations)?;
                Ok((Some(bound), plan, kind))
            }
            None => {
                let (plan, kind) = self.plan_parsed(statement)?;
                Ok((None, plan, kind))
            }
        }
    }

    /// The catalog with `relations` in front of its tables (the catalog itself when
    /// there are none).
    ///
    /// # Errors
    /// A relation whose statistics cannot be measured.
    pub(super) fn catalog_with(&self, relations: &[BoundRelation]) -> QueryResult<Arc<Catalog>> {
        if relations.is_empty() {
            return Ok(self.catalog());
        }
        Ok(Arc::new(self.catalog().with_bound(relations)?))
    }

    /// Plans a statement as [`Cluster::plan_parsed`] does; one with recursive CTEs by
    /// planning its steps without running them, so each recursion stops after its
    /// non-recursive term: enough to know the statement's columns.
    ///
    /// # Errors
    /// As [`Cluster::plan_parsed`].
    pub fn plan_parsed_for_columns(
        &self,
        statement: sqlparser::ast::Statement,
    ) -> QueryResult<(DistributedPlan, StatementKind)> {
        let mut plan_only = |sql: &str, relations: &[BoundRelation], _: usize| {
            let (plan, _) = self.plan_with(sql, relations)?;
            Ok((plan.schema, StepRows::Planned))
        };
        let (_, plan, kind) = self.plan_statement(statement, usize::MAX, &mut plan_only)?;
        Ok((plan, kind))
    }

    /// The parameter types of a statement with recursive CTEs, from each of its
    /// steps and the rest, planned over bound relations without rows; `None` when it
    /// has none.
    ///
    /// # Errors
    /// As [`Cluster::parameter_types`].
    pub(super) fn recursive_parameter_types(
        &self,
        statement: &mut sqlparser::ast::Statement,
    ) -> QueryResult<Option<Vec<Option<DataType>>>> {
        let mut types: Vec<Option<DataType>> = Vec::new();
        let mut merge = |found: Vec<Option<DataType>>| {
            if types.len() < found.len() {
                types.resize(found.len(), None);
            }
            for (known, found) in types.iter_mut().zip(found) {
                if known.is_none() {
                    *known = found;
                }
            }
        };
        let mut step = |sql: &str, relations: &[BoundRelation], _: usize| {
            let statement = self.parse(sql)?.into_plannable()?;
            merge(self.parameter_types_with(statement.clone(), relations)?);
            Ok((
                self.logical_schema(statement, relations)?,
                StepRows::Planned,
            ))
        };
        let Some(bound) = self.bind_recursive(statement, usize::MAX, &mut step)? else {
            return Ok(None);
        };
        let rest = self.parse(&bound.sql)?.into_plannable()?;
        merge(self.parameter_types_with(rest, &bound.relations)?);
        Ok(Some(types))
    }

    /// The columns a query returns, from its logical plan alone (a statement with
    /// parameters has no physical plan until they are bound).
    fn logical_schema(
        &self,
        statement: sqlparser::ast::Statement,
        relations: &[BoundRelation],
    ) -> QueryResult<SchemaRef> {
        let catalog = self.catalog_with(relations)?;
        let functions = Arc::clone(&self.functions);
        plan_isolated(
            move || match plan_parsed(statement, &catalog, &functions)? {
                Statement::Query(plan) => Ok(Arc::new(plan.schema().as_arrow().clone())),
                _ => Err(QueryError::internal("a recursion step that is not a query")),
            },
        )
    }

    /// Runs one step of a single-node statement (a recursion's, or a CTE computed
    /// first) to its end, or until its rows hold more than `limit` bytes.
    pub(super) fn run_step(
        &self,
        sql: &str,
        relations: &[BoundRelation],
        limit: usize,
        settings: &SessionSettings,
        deadline: Option<Instant>,
    ) -> QueryResult<(SchemaRef, StepRows)> {
        let (plan, _) = self.plan_with(sql, relations)?;
        let mut stream = self.execute(sql, &plan, &settings.until(deadline))?;
        let rows = StepRows::collect(|| stream.next_batch(), limit)?;
        Ok((plan.schema, rows))
    }
}

/// The memory a statement's recursion may hold: its per-core budget.
pub fn recursion_limit(cluster: &Cluster, settings: &SessionSettings) -> usize {
    settings
        .memory_per_core
        .unwrap_or(cluster.memory().settings.per_core)
}
