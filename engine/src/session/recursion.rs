//! Statements with recursive CTEs (see [`crate::sql::recursive_ctes`]): their steps
//! run as queries of their own, then the rest of the statement is planned over the
//! rows the steps bound.

use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::Cluster;
use crate::catalog::bound::BoundRelation;
use crate::error::QueryResult;
use crate::exec::query::QueryStream;
use crate::plan::DistributedPlan;
use crate::session::StatementKind;
use crate::settings::SessionSettings;
use crate::sql::recursive_ctes::{recursive_ctes, StepRunner};

/// A statement planned over the relations its recursive CTEs bound. Whoever runs
/// it elsewhere (a cluster's peers) needs `sql` and `relations`.
pub struct BoundStatement {
    pub sql: String,
    pub relations: Vec<BoundRelation>,
    pub plan: DistributedPlan,
    pub kind: StatementKind,
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

    /// Evaluates the recursive CTEs of `statement` step by step through `run` and
    /// plans the rest of it over their rows; `None` (and `statement` ready to plan
    /// as usual) when it has none.
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
        let sql = recursive.rest_sql();
        let (plan, kind) = self.plan_with(&sql, &relations)?;
        Ok(Some(BoundStatement {
            sql,
            relations,
            plan,
            kind,
        }))
    }

    /// Plans a statement as [`Cluster::plan_parsed`] does; one with recursive CTEs by
    /// planning its steps without running them, so each recursion stops after its
    /// non-recursive term: enough to know the statement's columns.
    ///
    /// # Errors
    /// As [`Cluster::plan_parsed`].
    pub fn plan_parsed_for_columns(
        &self,
        mut statement: sqlparser::ast::Statement,
    ) -> QueryResult<(DistributedPlan, StatementKind)> {
        let mut plan_only = |sql: &str, relations: &[BoundRelation]| {
            let (plan, _) = self.plan_with(sql, relations)?;
            Ok((plan.schema, Vec::new()))
        };
        match self.bind_recursive(&mut statement, usize::MAX, &mut plan_only)? {
            Some(bound) => Ok((bound.plan, bound.kind)),
            None => self.plan_parsed(statement),
        }
    }

    /// Runs one step of a single-node recursion to its end.
    pub(super) fn run_step(
        &self,
        sql: &str,
        relations: &[BoundRelation],
        settings: &SessionSettings,
        deadline: Option<Instant>,
    ) -> QueryResult<(SchemaRef, Vec<RecordBatch>)> {
        let (plan, _) = self.plan_with(sql, relations)?;
        let settings = SessionSettings {
            statement_timeout: remaining(deadline),
            ..*settings
        };
        let stream = self.execute(sql, &plan, &settings)?;
        Ok((plan.schema, collect(stream)?))
    }
}

/// What is left of a statement's time when it started with `deadline` ahead.
pub fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()))
}

/// Every batch of a stream, or its first error.
fn collect(mut stream: QueryStream) -> QueryResult<Vec<RecordBatch>> {
    let mut batches = Vec::new();
    while let Some(batch) = stream.next_batch() {
        batches.push(batch?);
    }
    Ok(batches)
}

/// The memory a statement's recursion may hold: its per-core budget.
pub fn recursion_limit(cluster: &Cluster, settings: &SessionSettings) -> usize {
    settings
        .memory_per_core
        .unwrap_or(cluster.memory().settings.per_core)
}
