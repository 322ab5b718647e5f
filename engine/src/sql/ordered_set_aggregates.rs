//! PostgreSQL's ordered-set aggregates DataFusion lacks: `percentile_disc(f) WITHIN
//! GROUP (ORDER BY x)`, the first value whose position in the order reaches the
//! fraction `f` of the group, and `mode() WITHIN GROUP (ORDER BY x)`, the most
//! frequent value (the first in the order among equally frequent ones). Both keep
//! the group's non-NULL values as their state, a list that partial aggregates send
//! across the exchange and spills write, and sort it once at the end; they work
//! for any type Arrow can sort.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::kernels::partition::partition;
use arrow::compute::{concat, sort, take, SortOptions};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use arrow::record_batch::RecordBatch;
use datafusion_common::{exec_err, plan_err, Result, ScalarValue};
use datafusion_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion_expr::utils::format_state_name;
use datafusion_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Signature, Volatility,
};

/// The ordered-set aggregates defined here.
pub fn ordered_set_aggregates() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(AggregateUDF::from(OrderedSet::new(Kind::PercentileDisc))),
        Arc::new(AggregateUDF::from(OrderedSet::new(Kind::Mode))),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    PercentileDisc,
    Mode,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct OrderedSet {
    kind: Kind,
    signature: Signature,
}

impl OrderedSet {
    fn new(kind: Kind) -> Self {
        OrderedSet {
            kind,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for OrderedSet {
    fn name(&self) -> &str {
        match self.kind {
            Kind::PercentileDisc => "percentile_disc",
            Kind::Mode => "mode",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let arguments = match self.kind {
            Kind::PercentileDisc => 2,
            Kind::Mode => 1,
        };
        match args {
            [value, ..] if args.len() == arguments => Ok(value.clone()),
            _ => plan_err!(
                "{}() takes {} argument(s) and WITHIN GROUP (ORDER BY value)",
                self.name(),
                arguments - 1
            ),
        }
    }

    fn supports_within_group_clause(&self) -> bool {
        true
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let value_type = args.input_fields[0].data_type().clone();
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "values"),
            DataType::new_list(value_type, true),
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let Some(ordering) = args.order_bys.first() else {
            return plan_err!("{}() needs WITHIN GROUP (ORDER BY value)", self.name());
        };
        let fraction = match self.kind {
            Kind::PercentileDisc => Some(fraction(&args)?),
            Kind::Mode => None,
        };
        Ok(Box::new(OrderedSetAccumulator {
            fraction,
            options: ordering.options,
            value_type: args.expr_fields[0].data_type().clone(),
            values: Vec::new(),
            bytes: 0,
        }))
    }
}

/// `percentile_disc`'s fraction: a constant between 0 and 1.
fn fraction(args: &AccumulatorArgs) -> Result<f64> {
    // A constant evaluates to a scalar even over a batch without columns or rows.
    let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
    let value = match args.exprs.get(1).map(|expr| expr.evaluate(&empty)) {
        Some(Ok(ColumnarValue::Scalar(value))) => Some(value),
        _ => None,
    };
    let fraction = match value.map(|v| v.cast_to(&DataType::Float64)) {
        Some(Ok(ScalarValue::Float64(Some(fraction)))) => fraction,
        _ => return plan_err!("percentile_disc takes a constant fraction"),
    };
    if !(0.0..=1.0).contains(&fraction) {
        return plan_err!("percentile value {fraction} is not between 0 and 1");
    }
    Ok(fraction)
}

#[derive(Debug)]
struct OrderedSetAccumulator {
    /// `percentile_disc`'s fraction; `None` for `mode`.
    fraction: Option<f64>,
    options: SortOptions,
    value_type: DataType,
    /// The group's non-NULL values, in arrival order.
    values: Vec<ArrayRef>,
    bytes: usize,
}

impl OrderedSetAccumulator {
    fn add(&mut self, values: &ArrayRef) -> Result<()> {
        let present = match values.logical_nulls() {
            Some(nulls) if nulls.null_count() > 0 => arrow::compute::filter(
                values,
                &arrow::array::BooleanArray::from(nulls.inner().clone()),
            )?,
            _ => Arc::clone(values),
        };
        if present.is_empty() {
            return Ok(());
        }
        self.bytes += present.get_array_memory_size();
        self.values.push(present);
        Ok(())
    }

    fn all_values(&self) -> Result<ArrayRef> {
        if self.values.is_empty() {
            return Ok(arrow::array::new_empty_array(&self.value_type));
        }
        let parts: Vec<&dyn Array> = self.values.iter().map(AsRef::as_ref).collect();
        Ok(concat(&parts)?)
    }
}

impl Accumulator for OrderedSetAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values.first() {
            Some(values) => self.add(values),
            None => exec_err!("an ordered-set aggregate got no values"),
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(lists) = states.first().and_then(|s| s.as_list_opt::<i32>()) else {
            return exec_err!("an ordered-set aggregate's state is not a list");
        };
        for list in lists.iter().flatten() {
            self.add(&list)?;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values = self.all_values()?;
        Ok(vec![ScalarValue::List(Arc::new(
            arrow::array::ListArray::new(
                Arc::new(Field::new_list_field(self.value_type.clone(), true)),
                arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
                values,
                None,
            ),
        ))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let values = self.all_values()?;
        if values.is_empty() {
            return ScalarValue::try_from(&self.value_type);
        }
        let sorted = sort(&values, Some(self.options))?;
        let position = match self.fraction {
            // The first value whose position (from 1) reaches fraction * count.
            Some(fraction) => {
                let reach = (fraction * sorted.len() as f64).ceil() as usize;
                reach.clamp(1, sorted.len()) - 1
            }
            None => {
                let runs = partition(&[Arc::clone(&sorted)])?.ranges();
                let mut longest = 0..0;
                for run in runs {
                    if run.len() > longest.len() {
                        longest = run;
                    }
                }
                longest.start
            }
        };
        let one = take(
            &sorted,
            &arrow::array::UInt64Array::from(vec![position as u64]),
            None,
        )?;
        ScalarValue::try_from_array(&one, 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.bytes
    }
}
