//! Row estimates for logical plans, from table row counts and declared column
//! statistics. Join ordering compares the results of candidate joins by them, and
//! the physical planner sizes join sides (which to build, which to broadcast).
//!
//! The rules are the textbook ones: an equality filter keeps 1/distinct of the rows,
//! a range the covered fraction of the column's range, and an equi-join of `L` and
//! `R` yields `|L| * |R| / max(distinct(L.key), distinct(R.key))`. A join key with
//! no statistics counts as referencing the other side's keys (or as unique when
//! neither side's are known); filters on such a column keep a third. Estimates only
//! steer choices; no result depends on them.

use datafusion_common::{Column, ScalarValue};
use datafusion_expr::logical_plan::{Join, JoinType, LogicalPlan};
use datafusion_expr::{Between, BinaryExpr, Expr, Operator};

use crate::catalog::{Catalog, Table};

/// What a filter keeps when nothing better is known.
const UNKNOWN_SELECTIVITY: f64 = 0.33;
/// What `column = constant` keeps when the column's distinct count is unknown.
const UNKNOWN_EQUALITY_SELECTIVITY: f64 = 0.1;
/// What a LIKE keeps.
const LIKE_SELECTIVITY: f64 = 0.1;
/// Groups per input row when the group columns' distinct counts are unknown.
const UNKNOWN_GROUP_SHARE: f64 = 0.1;
/// What a semi or anti join keeps of its left side.
const SEMI_JOIN_SELECTIVITY: f64 = 0.5;

/// Estimates rows over one catalog.
pub struct Cardinality<'a> {
    catalog: &'a Catalog,
}

impl<'a> Cardinality<'a> {
    pub fn new(catalog: &'a Catalog) -> Self {
        Cardinality { catalog }
    }

