//! A filter above an aggregate without GROUP BY stays above it. DataFusion's
//! push_down_filter moves every conjunct that names only grouping columns below an
//! aggregate; a conjunct that names no column at all qualifies, and with no groups
//! that changes the answer: the aggregate of no rows is still one row. After common
//! subexpressions are folded, `(select max(a) from t) in (null, null)` reaches the
//! aggregate as the constant `NULL`, went below it, and the scalar subquery kept its
//! one row, so the outer query answered as if the condition held (PostgreSQL: no row).
//! push_down_filter is guarded (`guarded_rules`) to leave a filter over such an
//! aggregate where it is; the simplifier then folds a constant one over the
//! aggregate's one row.

use datafusion_common::Result;
use datafusion_expr::LogicalPlan;

/// A filter over an aggregate without groups. Without groups, push_down_filter would
/// push only column-free conjuncts there (no conjunct that names a column names a
/// grouping column), and those are exactly the ones that must stay.
pub fn left_alone(plan: &LogicalPlan) -> Result<bool> {
    Ok(matches!(plan, LogicalPlan::Filter(filter)
        if matches!(filter.input.as_ref(), LogicalPlan::Aggregate(aggregate)
            if aggregate.group_expr.is_empty())))
}
