//! A LATERAL subquery that orders and limits its rows per outer row (`cross join
//! lateral (select .. from supplier where s_nationkey = n.n_nationkey order by
//! s_acctbal desc limit 2)`, the top rows of each group), or reads the outer row
//! anywhere but in a filter, is beyond DataFusion's decorrelation, which only pulls
//! correlated filters up into the join. Here it is decorrelated in general:
//!
//! - The subquery's answer depends on the outer row only through the columns it
//!   reads, so it is computed once for each distinct combination of them (`D`, the
//!   join's left input projected on those columns, deduplicated).
//! - `D` enters the subquery at the bottom of every branch that reads the outer row,
//!   as a cross join (which the filters above it make an equi-join), and its columns
//!   travel up through each operator: a projection keeps them, an aggregate groups
//!   by them too, and a LIMIT becomes `row_number() OVER (PARTITION BY D ORDER BY
//!   ..)` kept within the bounds, so each combination keeps its own first rows. An
//!   aggregate without GROUP BY still answers once per combination: `D` LEFT JOIN
//!   the groups, a count over no rows 0.
//! - The join then matches each outer row to its combination's rows with `IS NOT
//!   DISTINCT FROM` (a NULL outer column is a combination of its own).
//!
//! A window is partitioned by `D` too.
//!
//! Operators this does not carry `D` through (set operations, DISTINCT ON,
//! outer joins with the outer row on their NULL side) leave the plan as it was,
//! and the statement is refused as before.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, DFSchema, Result, TableReference};
use datafusion_expr::expr::AggregateFunction;
use datafusion_expr::utils::conjunction;
use datafusion_expr::{
    binary_expr, lit, Aggregate, Distinct, Expr, ExprFunctionExt, Filter, Join, JoinConstraint,
    JoinType, Limit, LogicalPlan, LogicalPlanBuilder, Operator, Projection, SortExpr, Subquery,
    SubqueryAlias, Unnest, Window,
};
use datafusion_functions_window::expr_fn::row_number;

use super::lateral_joins::{
    each_join, has_subquery, lateral_subquery, outer_references, reads_outer_row,
};

/// Names of the columns of `D`, and of each row's place among its combination's.
const HIDDEN_PREFIX: &str = "__lateral_outer_";
const PLACE: &str = "__lateral_place";

/// Rewrites every LATERAL join of `plan` (analyzed, before the optimizer) whose
/// subquery DataFusion cannot decorrelate and this can.
pub fn decorrelated(plan: LogicalPlan) -> Result<LogicalPlan> {
    each_join(plan, rewritten)
}

fn rewritten(join: Join, hidden_names: &mut usize) -> Result<Transformed<LogicalPlan>> {
    let Some((alias, subquery)) = lateral_subquery(&join) else {
        return Ok(Transformed::no(LogicalPlan::Join(join)));
    };
    let mut outer = Vec::<Column>::new();
    for reference in &subquery.outer_ref_columns {
        match reference {
            Expr::OuterReferenceColumn(_, column) if join.left.schema().has_column(column) => {
                if !outer.contains(column) {
                    outer.push(column.clone());
                }
            }
            // A query further out than the join's left input.
            _ => return Ok(Transformed::no(LogicalPlan::Join(join))),
        }
    }
    if outer.is_empty() || !beyond_filter_pull_up(&subquery.subquery) {
        return Ok(Transformed::no(LogicalPlan::Join(join)));
    }
    let hidden: Vec<String> = outer
        .iter()
        .map(|_| {
            *hidden_names += 1;
            format!("{HIDDEN_PREFIX}{hidden_names}")
        })
        .collect();
    let combinations = LogicalPlanBuilder::from(Arc::clone(&join.left))
        .project(
            outer
                .iter()
                .zip(&hidden)
                .map(|(column, name)| Expr::Column(column.clone()).alias(name)),
        )?
        .distinct()?
        .build()?;
    let apply = Apply {
        outer: &outer,
        hidden: &hidden,
        combinations,
    };
    let Some(applied) = apply.over(&subquery.subquery)? else {
        return Ok(Transformed::no(LogicalPlan::Join(join)));
    };
    // The subquery's own columns, then D's.
    let mut output: Vec<Expr> = subquery
        .subquery
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    output.extend(carried(applied.schema(), &hidden)?);
    let right = LogicalPlan::Projection(Projection::try_new(output, Arc::new(applied))?);
    let right = match &alias {
        Some(alias) => {
            LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(Arc::new(right), alias.clone())?)
        }
        None => right,
    };
    let same_combination = outer.iter().zip(&hidden).map(|(column, name)| {
        same_value(
            Expr::Column(column.clone()),
            Expr::Column(Column::new(alias.clone(), name)),
        )
    });
    let equalities = join
        .on
        .iter()
        .map(|(left, right)| left.clone().eq(right.clone()));
    let condition = conjunction(
        same_combination
            .chain(equalities)
            .chain(join.filter.clone()),
    );
    let shown = join
        .schema
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let joined = LogicalPlan::Join(Join::try_new(
        Arc::clone(&join.left),
        Arc::new(right),
        vec![],
        condition,
        join.join_type,
        JoinConstraint::On,
        join.null_equality,
        join.null_aware,
    )?);
    Ok(Transformed::yes(LogicalPlan::Projection(
        Projection::try_new(shown, Arc::new(joined))?,
    )))
}

