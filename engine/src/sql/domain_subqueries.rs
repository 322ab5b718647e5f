//! Aggregated scalar subqueries correlated through anything but equalities
//! (`(select count(*) from region where r_regionkey < n_regionkey)`, a running
//! total `(select sum(x) from t t2 where t2.d <= t1.d)`, `oid = any (pol.polroles)`).
//! DataFusion decorrelates a subquery only when every correlated condition is
//! `subquery column = outer expression`, so these were refused.
//!
//! Here such a subquery is evaluated once per distinct value of the outer columns it
//! reads (their domain, taken from the outer input), and then matched by equality:
//!
//! ```text
//! (select agg(x) from R where p(R, o.c))
//!   = (select first_value(v) from
//!        (select d, agg(x) filter (where present) as v
//!         from (select distinct c as d from <outer input>) left join
//!              (select *, true as present from R) on p(R, d)
//!         group by d)
//!      where d = o.c)
//! ```
//!
//! which DataFusion turns into a join. The left join keeps domain values no row
//! matches, and the `present` filter makes every aggregate see no rows for them, so
//! `count` is 0 and `max` NULL there, as the subquery answers over no rows. A
//! nullable outer column is matched by the pair (`c IS NULL`, `coalesce(c, 0)`),
//! so an outer NULL finds its own domain row instead of no row.
//!
//! The outer input is read twice (once for the domain): the price of a correlation
//! that no equality pins, which PostgreSQL pays by running the subquery per row.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, DFSchema, Result, ScalarValue};
use datafusion_expr::expr::{AggregateFunction, Alias, Exists, InSubquery};
use datafusion_expr::utils::{conjunction, split_conjunction};
use datafusion_expr::{
    binary_expr, lit, Aggregate, BinaryExpr, Cast, Expr, Filter, JoinType, LogicalPlan,
    LogicalPlanBuilder, Operator, Subquery, SubqueryAlias,
};
use datafusion_functions::core::expr_fn::coalesce;
use datafusion_functions_aggregate::count::count_all;
use datafusion_functions_aggregate::first_last::first_value;

use super::expr_rewrite::{input_schema, map_keeping_names};
use super::fromless_subqueries::inlined;
use super::lateral_apply::Apply;
use super::lateral_joins::{lateral_reads, outer_references};

/// Marks the subquery's rows in the left join (NULL where a domain value matched none).
const PRESENT: &str = "__subquery_row";
/// Names the domain's columns within rows that read the outer row.
const ROWS_DOMAIN_PREFIX: &str = "__domain_rows_";

/// Rewrites the scalar subqueries of `plan` DataFusion cannot decorrelate (typed:
/// after the analyzer).
pub fn decorrelated(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        // Elsewhere (a sort key, a join condition) only a subquery with no FROM is
        // taken out, as its expression.
        let input = match node {
            LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::Aggregate(_) => {
                Some(node.inputs()[0].clone())
            }
            _ => None,
        };
        map_keeping_names(node, |expr, schema| match (expr, &input) {
            (Expr::ScalarSubquery(subquery), input) => match inlined(&subquery, schema)? {
                Some(expr) => Ok(Transformed::yes(expr)),
                None => match input {
                    Some(input) => over_domain(subquery, input),
                    None => Ok(Transformed::no(Expr::ScalarSubquery(subquery))),
                },
            },
            (Expr::Exists(exists), Some(input))
                if has_lateral_factor(&exists.subquery.subquery) =>
            {
                counted(exists, input)
            }
            (other, _) => Ok(Transformed::no(other)),
        })
    })
    .map(|transformed| transformed.data)
}

/// Whether `plan` has a LATERAL subquery alone in a FROM list (`from unnest(t.a)
/// x`), which DataFusion's decorrelation does not follow.
fn has_lateral_factor(plan: &LogicalPlan) -> bool {
    plan.exists(|node| Ok(matches!(node, LogicalPlan::Subquery(_))))
        .unwrap_or(false)
}

