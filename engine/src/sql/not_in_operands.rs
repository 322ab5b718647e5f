//! `f(x) NOT IN (subquery)` where `f(x)` can be NULL though `x` cannot. DataFusion
//! makes a NOT IN a null-aware anti join only if a column in its condition is
//! nullable, so `nullif(k, 6) NOT IN (SELECT 4 ..)` over a NOT NULL `k` became a
//! plain anti join: the rows where `nullif` gave NULL came out, though `NULL NOT IN
//! (4)` is unknown (PostgreSQL drops them). Placed just before decorrelation, this
//! rule computes such an operand as a column of its own below the filter, so its
//! nullability is the expression's, and projects the filter's columns back above.

use datafusion_common::tree_node::Transformed;
use datafusion_common::{Column, Result};
use datafusion_expr::expr::InSubquery;
use datafusion_expr::utils::{conjunction, split_conjunction_owned};
use datafusion_expr::{Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder};
use datafusion_optimizer::optimizer::ApplyOrder;
use datafusion_optimizer::{OptimizerConfig, OptimizerRule};

/// The optimizer rule; see the module's documentation.
#[derive(Debug, Default)]
pub struct NullableNotInOperands;

/// The rule this one must run before.
pub const RUNS_BEFORE: &str = "decorrelate_predicate_subquery";

/// Names the operands computed below a filter take.
const OPERAND_PREFIX: &str = "__not_in_operand_";

impl OptimizerRule for NullableNotInOperands {
    fn name(&self) -> &str {
        "nullable_not_in_operands"
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
        let LogicalPlan::Filter(filter) = plan else {
            return Ok(Transformed::no(plan));
        };
        let schema = filter.input.schema().clone();
        let mut operands = Vec::new();
        let mut conjuncts = Vec::new();
        for conjunct in split_conjunction_owned(filter.predicate.clone()) {
            match conjunct {
                Expr::InSubquery(InSubquery {
                    expr,
                    subquery,
                    negated: true,
                }) if needs_own_column(&expr, &schema)? => {
                    let name = format!("{OPERAND_PREFIX}{}", operands.len());
                    operands.push(expr.alias(name.clone()));
                    conjuncts.push(Expr::InSubquery(InSubquery::new(
                        Box::new(Expr::Column(Column::from_name(name))),
                        subquery,
                        true,
                    )));
                }
                other => conjuncts.push(other),
            }
        }
        if operands.is_empty() {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        }
        let columns: Vec<Expr> = schema.columns().into_iter().map(Expr::Column).collect();
        let with_operands = columns.iter().cloned().chain(operands);
        let plan = LogicalPlanBuilder::from(filter.input.as_ref().clone())
            .project(with_operands)?
            .filter(conjunction(conjuncts).expect("a filter has a conjunct"))?
            .project(columns)?
            .build()?;
        Ok(Transformed::yes(plan))
    }
}

/// Whether DataFusion would miss that `operand` can be NULL: an expression (not a
/// column) that can be, over the filter's own columns only.
fn needs_own_column(operand: &Expr, schema: &datafusion_common::DFSchema) -> Result<bool> {
    Ok(!matches!(operand, Expr::Column(_))
        && !operand.contains_outer()
        && operand.nullable(schema)?)
}
