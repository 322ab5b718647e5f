//! A join whose keys came from `IS NOT DISTINCT FROM` takes no `=` keys beside them.
//! DataFusion's extract_equijoin_predicate turns `a IS NOT DISTINCT FROM b` into a
//! hash-join key and marks the whole join NULL-equal. Two rules then added equalities
//! from elsewhere to those keys under the same mark, so rows with NULL on both sides
//! matched (`t2 x join t2 y on y.b is not distinct from abs(x.b) where x.c = y.a`: 9
//! rows, PostgreSQL none): extract_equijoin_predicate on a later pass, once the WHERE
//! condition had been pushed into the join's filter, and eliminate_cross_join, which
//! rebuilds a tree of inner joins and their filters with the top join's mark (so it
//! also dropped the mark of a NULL-equal join below an ordinary one). Both are
//! guarded (`guarded_rules`): a NULL-equal join keeps its filter as a filter,
//! evaluated on the pairs its keys find, and the joins above one are not rebuilt.

use datafusion_common::tree_node::TreeNode;
use datafusion_common::{JoinType, NullEquality, Result};
use datafusion_expr::LogicalPlan;

/// For extract_equijoin_predicate: a join whose keys match NULLs.
pub fn keys_left_alone(plan: &LogicalPlan) -> Result<bool> {
    Ok(matches!(plan, LogicalPlan::Join(join)
        if join.null_equality == NullEquality::NullEqualsNull))
}

/// For eliminate_cross_join: a plan with an inner join whose keys match NULLs
/// anywhere below. (The semi and anti joins of INTERSECT and EXCEPT match NULLs too,
/// but the rule never merges those.)
pub fn join_tree_left_alone(plan: &LogicalPlan) -> Result<bool> {
    plan.exists(|node| {
        Ok(matches!(node, LogicalPlan::Join(join)
            if join.join_type == JoinType::Inner
                && join.null_equality == NullEquality::NullEqualsNull))
    })
}