/// `plan` with each subquery's list of outer columns cut to those it still reads:
/// a LATERAL rewritten inside a subquery no longer reads its left input as an
/// outer row, but the enclosing subquery's list still named those columns, and
/// looked correlated with a query further out.
pub fn outer_references_refreshed(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        node.map_expressions(|expr| {
            expr.transform_up(|expr| {
                Ok(match expr {
                    Expr::ScalarSubquery(subquery) => {
                        refreshed(subquery).update_data(Expr::ScalarSubquery)
                    }
                    Expr::Exists(mut exists) => {
                        let subquery = refreshed(exists.subquery);
                        let transformed = subquery.transformed;
                        exists.subquery = subquery.data;
                        Transformed::new_transformed(Expr::Exists(exists), transformed)
                    }
                    Expr::InSubquery(mut in_subquery) => {
                        let subquery = refreshed(in_subquery.subquery);
                        let transformed = subquery.transformed;
                        in_subquery.subquery = subquery.data;
                        Transformed::new_transformed(Expr::InSubquery(in_subquery), transformed)
                    }
                    other => Transformed::no(other),
                })
            })
        })
    })
    .map(|transformed| transformed.data)
}

/// `subquery` without the outer columns no part of it reads.
fn refreshed(mut subquery: Subquery) -> Transformed<Subquery> {
    let read = outer_references(&subquery.subquery);
    let before = subquery.outer_ref_columns.len();
    subquery
        .outer_ref_columns
        .retain(|outer| read.contains(outer));
    let cut = subquery.outer_ref_columns.len() != before;
    Transformed::new_transformed(subquery, cut)
}

