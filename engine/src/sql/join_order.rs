//! Join ordering. DataFusion's planner joins the FROM list in the order written, and
//! its optimizer keeps that order: TPC-H Q7 joined lineitem with orders and customer
//! (millions of rows) before the two one-row nation filters cut the result to 1/300.
//!
//! A tree of inner equi-joins (with the column-pruning projections and filters
//! between them) is flattened into its inputs and conditions, then rebuilt greedily,
//! bushy (Fegaras' greedy operator ordering): of all pairs of inputs that share a
//! join condition, join the pair with the fewest estimated result rows first, ties
//! going to the pair that reads fewer rows, and repeat with the result as one input.
//! Small filtered dimensions so meet their facts first, and every join's inputs are
//! as small as the estimates can tell. Each result keeps only the columns later joins
//! and the region's consumer read.
//!
//! A region of up to [`EXACT_INPUTS_MAX`] inputs is instead ordered exactly: the
//! bushy tree of the least estimated cost (rows built, probed and produced, summed
//! over its joins), found by dynamic programming over connected subsets. Greedy
//! steps can paint themselves into a corner: TPC-H Q5 joined supplier with the ASIA
//! nations first (the smallest result), which left customer nothing to meet but
//! orders, so every 1994 order of every region reached lineitem; exactly, customer
//! meets the ASIA nations, and lineitem probes a fifth of the orders.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion_common::{Column, NullEquality, Result};
use datafusion_expr::logical_plan::{
    Filter, Join, JoinConstraint, JoinType, LogicalPlan, Projection,
};
use datafusion_expr::utils::{conjunction, split_conjunction};
use datafusion_expr::Expr;

use crate::catalog::Catalog;
use crate::plan::cardinality::Cardinality;

/// Results within this factor of each other count as equally large.
const SAME_SIZE: f64 = 1.01;

/// Regions of at most this many inputs are ordered exactly (3^n splits of subsets;
/// TPC-H's largest region has 8 inputs); larger ones greedily.
const EXACT_INPUTS_MAX: usize = 8;

/// Reorders every region of three or more inner-joined inputs.
pub fn apply(plan: LogicalPlan, catalog: &Catalog) -> Result<LogicalPlan> {
    reorder(plan, &Cardinality::new(catalog))
}

fn reorder(plan: LogicalPlan, estimate: &Cardinality) -> Result<LogicalPlan> {
    if is_region_join(&plan) {
        let mut region = Region::default();
        region.collect(&plan, estimate)?;
        if region.inputs.len() >= 3 && region.inputs.len() <= 64 {
            if let Some(ordered) = region.order(plan.schema().columns(), estimate)? {
                return Ok(ordered);
            }
        }
    }
    let inputs = plan
        .inputs()
        .into_iter()
        .map(|input| reorder(input.clone(), estimate))
        .collect::<Result<Vec<_>>>()?;
    if inputs.is_empty() {
        return Ok(plan);
    }
    plan.with_new_exprs(plan.expressions(), inputs)
}

/// An inner join on equality keys, comparing NULL to nothing.
fn is_region_join(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Join(join)
        if join.join_type == JoinType::Inner
            && !join.on.is_empty()
            && !join.null_aware
            && join.null_equality == NullEquality::NullEqualsNothing)
}

/// Column projections (pruning, reordering) down to a region's join: the region's
/// own output projection replaces them.
fn prunes_a_region(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Projection(projection)
            if projection.expr.iter().all(|e| matches!(e, Expr::Column(_))) =>
        {
            is_region_join(&projection.input) || prunes_a_region(&projection.input)
        }
        _ => false,
    }
}

/// A condition of the region, with the inputs (a bit each) its sides read.
enum Condition {
    Equal {
        left: Expr,
        right: Expr,
        left_inputs: u64,
        right_inputs: u64,
    },
    Filter {
        expr: Expr,
        inputs: u64,
    },
    /// Columns of different inputs all equal to each other: `a = b` and `b = c` also
    /// join `a`'s input with `c`'s (Q9: the filtered parts with partsupp directly).
    Same {
        members: Vec<(Column, u64)>,
    },
}

impl Condition {
    fn as_filter(&self) -> Expr {
        match self {
            Condition::Equal { left, right, .. } => left.clone().eq(right.clone()),
            Condition::Filter { expr, .. } => expr.clone(),
            Condition::Same { members } => {
                let first = Expr::Column(members[0].0.clone());
                let equalities = members[1..]
                    .iter()
                    .map(|(column, _)| first.clone().eq(Expr::Column(column.clone())));
                conjunction(equalities).expect("a class has two members or more")
            }
        }
    }

