//! `avg` of intervals, as PostgreSQL computes it: the field-wise sum divided by the
//! count the way `interval / number` divides (fractions of months carried into days,
//! of days into time). DataFusion's `avg` takes durations but not intervals, and a
//! difference of timestamps is an interval here, so `avg(dropoff - pickup)` needs
//! it. `avg` stays one function: this one answers intervals and hands every other
//! type, and the choice of accumulator for it, to DataFusion's.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::IntervalUnit::MonthDayNano;
use arrow::datatypes::{
    DataType, Decimal128Type, Field, FieldRef, Int64Type, IntervalMonthDayNanoType, UInt64Type,
};
use datafusion_common::{exec_err, not_impl_err, Result, ScalarValue};
use datafusion_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion_expr::utils::format_state_name;
use datafusion_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, GroupsAccumulator, ReversedUDAF,
    Signature, TypeSignature,
};

use super::interval_scaling::from_fractions;

const INTERVAL: DataType = DataType::Interval(MonthDayNano);

/// DataFusion's `avg`, answering intervals too.
pub fn function() -> Arc<AggregateUDF> {
    let inner = datafusion_functions_aggregate::average::avg_udaf();
    let mut accepted = vec![TypeSignature::Exact(vec![INTERVAL])];
    match &inner.signature().type_signature {
        TypeSignature::OneOf(signatures) => accepted.extend(signatures.iter().cloned()),
        other => accepted.push(other.clone()),
    }
    let signature = Signature::one_of(accepted, inner.signature().volatility);
    Arc::new(AggregateUDF::from(Average { inner, signature }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Average {
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

fn is_interval(fields: &[FieldRef]) -> bool {
    matches!(fields, [field] if field.data_type() == &INTERVAL)
}

impl AggregateUDFImpl for Average {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [INTERVAL] => Ok(INTERVAL),
            _ => self.inner.return_type(arg_types),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if !is_interval(args.expr_fields) {
            return self.inner.accumulator(args);
        }
        if args.is_distinct {
            return not_impl_err!("avg(DISTINCT interval) is not supported");
        }
        Ok(Box::<IntervalAverage>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        if !is_interval(args.input_fields) {
            return self.inner.state_fields(args);
        }
        let field = |part: &str, data_type: DataType| {
            Arc::new(Field::new(
                format_state_name(args.name, part),
                data_type,
                true,
            ))
        };
        Ok(vec![
            field("count", DataType::UInt64),
            field("months", DataType::Int64),
            field("days", DataType::Int64),
            field("nanoseconds", NANOS),
        ])
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !is_interval(args.expr_fields) && self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        self.inner.create_groups_accumulator(args)
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// Nanoseconds summed over many rows pass an i64 (292 years): a 128-bit sum.
const NANOS: DataType = DataType::Decimal128(38, 0);

/// The field-wise sum of the intervals seen and their count.
#[derive(Debug, Default)]
struct IntervalAverage {
    count: u64,
    months: i64,
    days: i64,
    nanos: i128,
}

impl IntervalAverage {
    fn add(&mut self, values: &ArrayRef, sign: i8) {
        let intervals = values.as_primitive::<IntervalMonthDayNanoType>();
        for interval in intervals.iter().flatten() {
            if sign > 0 {
                self.count += 1;
            } else {
                self.count -= 1;
            }
            self.months += i64::from(sign) * i64::from(interval.months);
            self.days += i64::from(sign) * i64::from(interval.days);
            self.nanos += i128::from(sign) * i128::from(interval.nanoseconds);
        }
    }
}

impl Accumulator for IntervalAverage {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [values] = values else {
            return exec_err!("avg takes one interval");
        };
        self.add(values, 1);
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [values] = values else {
            return exec_err!("avg takes one interval");
        };
        self.add(values, -1);
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [counts, months, days, nanos] = states else {
            return exec_err!("avg of intervals merges four state columns");
        };
        let counts = counts.as_primitive::<UInt64Type>();
        let months = months.as_primitive::<Int64Type>();
        let days = days.as_primitive::<Int64Type>();
        let nanos = nanos.as_primitive::<Decimal128Type>();
        for row in 0..counts.len() {
            if counts.is_null(row) {
                continue;
            }
            self.count += counts.value(row);
            self.months += months.value(row);
            self.days += days.value(row);
            self.nanos += nanos.value(row);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::UInt64(Some(self.count)),
            ScalarValue::Int64(Some(self.months)),
            ScalarValue::Int64(Some(self.days)),
            ScalarValue::Decimal128(Some(self.nanos), 38, 0),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.count == 0 {
            return Ok(ScalarValue::IntervalMonthDayNano(None));
        }
        let count = self.count as f64;
        let average = from_fractions(
            self.months as f64 / count,
            self.days as f64 / count,
            self.nanos as f64 / count,
        )?;
        Ok(ScalarValue::IntervalMonthDayNano(Some(average)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}