/// `[NOT] EXISTS (q)` as `(select count(*) from q) > 0` (`= 0`), evaluated over the
/// domain as a scalar subquery; left as it was where that cannot be done.
fn counted(exists: Exists, outer_input: &LogicalPlan) -> Result<Transformed<Expr>> {
    let rows = LogicalPlanBuilder::from(exists.subquery.subquery.as_ref().clone())
        .aggregate(Vec::<Expr>::new(), [count_all()])?
        .build()?;
    let count = Subquery {
        subquery: Arc::new(rows),
        outer_ref_columns: exists.subquery.outer_ref_columns.clone(),
        spans: exists.subquery.spans.clone(),
    };
    let applied = over_domain(count, outer_input)?;
    if !applied.transformed {
        return Ok(Transformed::no(Expr::Exists(exists)));
    }
    let zero = lit(0i64);
    Ok(Transformed::yes(if exists.negated {
        applied.data.eq(zero)
    } else {
        applied.data.gt(zero)
    }))
}

/// The parts of a subquery `(Projection | SubqueryAlias)* -> Aggregate (ungrouped)
/// -> [(Projection | SubqueryAlias)* -> Filter] -> rows`, outer columns read only
/// above the rows.
struct Shape {
    /// From the top down.
    above: Vec<LogicalPlan>,
    aggregate: Aggregate,
    /// Between the aggregate and the correlated filter, from the top down.
    below: Vec<LogicalPlan>,
    /// The correlated filter's condition, if the aggregate reads one.
    condition: Option<Expr>,
    rows: Arc<LogicalPlan>,
    /// Whether `rows` read the outer row too (`from unnest(t.a) x`): evaluated once
    /// per domain value then, as a LATERAL is.
    rows_read_outer: bool,
}

fn over_domain(subquery: Subquery, outer_input: &LogicalPlan) -> Result<Transformed<Expr>> {
    let outer = outer_input.schema();
    let Some(shape) = shape_of(&subquery.subquery) else {
        return Ok(Transformed::no(Expr::ScalarSubquery(subquery)));
    };
    let columns = outer_columns(&shape);
    if columns.is_empty()
        || !columns.iter().all(|column| outer.has_column(column))
        || decorrelates_without_help(&shape)
    {
        return Ok(Transformed::no(Expr::ScalarSubquery(subquery)));
    }
    let Some(domain_input) = without_correlated_filters(outer_input)? else {
        return Ok(Transformed::no(Expr::ScalarSubquery(subquery)));
    };
    let domain = Domain::of(&columns, &domain_input)?;
    let Some(plan) = domain.evaluated(shape)? else {
        return Ok(Transformed::no(Expr::ScalarSubquery(subquery)));
    };
    let outer_ref_columns = plan.all_out_ref_exprs();
    Ok(Transformed::yes(Expr::ScalarSubquery(Subquery {
        subquery: Arc::new(plan),
        outer_ref_columns,
        spans: subquery.spans,
    })))
}

