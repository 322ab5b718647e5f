//! CTEs named more than once, computed before the statement (see
//! [`crate::sql::shared_ctes`]): the session decides which are worth it and runs them.

use std::collections::HashSet;

use super::recursion::BoundStatement;
use super::Cluster;
use crate::catalog::bound::BoundRelation;
use crate::error::QueryResult;
use crate::plan::planner::PlannerSettings;
use crate::sql::recursive_ctes::{held_bytes, StepRows, StepRunner};
use crate::sql::shared_ctes::{cte_query, shared_ctes, take_cte};

impl Cluster {
    /// Computes the CTEs of `statement` that it names more than once, each through
    /// `run`, and takes them out of it; what is left to plan over their rows, or
    /// `None` when none was computed.
    ///
    /// A CTE is computed first only when the planner expects at most as many rows as
    /// it would broadcast to every partition and its rows, with those of the CTEs before it, hold at most `memory_limit` bytes:
    /// every node keeps them for the statement. A CTE over either bound, or one the
    /// planner refuses alone, stays inline and is computed where it is named, as
    /// before; a runner that only plans leaves every CTE inline.
    ///
    /// # Errors
    /// The errors of running a CTE.
    pub fn bind_shared(
        &self,
        statement: &mut sqlparser::ast::Statement,
        memory_limit: usize,
        run: &mut StepRunner<'_>,
    ) -> QueryResult<Option<BoundStatement>> {
        let broadcast_rows_max =
            PlannerSettings::new(self.topology.partitions()).broadcast_rows_max;
        let mut relations: Vec<BoundRelation> = Vec::new();
        let mut held = 0usize;
        for name in shared_ctes(statement) {
            let Some(sql) = cte_query(statement, &name) else {
                continue;
            };
            let Ok((plan, _)) = self.plan_with(&sql, &relations) else {
                continue;
            };
            if plan.estimated_rows > broadcast_rows_max {
                continue;
            }
            let mut names = HashSet::new();
            if !plan
                .schema
                .fields()
                .iter()
                .all(|field| names.insert(field.name()))
            {
                // A table cannot have two columns of one name; inline, the planner
                // tells a reference that names one which it means.
                continue;
            }
            let (schema, rows) = run(&sql, &relations, memory_limit.saturating_sub(held))?;
            let StepRows::Rows(batches) = rows else {
                continue;
            };
            held += held_bytes(&batches);
            take_cte(statement, &name);
            relations.push(BoundRelation {
                name,
                schema,
                batches,
            });
        }
        if relations.is_empty() {
            return Ok(None);
        }
        Ok(Some(BoundStatement {
            sql: statement.to_string(),
            relations,
        }))
    }
}