    /// The rows `plan` is expected to produce.
    pub fn rows(&self, plan: &LogicalPlan) -> f64 {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let Some(table) = self.catalog.resolve(&scan.table_name) else {
                    return 1000.0;
                };
                let rows = table.row_count as f64;
                let filters: Vec<&Expr> = scan.filters.iter().collect();
                let rows = rows * self.conjunction(&filters, plan, rows);
                scan.fetch.map_or(rows, |fetch| rows.min(fetch as f64))
            }
            LogicalPlan::Filter(filter) => {
                let rows = self.rows(&filter.input);
                rows * self.selectivity(&filter.predicate, &filter.input, rows)
            }
            LogicalPlan::Join(join) => self.join_rows(plan, join),
            LogicalPlan::Aggregate(aggregate) => {
                let input = self.rows(&aggregate.input);
                if aggregate.group_expr.is_empty() {
                    return 1.0;
                }
                let columns: Option<Vec<Column>> = aggregate
                    .group_expr
                    .iter()
                    .map(|e| e.try_as_col().cloned())
                    .collect();
                let groups = columns
                    .and_then(|columns| self.distinct(&aggregate.input, &columns, input))
                    .unwrap_or(input * UNKNOWN_GROUP_SHARE);
                groups.min(input).max(1.0)
            }
            LogicalPlan::Limit(limit) => {
                let rows = self.rows(&limit.input);
                match limit.get_fetch_type() {
                    Ok(datafusion_expr::logical_plan::FetchType::Literal(Some(fetch))) => {
                        rows.min(fetch as f64)
                    }
                    _ => rows,
                }
            }
            LogicalPlan::Sort(sort) => {
                let rows = self.rows(&sort.input);
                sort.fetch.map_or(rows, |fetch| rows.min(fetch as f64))
            }
            LogicalPlan::EmptyRelation(empty) => f64::from(u8::from(empty.produce_one_row)),
            LogicalPlan::Values(values) => values.values.len() as f64,
            other => other
                .inputs()
                .into_iter()
                .map(|input| self.rows(input))
                .sum::<f64>()
                .max(1.0),
        }
    }

    /// `plan` is `join` itself (the scope its filter's columns resolve in).
    fn join_rows(&self, plan: &LogicalPlan, join: &Join) -> f64 {
        let left = self.rows(&join.left);
        let right = self.rows(&join.right);
        let semi = |kept: f64| kept * SEMI_JOIN_SELECTIVITY;
        match join.join_type {
            JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => return semi(left),
            JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => return semi(right),
            _ => {}
        }
        let inner = self.inner_join_rows(plan, join, left, right);
        match join.join_type {
            JoinType::Left => inner.max(left),
            JoinType::Right => inner.max(right),
            JoinType::Full => inner.max(left + right),
            _ => inner,
        }
    }

    /// `|L| * |R| / max(distinct(L keys), distinct(R keys))`, times the filter's share;
    /// a side with unknown distinct keys counts as referencing the other side's.
    fn inner_join_rows(&self, plan: &LogicalPlan, join: &Join, left: f64, right: f64) -> f64 {
        let mut rows = left * right;
        if !join.on.is_empty() {
            let keys = |side: &LogicalPlan, rows: f64, pick: fn(&(Expr, Expr)) -> &Expr| {
                let columns: Option<Vec<Column>> = join
                    .on
                    .iter()
                    .map(|pair| pick(pair).try_as_col().cloned())
                    .collect();
                columns.and_then(|columns| self.distinct(side, &columns, rows))
            };
            let left_keys = keys(&join.left, left, |(l, _)| l);
            let right_keys = keys(&join.right, right, |(_, r)| r);
            // A side whose keys are unknown (a union, an expression) is taken to
            // reference the other side's keys, as a fact table its dimension: taking
            // it as unique instead made a 3-million-row union joined to 12 stores
            // look like 12 rows, broadcast and built whole (TPC-DS q05).
            let divisor = match (left_keys, right_keys) {
                (Some(l), Some(r)) => l.max(r),
                (Some(known), None) | (None, Some(known)) => known,
                (None, None) => left.max(right),
            };
            rows /= divisor.max(1.0);
        }
        if let Some(filter) = &join.filter {
            rows *= self.selectivity(filter, plan, rows);
        }
        rows
    }

    /// Distinct value combinations of `columns` in `plan`'s output of `rows` rows:
    /// declared for the set when all come from one table, else the product of each
    /// column's; `None` when a column's is unknown.
    pub fn distinct(&self, plan: &LogicalPlan, columns: &[Column], rows: f64) -> Option<f64> {
        let origins: Vec<(&Table, String)> = columns
            .iter()
            .map(|column| self.origin(plan, column))
            .collect::<Option<_>>()?;
        let one_table = origins
            .windows(2)
            .all(|pair| std::ptr::eq(pair[0].0, pair[1].0));
        let declared_set = one_table.then(|| {
            let names: Vec<&str> = origins.iter().map(|(_, name)| name.as_str()).collect();
            origins[0].0.statistics.distinct(&names)
        });
        let count = match declared_set.flatten() {
            Some(count) => count,
            None => origins
                .iter()
                .map(|(table, name)| table.statistics.distinct(&[name.as_str()]))
                .product::<Option<f64>>()?,
        };
        Some(count.min(rows).max(1.0))
    }

    /// The table and column a plan's output column reads unchanged, if any.
    fn origin(&self, plan: &LogicalPlan, column: &Column) -> Option<(&'a Table, String)> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let table = self.catalog.resolve(&scan.table_name)?;
                table.schema.index_of(&column.name).ok()?;
                Some((table.as_ref(), column.name.clone()))
            }
            LogicalPlan::Projection(projection) => {
                let index = projection.schema.index_of_column(column).ok()?;
                let source = unaliased(&projection.expr[index]).try_as_col()?;
                self.origin(&projection.input, source)
            }
            LogicalPlan::Aggregate(aggregate) => {
                let index = aggregate.schema.index_of_column(column).ok()?;
                let source = unaliased(aggregate.group_expr.get(index)?).try_as_col()?;
                self.origin(&aggregate.input, source)
            }
            LogicalPlan::SubqueryAlias(alias) => {
                let index = alias.schema.index_of_column(column).ok()?;
                let source = Column::from(alias.input.schema().qualified_field(index));
                self.origin(&alias.input, &source)
            }
            LogicalPlan::Join(join) => {
                let side = if join.left.schema().has_column(column) {
                    &join.left
                } else {
                    &join.right
                };
                self.origin(side, column)
            }
            LogicalPlan::Filter(_) | LogicalPlan::Sort(_) | LogicalPlan::Limit(_) => {
                self.origin(plan.inputs()[0], column)
            }
            _ => None,
        }
    }

    /// The share of `plan`'s `rows` rows that `predicate` keeps.
    pub fn selectivity(&self, predicate: &Expr, plan: &LogicalPlan, rows: f64) -> f64 {
        let share = match predicate {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::And,
                right,
            }) => return self.conjunction(&[left, right], plan, rows),
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Or,
                right,
            }) => {
                let left = self.selectivity(left, plan, rows);
                let right = self.selectivity(right, plan, rows);
                left + right - left * right
            }
            Expr::Not(inner) => 1.0 - self.selectivity(inner, plan, rows),
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                self.comparison(left, *op, right, plan, rows)
            }
            Expr::Between(Between {
                expr,
                negated,
                low,
                high,
            }) => {
                let inside = self
                    .range_share(expr, Some(low), Some(high), plan)
                    .unwrap_or(UNKNOWN_SELECTIVITY);
                if *negated {
                    1.0 - inside
                } else {
                    inside
                }
            }
            Expr::InList(list) => {
                let one = self.equality_share(&list.expr, plan, rows);
                let inside = (one * list.list.len() as f64).min(1.0);
                if list.negated {
                    1.0 - inside
                } else {
                    inside
                }
            }
            Expr::Like(like) if like.negated => 1.0 - LIKE_SELECTIVITY,
            Expr::Like(_) => LIKE_SELECTIVITY,
            Expr::IsNotNull(_) => 0.95,
            Expr::IsNull(_) => 0.05,
            Expr::Literal(ScalarValue::Boolean(Some(keep)), _) => f64::from(u8::from(*keep)),
            _ => UNKNOWN_SELECTIVITY,
        };
        share.clamp(0.0, 1.0)
    }

    /// AND: range bounds on one column cover one interval together (a BETWEEN written
    /// as two comparisons); the shares of the others and of those intervals combine
    /// with backoff ([`backed_off`]).
    fn conjunction(&self, terms: &[&Expr], plan: &LogicalPlan, rows: f64) -> f64 {
        let mut conjuncts = Vec::new();
        for term in terms {
            conjuncts.extend(datafusion_expr::utils::split_conjunction(term));
        }
        let mut bounds: Vec<(&Column, Option<&Expr>, Option<&Expr>)> = Vec::new();
        let mut shares = Vec::new();
        for conjunct in conjuncts {
            match range_bound(conjunct) {
                Some((column, bound, is_lower)) if self.column_range(column, plan).is_some() => {
                    let index = match bounds.iter().position(|(c, _, _)| *c == column) {
                        Some(index) => index,
                        None => {
                            bounds.push((column, None, None));
                            bounds.len() - 1
                        }
                    };
                    if is_lower {
                        bounds[index].1 = Some(bound);
                    } else {
                        bounds[index].2 = Some(bound);
                    }
                }
                _ => shares.push(self.selectivity(conjunct, plan, rows)),
            }
        }
        for (column, low, high) in bounds {
            let expr = Expr::Column(column.clone());
            shares.push(
                self.range_share(&expr, low, high, plan)
                    .unwrap_or(UNKNOWN_SELECTIVITY),
            );
        }
        backed_off(shares)
    }

    fn comparison(
        &self,
        left: &Expr,
        op: Operator,
        right: &Expr,
        plan: &LogicalPlan,
        rows: f64,
    ) -> f64 {
        let Some((column, op, value)) = against_constant(left, op, right) else {
            if op == Operator::Eq && !is_constant(left) && !is_constant(right) {
                // Two columns equal: the larger distinct count bounds the matches.
                let share = |e: &Expr| 1.0 / self.distinct_of(e, plan, rows).unwrap_or(3.0);
                return share(left).min(share(right));
            }
            return UNKNOWN_SELECTIVITY;
        };
        match op {
            Operator::Eq => self.equality_share(column, plan, rows),
            Operator::NotEq => 1.0 - self.equality_share(column, plan, rows),
            Operator::Lt | Operator::LtEq => self
                .range_share(column, None, Some(value), plan)
                .unwrap_or(UNKNOWN_SELECTIVITY),
            Operator::Gt | Operator::GtEq => self
                .range_share(column, Some(value), None, plan)
                .unwrap_or(UNKNOWN_SELECTIVITY),
            _ => UNKNOWN_SELECTIVITY,
        }
    }

    /// The share `column = constant` keeps: one distinct value's.
    fn equality_share(&self, expr: &Expr, plan: &LogicalPlan, rows: f64) -> f64 {
        self.distinct_of(expr, plan, rows)
            .map_or(UNKNOWN_EQUALITY_SELECTIVITY, |distinct| 1.0 / distinct)
    }

    fn distinct_of(&self, expr: &Expr, plan: &LogicalPlan, rows: f64) -> Option<f64> {
        let column = unaliased(expr).try_as_col()?;
        self.distinct(plan, std::slice::from_ref(column), rows.max(1.0))
    }

    fn column_range(&self, column: &Column, plan: &LogicalPlan) -> Option<(f64, f64)> {
        let (table, name) = self.origin(plan, column)?;
        table.statistics.range(&name)
    }

    /// The share of the column's declared range within `low..=high`.
    fn range_share(
        &self,
        expr: &Expr,
        low: Option<&Expr>,
        high: Option<&Expr>,
        plan: &LogicalPlan,
    ) -> Option<f64> {
        let column = unaliased(expr).try_as_col()?;
        let (min, max) = self.column_range(column, plan)?;
        let low = match low {
            Some(bound) => literal_value(bound)?.max(min),
            None => min,
        };
        let high = match high {
            Some(bound) => literal_value(bound)?.min(max),
            None => max,
        };
        let width = (max - min).max(f64::EPSILON);
        Some(((high - low) / width).clamp(0.0, 1.0))
    }
}