/// Whether the subquery reads the outer row where DataFusion's decorrelation cannot
/// follow (anywhere but a filter and the select list on top, which
/// `lateral_projections` moves), or orders or limits its rows.
fn beyond_filter_pull_up(subquery: &LogicalPlan) -> bool {
    let mut beyond = false;
    let _ = subquery.apply(|node| {
        beyond = match node {
            LogicalPlan::Limit(_) => true,
            LogicalPlan::Sort(_) => true,
            // DataFusion pulls a correlated filter up through a window, which then
            // runs over every outer row's rows at once.
            LogicalPlan::Window(_) => reads_outer_row(node),
            // A HAVING that reads the outer row is one DataFusion leaves.
            LogicalPlan::Filter(filter) => {
                matches!(filter.input.as_ref(), LogicalPlan::Aggregate(_))
                    && node.contains_outer_reference()
            }
            _ if std::ptr::eq(node, subquery) => false,
            _ => node.contains_outer_reference(),
        };
        Ok(if beyond {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    beyond
}

/// The subquery evaluated once per combination of the outer columns it reads.
pub(super) struct Apply<'a> {
    /// The outer columns read.
    pub(super) outer: &'a [Column],
    /// The names of `combinations`' columns, holding `outer`'s values in order.
    pub(super) hidden: &'a [String],
    /// `D`: the distinct combinations.
    pub(super) combinations: LogicalPlan,
}

impl Apply<'_> {
    /// `plan` with `D`'s columns beside its own (where in the schema they are is
    /// found by name), each row its combination's; `None` where `D` cannot be
    /// carried through.
    pub(super) fn over(&self, plan: &LogicalPlan) -> Result<Option<LogicalPlan>> {
        if !reads_outer_row(plan) {
            let crossed = LogicalPlanBuilder::from(plan.clone())
                .cross_join(self.combinations.clone())?
                .build()?;
            return Ok(Some(crossed));
        }
        let mut nested = false;
        plan.apply_expressions(|expr| {
            nested |= has_subquery(expr);
            Ok(TreeNodeRecursion::Continue)
        })?;
        if nested {
            return Ok(None);
        }
        let applied = match plan {
            LogicalPlan::Filter(filter) => {
                let Some(input) = self.over(&filter.input)? else {
                    return Ok(None);
                };
                let predicate = self.local(filter.predicate.clone(), input.schema())?;
                LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(input))?)
            }
            LogicalPlan::Projection(projection) => {
                let Some(input) = self.over(&projection.input)? else {
                    return Ok(None);
                };
                self.projected(projection, input)?
            }
            LogicalPlan::SubqueryAlias(alias) => {
                let Some(input) = self.over(&alias.input)? else {
                    return Ok(None);
                };
                LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(
                    Arc::new(input),
                    alias.alias.clone(),
                )?)
            }
            // Rows in no order are as good as ordered ones, until a LIMIT picks some.
            LogicalPlan::Sort(sort) => match sort.fetch {
                None => return self.over(&sort.input),
                Some(fetch) => return self.first_rows(&sort.expr, &sort.input, 0, Some(fetch)),
            },
            LogicalPlan::Limit(limit) => return self.limited(limit),
            LogicalPlan::Aggregate(aggregate) => return self.aggregated(aggregate),
            LogicalPlan::Distinct(Distinct::All(input)) => {
                let Some(input) = self.over(input)? else {
                    return Ok(None);
                };
                LogicalPlan::Distinct(Distinct::All(Arc::new(input)))
            }
            LogicalPlan::Join(join) => return self.joined(join),
            // A LATERAL alone in a FROM list (a subquery's `from unnest(t.a) x`):
            // once applied it reads nothing outside.
            LogicalPlan::Subquery(subquery) => return self.over(&subquery.subquery),
            // `unnest(t.a)` in FROM: DataFusion makes it a LATERAL subquery that
            // unnests a projection of the outer row; D's columns are carried along
            // as an unnest carries every column it does not unnest.
            LogicalPlan::Unnest(unnest) => {
                let Some(input) = self.over(&unnest.input)? else {
                    return Ok(None);
                };
                LogicalPlan::Unnest(Unnest::try_new(
                    Arc::new(input),
                    unnest.exec_columns.clone(),
                    unnest.options.clone(),
                )?)
            }
            LogicalPlan::Window(window) => {
                let Some(input) = self.over(&window.input)? else {
                    return Ok(None);
                };
                let combination = carried(input.schema(), self.hidden)?;
                let offset = window.input.schema().fields().len();
                let exprs = window
                    .window_expr
                    .iter()
                    .enumerate()
                    .map(|(index, expr)| {
                        let (qualifier, field) = window.schema.qualified_field(offset + index);
                        let expr = self.local(expr.clone(), input.schema())?;
                        Ok(per_combination(expr, &combination)?
                            .unalias()
                            .alias_qualified(qualifier.cloned(), field.name()))
                    })
                    .collect::<Result<Vec<_>>>()?;
                LogicalPlan::Window(Window::try_new(exprs, Arc::new(input))?)
            }
            _ => return Ok(None),
        };
        Ok(Some(applied))
    }

    /// `projection`'s select list over `input`, and `D`'s columns.
    fn projected(&self, projection: &Projection, input: LogicalPlan) -> Result<LogicalPlan> {
        let mut exprs = projection
            .expr
            .iter()
            .zip(projection.schema.iter())
            .map(|(expr, named)| self.local_named(expr, input.schema(), named))
            .collect::<Result<Vec<_>>>()?;
        exprs.extend(carried(input.schema(), self.hidden)?);
        Ok(LogicalPlan::Projection(Projection::try_new(
            exprs,
            Arc::new(input),
        )?))
    }

    /// A LIMIT (and OFFSET) over its input's order: the ORDER BY right below it, or
    /// below the select list computed after it.
    fn limited(&self, limit: &Limit) -> Result<Option<LogicalPlan>> {
        use datafusion_expr::logical_plan::{FetchType, SkipType};
        let (SkipType::Literal(skip), FetchType::Literal(fetch)) =
            (limit.get_skip_type()?, limit.get_fetch_type()?)
        else {
            return Ok(None);
        };
        match limit.input.as_ref() {
            LogicalPlan::Sort(sort) if sort.fetch.is_none() => {
                self.first_rows(&sort.expr, &sort.input, skip, fetch)
            }
            LogicalPlan::Projection(projection) => match projection.input.as_ref() {
                LogicalPlan::Sort(sort) if sort.fetch.is_none() => {
                    let Some(first) = self.first_rows(&sort.expr, &sort.input, skip, fetch)? else {
                        return Ok(None);
                    };
                    Ok(Some(self.projected(projection, first)?))
                }
                _ => self.first_rows(&[], &limit.input, skip, fetch),
            },
            input => self.first_rows(&[], input, skip, fetch),
        }
    }

    /// The rows of `input` past the first `skip` and within `fetch` in `order`, of
    /// each combination.
    fn first_rows(
        &self,
        order: &[SortExpr],
        input: &LogicalPlan,
        skip: usize,
        fetch: Option<usize>,
    ) -> Result<Option<LogicalPlan>> {
        let Some(input) = self.over(input)? else {
            return Ok(None);
        };
        let columns: Vec<Expr> = input
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        let combination = carried(input.schema(), self.hidden)?;
        let mut order = order
            .iter()
            .map(|sort| {
                let expr = self.local(sort.expr.clone(), input.schema())?;
                Ok(SortExpr::new(expr, sort.asc, sort.nulls_first))
            })
            .collect::<Result<Vec<_>>>()?;
        if order.is_empty() {
            // Any rows will do; row_number needs some order.
            order = combination
                .iter()
                .map(|column| column.clone().sort(true, false))
                .collect();
        }
        let place = row_number()
            .partition_by(combination)
            .order_by(order)
            .build()?
            .alias(PLACE);
        let placed = Expr::Column(Column::from_name(PLACE));
        let mut within = placed.clone().gt(lit(skip as u64));
        if let Some(fetch) = fetch {
            let last = skip.saturating_add(fetch);
            within = within.and(placed.lt_eq(lit(last as u64)));
        }
        let kept = LogicalPlanBuilder::from(input)
            .window(vec![place])?
            .filter(within)?
            .project(columns)?
            .build()?;
        Ok(Some(kept))
    }

    /// An aggregate grouped by `D` too; without GROUP BY, one row per combination.
    fn aggregated(&self, aggregate: &Aggregate) -> Result<Option<LogicalPlan>> {
        let Some(input) = self.over(&aggregate.input)? else {
            return Ok(None);
        };
        if aggregate
            .group_expr
            .iter()
            .any(|expr| matches!(expr, Expr::GroupingSet(_)))
        {
            return Ok(None);
        }
        let named = |exprs: &[Expr], offset: usize| {
            exprs
                .iter()
                .enumerate()
                .map(|(index, expr)| {
                    let name = aggregate.schema.qualified_field(offset + index);
                    self.local_named(expr, input.schema(), name)
                })
                .collect::<Result<Vec<_>>>()
        };
        let mut groups = named(&aggregate.group_expr, 0)?;
        let scalar = groups.is_empty();
        groups.extend(carried(input.schema(), self.hidden)?);
        let aggregates = named(&aggregate.aggr_expr, aggregate.group_expr.len())?;
        let grouped =
            LogicalPlan::Aggregate(Aggregate::try_new(Arc::new(input), groups, aggregates)?);
        if !scalar {
            return Ok(Some(grouped));
        }
        // Every combination gets its row, also one whose input is empty.
        let values = TableReference::bare("__lateral_combinations");
        let groups = TableReference::bare("__lateral_groups");
        let grouped_schema = Arc::clone(grouped.schema());
        let grouped =
            LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(Arc::new(grouped), groups.clone())?);
        let combinations = LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(
            Arc::new(self.combinations.clone()),
            values.clone(),
        )?);
        let same = self.hidden.iter().map(|name| {
            same_value(
                Expr::Column(Column::new(Some(values.clone()), name)),
                Expr::Column(Column::new(Some(groups.clone()), name)),
            )
        });
        let joined = LogicalPlanBuilder::from(combinations)
            .join_on(grouped, JoinType::Left, same)?
            .build()?;
        let mut output: Vec<Expr> = aggregate
            .aggr_expr
            .iter()
            .zip(aggregate.schema.iter())
            .map(|(expr, (qualifier, field))| {
                let value = Expr::Column(Column::new(Some(groups.clone()), field.name()));
                let value = if counts(expr) {
                    datafusion_functions::expr_fn::coalesce(vec![value, lit(0i64)])
                } else {
                    value
                };
                value.alias_qualified(qualifier.cloned(), field.name())
            })
            .collect();
        debug_assert_eq!(
            grouped_schema.fields().len(),
            self.hidden.len() + aggregate.aggr_expr.len()
        );
        output.extend(
            self.hidden
                .iter()
                .map(|name| Expr::Column(Column::new(Some(values.clone()), name))),
        );
        Ok(Some(LogicalPlan::Projection(Projection::try_new(
            output,
            Arc::new(joined),
        )?)))
    }

    /// A join inside the subquery: `D` enters the side that reads the outer row,
    /// which must be one whose rows the join does not invent (not the NULL side of
    /// an outer join).
    fn joined(&self, join: &Join) -> Result<Option<LogicalPlan>> {
        let left_reads = reads_outer_row(&join.left);
        let right_reads = reads_outer_row(&join.right);
        let (left, right) = match (left_reads, right_reads, join.join_type) {
            (true, true, _) => return Ok(None),
            (true, false, JoinType::Inner | JoinType::Left | JoinType::LeftSemi)
            | (true, false, JoinType::LeftAnti) => {
                let Some(left) = self.over(&join.left)? else {
                    return Ok(None);
                };
                (Arc::new(left), Arc::clone(&join.right))
            }
            (false, true, JoinType::Inner | JoinType::Right | JoinType::RightSemi)
            | (false, true, JoinType::RightAnti) => {
                let Some(right) = self.over(&join.right)? else {
                    return Ok(None);
                };
                (Arc::clone(&join.left), Arc::new(right))
            }
            // Only the condition reads the outer row: D enters the left side.
            (false, false, JoinType::Inner | JoinType::Left | JoinType::LeftSemi)
            | (false, false, JoinType::LeftAnti) => {
                let Some(left) = self.over(&join.left)? else {
                    return Ok(None);
                };
                (Arc::new(left), Arc::clone(&join.right))
            }
            _ => return Ok(None),
        };
        let schema = left.schema().join(right.schema())?;
        let filter = join
            .filter
            .clone()
            .map(|filter| self.local(filter, &schema))
            .transpose()?;
        Ok(Some(LogicalPlan::Join(Join::try_new(
            left,
            right,
            join.on.clone(),
            filter,
            join.join_type,
            join.join_constraint,
            join.null_equality,
            join.null_aware,
        )?)))
    }

    /// `expr` computed over `schema` as `local` does, under the name it had (`named`)
    /// where reading `D` changed its name.
    fn local_named(
        &self,
        expr: &Expr,
        schema: &DFSchema,
        (qualifier, field): (Option<&TableReference>, &arrow::datatypes::FieldRef),
    ) -> Result<Expr> {
        let local = self.local(expr.clone(), schema)?;
        if local == *expr {
            return Ok(local);
        }
        Ok(local
            .unalias()
            .alias_qualified(qualifier.cloned(), field.name()))
    }

    /// `expr` with each read of the outer row replaced by `D`'s column in `schema`.
    fn local(&self, expr: Expr, schema: &DFSchema) -> Result<Expr> {
        expr.transform_up(|node| match node {
            Expr::OuterReferenceColumn(_, column) => {
                let index = self
                    .outer
                    .iter()
                    .position(|outer| *outer == column)
                    .ok_or_else(|| {
                        datafusion_common::DataFusionError::Internal(format!(
                            "outer column {column} is not among the LATERAL's"
                        ))
                    })?;
                Ok(Transformed::yes(resolved(schema, &self.hidden[index])?))
            }
            other => Ok(Transformed::no(other)),
        })
        .map(|transformed| transformed.data)
    }
}

