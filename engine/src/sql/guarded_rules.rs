//! DataFusion optimizer rules that answer wrongly on some plans, run on all others.
//! Each guard names the rule it wraps and the plans it must leave alone; the
//! reasons are in the guards' modules (`grand_total_filters`, `null_safe_join_keys`).

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::Result;
use datafusion_expr::LogicalPlan;
use datafusion_optimizer::optimizer::ApplyOrder;
use datafusion_optimizer::{OptimizerConfig, OptimizerRule};

use super::{grand_total_filters, null_safe_join_keys};

/// Which plans a rule must not rewrite.
type LeftAlone = fn(&LogicalPlan) -> Result<bool>;

/// The rules guarded, by name, and the plans each leaves alone.
const GUARDS: &[(&str, LeftAlone)] = &[
    ("push_down_filter", grand_total_filters::left_alone),
    (
        "extract_equijoin_predicate",
        null_safe_join_keys::keys_left_alone,
    ),
    (
        "eliminate_cross_join",
        null_safe_join_keys::join_tree_left_alone,
    ),
];

/// `rule`, guarded if it is one of [`GUARDS`].
pub fn guarded(rule: Arc<dyn OptimizerRule + Send + Sync>) -> Arc<dyn OptimizerRule + Send + Sync> {
    match GUARDS.iter().find(|(name, _)| *name == rule.name()) {
        Some(&(_, left_alone)) => Arc::new(Guarded {
            wrapped: rule,
            left_alone,
        }),
        None => rule,
    }
}

#[derive(Debug)]
struct Guarded {
    wrapped: Arc<dyn OptimizerRule + Send + Sync>,
    left_alone: LeftAlone,
}

impl OptimizerRule for Guarded {
    fn name(&self) -> &str {
        self.wrapped.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.wrapped.apply_order()
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        if !(self.left_alone)(&plan)? {
            return self.wrapped.rewrite(plan, config);
        }
        match self.wrapped.apply_order() {
            Some(_) => Ok(Transformed::no(plan)),
            // A rule without an apply order walks the plan itself; walk it here.
            None => plan.map_children(|child| self.rewrite(child, config)),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion_optimizer::optimizer::Optimizer;

    use super::GUARDS;

    /// A rule renamed by a DataFusion upgrade would silently run unguarded.
    #[test]
    fn every_guarded_rule_is_in_the_optimizer() {
        let names: Vec<String> = Optimizer::new()
            .rules
            .iter()
            .map(|rule| rule.name().to_string())
            .collect();
        for (guarded, _) in GUARDS {
            assert!(names.iter().any(|name| name == guarded), "{guarded}");
        }
    }
}