    fn inputs(&self) -> u64 {
        match self {
            Condition::Equal {
                left_inputs,
                right_inputs,
                ..
            } => left_inputs | right_inputs,
            Condition::Filter { inputs, .. } => *inputs,
            Condition::Same { members } => members.iter().fold(0, |bits, (_, b)| bits | b),
        }
    }
}

#[derive(Default)]
struct Region {
    inputs: Vec<LogicalPlan>,
    /// Join keys and filters as written, before each is assigned its inputs.
    equalities: Vec<(Expr, Expr)>,
    filters: Vec<Expr>,
}

/// Inputs joined so far: the plan, which region inputs it holds, its estimated rows.
struct Part {
    plan: LogicalPlan,
    inputs: u64,
    rows: f64,
}

impl Region {
    fn collect(&mut self, plan: &LogicalPlan, estimate: &Cardinality) -> Result<()> {
        match plan {
            LogicalPlan::Join(join) if is_region_join(plan) => {
                self.collect(&join.left, estimate)?;
                self.collect(&join.right, estimate)?;
                self.equalities.extend(join.on.iter().cloned());
                if let Some(filter) = &join.filter {
                    self.filters
                        .extend(split_conjunction(filter).into_iter().cloned());
                }
            }
            LogicalPlan::Projection(projection) if prunes_a_region(plan) => {
                self.collect(&projection.input, estimate)?;
            }
            LogicalPlan::Filter(filter) if is_region_join(&filter.input) => {
                self.collect(&filter.input, estimate)?;
                self.filters
                    .extend(split_conjunction(&filter.predicate).into_iter().cloned());
            }
            other => self.inputs.push(reorder(other.clone(), estimate)?),
        }
        Ok(())
    }

    /// Which inputs `expr` reads, as bits; `None` for a column no input has.
    fn inputs_of(&self, expr: &Expr) -> Option<u64> {
        let mut bits = 0;
        for column in expr.column_refs() {
            let input = self
                .inputs
                .iter()
                .position(|input| input.schema().has_column(column))?;
            bits |= 1 << input;
        }
        Some(bits)
    }

    /// Both sides as columns, when they are columns of the same type.
    fn same_typed_columns<'e>(
        &self,
        left: &'e Expr,
        right: &'e Expr,
    ) -> Option<(&'e Column, &'e Column)> {
        let (Expr::Column(l), Expr::Column(r)) = (left, right) else {
            return None;
        };
        let type_of = |column: &Column| {
            self.inputs.iter().find_map(|input| {
                let schema = input.schema();
                schema
                    .has_column(column)
                    .then(|| {
                        schema
                            .qualified_field_from_column(column)
                            .ok()
                            .map(|(_, f)| f.data_type().clone())
                    })
                    .flatten()
            })
        };
        let (left_type, right_type) = (type_of(l)?, type_of(r)?);
        (left_type == right_type).then_some((l, r))
    }

    /// The region rebuilt in greedy order, producing `output` columns in that order;
    /// `None` when the inputs do not all connect through join keys.
    fn order(self, output: Vec<Column>, estimate: &Cardinality) -> Result<Option<LogicalPlan>> {
        let mut conditions = Vec::new();
        let mut classes: Vec<Vec<(Column, u64)>> = Vec::new();
        for (left, right) in &self.equalities {
            let (Some(left_inputs), Some(right_inputs)) =
                (self.inputs_of(left), self.inputs_of(right))
            else {
                return Ok(None);
            };
            if let Some((left, right)) = self.same_typed_columns(left, right) {
                add_equality(
                    &mut classes,
                    (left.clone(), left_inputs),
                    (right.clone(), right_inputs),
                );
                continue;
            }
            conditions.push(Condition::Equal {
                left: left.clone(),
                right: right.clone(),
                left_inputs,
                right_inputs,
            });
        }
        for filter in &self.filters {
            let Some(inputs) = self.inputs_of(filter) else {
                return Ok(None);
            };
            conditions.push(Condition::Filter {
                expr: filter.clone(),
                inputs,
            });
        }
        for class in classes {
            conditions.extend(class_conditions(class));
        }
        let mut parts: Vec<Part> = self
            .inputs
            .into_iter()
            .enumerate()
            .map(|(i, plan)| Part {
                rows: estimate.rows(&plan),
                plan,
                inputs: 1 << i,
            })
            .collect();
        // Conditions on one input alone filter it before any join.
        for part in &mut parts {
            let own: Vec<Expr> = conditions
                .iter()
                .filter(|c| c.inputs() & !part.inputs == 0)
                .map(Condition::as_filter)
                .collect();
            if let Some(predicate) = conjunction(own) {
                let plan =
                    LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(part.plan.clone()))?);
                part.rows = estimate.rows(&plan);
                part.plan = plan;
            }
            conditions.retain(|c| c.inputs() & !part.inputs != 0);
        }
        if parts.len() <= EXACT_INPUTS_MAX {
            let Some(plan) = cheapest_tree(parts, &conditions, &output, estimate)? else {
                return Ok(None);
            };
            return with_output(plan, output).map(Some);
        }
        while parts.len() > 1 {
            let Some((i, j, joined)) = best_pair(&parts, &conditions, estimate)? else {
                return Ok(None);
            };
            let inputs = parts[i].inputs | parts[j].inputs;
            conditions.retain(|c| c.inputs() & !inputs != 0);
            let needed = needed_columns(&conditions, &output);
            let plan = pruned(joined, &needed)?;
            parts.remove(j);
            parts[i] = Part {
                rows: estimate.rows(&plan),
                plan,
                inputs,
            };
        }
        with_output(parts.remove(0).plan, output).map(Some)
    }
}

