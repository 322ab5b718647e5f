//! Join planning: pick where the join runs so that as little data as possible moves.
//! In order of preference: inputs already co-partitioned on the join keys, a side that
//! is replicated, a small side broadcast, and last both sides hashed on the keys.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use datafusion_common::{DFSchema, JoinType, NullEquality};
use datafusion_expr::logical_plan::{Join, LogicalPlan};

use datafusion_physical_expr::expressions::Column;
use datafusion_physical_expr::PhysicalExpr;

use super::{arrow_schema, Planned, Planner};
use crate::error::{ErrorCode, QueryError, QueryResult};
use crate::plan::distribution::Distribution;
use crate::plan::node::{HashJoinNode, JoinKind, NestedLoopJoinNode, Node};
use crate::plan::ExchangeKind;

type KeyPair = (Arc<dyn PhysicalExpr>, Arc<dyn PhysicalExpr>);

/// Where a join's two inputs are brought together.
enum Placement {
    /// Both inputs are already where they need to be.
    Local(Distribution),
    BroadcastRight,
    BroadcastLeft,
    HashBoth,
    /// Both inputs to the coordinator.
    GatherBoth,
}

impl Planner<'_> {
    pub(super) fn plan_join(&mut self, join: &Join) -> QueryResult<Planned> {
        let (left_logical, right_logical, kind, swapped) = match join.join_type {
            JoinType::Inner => (&join.left, &join.right, JoinKind::Inner, false),
            JoinType::Left => (&join.left, &join.right, JoinKind::Left, false),
            JoinType::Right => (&join.right, &join.left, JoinKind::Left, true),
            JoinType::Full => (&join.left, &join.right, JoinKind::Full, false),
            JoinType::LeftSemi => (&join.left, &join.right, JoinKind::LeftSemi, false),
            JoinType::RightSemi => (&join.right, &join.left, JoinKind::LeftSemi, true),
            JoinType::LeftAnti => (&join.left, &join.right, JoinKind::LeftAnti, false),
            JoinType::RightAnti => (&join.right, &join.left, JoinKind::LeftAnti, true),
            JoinType::LeftMark => (&join.left, &join.right, JoinKind::LeftMark, false),
            JoinType::RightMark => (&join.right, &join.left, JoinKind::LeftMark, true),
        };
        let left = self.plan(left_logical)?;
        let right = self.plan(right_logical)?;
        let (left_schema, right_schema) = (left_logical.schema(), right_logical.schema());
        let mut on = Vec::with_capacity(join.on.len());
        for (l, r) in &join.on {
            let (l, r) = if swapped { (r, l) } else { (l, r) };
            on.push(same_key_types(
                self.physical_expr(l, left_schema)?,
                &arrow_schema(left_schema),
                self.physical_expr(r, right_schema)?,
                &arrow_schema(right_schema),
            )?);
        }
        let joined_schema = left_schema.join(right_schema)?;
        let filter = join
            .filter
            .as_ref()
            .map(|filter| self.physical_expr(filter, &joined_schema))
            .transpose()?;
        let node_schema = match kind {
            JoinKind::LeftSemi | JoinKind::LeftAnti => arrow_schema(left_schema),
            // The kept side's columns, then the mark.
            JoinKind::LeftMark => arrow_schema(&join.schema),
            _ => join_output_schema(&join.schema, left_schema, swapped),
        };
        let left_width = left_schema.fields().len();
        let describe = describe_join(join, kind);
        let rows = self.cardinality.rows(&LogicalPlan::Join(join.clone()));

        let placement =
            self.choose_placement(&left, &right, &on, kind, join.null_aware, &describe)?;
        let (left, right, dist) = self.place_inputs(left, right, &on, placement, left_width, kind);
        let node = if on.is_empty() {
            Node::NestedLoopJoin(NestedLoopJoinNode {
                left: Box::new(left.node),
                right: Box::new(right.node),
                filter,
                kind,
                schema: Arc::clone(&node_schema),
            })
        } else {
            Node::HashJoin(HashJoinNode {
                build_left: left.rows < right.rows
                    && (matches!(kind, JoinKind::Inner | JoinKind::Left)
                        || matches!(kind, JoinKind::LeftSemi | JoinKind::LeftAnti)
                            && !join.null_aware),
                left: Box::new(left.node),
                right: Box::new(right.node),
                on,
                filter,
                kind,
                null_aware: join.null_aware,
                nulls_equal: join.null_equality == NullEquality::NullEqualsNull,
                schema: Arc::clone(&node_schema),
            })
        };
        let planned = Planned { node, dist, rows };
        if swapped
            && !matches!(
                kind,
                JoinKind::LeftSemi | JoinKind::LeftAnti | JoinKind::LeftMark
            )
        {
            return Ok(restore_column_order(planned, join, left_width));
        }
        Ok(planned)
    }

    fn choose_placement(
        &mut self,
        left: &Planned,
        right: &Planned,
        on: &[KeyPair],
        kind: JoinKind,
        null_aware: bool,
        describe: &str,
    ) -> QueryResult<Placement> {
        use Distribution::{Replicated, Single};
        let both_complete = !left.dist.is_partitioned() && !right.dist.is_partitioned();
        if both_complete {
            let dist = if left.dist == Replicated && right.dist == Replicated {
                Replicated
            } else {
                Single
            };
            return Ok(Placement::Local(dist));
        }
        let column_pairs: Vec<(usize, usize)> = on
            .iter()
            .filter_map(|(l, r)| Some((column_index(l)?, column_index(r)?)))
            .collect();
        let right_may_be_replicated = matches!(
            kind,
            JoinKind::Inner
                | JoinKind::Left
                | JoinKind::LeftSemi
                | JoinKind::LeftAnti
                | JoinKind::LeftMark
        );
        let left_may_be_replicated = kind == JoinKind::Inner;
        if on.is_empty() {
            if kind == JoinKind::Full {
                // The right rows no left row matched are known only once every left
                // row has been seen: both sides in one place.
                return Ok(Placement::GatherBoth);
            }
            // A nested-loop join buffers its right side whole on every partition.
            return Ok(match (&left.dist, &right.dist) {
                (_, Replicated) if left.dist.is_partitioned() => {
                    Placement::Local(left.dist.clone())
                }
                _ if left.dist.is_partitioned() => Placement::BroadcastRight,
                _ => Placement::GatherBoth,
            });
        }
        if !null_aware && Distribution::co_partitioned(&left.dist, &right.dist, &column_pairs) {
            self.avoided(
                describe.to_string(),
                format!("inputs already co-partitioned ({})", left.dist.describe()),
            );
            return Ok(Placement::Local(joined_distribution(left, right, kind)));
        }
        if right.dist == Replicated && right_may_be_replicated && left.dist.is_partitioned() {
            self.avoided(
                describe.to_string(),
                "right input is replicated on every partition".into(),
            );
            return Ok(Placement::Local(left.dist.clone()));
        }
        if left.dist == Replicated && left_may_be_replicated && right.dist.is_partitioned() {
            self.avoided(
                describe.to_string(),
                "left input is replicated on every partition".into(),
            );
            let width = left.node.schema().fields().len();
            return Ok(Placement::Local(right.dist.remap(|c| Some(c + width))));
        }
        if null_aware {
            // NOT IN must see every right row (any NULL empties the result).
            return Ok(if left.dist.is_partitioned() {
                Placement::BroadcastRight
            } else {
                Placement::GatherBoth
            });
        }
        let partitions = self.settings.partitions as f64;
        let (left_keys, right_keys): (Vec<usize>, Vec<usize>) =
            column_pairs.iter().copied().unzip();
        let complete_pairs = column_pairs.len() == on.len();
        let left_hashed = complete_pairs && left.dist.is_hashed_on(&left_keys);
        let right_hashed = complete_pairs && right.dist.is_hashed_on(&right_keys);
        // Rows moved plus rows built into hash tables. Hashing moves the sides not
        // already hashed on their keys and builds one side once; a broadcast sends
        // the small side to every partition and builds it on every partition.
        let hash_cost = if left_hashed || right_hashed {
            let moved = |rows: f64, hashed: bool| if hashed { 0.0 } else { rows };
            moved(left.rows, left_hashed)
                + moved(right.rows, right_hashed)
                + left.rows.min(right.rows)
        } else {
            // Neither side in place: broadcast when it moves fewer rows than hashing
            // both sides would, `small * (P - 1) < (small + large) * (P - 1) / P`. The
            // large side then also keeps its partitioning for the joins above.
            f64::INFINITY
        };
        let broadcast_pays = |small: f64, large: f64| {
            small <= self.settings.broadcast_rows_max
                && small * (partitions - 1.0) < large
                && 2.0 * small * partitions < hash_cost
        };
        if right_may_be_replicated
            && left.dist.is_partitioned()
            && broadcast_pays(right.rows, left.rows)
        {
            return Ok(Placement::BroadcastRight);
        }
        if left_may_be_replicated
            && right.dist.is_partitioned()
            && broadcast_pays(left.rows, right.rows)
        {
            return Ok(Placement::BroadcastLeft);
        }
        Ok(Placement::HashBoth)
    }

    fn place_inputs(
        &mut self,
        left: Planned,
        right: Planned,
        on: &[KeyPair],
        placement: Placement,
        left_width: usize,
        kind: JoinKind,
    ) -> (Planned, Planned, Distribution) {
        // A full join's unmatched rows carry NULL keys on one side, so its output is
        // partitioned on neither side's keys; complete (single or replicated) inputs
        // still give a complete output, which must not count as partitioned rows.
        let output_dist = |dist: &Distribution| match kind {
            JoinKind::Full if dist.is_partitioned() => Distribution::any(),
            _ => dist.clone(),
        };
        match placement {
            Placement::Local(dist) => {
                let dist = output_dist(&dist);
                (left, right, dist)
            }
            Placement::BroadcastRight => {
                let reason = format!(
                    "right side (~{:.0} rows) is small: sent whole to every partition",
                    right.rows
                );
                let right = self.exchange(
                    right,
                    ExchangeKind::Broadcast,
                    Distribution::Replicated,
                    reason,
                );
                let dist = output_dist(&left.dist);
                (left, right, dist)
            }
            Placement::BroadcastLeft => {
                let reason = format!(
                    "left side (~{:.0} rows) is small: sent whole to every partition",
                    left.rows
                );
                let left = self.exchange(
                    left,
                    ExchangeKind::Broadcast,
                    Distribution::Replicated,
                    reason,
                );
                let dist = right.dist.remap(|c| Some(c + left_width));
                (left, right, dist)
            }
            Placement::HashBoth => {
                let (left_keys, right_keys): (Vec<_>, Vec<_>) = on.iter().cloned().unzip();
                let reason = |side: &str, rows: f64| {
                    format!("join keys: {side} side (~{rows:.0} rows) is not partitioned on them; hashing moves fewer rows than a broadcast")
                };
                let left_reason = reason("left", left.rows);
                let right_reason = reason("right", right.rows);
                let left = self.hash_partition(left, left_keys, left_reason);
                let right = self.hash_partition(right, right_keys, right_reason);
                let dist = joined_distribution(&left, &right, kind);
                (left, right, dist)
            }
            Placement::GatherBoth => {
                let left = self
                    .complete_on_coordinator(left, "join input must be complete on one partition");
                let right = self
                    .complete_on_coordinator(right, "join input must be complete on one partition");
                (left, right, Distribution::Single)
            }
        }
    }
}

