//! A scalar subquery that returns more than one row is an error (PostgreSQL:
//! 21000, "more than one row returned by a subquery used as an expression").
//! DataFusion turns scalar subqueries into joins, so `select (select n_name from
//! nation)` answered 25 rows and `where r_regionkey = (select n_regionkey from
//! nation)` matched every region; a correlated one without an aggregate was refused
//! outright. Here every scalar subquery that may return several rows becomes
//! `subquery_value((SELECT single_value(x) ..))`: the aggregate answers the first
//! value and how many rows there were, and DataFusion decorrelates it like any
//! aggregated subquery (per correlation key); `subquery_value` fails where an outer
//! row actually reads a count above one, so a key no outer row reads does not fail
//! the statement, as in PostgreSQL.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StructArray};
use arrow::compute::{is_null, nullif};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{internal_err, Column, Result, ScalarValue};
use datafusion_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion_expr::expr_rewriter::{NamePreserver, SavedName};
use datafusion_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion_expr::utils::format_state_name;
use datafusion_expr::{
    Accumulator, Aggregate, AggregateUDF, AggregateUDFImpl, ColumnarValue, Expr, LogicalPlan,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Subquery, Volatility,
};

use crate::error::{ErrorCode, TaskError};

/// Wraps every scalar subquery of `plan` that may return several rows (before the
/// analyzer, which refuses correlated subqueries without an aggregate).
pub fn checked(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let names = NamePreserver::new(&node);
        node.map_expressions(|expr| {
            // DataFusion names a bare subquery after its column, unqualified, which
            // clashes with an outer column of that name once the projection is
            // checked again (`select n_name, (select n2.n_name ..) from nation n1`);
            // its column's qualified name does not.
            let name = match &expr {
                Expr::ScalarSubquery(subquery) => {
                    let (qualifier, field) = subquery.subquery.schema().qualified_field(0);
                    SavedName::Saved {
                        relation: qualifier.cloned(),
                        name: field.name().clone(),
                    }
                }
                other => names.save(other),
            };
            let rewritten = expr.transform_up(|expr| match expr {
                Expr::ScalarSubquery(subquery) if !at_most_one_row(&subquery.subquery) => {
                    single_valued(subquery).map(Transformed::yes)
                }
                other => Ok(Transformed::no(other)),
            })?;
            Ok(Transformed::new_transformed(
                name.restore(rewritten.data),
                rewritten.transformed,
            ))
        })
    })
    .map(|transformed| transformed.data)
}

/// Whether the plan's shape bounds it to one row: an ungrouped aggregate, a limit
/// of one, a single VALUES row, under projections, sorts and aliases.
fn at_most_one_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Projection(p) => at_most_one_row(&p.input),
        LogicalPlan::SubqueryAlias(a) => at_most_one_row(&a.input),
        LogicalPlan::Sort(s) => s.fetch.is_some_and(|n| n <= 1) || at_most_one_row(&s.input),
        LogicalPlan::Filter(f) => at_most_one_row(&f.input),
        LogicalPlan::Aggregate(a) => a.group_expr.is_empty(),
        LogicalPlan::Limit(limit) => {
            matches!(limit.get_fetch_type(), Ok(datafusion_expr::logical_plan::FetchType::Literal(Some(n))) if n <= 1)
                || at_most_one_row(&limit.input)
        }
        LogicalPlan::Values(v) => v.values.len() <= 1,
        LogicalPlan::EmptyRelation(_) => true,
        _ => false,
    }
}

