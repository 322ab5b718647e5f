//! A filter above an aggregate without GROUP BY stays above it. DataFusion's
//! push_down_filter moves every conjunct that names only grouping columns below an
//! aggregate; a conjunct that names no column at all qualifies, and with no groups
//! that changes the answer: the aggregate of no rows is still one row. After common
//! subexpressions are folded, `(select max(a) from t) in (null, null)` reaches the
//! aggregate as the constant `NULL`, went below it, and the scalar subquery kept its
//! one row, so the outer query answered as if the condition held (PostgreSQL: no row).
//! This rule wraps push_down_filter and leaves a filter over such an aggregate where
//! it is; the simplifier then folds a constant one over the aggregate's one row.

use datafusion_common::tree_node::Transformed;
use datafusion_common::Result;
use datafusion_expr::LogicalPlan;
use datafusion_optimizer::optimizer::ApplyOrder;
use datafusion_optimizer::push_down_filter::PushDownFilter;
use datafusion_optimizer::{OptimizerConfig, OptimizerRule};

/// DataFusion's push_down_filter, except above an aggregate without groups.
#[derive(Debug, Default)]
pub struct GrandTotalFilters {
    pushed: PushDownFilter,
}

impl GrandTotalFilters {
    /// The rule that takes the place of `push_down_filter` in the optimizer's list.
    pub fn replaces(rule: &dyn OptimizerRule) -> bool {
        rule.name() == PushDownFilter::new().name()
    }
}

impl OptimizerRule for GrandTotalFilters {
    fn name(&self) -> &str {
        self.pushed.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.pushed.apply_order()
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        // Without groups, push_down_filter would push only column-free conjuncts
        // here (no conjunct that names a column names a grouping column), and those
        // are exactly the ones that must stay.
        match &plan {
            LogicalPlan::Filter(filter) if is_grand_total(&filter.input) => {
                Ok(Transformed::no(plan))
            }
            _ => self.pushed.rewrite(plan, config),
        }
    }
}

/// An aggregate that answers one row even over no input.
fn is_grand_total(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Aggregate(aggregate) if aggregate.group_expr.is_empty())
}