/// Where an equi-join's output rows are when its inputs were co-located on the keys:
/// an inner join's output is partitioned on either side's keys; outer, semi and anti
/// joins only keep the left side's (right columns may be NULL or absent).
fn joined_distribution(left: &Planned, right: &Planned, kind: JoinKind) -> Distribution {
    match kind {
        JoinKind::Inner => left
            .dist
            .merged_with(&right.dist, left.node.schema().fields().len()),
        JoinKind::Full => Distribution::any(),
        JoinKind::Left | JoinKind::LeftSemi | JoinKind::LeftAnti | JoinKind::LeftMark => {
            left.dist.clone()
        }
    }
}

fn column_index(expr: &Arc<dyn PhysicalExpr>) -> Option<usize> {
    expr.downcast_ref::<Column>().map(Column::index)
}

/// The output schema in the order the join node produces it (its left input first).
fn join_output_schema(
    logical: &DFSchema,
    left: &DFSchema,
    swapped: bool,
) -> arrow::datatypes::SchemaRef {
    let fields: Vec<Arc<Field>> = logical.as_arrow().fields().iter().cloned().collect();
    if !swapped {
        return Arc::new(Schema::new(fields));
    }
    // The logical order is (original left ++ original right) = (our right ++ our left).
    let original_left_width = fields.len() - left.fields().len();
    let mut reordered = fields[original_left_width..].to_vec();
    reordered.extend_from_slice(&fields[..original_left_width]);
    Arc::new(Schema::new(reordered))
}

