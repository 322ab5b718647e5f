//! GROUPING SETS, ROLLUP and CUBE: every input row is expanded once per grouping set,
//! its absent group columns NULL and a grouping id saying which set it belongs to,
//! and the expanded rows are aggregated by all group columns plus that id like any
//! GROUP BY (partial aggregation, exchange, final). The id is DataFusion's
//! `__grouping_id`, which its `grouping()` rewrite reads: bit `n-1-i` is set when
//! group expression `i` is absent, and bits from `n` up count repeats of a set.

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema};
use datafusion_common::{DFSchema, ScalarValue};
use datafusion_expr::{Aggregate, Expr, GroupingSet};
use datafusion_physical_expr::expressions::{Column, Literal};
use datafusion_physical_expr::PhysicalExpr;

use super::{Planned, Planner};
use crate::error::{QueryError, QueryResult};
use crate::plan::node::Node;

/// Expanded input: the input's columns, then each group expression, then the id.
pub(super) struct Expanded {
    pub planned: Planned,
    /// Group keys over the expanded rows: the group expressions and the id.
    pub group_exprs: Vec<Arc<dyn PhysicalExpr>>,
    /// One expanded row per empty grouping set, all NULL but the id: the grand total
    /// has a row even when no input does, as in PostgreSQL.
    pub grand_totals: Option<RecordBatch>,
}

impl Planner<'_> {
    pub(super) fn expand_grouping_sets(
        &self,
        input: Planned,
        set: &GroupingSet,
        aggregate: &Aggregate,
    ) -> QueryResult<Expanded> {
        let input_schema: &DFSchema = aggregate.input.schema();
        let distinct: Vec<Expr> = set.distinct_expr().into_iter().cloned().collect();
        let sets = member_sets(set, &distinct)?;
        if distinct.len() > 63 {
            return Err(QueryError::unsupported(
                "grouping sets over more than 63 expressions",
            ));
        }
        let id_field = aggregate
            .schema
            .field_with_unqualified_name(Aggregate::INTERNAL_GROUPING_ID)
            .map_err(|_| QueryError::internal("grouping set aggregate without a grouping id"))?;
        let id_type = id_field.data_type().clone();
        let group_values = self.physical_exprs(&distinct, input_schema)?;
        let input_columns = input_schema.fields().len();
        let arrow_input = input_schema.as_arrow();

        // Nullable throughout, so the grand-total rows can be all NULL.
        let mut fields: Vec<Field> = arrow_input
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        for (i, expr) in group_values.iter().enumerate() {
            let data_type = expr.data_type(arrow_input)?;
            fields.push(Field::new(format!("__group_{i}"), data_type, true));
        }
        fields.push(Field::new(
            Aggregate::INTERNAL_GROUPING_ID,
            id_type.clone(),
            false,
        ));
        let schema = Arc::new(Schema::new(fields));

        let input_passed: Vec<Arc<dyn PhysicalExpr>> = (0..input_columns)
            .map(|i| Arc::new(Column::new(arrow_input.field(i).name(), i)) as Arc<dyn PhysicalExpr>)
            .collect();
        let mut seen_masks: Vec<u64> = Vec::new();
        let mut grand_total_ids = Vec::new();
        let mut projections = Vec::with_capacity(sets.len());
        for members in &sets {
            let mut projection = input_passed.clone();
            let mut mask = 0u64;
            for (i, (value, member)) in group_values.iter().zip(members).enumerate() {
                if *member {
                    projection.push(Arc::clone(value));
                } else {
                    mask |= 1 << (distinct.len() - 1 - i);
                    let null = ScalarValue::try_from(schema.field(input_columns + i).data_type())?;
                    projection.push(Arc::new(Literal::new(null)));
                }
            }
            let repeats = seen_masks.iter().filter(|&&m| m == mask).count() as u64;
            seen_masks.push(mask);
            // A checked cast: an id that does not fit DataFusion's type is an error.
            let id =
                ScalarValue::UInt64(Some(mask | (repeats << distinct.len()))).cast_to(&id_type)?;
            if members.iter().all(|member| !member) {
                grand_total_ids.push(id.clone());
            }
            projection.push(Arc::new(Literal::new(id)));
            projections.push(projection);
        }
        let group_exprs = (input_columns..schema.fields().len())
            .map(|i| Arc::new(Column::new(schema.field(i).name(), i)) as Arc<dyn PhysicalExpr>)
            .collect();
        let grand_totals = if grand_total_ids.is_empty() {
            None
        } else {
            let count = grand_total_ids.len();
            let mut columns: Vec<ArrayRef> = schema.fields()[..schema.fields().len() - 1]
                .iter()
                .map(|field| new_null_array(field.data_type(), count))
                .collect();
            columns.push(ScalarValue::iter_to_array(grand_total_ids)?);
            Some(RecordBatch::try_new(Arc::clone(&schema), columns)?)
        };
        let rows = input.rows * sets.len() as f64;
        let planned = Planned {
            node: Node::Expand {
                input: Box::new(input.node),
                projections,
                schema,
            },
            // The input's columns keep their places, so its partitioning still holds.
            dist: input.dist,
            rows,
        };
        Ok(Expanded {
            planned,
            group_exprs,
            grand_totals,
        })
    }
}

/// For each grouping set, which of the distinct expressions it holds.
fn member_sets(set: &GroupingSet, distinct: &[Expr]) -> QueryResult<Vec<Vec<bool>>> {
    let members =
        |exprs: &[Expr]| -> Vec<bool> { distinct.iter().map(|d| exprs.contains(d)).collect() };
    Ok(match set {
        GroupingSet::GroupingSets(sets) => sets.iter().map(|s| members(s)).collect(),
        GroupingSet::Rollup(exprs) => (0..=exprs.len())
            .rev()
            .map(|prefix| members(&exprs[..prefix]))
            .collect(),
        GroupingSet::Cube(exprs) => {
            if exprs.len() > 12 {
                return Err(QueryError::unsupported("CUBE of more than 12 expressions"));
            }
            (0..1u32 << exprs.len())
                .map(|bits| {
                    let chosen: Vec<Expr> = exprs
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| bits & (1 << i) != 0)
                        .map(|(_, e)| e.clone())
                        .collect();
                    members(&chosen)
                })
                .collect()
        }
    })
}