fn single_valued(subquery: Subquery) -> Result<Expr> {
    let input = Arc::clone(&subquery.subquery);
    let schema = input.schema();
    if schema.fields().len() != 1 {
        // The planner reports a subquery of several columns itself.
        return Ok(Expr::ScalarSubquery(subquery));
    }
    let (qualifier, field) = schema.qualified_field(0);
    let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
    let counted = Expr::AggregateFunction(AggregateFunction::new_udf(
        single_value(),
        vec![column],
        false,
        None,
        Vec::new(),
        None,
    ))
    // A name of its own: the subquery's column name may also be the outer query's.
    .alias("subquery_value");
    let aggregate = Aggregate::try_new(input, Vec::new(), vec![counted])?;
    let plan = LogicalPlan::Aggregate(aggregate);
    let counted = Expr::ScalarSubquery(Subquery {
        outer_ref_columns: plan.all_out_ref_exprs(),
        subquery: Arc::new(plan),
        spans: subquery.spans,
    });
    Ok(Expr::ScalarFunction(ScalarFunction::new_udf(
        subquery_value(),
        vec![counted],
    )))
}

/// The aggregate answering `{value, rows}`: the first value (NULL over no rows) and
/// the number of rows.
fn single_value() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::from(SingleValue {
        signature: Signature::any(1, Volatility::Immutable),
    }))
}

fn counted_type(value: &DataType) -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("value", value.clone(), true),
        Field::new("rows", DataType::Int64, false),
    ]))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SingleValue {
    signature: Signature,
}

impl AggregateUDFImpl for SingleValue {
    fn name(&self) -> &str {
        "single_value"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(counted_type(&args[0]))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let DataType::Struct(fields) = args.return_field.data_type() else {
            return internal_err!("single_value returns a struct");
        };
        Ok(Box::new(SingleValueAccumulator {
            value: ScalarValue::try_from(fields[0].data_type())?,
            rows: 0,
            fields: fields.clone(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let DataType::Struct(fields) = args.return_field.data_type() else {
            return internal_err!("single_value returns a struct");
        };
        Ok(vec![
            Field::new(
                format_state_name(args.name, "value"),
                fields[0].data_type().clone(),
                true,
            )
            .into(),
            Field::new(format_state_name(args.name, "rows"), DataType::Int64, false).into(),
        ])
    }
}

#[derive(Debug)]
struct SingleValueAccumulator {
    value: ScalarValue,
    rows: i64,
    fields: Fields,
}

impl SingleValueAccumulator {
    fn take(&mut self, values: &ArrayRef, index: usize, rows: i64) -> Result<()> {
        if rows > 0 && self.rows == 0 {
            self.value = ScalarValue::try_from_array(values, index)?;
        }
        self.rows = self.rows.saturating_add(rows);
        Ok(())
    }
}

impl Accumulator for SingleValueAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = i64::try_from(values[0].len()).unwrap_or(i64::MAX);
        self.take(&values[0], 0, rows)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts = states[1].as_primitive::<Int64Type>();
        for index in 0..counts.len() {
            self.take(&states[0], index, counts.value(index))?;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let columns: Vec<ArrayRef> = vec![
            self.value.to_array()?,
            Arc::new(Int64Array::from(vec![self.rows])),
        ];
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
            self.fields.clone(),
            columns,
            None,
        )?)))
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            self.value.clone(),
            ScalarValue::Int64(Some(self.rows)),
        ])
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.value.size() - std::mem::size_of_val(&self.value)
    }
}

/// The value of a counted subquery result, failing where more than one row came.
fn subquery_value() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(SubqueryValue {
        signature: Signature::any(1, Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SubqueryValue {
    signature: Signature,
}

impl ScalarUDFImpl for SubqueryValue {
    fn name(&self) -> &str {
        "subquery_value"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            DataType::Struct(fields) => Ok(fields[0].data_type().clone()),
            other => internal_err!("subquery_value of {other}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let counted = args.args[0].to_array(rows)?;
        let counted = counted.as_struct();
        let counts = counted.column(1).as_primitive::<Int64Type>();
        if (0..counted.len()).any(|row| counted.is_valid(row) && counts.value(row) > 1) {
            return Err(TaskError::new(
                ErrorCode::CardinalityViolation,
                "more than one row returned by a subquery used as an expression",
            )
            .into());
        }
        let value = counted.column(0);
        let value = match counted.nulls() {
            Some(_) => nullif(value, &is_null(counted)?)?,
            None => Arc::clone(value),
        };
        Ok(ColumnarValue::Array(value))
    }
}