/// The rows to take a domain from: `outer_input` without the conditions that read
/// a query further out (`where polrelid = c.oid` around psql's `oid = any
/// (polroles)`), which the domain cannot read from inside the subquery. That domain
/// holds every value the outer rows have and maybe more, which no outer row then
/// matches. `None` if the outer input reads a query further out elsewhere.
fn without_correlated_filters(outer_input: &LogicalPlan) -> Result<Option<LogicalPlan>> {
    if !reads_outer(outer_input) {
        return Ok(Some(outer_input.clone()));
    }
    let uncorrelated = outer_input
        .clone()
        .transform_up(|node| match node {
            LogicalPlan::Filter(filter) if filter.predicate.contains_outer() => {
                let kept = split_conjunction(&filter.predicate)
                    .into_iter()
                    .filter(|conjunct| !conjunct.contains_outer())
                    .cloned();
                Ok(Transformed::yes(match conjunction(kept) {
                    Some(kept) => LogicalPlan::Filter(Filter::try_new(kept, filter.input)?),
                    None => Arc::unwrap_or_clone(filter.input),
                }))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data;
    Ok((!reads_outer(&uncorrelated)).then_some(uncorrelated))
}

fn shape_of(plan: &LogicalPlan) -> Option<Shape> {
    let mut above = Vec::new();
    let mut node = plan;
    let aggregate = loop {
        match node {
            LogicalPlan::Projection(projection) => {
                above.push(node.clone());
                node = &projection.input;
            }
            LogicalPlan::SubqueryAlias(alias) => {
                above.push(node.clone());
                node = &alias.input;
            }
            LogicalPlan::Aggregate(aggregate) if aggregate.group_expr.is_empty() => {
                break aggregate.clone()
            }
            _ => return None,
        }
    };
    let mut below = Vec::new();
    let mut node = aggregate.input.as_ref();
    let (condition, rows) = loop {
        match node {
            LogicalPlan::Projection(projection) => {
                below.push(node.clone());
                node = &projection.input;
            }
            LogicalPlan::SubqueryAlias(alias) => {
                below.push(node.clone());
                node = &alias.input;
            }
            LogicalPlan::Filter(filter) if filter.predicate.contains_outer() => {
                break (Some(filter.predicate.clone()), Arc::clone(&filter.input));
            }
            _ => {
                below.clear();
                break (None, Arc::clone(&aggregate.input));
            }
        }
    };
    let rows_read_outer = reads_outer(&rows);
    Some(Shape {
        above,
        aggregate,
        below,
        condition,
        rows,
        rows_read_outer,
    })
}

/// Whether `plan` reads a column from outside itself: an outer reference in its own
/// expressions, or one a subquery inside it takes from further out than the node
/// holding it (a subquery correlated with `plan`'s own rows reads nothing outside,
/// nor does a LATERAL reading its own join's left input).
fn reads_outer(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply(|node| {
        if let LogicalPlan::Join(join) = node {
            if let Some((_, further_out)) = lateral_reads(join) {
                found = expressions_read_outer(node)
                    || reads_outer(&join.left)
                    || !further_out.is_empty();
                return Ok(if found {
                    TreeNodeRecursion::Stop
                } else {
                    TreeNodeRecursion::Jump
                });
            }
        }
        found = expressions_read_outer(node);
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// Whether `node`'s own expressions read a column from outside the plan it is in.
fn expressions_read_outer(node: &LogicalPlan) -> bool {
    let scope = input_schema(node);
    node.expressions().iter().any(|expr| {
        expr.contains_outer()
            || subqueries_of(expr).any(|subquery| {
                subquery.outer_ref_columns.iter().any(|outer| {
                    !matches!(outer, Expr::OuterReferenceColumn(_, column) if scope.has_column(column))
                })
            })
    })
}

/// The subqueries within `expr` (not those inside their plans).
fn subqueries_of(expr: &Expr) -> impl Iterator<Item = &Subquery> {
    let mut subqueries = Vec::new();
    let _ = expr.apply(|e| {
        match e {
            Expr::Exists(Exists { subquery, .. })
            | Expr::InSubquery(InSubquery { subquery, .. })
            | Expr::ScalarSubquery(subquery) => subqueries.push(subquery),
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    });
    subqueries.into_iter()
}

/// The outer columns the subquery reads, in a fixed order.
fn outer_columns(shape: &Shape) -> Vec<Column> {
    let mut columns = BTreeSet::new();
    let mut collect = |expr: &Expr| {
        let _ = expr.apply(|e| {
            if let Expr::OuterReferenceColumn(_, column) = e {
                columns.insert(column.clone());
            }
            Ok(TreeNodeRecursion::Continue)
        });
    };
    shape.condition.iter().for_each(&mut collect);
    if shape.rows_read_outer {
        outer_references(&shape.rows).iter().for_each(&mut collect);
    }
    shape.aggregate.aggr_expr.iter().for_each(&mut collect);
    for node in shape.above.iter().chain(&shape.below) {
        node.expressions().iter().for_each(&mut collect);
    }
    columns.into_iter().collect()
}

/// Whether DataFusion decorrelates the subquery as it is: outer columns only in
/// the filter, each conjunct reading them `column = outer expression`.
fn decorrelates_without_help(shape: &Shape) -> bool {
    let elsewhere = shape.aggregate.aggr_expr.iter().any(Expr::contains_outer)
        || shape
            .above
            .iter()
            .chain(&shape.below)
            .any(|node| node.expressions().iter().any(Expr::contains_outer));
    !elsewhere
        && !shape.rows_read_outer
        && shape.condition.as_ref().is_none_or(|condition| {
            split_conjunction(condition)
                .into_iter()
                .filter(|conjunct| conjunct.contains_outer())
                .all(pulled_up_by_datafusion)
        })
}

/// DataFusion's test for a correlated conjunct it can move above an aggregate.
fn pulled_up_by_datafusion(conjunct: &Expr) -> bool {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = conjunct
    else {
        return false;
    };
    let is_column = |expr: &Expr| match expr {
        Expr::Column(_) => true,
        Expr::Cast(Cast { expr, .. }) => matches!(expr.as_ref(), Expr::Column(_)),
        _ => false,
    };
    (is_column(left) && !right.any_column_refs()) || (is_column(right) && !left.any_column_refs())
}

/// The distinct values of the outer columns a subquery reads.
struct Domain {
    /// Each outer column with the domain column holding its value.
    values: Vec<(Column, Column)>,
    /// The equalities that pick an outer row's domain row.
    matching: Vec<Expr>,
    plan: LogicalPlan,
}

impl Domain {
    fn of(columns: &[Column], outer_input: &LogicalPlan) -> Result<Domain> {
        let schema = outer_input.schema();
        let distinct = LogicalPlanBuilder::from(outer_input.clone())
            .aggregate(
                columns.iter().cloned().map(Expr::Column),
                Vec::<Expr>::new(),
            )?
            .build()?;
        let mut projected = Vec::new();
        let mut values = Vec::new();
        let mut matching = Vec::new();
        for (index, column) in columns.iter().enumerate() {
            let field = Arc::new(schema.qualified_field_from_column(column)?.1.clone());
            let value = format!("__domain_{index}");
            let outer_ref = Expr::OuterReferenceColumn(Arc::clone(&field), column.clone());
            projected.push(Expr::Column(column.clone()).alias(&value));
            values.push((column.clone(), Column::from_name(&value)));
            if field.is_nullable() {
                let is_null = format!("__domain_{index}_null");
                let key = format!("__domain_{index}_key");
                let default = lit(ScalarValue::new_default(field.data_type())?);
                projected.push(Expr::Column(column.clone()).is_null().alias(&is_null));
                projected.push(
                    coalesce(vec![Expr::Column(column.clone()), default.clone()]).alias(&key),
                );
                matching
                    .push(Expr::Column(Column::from_name(is_null)).eq(outer_ref.clone().is_null()));
                matching.push(
                    Expr::Column(Column::from_name(key)).eq(coalesce(vec![outer_ref, default])),
                );
            } else {
                matching.push(Expr::Column(Column::from_name(value)).eq(outer_ref));
            }
        }
        let plan = LogicalPlanBuilder::from(distinct)
            .project(projected)?
            .build()?;
        Ok(Domain {
            values,
            matching,
            plan,
        })
    }

    fn columns(&self) -> Vec<Expr> {
        self.plan
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect()
    }

    /// `expr` with outer columns read from the domain's.
    fn substituted(&self, expr: Expr) -> Result<Expr> {
        expr.transform_up(|e| match e {
            Expr::OuterReferenceColumn(field, column) => {
                match self.values.iter().find(|(outer, _)| *outer == column) {
                    Some((_, value)) => Ok(Transformed::yes(Expr::Column(value.clone()))),
                    None => Ok(Transformed::no(Expr::OuterReferenceColumn(field, column))),
                }
            }
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    }

    /// The subquery as one row per domain value, then the one matching the outer row;
    /// `None` if its rows read the outer row where that cannot be followed.
    fn evaluated(&self, shape: Shape) -> Result<Option<LogicalPlan>> {
        let (rows, same_value) = if shape.rows_read_outer {
            match self.rows_applied(&shape.rows)? {
                Some(applied) => applied,
                None => return Ok(None),
            }
        } else {
            (shape.rows.as_ref().clone(), None)
        };
        let rows = &rows;
        let mut marked: Vec<Expr> = rows
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        marked.push(lit(true).alias(PRESENT));
        let marked = LogicalPlanBuilder::from(rows.clone())
            .project(marked)?
            .build()?;
        let condition = match shape.condition {
            Some(condition) => self.substituted(condition)?,
            None => lit(true),
        };
        let condition = match same_value {
            Some(same_value) => same_value.and(condition),
            None => condition,
        };
        let mut joined = LogicalPlanBuilder::from(self.plan.clone())
            .join_on(marked, JoinType::Left, [condition])?
            .build()?;
        for node in shape.below.into_iter().rev() {
            joined = self.carried_through(node, joined)?;
        }
        let aggregates = shape
            .aggregate
            .aggr_expr
            .into_iter()
            .map(|expr| self.over_present_rows(expr))
            .collect::<Result<Vec<_>>>()?;
        let mut plan = LogicalPlan::Aggregate(Aggregate::try_new(
            Arc::new(joined),
            self.columns(),
            aggregates,
        )?);
        for node in shape.above.into_iter().rev() {
            plan = self.carried_through(node, plan)?;
        }
        let value = plan
            .schema()
            .columns()
            .pop()
            .expect("a scalar subquery has a column");
        let name = value.name.clone();
        let matched = Filter::try_new(
            conjunction(self.matching.clone()).expect("a domain has a column"),
            Arc::new(plan),
        )?;
        LogicalPlanBuilder::from(LogicalPlan::Filter(matched))
            .aggregate(
                Vec::<Expr>::new(),
                [first_value(Expr::Column(value), vec![]).alias(name)],
            )?
            .build()
            .map(Some)
    }

    /// Rows that read the outer row, computed for each domain value as a LATERAL
    /// subquery is (`lateral_apply`), with the condition that pairs them with it.
    fn rows_applied(&self, rows: &LogicalPlan) -> Result<Option<(LogicalPlan, Option<Expr>)>> {
        let outer: Vec<Column> = self.values.iter().map(|(outer, _)| outer.clone()).collect();
        let hidden: Vec<String> = (0..outer.len())
            .map(|index| format!("{ROWS_DOMAIN_PREFIX}{index}"))
            .collect();
        let combinations = LogicalPlanBuilder::from(self.plan.clone())
            .project(
                self.values
                    .iter()
                    .zip(&hidden)
                    .map(|((_, value), name)| Expr::Column(value.clone()).alias(name)),
            )?
            .build()?;
        let apply = Apply {
            outer: &outer,
            hidden: &hidden,
            combinations,
        };
        let Some(applied) = apply.over(rows)? else {
            return Ok(None);
        };
        let same_value = self.values.iter().zip(&hidden).map(|((_, value), name)| {
            binary_expr(
                Expr::Column(value.clone()),
                Operator::IsNotDistinctFrom,
                Expr::Column(Column::from_name(name)),
            )
        });
        Ok(Some((applied, conjunction(same_value))))
    }

    /// An aggregate of the subquery that sees no rows where a domain value matched none.
    fn over_present_rows(&self, expr: Expr) -> Result<Expr> {
        let name = expr.schema_name().to_string();
        let inner = match expr {
            Expr::Alias(Alias { expr, .. }) => *expr,
            other => other,
        };
        let inner = self.substituted(inner)?;
        let Expr::AggregateFunction(mut function) = inner else {
            return Ok(inner.alias(name));
        };
        let present = Expr::Column(Column::from_name(PRESENT));
        function.params.filter = Some(Box::new(match function.params.filter.take() {
            Some(filter) => present.and(*filter),
            None => present,
        }));
        Ok(Expr::AggregateFunction(AggregateFunction { ..function }).alias(name))
    }

    /// `node` (a projection or alias) over `input`, passing the domain columns (and
    /// below the aggregate, the row mark) up beside its own.
    fn carried_through(&self, node: LogicalPlan, input: LogicalPlan) -> Result<LogicalPlan> {
        match node {
            LogicalPlan::Projection(projection) => {
                let mut exprs = domain_columns_of(&input, self.plan.schema());
                for expr in projection.expr {
                    exprs.push(self.substituted(expr)?);
                }
                LogicalPlanBuilder::from(input).project(exprs)?.build()
            }
            LogicalPlan::SubqueryAlias(alias) => Ok(LogicalPlan::SubqueryAlias(
                SubqueryAlias::try_new(Arc::new(input), alias.alias)?,
            )),
            other => Ok(other),
        }
    }
}

/// The columns of `plan` that carry the domain's or the row mark (same names, maybe
/// requalified).
fn domain_columns_of(plan: &LogicalPlan, domain: &DFSchema) -> Vec<Expr> {
    plan.schema()
        .columns()
        .into_iter()
        .filter(|column| {
            column.name == PRESENT || domain.has_column_with_unqualified_name(&column.name)
        })
        .map(Expr::Column)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_equalities_with_a_column_are_left_to_datafusion() {
        let outer = || {
            Expr::OuterReferenceColumn(
                Arc::new(arrow::datatypes::Field::new(
                    "c",
                    arrow::datatypes::DataType::Int64,
                    false,
                )),
                Column::from_name("c"),
            )
        };
        let inner = || Expr::Column(Column::from_name("x"));
        assert!(pulled_up_by_datafusion(&inner().eq(outer())));
        assert!(pulled_up_by_datafusion(&(outer() + lit(1)).eq(inner())));
        assert!(!pulled_up_by_datafusion(&inner().lt(outer())));
        assert!(!pulled_up_by_datafusion(&(inner() + lit(1)).eq(outer())));
    }
}