/// The window function `expr` partitioned by `combination` too, so it runs over
/// each combination's rows apart.
fn per_combination(expr: Expr, combination: &[Expr]) -> Result<Expr> {
    expr.transform_down(|node| match node {
        Expr::WindowFunction(mut window) => {
            window.params.partition_by.extend_from_slice(combination);
            Ok(Transformed::new(
                Expr::WindowFunction(window),
                true,
                TreeNodeRecursion::Jump,
            ))
        }
        other => Ok(Transformed::no(other)),
    })
    .map(|transformed| transformed.data)
}

/// `left IS NOT DISTINCT FROM right`: a NULL outer column is a combination too.
fn same_value(left: Expr, right: Expr) -> Expr {
    binary_expr(left, Operator::IsNotDistinctFrom, right)
}

/// `D`'s columns in `schema`.
fn carried(schema: &DFSchema, hidden: &[String]) -> Result<Vec<Expr>> {
    hidden.iter().map(|name| resolved(schema, name)).collect()
}

/// The column of `schema` named `name`, with the qualifier the schema gives it.
fn resolved(schema: &DFSchema, name: &str) -> Result<Expr> {
    let (qualifier, field) = schema.qualified_field_with_unqualified_name(name)?;
    Ok(Expr::Column(Column::new(qualifier.cloned(), field.name())))
}

/// Whether the aggregate `expr` is a count, which is 0 over no rows (every other
/// aggregate PostgreSQL has is NULL there).
fn counts(expr: &Expr) -> bool {
    match expr.clone().unalias() {
        Expr::AggregateFunction(AggregateFunction { func, .. }) => {
            matches!(func.name(), "count" | "regr_count")
        }
        _ => false,
    }
}
