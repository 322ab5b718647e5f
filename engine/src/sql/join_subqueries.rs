//! A subquery in a join's ON clause (`join b on a.k = b.k and b.x in (select ..)`)
//! moves into a filter where DataFusion's decorrelation finds it; in the join's own
//! condition it stayed a subquery and the statement was refused. Over an inner join
//! the filter goes right above the join, which keeps the same rows whatever joins
//! surround it. Over an outer join, a condition that reads only the side whose
//! unmatched rows are dropped (the right of a LEFT join) filters that side's input
//! instead: an input row it rejects could only have been unmatched. Other
//! subqueries in an outer join's condition are still refused.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, DFSchema, Result};
use datafusion_expr::expr::{Exists, InSubquery};
use datafusion_expr::utils::{conjunction, split_conjunction_owned};
use datafusion_expr::{Expr, Filter, Join, JoinType, LogicalPlan, LogicalPlanBuilder};

/// Names of the columns that hold a join condition's subqueries.
const COMPUTED_PREFIX: &str = "__join_subquery_";

/// Rewrites every join of `plan` whose condition holds a subquery (before the
/// analyzer, which refuses a correlated scalar subquery in a join's condition).
pub fn lifted(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::Join(mut join) = node else {
            return Ok(Transformed::no(node));
        };
        let filter = match join.filter.take() {
            Some(filter) if has_subquery(&filter) => filter,
            filter => {
                join.filter = filter;
                return Ok(Transformed::no(LogicalPlan::Join(join)));
            }
        };
        // Where a conjunct with a subquery may go: above the join, or onto the input
        // on the side that loses its unmatched rows.
        let (above, left, right) = match join.join_type {
            JoinType::Inner => (true, false, false),
            JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti => (false, false, true),
            JoinType::Right | JoinType::RightSemi | JoinType::RightAnti => (false, true, false),
            _ => (false, false, false),
        };
        let mut lifted = Vec::new();
        let mut onto_left = Vec::new();
        let mut onto_right = Vec::new();
        let mut kept = Vec::new();
        for conjunct in split_conjunction_owned(filter) {
            if !has_subquery(&conjunct) {
                kept.push(conjunct);
            } else if above {
                lifted.push(conjunct);
            } else if left && reads_only(&conjunct, join.left.schema()) {
                onto_left.push(conjunct);
            } else if right && reads_only(&conjunct, join.right.schema()) {
                onto_right.push(conjunct);
            } else {
                kept.push(conjunct);
            }
        }
        let transformed = !(lifted.is_empty() && onto_left.is_empty() && onto_right.is_empty());
        if let Some(predicate) = conjunction(onto_left) {
            join.left = Arc::new(LogicalPlan::Filter(Filter::try_new(predicate, join.left)?));
        }
        if let Some(predicate) = conjunction(onto_right) {
            join.right = Arc::new(LogicalPlan::Filter(Filter::try_new(predicate, join.right)?));
        }
        let shown = join.schema.columns();
        let mut computed = Computed::default();
        let kept = kept
            .into_iter()
            .map(|conjunct| computed.read_from_sides(conjunct, &join))
            .collect::<Result<Vec<_>>>()?;
        let transformed = transformed || !computed.is_empty();
        let join = computed.joined(join, conjunction(kept))?;
        let node = match conjunction(lifted) {
            Some(predicate) => LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(join))?),
            None => join,
        };
        let node = if node.schema().columns() == shown {
            node
        } else {
            LogicalPlanBuilder::from(node)
                .project(shown.into_iter().map(Expr::Column))?
                .build()?
        };
        Ok(Transformed::new_transformed(node, transformed))
    })
    .map(|transformed| transformed.data)
}

/// Scalar subqueries of a join's condition that read one side only, each computed
/// as a column of that side's input, as a subquery in a SELECT list is: a
/// correlated scalar subquery is decorrelated only in a projection or a filter, and
/// its value depends on nothing but the row it reads.
#[derive(Default)]
struct Computed {
    left: Vec<Expr>,
    right: Vec<Expr>,
}

impl Computed {
    fn is_empty(&self) -> bool {
        self.left.is_empty() && self.right.is_empty()
    }

    /// `conjunct` with each outermost scalar subquery that reads one side of `join`
    /// replaced by the column that will hold its value.
    fn read_from_sides(&mut self, conjunct: Expr, join: &Join) -> Result<Expr> {
        conjunct
            .transform_down(|expr| {
                if !matches!(expr, Expr::ScalarSubquery(_)) {
                    return Ok(Transformed::no(expr));
                }
                let name = format!("{COMPUTED_PREFIX}{}", self.left.len() + self.right.len());
                let side = if reads_only(&expr, join.left.schema()) {
                    &mut self.left
                } else if reads_only(&expr, join.right.schema()) {
                    &mut self.right
                } else {
                    return Ok(Transformed::new(expr, false, TreeNodeRecursion::Jump));
                };
                side.push(expr.alias(&name));
                Ok(Transformed::new(
                    Expr::Column(Column::from_name(name)),
                    true,
                    TreeNodeRecursion::Jump,
                ))
            })
            .map(|transformed| transformed.data)
    }

    /// `join` over inputs that carry the computed columns, on `filter`.
    fn joined(self, mut join: Join, filter: Option<Expr>) -> Result<LogicalPlan> {
        if self.is_empty() {
            join.filter = filter;
            return Ok(LogicalPlan::Join(join));
        }
        let left = with_columns(&join.left, self.left)?;
        let right = with_columns(&join.right, self.right)?;
        Ok(LogicalPlan::Join(Join::try_new(
            left,
            right,
            join.on,
            filter,
            join.join_type,
            join.join_constraint,
            join.null_equality,
            join.null_aware,
        )?))
    }
}

fn with_columns(input: &Arc<LogicalPlan>, computed: Vec<Expr>) -> Result<Arc<LogicalPlan>> {
    if computed.is_empty() {
        return Ok(Arc::clone(input));
    }
    let columns = input.schema().columns().into_iter().map(Expr::Column);
    let projected = LogicalPlanBuilder::from(Arc::clone(input))
        .project(columns.chain(computed))?
        .build()?;
    Ok(Arc::new(projected))
}

/// Whether every column `expr` reads, in its subqueries' references to the outer
/// query too, is one of `schema`'s.
fn reads_only(expr: &Expr, schema: &DFSchema) -> bool {
    let mut inside = true;
    let _ = expr.apply(|expr| {
        let outer = match expr {
            Expr::ScalarSubquery(subquery) | Expr::Exists(Exists { subquery, .. }) => {
                &subquery.outer_ref_columns[..]
            }
            Expr::InSubquery(InSubquery { subquery, .. }) => &subquery.outer_ref_columns[..],
            Expr::Column(column) => {
                inside &= schema.has_column(column);
                &[]
            }
            _ => &[],
        };
        for reference in outer {
            if let Expr::OuterReferenceColumn(_, column) = reference {
                inside &= schema.has_column(column);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    inside
}

fn has_subquery(expr: &Expr) -> bool {
    expr.exists(|expr| {
        Ok(matches!(
            expr,
            Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)
        ))
    })
    .unwrap_or(false)
}