/// `plan` producing the region's `output` columns, in that order.
fn with_output(plan: LogicalPlan, output: Vec<Column>) -> Result<LogicalPlan> {
    let exprs = output.into_iter().map(Expr::Column).collect();
    Ok(LogicalPlan::Projection(Projection::try_new(
        exprs,
        Arc::new(plan),
    )?))
}

/// What a hash join of `a` and `b` producing `rows` costs, in probed rows: it builds
/// the smaller side (a built row costs about three probed rows: the kernel
/// benchmarks build 25M rows/s and probe 76M), probes the larger, and outputs `rows`.
/// Counting result rows alone made Q7 and Q8 slower than the greedy order (a large
/// joined side built where a small filtered dimension could have been).
fn join_cost(a: &Part, b: &Part, rows: f64) -> f64 {
    const BUILD_ROW: f64 = 3.0;
    a.rows.max(b.rows) + BUILD_ROW * a.rows.min(b.rows) + rows
}

/// The join tree of `parts` (one per region input, in input order) of the least
/// [`join_cost`] summed over its joins; `None` when they do not all connect.
/// Each subset's cheapest tree is built from the cheapest trees of the two subsets it
/// splits into, smaller subsets first.
fn cheapest_tree(
    parts: Vec<Part>,
    conditions: &[Condition],
    output: &[Column],
    estimate: &Cardinality,
) -> Result<Option<LogicalPlan>> {
    let all = (1u64 << parts.len()) - 1;
    // Per subset of the inputs: its cheapest tree and that tree's cost.
    let mut cheapest: HashMap<u64, (Part, f64)> = HashMap::new();
    for part in parts {
        cheapest.insert(part.inputs, (part, 0.0));
    }
    let mut subsets: Vec<u64> = (1..=all).filter(|set| set.count_ones() >= 2).collect();
    subsets.sort_by_key(|set| set.count_ones());
    for set in subsets {
        // Each split once: the side holding the set's lowest input is `left`.
        let lowest = set & set.wrapping_neg();
        let mut found: Option<(LogicalPlan, f64)> = None;
        let mut left = (set - 1) & set;
        while left != 0 {
            let right = set ^ left;
            if left & lowest != 0 {
                if let (Some((a, a_cost)), Some((b, b_cost))) =
                    (cheapest.get(&left), cheapest.get(&right))
                {
                    if let Some(joined) = join_parts(a, b, conditions)? {
                        let cost = a_cost + b_cost + join_cost(a, b, estimate.rows(&joined));
                        if found.as_ref().is_none_or(|(_, best)| cost < *best) {
                            found = Some((joined, cost));
                        }
                    }
                }
            }
            left = (left - 1) & set;
        }
        let Some((joined, cost)) = found else {
            continue;
        };
        let later = conditions.iter().filter(|c| c.inputs() & !set != 0);
        let plan = pruned(joined, &needed_columns(later, output))?;
        let part = Part {
            rows: estimate.rows(&plan),
            plan,
            inputs: set,
        };
        cheapest.insert(set, (part, cost));
    }
    Ok(cheapest.remove(&all).map(|(part, _)| part.plan))
}

