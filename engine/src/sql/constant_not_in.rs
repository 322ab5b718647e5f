//! `coalesce(7, t.b) NOT IN (select s.a from s)`: once the operand is simplified to
//! a constant, DataFusion's null-aware anti join has no key, only the condition
//! `7 = s.a`, which reads no column of the left side, and filter push-down moves it
//! into the subquery's rows. That drops the rows where `s.a` is NULL, so the left
//! rows came out, though `7 NOT IN (.., NULL)` is unknown (PostgreSQL: no rows).
//! Placed before push-down, this rule makes such a condition `7 = s.a IS NOT FALSE`:
//! pushed down, it keeps the rows that match or might, and any such row rules every
//! left row out, as NOT IN does. A condition that reads the left side is left alone
//! (it holds the correlation too, which must stay TRUE to count).

use datafusion_common::tree_node::Transformed;
use datafusion_common::Result;
use datafusion_expr::{Expr, JoinType, LogicalPlan};
use datafusion_optimizer::optimizer::ApplyOrder;
use datafusion_optimizer::{OptimizerConfig, OptimizerRule};

/// The optimizer rule; see the module's documentation.
#[derive(Debug, Default)]
pub struct ConstantNotIn;

/// The rule this one must run before.
pub const RUNS_BEFORE: &str = "push_down_filter";

impl OptimizerRule for ConstantNotIn {
    fn name(&self) -> &str {
        "constant_not_in"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(mut join) = plan else {
            return Ok(Transformed::no(plan));
        };
        let left = join.left.schema();
        let applies = join.null_aware
            && join.join_type == JoinType::LeftAnti
            && join.on.is_empty()
            && join.filter.as_ref().is_some_and(|filter| {
                !matches!(filter, Expr::IsNotFalse(_))
                    && !filter
                        .column_refs()
                        .into_iter()
                        .any(|column| left.has_column(column))
            });
        if !applies {
            return Ok(Transformed::no(LogicalPlan::Join(join)));
        }
        join.filter = join
            .filter
            .take()
            .map(|filter| Expr::IsNotFalse(Box::new(filter)));
        Ok(Transformed::yes(LogicalPlan::Join(join)))
    }
}
