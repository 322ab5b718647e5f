//! Planning `CREATE TABLE .. AS`: the query is planned as any other, then its rows
//! are laid out as the table's partitioning says (one exchange at most, none when
//! they already lie so), and the final stage keeps them on every partition instead
//! of sending them to the client.

use std::sync::Arc;

use arrow::datatypes::Schema;
use datafusion_expr::LogicalPlan;
use datafusion_physical_expr::expressions::Column;
use datafusion_physical_expr::PhysicalExpr;

use super::{Planned, Planner, PlannerSettings};
use crate::catalog::{Catalog, TablePartitioning};
use crate::error::{ErrorCode, QueryError, QueryResult};
use crate::plan::distribution::{Distribution, Scheme};
use crate::plan::{
    DistributedPlan, ExchangeKind, Placement, StageOutput, StoreDestination, StoreTarget,
};
use crate::sql::{CreateTarget, LoadLayout};

/// Plans a load: `logical` computes the rows, `target` names the table and layout.
///
/// # Errors
/// As [`super::plan_query`]; also partition columns the query does not produce and
/// result columns with the same name.
pub fn plan_load(
    logical: &LogicalPlan,
    catalog: &Catalog,
    settings: &PlannerSettings,
    target: &CreateTarget,
) -> QueryResult<DistributedPlan> {
    let mut planner = Planner::new(catalog, settings);
    let root = planner.plan(logical)?;
    let schema = root.node.schema();
    refuse_duplicate_names(&schema)?;
    let (root, partitioning) = planner.lay_out(root, target, &schema)?;
    let store = StoreTarget {
        name: target.name.clone(),
        partitioning,
        if_not_exists: target.if_not_exists,
        or_replace: target.or_replace,
        destination: StoreDestination::Table,
    };
    Ok(planner.finish(
        root,
        Placement::AllPartitions,
        StageOutput::Store,
        Some(store),
    ))
}

impl Planner<'_> {
    /// Moves the rows to the partitions the table's layout assigns them.
    fn lay_out(
        &mut self,
        root: Planned,
        target: &CreateTarget,
        schema: &Schema,
    ) -> QueryResult<(Planned, TablePartitioning)> {
        let operator = format!("store into {}", target.name);
        let one_partition = self.settings.partitions == 1;
        match &target.layout {
            LoadLayout::Hash(names) => {
                let positions = names
                    .iter()
                    .map(|name| column_named(schema, name))
                    .collect::<QueryResult<Vec<usize>>>()?;
                let partitioning = TablePartitioning::Hash {
                    columns: positions
                        .iter()
                        .map(|&p| schema.field(p).name().clone())
                        .collect(),
                };
                if one_partition || root.dist.is_hashed_on(&positions) {
                    self.avoided(operator, "rows already hashed on the table's key".into());
                    return Ok((root, partitioning));
                }
                let keys = positions
                    .iter()
                    .map(|&p| {
                        Arc::new(Column::new(schema.field(p).name(), p)) as Arc<dyn PhysicalExpr>
                    })
                    .collect();
                let reason = format!(
                    "table {} is stored {}",
                    target.name,
                    partitioning.describe()
                );
                let dist = Distribution::hash(positions);
                Ok((
                    self.exchange(root, ExchangeKind::Hash { keys }, dist, reason),
                    partitioning,
                ))
            }
            LoadLayout::Replicated => {
                if one_partition || root.dist == Distribution::Replicated {
                    self.avoided(operator, "rows already on every partition".into());
                    return Ok((root, TablePartitioning::Replicated));
                }
                let reason = format!("table {} is stored on every partition", target.name);
                let planned = self.exchange(
                    root,
                    ExchangeKind::Broadcast,
                    Distribution::Replicated,
                    reason,
                );
                Ok((planned, TablePartitioning::Replicated))
            }
            LoadLayout::AsComputed => {
                if one_partition {
                    return Ok((root, TablePartitioning::Unkeyed));
                }
                let name = |p: &usize| schema.field(*p).name().clone();
                match &root.dist {
                    Distribution::Replicated => Ok((root, TablePartitioning::Replicated)),
                    Distribution::Partitioned { scheme, key_sets } => {
                        let partitioning = match (scheme, key_sets.first()) {
                            (Scheme::Hash, Some(keys)) => TablePartitioning::Hash {
                                columns: keys.iter().map(name).collect(),
                            },
                            (Scheme::KeyRange(domain), Some(keys)) => TablePartitioning::KeyRange {
                                columns: keys.iter().map(name).collect(),
                                domain: domain.clone(),
                            },
                            _ => TablePartitioning::Unkeyed,
                        };
                        Ok((root, partitioning))
                    }
                    Distribution::Single => {
                        // One stream (an ORDER BY, a LIMIT, a global aggregate): spread
                        // it by all its columns rather than keep it on one core.
                        let keys = schema
                            .fields()
                            .iter()
                            .enumerate()
                            .map(|(p, field)| {
                                Arc::new(Column::new(field.name(), p)) as Arc<dyn PhysicalExpr>
                            })
                            .collect();
                        let reason = format!(
                            "the query's rows are on one partition; table {} spreads them",
                            target.name
                        );
                        let planned = self.exchange(
                            root,
                            ExchangeKind::Hash { keys },
                            Distribution::any(),
                            reason,
                        );
                        Ok((planned, TablePartitioning::Unkeyed))
                    }
                }
            }
        }
    }
}

fn column_named(schema: &Schema, name: &str) -> QueryResult<usize> {
    schema.index_of(name).map_err(|_| {
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        QueryError::new(
            ErrorCode::Semantic,
            format!(
                "PARTITIONED BY HASH column {name} is not a column of the query ({})",
                columns.join(", ")
            ),
        )
    })
}

/// A table's columns are found by name: two of one name could never be told apart.
fn refuse_duplicate_names(schema: &Schema) -> QueryResult<()> {
    for (index, field) in schema.fields().iter().enumerate() {
        if schema.fields()[..index]
            .iter()
            .any(|other| other.name() == field.name())
        {
            return Err(QueryError::new(
                ErrorCode::Semantic,
                format!(
                    "the query has two columns named {}; name them apart with AS",
                    field.name()
                ),
            ));
        }
    }
    Ok(())
}