/// Records `a = b` in the classes of equal columns, merging the classes they join.
fn add_equality(classes: &mut Vec<Vec<(Column, u64)>>, a: (Column, u64), b: (Column, u64)) {
    let find = |classes: &Vec<Vec<(Column, u64)>>, column: &Column| {
        classes
            .iter()
            .position(|class| class.iter().any(|(c, _)| c == column))
    };
    match (find(classes, &a.0), find(classes, &b.0)) {
        (Some(i), Some(j)) if i == j => {}
        (Some(i), Some(j)) => {
            let merged = classes.remove(i.max(j));
            classes[i.min(j)].extend(merged);
        }
        (Some(i), None) => classes[i].push(b),
        (None, Some(j)) => classes[j].push(a),
        (None, None) => classes.push(vec![a, b]),
    }
}

/// A class as conditions: equalities between columns of one input filter that input;
/// one column per input then stands for it among the inputs.
fn class_conditions(class: Vec<(Column, u64)>) -> Vec<Condition> {
    let mut conditions = Vec::new();
    let mut members: Vec<(Column, u64)> = Vec::new();
    for (column, input) in class {
        match members.iter().find(|(_, other)| *other == input) {
            Some((first, _)) => conditions.push(Condition::Filter {
                expr: Expr::Column(first.clone()).eq(Expr::Column(column)),
                inputs: input,
            }),
            None => members.push((column, input)),
        }
    }
    if members.len() > 1 {
        conditions.push(Condition::Same { members });
    }
    conditions
}

/// The connected pair `(i, j)`, `i < j`, whose join is smallest, and that join.
fn best_pair(
    parts: &[Part],
    conditions: &[Condition],
    estimate: &Cardinality,
) -> Result<Option<(usize, usize, LogicalPlan)>> {
    let mut best: Option<(usize, usize, LogicalPlan, f64, f64)> = None;
    for i in 0..parts.len() {
        for j in i + 1..parts.len() {
            let Some(joined) = join_parts(&parts[i], &parts[j], conditions)? else {
                continue;
            };
            let rows = estimate.rows(&joined);
            let read = parts[i].rows + parts[j].rows;
            let better = match &best {
                None => true,
                Some((_, _, _, best_rows, best_read)) => {
                    rows * SAME_SIZE < *best_rows
                        || (rows <= *best_rows * SAME_SIZE && read < *best_read)
                }
            };
            if better {
                best = Some((i, j, joined, rows, read));
            }
        }
    }
    Ok(best.map(|(i, j, joined, _, _)| (i, j, joined)))
}

/// `a` joined with `b` on the conditions that connect them, the larger side left;
/// `None` when no equality connects them.
fn join_parts(a: &Part, b: &Part, conditions: &[Condition]) -> Result<Option<LogicalPlan>> {
    let (left, right) = if a.rows >= b.rows { (a, b) } else { (b, a) };
    let inside = |bits: u64, part: &Part| bits & !part.inputs == 0;
    let both = left.inputs | right.inputs;
    let mut on = Vec::new();
    let mut filters = Vec::new();
    for condition in conditions {
        // Applied inside one side already (the exact search passes every condition).
        if inside(condition.inputs(), left) || inside(condition.inputs(), right) {
            continue;
        }
        let connects_here = matches!(condition, Condition::Same { .. });
        if condition.inputs() & !both != 0 && !connects_here {
            continue;
        }
        match condition {
            Condition::Equal {
                left: l,
                right: r,
                left_inputs,
                right_inputs,
            } => {
                if inside(*left_inputs, left) && inside(*right_inputs, right) {
                    on.push((l.clone(), r.clone()));
                } else if inside(*left_inputs, right) && inside(*right_inputs, left) {
                    on.push((r.clone(), l.clone()));
                } else {
                    filters.push(condition.as_filter());
                }
            }
            Condition::Filter { .. } => filters.push(condition.as_filter()),
            Condition::Same { members } => {
                let in_part = |part: &Part| {
                    members
                        .iter()
                        .find(|(_, input)| inside(*input, part))
                        .map(|(column, _)| Expr::Column(column.clone()))
                };
                if let (Some(l), Some(r)) = (in_part(left), in_part(right)) {
                    on.push((l, r));
                }
            }
        }
    }
    if on.is_empty() {
        return Ok(None);
    }
    let join = Join::try_new(
        Arc::new(left.plan.clone()),
        Arc::new(right.plan.clone()),
        on,
        conjunction(filters),
        JoinType::Inner,
        JoinConstraint::On,
        NullEquality::NullEqualsNothing,
        false,
    )?;
    Ok(Some(LogicalPlan::Join(join)))
}

