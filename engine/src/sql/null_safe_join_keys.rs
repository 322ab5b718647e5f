//! A join whose keys came from `IS NOT DISTINCT FROM` takes no `=` keys beside them.
//! DataFusion's extract_equijoin_predicate turns `a IS NOT DISTINCT FROM b` into a
//! hash-join key and marks the whole join NULL-equal. Two rules then added equalities
//! from elsewhere to those keys under the same mark, so rows with NULL on both sides
//! matched (`t2 x join t2 y on y.b is not distinct from abs(x.b) where x.c = y.a`: 9
//! rows, PostgreSQL none): extract_equijoin_predicate on a later pass, once the WHERE
//! condition had been pushed into the join's filter, and eliminate_cross_join, which
//! rebuilds a tree of inner joins and their filters with the top join's mark (so it
//! also dropped the mark of a NULL-equal join below an ordinary one). Both are
//! wrapped here: a NULL-equal join keeps its filter as a filter, evaluated on the
//! pairs its keys find, and the joins above one are not rebuilt.

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{JoinType, NullEquality, Result};
use datafusion_expr::LogicalPlan;
use datafusion_optimizer::eliminate_cross_join::EliminateCrossJoin;
use datafusion_optimizer::extract_equijoin_predicate::ExtractEquijoinPredicate;
use datafusion_optimizer::optimizer::ApplyOrder;
use datafusion_optimizer::{OptimizerConfig, OptimizerRule};

/// DataFusion's extract_equijoin_predicate, except on joins whose keys match NULLs.
#[derive(Debug, Default)]
pub struct NullSafeJoinKeys {
    extracted: ExtractEquijoinPredicate,
}

impl NullSafeJoinKeys {
    /// Whether `rule` is the one this takes the place of in the optimizer's list.
    pub fn replaces(rule: &dyn OptimizerRule) -> bool {
        rule.name() == ExtractEquijoinPredicate::new().name()
    }
}

impl OptimizerRule for NullSafeJoinKeys {
    fn name(&self) -> &str {
        self.extracted.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.extracted.apply_order()
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        match &plan {
            LogicalPlan::Join(join) if join.null_equality == NullEquality::NullEqualsNull => {
                Ok(Transformed::no(plan))
            }
            _ => self.extracted.rewrite(plan, config),
        }
    }
}

/// DataFusion's eliminate_cross_join, except above a join whose keys match NULLs.
#[derive(Debug, Default)]
pub struct NullSafeJoinTrees {
    rebuilt: EliminateCrossJoin,
}

impl NullSafeJoinTrees {
    /// Whether `rule` is the one this takes the place of in the optimizer's list.
    pub fn replaces(rule: &dyn OptimizerRule) -> bool {
        rule.name() == EliminateCrossJoin::new().name()
    }
}

impl OptimizerRule for NullSafeJoinTrees {
    fn name(&self) -> &str {
        self.rebuilt.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.rebuilt.apply_order()
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        // The wrapped rule recurses itself (it has no apply order), so a plan with
        // such a join anywhere below is walked here instead.
        if holds_null_equal_join(&plan)? {
            plan.map_children(|child| self.rewrite(child, config))
        } else {
            self.rebuilt.rewrite(plan, config)
        }
    }
}

/// Whether `plan` or a plan below it is an inner join whose keys match NULLs. (The
/// semi and anti joins of INTERSECT and EXCEPT match NULLs too, but the rule never
/// merges those.)
fn holds_null_equal_join(plan: &LogicalPlan) -> Result<bool> {
    plan.exists(|node| {
        Ok(matches!(node, LogicalPlan::Join(join)
            if join.join_type == JoinType::Inner
                && join.null_equality == NullEquality::NullEqualsNull))
    })
}