/// A swapped RIGHT join produced (right ++ left); put columns back in logical order.
fn restore_column_order(planned: Planned, join: &Join, our_left_width: usize) -> Planned {
    let node_schema = planned.node.schema();
    let width = node_schema.fields().len();
    let original_left_width = width - our_left_width;
    // Logical column i comes from node column (i + our_left_width) for original-left
    // columns, and from (i - original_left_width) for original-right ones.
    let source_of = |i: usize| {
        if i < original_left_width {
            i + our_left_width
        } else {
            i - original_left_width
        }
    };
    let exprs: Vec<Arc<dyn PhysicalExpr>> = (0..width)
        .map(|i| {
            let source = source_of(i);
            Arc::new(Column::new(node_schema.field(source).name(), source)) as Arc<dyn PhysicalExpr>
        })
        .collect();
    let dist = planned
        .dist
        .remap(|c| (0..width).find(|&i| source_of(i) == c));
    Planned {
        node: Node::Project {
            input: Box::new(planned.node),
            exprs,
            schema: arrow_schema(&join.schema),
        },
        dist,
        rows: planned.rows,
    }
}

fn describe_join(join: &Join, kind: JoinKind) -> String {
    let keys: Vec<String> = join.on.iter().map(|(l, r)| format!("{l} = {r}")).collect();
    format!(
        "{kind:?} join on {}",
        if keys.is_empty() {
            "(no keys)".to_string()
        } else {
            keys.join(", ")
        }
    )
}

/// A pair of join keys of one type. The optimizer can leave them apart (a constant
/// folded to a narrower decimal than the cast on the other side expects), and the
/// hash table compares keys of one type only: cast both to their comparison type.
fn same_key_types(
    left: Arc<dyn PhysicalExpr>,
    left_schema: &arrow::datatypes::Schema,
    right: Arc<dyn PhysicalExpr>,
    right_schema: &arrow::datatypes::Schema,
) -> QueryResult<(Arc<dyn PhysicalExpr>, Arc<dyn PhysicalExpr>)> {
    use datafusion_expr::type_coercion::binary::comparison_coercion;
    use datafusion_physical_expr::expressions::cast;
    let (left_type, right_type) = (left.data_type(left_schema)?, right.data_type(right_schema)?);
    if left_type == right_type {
        return Ok((left, right));
    }
    let common = comparison_coercion(&left_type, &right_type).ok_or_else(|| {
        QueryError::new(
            ErrorCode::DatatypeMismatch,
            format!("join keys of types {left_type} and {right_type} cannot be compared"),
        )
    })?;
    Ok((
        cast(left, left_schema, common.clone())?,
        cast(right, right_schema, common)?,
    ))
}