/// The columns still read after a join: by the conditions not yet applied and by the
/// region's consumer.
fn needed_columns<'c>(
    conditions: impl IntoIterator<Item = &'c Condition>,
    output: &[Column],
) -> Vec<Column> {
    let mut needed: Vec<Column> = output.to_vec();
    for condition in conditions {
        for column in condition.as_filter().column_refs() {
            if !needed.contains(column) {
                needed.push(column.clone());
            }
        }
    }
    needed
}

/// `plan` keeping only the `needed` columns it has, in its own order.
fn pruned(plan: LogicalPlan, needed: &[Column]) -> Result<LogicalPlan> {
    let columns = plan.schema().columns();
    let kept: Vec<Expr> = columns
        .iter()
        .filter(|column| needed.contains(column))
        .cloned()
        .map(Expr::Column)
        .collect();
    if kept.len() == columns.len() {
        return Ok(plan);
    }
    Ok(LogicalPlan::Projection(Projection::try_new(
        kept,
        Arc::new(plan),
    )?))
}

#[cfg(test)]
mod tests {
    use datafusion_common::tree_node::TreeNode;

    use super::*;
    use crate::catalog::tpch;
    use crate::sql::{plan_statement, FunctionRegistry, Statement};

    fn logical(sql: &str, catalog: &Catalog) -> LogicalPlan {
        match plan_statement(sql, catalog, &FunctionRegistry::new()).unwrap() {
            Statement::Query(plan) => *plan,
            _ => unreachable!("a query"),
        }
    }

    /// The input of the join on `key = ...` that holds `key`'s table's side.
    fn join_side_with(plan: &LogicalPlan, key: &str) -> LogicalPlan {
        let mut side = None;
        plan.apply(|node| {
            if let LogicalPlan::Join(join) = node {
                for (l, r) in &join.on {
                    for (expr, input) in [(l, &join.left), (r, &join.right)] {
                        if expr.to_string() == key {
                            side = Some(input.as_ref().clone());
                        }
                    }
                }
            }
            Ok(datafusion_common::tree_node::TreeNodeRecursion::Continue)
        })
        .unwrap();
        side.unwrap_or_else(|| panic!("no join on {key} in\n{}", plan.display_indent()))
    }

    fn scans(plan: &LogicalPlan) -> Vec<String> {
        let mut tables = Vec::new();
        plan.apply(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                tables.push(scan.table_name.table().to_string());
            }
            Ok(datafusion_common::tree_node::TreeNodeRecursion::Continue)
        })
        .unwrap();
        tables.sort();
        tables
    }

    #[test]
    fn filtered_nations_meet_supplier_and_customer_before_lineitem() {
        let catalog = tpch::generate(0.01, 1, 1024).unwrap();
        let sql = include_str!("../../../bench/tpch/queries/q07.sql");
        let plan = logical(sql, &catalog);
        // Written order joins lineitem with supplier alone, orders and customer next.
        let supplier_side = join_side_with(&plan, "supplier.s_suppkey");
        assert_eq!(scans(&supplier_side), ["nation", "supplier"]);
        let customer_side = join_side_with(&plan, "customer.c_custkey");
        assert_eq!(scans(&customer_side), ["customer", "nation"]);
    }

    #[test]
    fn reordered_region_keeps_its_columns_in_order() {
        let catalog = tpch::generate(0.01, 1, 1024).unwrap();
        let sql = "select * from lineitem, orders, customer, nation \
                   where l_orderkey = o_orderkey and o_custkey = c_custkey \
                   and c_nationkey = n_nationkey and n_name = 'FRANCE'";
        let plan = logical(sql, &catalog);
        let names: Vec<String> = plan
            .schema()
            .columns()
            .iter()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(names.first().map(String::as_str), Some("l_orderkey"));
        assert_eq!(names.last().map(String::as_str), Some("n_comment"));
        let customer_side = join_side_with(&plan, "customer.c_custkey");
        assert_eq!(scans(&customer_side), ["customer", "nation"]);
    }
}
