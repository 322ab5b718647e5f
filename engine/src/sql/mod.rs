//! SQL front end: text -> sqlparser AST -> DataFusion logical plan, analyzed and
//! optimized over our catalog. Guards run before the parser sees the text, because the
//! parser's time grows exponentially on some short inputs.

pub mod guard;
pub mod parse;
pub mod provider;
mod split;

use datafusion_common::config::ConfigOptions;
use datafusion_expr::LogicalPlan;
use datafusion_optimizer::analyzer::Analyzer;
use datafusion_optimizer::optimizer::Optimizer;
use datafusion_optimizer::{OptimizerConfig, OptimizerContext, OptimizerRule};
use datafusion_sql::planner::SqlToRel;
use sqlparser::ast::Statement as SqlStatement;

use crate::catalog::Catalog;
use crate::error::{ErrorCode, QueryError, QueryResult};
pub use provider::FunctionRegistry;
use provider::PlanningContext;
pub use split::split_statements;

/// A parsed statement, sorted into what Percore does with it.
#[derive(Debug)]
pub enum Statement {
    /// A query to run.
    Query(Box<LogicalPlan>),
    /// `EXPLAIN [ANALYZE] query`: show the distributed plan instead of running it.
    Explain {
        plan: Box<LogicalPlan>,
        analyze: bool,
    },
}

/// Parses and plans one SQL statement into an optimized logical plan.
///
/// # Errors
/// Syntax errors, unknown names, more than one statement, and unsupported statements.
pub fn plan_statement(
    sql: &str,
    catalog: &Catalog,
    functions: &FunctionRegistry,
) -> QueryResult<Statement> {
    guard::check(sql)?;
    let mut statements = parse::parse(sql)?;
    if statements.len() != 1 {
        return Err(QueryError::new(
            ErrorCode::Syntax,
            format!("expected one statement, found {}", statements.len()),
        ));
    }
    let statement = statements.remove(0);
    let (statement, explain, analyze) = match statement {
        SqlStatement::Explain {
            statement, analyze, ..
        } => (*statement, true, analyze),
        SqlStatement::Query(_) => (statement, false, false),
        other => {
            let kind = other.to_string();
            let kind: String = kind
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            return Err(QueryError::unsupported(format!(
                "statement '{kind}'; only queries and EXPLAIN run"
            )));
        }
    };
    let plan = to_logical_plan(statement, catalog, functions)?;
    Ok(if explain {
        Statement::Explain {
            plan: Box::new(plan),
            analyze,
        }
    } else {
        Statement::Query(Box::new(plan))
    })
}

fn to_logical_plan(
    statement: SqlStatement,
    catalog: &Catalog,
    functions: &FunctionRegistry,
) -> QueryResult<LogicalPlan> {
    let mut options = ConfigOptions::default();
    // Scalar subqueries become joins here; Percore has no separate subquery operator.
    options
        .optimizer
        .enable_physical_uncorrelated_scalar_subquery = false;
    let options = std::sync::Arc::new(options);
    let context = PlanningContext {
        catalog,
        functions,
        options: (*options).clone(),
    };
    let plan = SqlToRel::new(&context).sql_statement_to_plan(statement)?;
    let config = OptimizerContext::new_with_config_options(options).with_skip_failing_rules(false);
    let plan = Analyzer::new().execute_and_check(plan, &config.options(), |_, _| {})?;
    let plan = Optimizer::new().optimize(plan, &config, observe_rule)?;
    Ok(plan)
}

fn observe_rule(_plan: &LogicalPlan, _rule: &dyn OptimizerRule) {}
