//! A float meeting a decimal is compared, chosen between or unioned as a float, as
//! PostgreSQL does (numeric converts to float8). DataFusion goes the other way: it
//! converts the float to DECIMAL(30, 15), so `0.1::float8 * 3 = 0.3` was true (the
//! float's digits past the 15th dropped) and any float past 10^15 failed
//! (`coalesce(1e20::float8, 0.5)`, a VALUES list or UNION of such floats with
//! decimals). Here, before DataFusion's coercion runs, every decimal among the
//! peers of a float — the sides of a comparison, BETWEEN's bounds, an IN list,
//! CASE's results, the arguments of coalesce/nullif/greatest/least, a join key
//! pair, a VALUES column, a UNION column — is cast to float8. Arithmetic already
//! gives a float.

use std::sync::Arc;

use super::expr_rewrite::map_keeping_names;
use arrow::datatypes::DataType;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{Column, DFSchema, Result};
use datafusion_expr::expr::{Between, BinaryExpr, Case, Cast, InList, ScalarFunction};
use datafusion_expr::{
    Expr, ExprSchemable, Join, LogicalPlan, LogicalPlanBuilder, Operator, Projection, Union, Values,
};

/// Rewrites `plan` (before the analyzer, whose coercion then finds floats on both
/// sides).
pub fn as_floats(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let node = match node {
            LogicalPlan::Values(values) => float_values(values)?,
            LogicalPlan::Union(union) => float_union(union)?,
            LogicalPlan::Join(join) => float_join_keys(join)?,
            other => other,
        };
        let rewritten = map_keeping_names(node, float_peers)?;
        // An input's types may have changed even where this node's did not.
        rewritten.data.recompute_schema().map(Transformed::yes)
    })
    .map(|transformed| transformed.data)
}

fn float_peers(mut expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let changed = match &mut expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(*op) => {
            floats(vec![left.as_mut(), right.as_mut()], schema)
        }
        Expr::Between(Between {
            expr, low, high, ..
        }) => floats(vec![expr.as_mut(), low.as_mut(), high.as_mut()], schema),
        Expr::InList(InList { expr, list, .. }) => floats(
            std::iter::once(expr.as_mut())
                .chain(list.iter_mut())
                .collect(),
            schema,
        ),
        Expr::Case(Case {
            expr: operand,
            when_then_expr,
            else_expr,
        }) => {
            let mut changed = false;
            if let Some(operand) = operand {
                let whens = when_then_expr.iter_mut().map(|(when, _)| when.as_mut());
                changed |= floats(
                    std::iter::once(operand.as_mut()).chain(whens).collect(),
                    schema,
                );
            }
            let results = when_then_expr
                .iter_mut()
                .map(|(_, then)| then.as_mut())
                .chain(else_expr.iter_mut().map(|e| e.as_mut()));
            changed | floats(results.collect(), schema)
        }
        Expr::ScalarFunction(ScalarFunction { func, args })
            if matches!(
                func.name(),
                "coalesce" | "nullif" | "greatest" | "least" | "nvl" | "ifnull"
            ) =>
        {
            floats(args.iter_mut().collect(), schema)
        }
        _ => false,
    };
    Ok(Transformed::new_transformed(expr, changed))
}

/// Whether `op` compares its operands (to a boolean, never failing).
pub(crate) fn is_comparison(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

/// Casts the decimals among `peers` to float8 when a float is among them.
fn floats(peers: Vec<&mut Expr>, schema: &DFSchema) -> bool {
    let types: Vec<Option<DataType>> = peers
        .iter()
        .map(|peer| peer.get_type(schema).ok())
        .collect();
    if !mixed(types.iter().flatten()) {
        return false;
    }
    for (peer, kind) in peers.into_iter().zip(&types) {
        if kind.as_ref().is_some_and(DataType::is_decimal) {
            let decimal = std::mem::replace(
                peer,
                Expr::Literal(datafusion_common::ScalarValue::Null, None),
            );
            *peer = to_float(decimal);
        }
    }
    true
}

fn mixed<'a>(mut types: impl Iterator<Item = &'a DataType> + Clone) -> bool {
    types.clone().any(DataType::is_floating) && types.any(DataType::is_decimal)
}

fn to_float(expr: Expr) -> Expr {
    Expr::Cast(Cast::new(Box::new(expr), DataType::Float64))
}

/// Join keys compared across the two sides.
fn float_join_keys(mut join: Join) -> Result<LogicalPlan> {
    let left = Arc::clone(join.left.schema());
    let right = Arc::clone(join.right.schema());
    for (l, r) in &mut join.on {
        let types = [l.get_type(&left).ok(), r.get_type(&right).ok()];
        if mixed(types.iter().flatten()) {
            for (key, kind) in [(l, &types[0]), (r, &types[1])] {
                if kind.as_ref().is_some_and(DataType::is_decimal) {
                    *key = to_float(key.clone());
                }
            }
        }
    }
    Ok(LogicalPlan::Join(join))
}

/// A VALUES list whose column mixes floats and decimals, rebuilt with floats. The
/// SQL planner has already cast every value to the column's common type; those
/// casts are looked through to see what each value was.
fn float_values(values: Values) -> Result<LogicalPlan> {
    let empty = DFSchema::empty();
    let mut rows = values.values.clone();
    let mut changed = false;
    for (column, field) in values.schema.fields().iter().enumerate() {
        if !field.data_type().is_decimal() {
            continue;
        }
        let written: Vec<Expr> = rows
            .iter()
            .map(|row| match &row[column] {
                Expr::Cast(Cast { expr, field: to }) if to.data_type() == field.data_type() => {
                    expr.as_ref().clone()
                }
                other => other.clone(),
            })
            .collect();
        let types: Vec<DataType> = written
            .iter()
            .filter_map(|value| value.get_type(&empty).ok())
            .collect();
        if !mixed(types.iter()) {
            continue;
        }
        changed = true;
        for (row, value) in rows.iter_mut().zip(written) {
            row[column] = match value.get_type(&empty) {
                Ok(kind) if kind.is_decimal() => to_float(value),
                _ => value,
            };
        }
    }
    if !changed {
        return Ok(LogicalPlan::Values(values));
    }
    LogicalPlanBuilder::values(rows)?.build()
}

/// A UNION whose column is a float in one input and a decimal in another: the
/// decimal inputs get a projection to float8.
fn float_union(union: Union) -> Result<LogicalPlan> {
    let width = union.schema.fields().len();
    let floated: Vec<bool> = (0..width)
        .map(|column| {
            let types: Vec<&DataType> = union
                .inputs
                .iter()
                .map(|input| input.schema().field(column).data_type())
                .collect();
            mixed(types.into_iter())
        })
        .collect();
    if !floated.contains(&true) {
        return Ok(LogicalPlan::Union(union));
    }
    let inputs = union
        .inputs
        .into_iter()
        .map(|input| {
            let exprs = input
                .schema()
                .iter()
                .zip(&floated)
                .map(|((qualifier, field), &float)| {
                    let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
                    if float && field.data_type().is_decimal() {
                        to_float(column).alias_qualified(qualifier.cloned(), field.name())
                    } else {
                        column
                    }
                })
                .collect();
            Projection::try_new(exprs, input).map(|p| Arc::new(LogicalPlan::Projection(p)))
        })
        .collect::<Result<Vec<_>>>()?;
    Union::try_new_with_loose_types(inputs).map(LogicalPlan::Union)
}
