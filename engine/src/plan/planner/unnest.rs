//! UNNEST of list columns, one level deep: the select-list form (`select k,
//! unnest(a) from t`) and the table form (`from unnest(array[..]) x`), which
//! DataFusion plans alike. Each row is unnested where it is, so the input's
//! partitioning on the columns that are not unnested still holds.

use datafusion_expr::logical_plan::Unnest;

use super::{arrow_schema, Planned, Planner};
use crate::error::{QueryError, QueryResult};
use crate::plan::node::{Node, UnnestNode};

impl Planner<'_> {
    pub(super) fn plan_unnest(&mut self, unnest: &Unnest) -> QueryResult<Planned> {
        if !unnest.struct_type_columns.is_empty() {
            return Err(QueryError::unsupported("UNNEST of a struct (row) value"));
        }
        if unnest
            .options
            .recursions
            .iter()
            .any(|recursion| recursion.depth != 1)
            || unnest
                .list_type_columns
                .iter()
                .any(|(_, list)| list.depth != 1)
        {
            return Err(QueryError::unsupported(
                "UNNEST of nested arrays more than one level deep",
            ));
        }
        let lists: Vec<usize> = unnest
            .list_type_columns
            .iter()
            .map(|(index, _)| *index)
            .collect();
        let outputs = unnest.dependency_indices.clone();
        if outputs.len() != unnest.schema.fields().len() {
            return Err(QueryError::internal(format!(
                "UNNEST with {} output columns but {} sources",
                unnest.schema.fields().len(),
                outputs.len()
            )));
        }
        let input = self.plan(&unnest.input)?;
        let dist = input.dist.remap(|column| {
            (!lists.contains(&column))
                .then(|| outputs.iter().position(|&source| source == column))
                .flatten()
        });
        // No statistics say how long the lists are: a few elements each.
        let rows = input.rows * 4.0;
        Ok(Planned {
            node: Node::Unnest(UnnestNode {
                input: Box::new(input.node),
                lists,
                outputs,
                null_handling: unnest.options.null_handling,
                schema: arrow_schema(&unnest.schema),
            }),
            dist,
            rows,
        })
    }
}