/// The share of rows several conditions on the same rows keep together. Conditions
/// are rarely independent (a brand implies its class and category; a city its state),
/// and multiplying their shares assumes they are: TPC-DS q63's three IN lists on item
/// were estimated at 2 of 18,000 items once the columns' distinct counts were known.
/// So, as SQL Server does ("exponential backoff"), the most selective counts whole,
/// the next by its square root, the third by its fourth root, the fourth by its
/// eighth, and the rest not at all.
fn backed_off(mut shares: Vec<f64>) -> f64 {
    shares.sort_by(f64::total_cmp);
    shares
        .iter()
        .zip([1.0, 0.5, 0.25, 0.125])
        .map(|(share, power)| share.clamp(0.0, 1.0).powf(power))
        .product()
}

/// `(column, bound, is_lower)` for `column >= constant` and the like.
fn range_bound(expr: &Expr) -> Option<(&Column, &Expr, bool)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return None;
    };
    let (side, op, bound) = against_constant(left, *op, right)?;
    let column = unaliased(side).try_as_col()?;
    match op {
        Operator::Gt | Operator::GtEq => Some((column, bound, true)),
        Operator::Lt | Operator::LtEq => Some((column, bound, false)),
        _ => None,
    }
}

/// `left op right` as `(other side, op, constant side)`, the operator turned round
/// when the constant is on the left; `None` when neither side is a constant.
fn against_constant<'e>(
    left: &'e Expr,
    op: Operator,
    right: &'e Expr,
) -> Option<(&'e Expr, Operator, &'e Expr)> {
    if is_constant(right) {
        Some((left, op, right))
    } else if is_constant(left) {
        Some((right, op.swap()?, left))
    } else {
        None
    }
}

/// A non-NULL literal of any type: `d_quarter_name = '2001Q1'` compares a column
/// with a constant as `d_year = 2001` does (a string constant was taken for a second
/// column, and kept a third of the rows instead of one distinct value's share).
fn is_constant(expr: &Expr) -> bool {
    matches!(unaliased(expr), Expr::Literal(value, _) if !value.is_null())
}

fn unaliased(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(alias) => unaliased(&alias.expr),
        Expr::Cast(cast) => unaliased(&cast.expr),
        Expr::TryCast(cast) => unaliased(&cast.expr),
        other => other,
    }
}

/// A constant as a number on the scale of the declared ranges (dates in days).
fn literal_value(expr: &Expr) -> Option<f64> {
    let Expr::Literal(value, _) = unaliased(expr) else {
        return None;
    };
    match value {
        ScalarValue::Date32(Some(days)) => Some(f64::from(*days)),
        ScalarValue::Decimal128(Some(units), _, scale) => {
            Some(*units as f64 / 10f64.powi(i32::from(*scale)))
        }
        ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::Int64(_)
        | ScalarValue::UInt8(_)
        | ScalarValue::UInt16(_)
        | ScalarValue::UInt32(_)
        | ScalarValue::UInt64(_)
        | ScalarValue::Float32(_)
        | ScalarValue::Float64(_) => value
            .cast_to(&arrow::datatypes::DataType::Float64)
            .ok()
            .and_then(|v| match v {
                ScalarValue::Float64(v) => v,
                _ => None,
            }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion_common::tree_node::{TreeNode, TreeNodeRecursion};

    use super::*;
    use crate::catalog::tpch;
    use crate::sql::{plan_statement, FunctionRegistry, Statement};

    fn estimate(sql: &str) -> f64 {
        let catalog = tpch::generate(0.01, 1, 1024).unwrap();
        let Statement::Query(plan) =
            plan_statement(sql, &catalog, &FunctionRegistry::new()).unwrap()
        else {
            unreachable!("a query")
        };
        // Below the projection and any reordering wrapper: the rows of the first node
        // that is not a projection.
        let mut rows = None;
        plan.apply(|node| {
            if matches!(node, LogicalPlan::Projection(_)) {
                return Ok(TreeNodeRecursion::Continue);
            }
            rows = Some(Cardinality::new(&catalog).rows(node));
            Ok(TreeNodeRecursion::Stop)
        })
        .unwrap();
        rows.unwrap()
    }

    #[test]
    fn equality_keeps_one_distinct_value() {
        assert_eq!(
            estimate("select * from nation where n_name = 'FRANCE'"),
            1.0
        );
        // 1500 customers at SF 0.01, five market segments.
        assert_eq!(
            estimate("select * from customer where c_mktsegment = 'BUILDING'"),
            300.0
        );
    }

    #[test]
    fn range_bounds_on_one_column_cover_one_interval() {
        // One year of the 2405 days orders span.
        let rows = estimate(
            "select * from orders where o_orderdate >= date '1994-01-01' \
             and o_orderdate < date '1995-01-01'",
        );
        let expected = 15000.0 * 365.0 / 2405.0;
        assert!((rows - expected).abs() < 1.0, "{rows} vs {expected}");
    }

    #[test]
    fn a_key_of_unknown_distinct_count_references_the_other_side() {
        // A union's key has no statistics: its 60,175 rows reference 25 nations, so
        // the join keeps them all (taken as unique it was 25 rows).
        let rows = estimate(
            "select * from (select s_nationkey k from supplier union all \
             select c_nationkey from customer union all select l_suppkey from lineitem) u, \
             nation where k = n_nationkey",
        );
        assert!(rows > 1_000.0, "{rows}");
    }

    #[test]
    fn key_joins_divide_by_the_larger_distinct_count() {
        // 100 suppliers in 25 nations; one nation: 4 suppliers.
        let rows = estimate(
            "select * from supplier, nation where s_nationkey = n_nationkey \
             and n_name = 'FRANCE'",
        );
        assert_eq!(rows, 4.0);
        // Every lineitem has one partsupp row: the declared pair count, not the product.
        let rows = estimate(
            "select * from lineitem, partsupp where l_partkey = ps_partkey \
             and l_suppkey = ps_suppkey",
        );
        assert!((rows - 60_000.0).abs() < 1000.0, "{rows}");
    }

    #[test]
    fn conditions_on_the_same_rows_combine_with_backoff() {
        // 50 sizes, 40 containers, 25 brands among 2000 parts: 1/50 whole, 1/40 by
        // its square root, 1/25 by its fourth root (as independent: 0.04 parts).
        let rows = estimate(
            "select * from part where p_size = 5 and p_container = 'SM BOX' \
             and p_brand = 'Brand#12'",
        );
        let expected = 2000.0 / 50.0 * (1.0f64 / 40.0).sqrt() * (1.0f64 / 25.0).powf(0.25);
        assert!((rows - expected).abs() < 0.01, "{rows} vs {expected}");
        assert_eq!(
            backed_off(vec![0.5, 0.01, 0.2, 0.3, 0.1]),
            0.01 * 0.1f64.sqrt() * 0.2f64.powf(0.25) * 0.3f64.powf(0.125)
        );
        assert_eq!(backed_off(Vec::new()), 1.0);
    }

    #[test]
    fn unknown_groups_and_filters_fall_back_to_fixed_shares() {
        assert_eq!(estimate("select count(*) from lineitem"), 1.0);
        let rows = estimate("select * from part where p_comment > 'x'");
        assert!((rows - 2000.0 * UNKNOWN_SELECTIVITY).abs() < 1.0, "{rows}");
        // A string constant is a constant: one value of an unknown number.
        let rows = estimate("select * from part where p_comment = 'x'");
        assert!(
            (rows - 2000.0 * UNKNOWN_EQUALITY_SELECTIVITY).abs() < 1.0,
            "{rows}"
        );
    }
}
