//! A timestamp, interval, float or bytea cast to text reads as PostgreSQL writes it,
//! the same text the wire sends for the value: `2020-02-29 06:45:00` (Arrow's cast
//! wrote `2020-02-29T06:45:00`), `1 mon -11 days -33:00:00` (`1 mons -11 days -33
//! hours`), `00:00:00` (`0 secs`), `\x6162` (Arrow: the bytes themselves). That
//! covers the casts the analyzer adds too, so `'at ' || ts` and `concat(iv)` read the
//! same. Runs on the analyzed plan.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::IntervalUnit::MonthDayNano;
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, IntervalMonthDayNanoType, TimeUnit,
    TimestampMicrosecondType,
};
use datafusion_common::tree_node::Transformed;
use datafusion_common::{exec_err, DFSchema, Result};
use datafusion_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use super::call_values::Arguments;
use super::expr_rewrite::each_expression;
use crate::catalog::pg_bytea_text::write_bytea;
use crate::catalog::pg_float_text::{write_float4, write_float8};
use crate::catalog::pg_interval_text::write_interval;
use crate::catalog::pg_timestamp_text::write_timestamp;

const NAME: &str = "pg_text";

/// Rewrites every cast to text of a timestamp, interval, float or bytea in `plan`.
pub fn as_postgresql(plan: LogicalPlan) -> Result<LogicalPlan> {
    each_expression(plan, written)
}

fn written(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let (Expr::Cast(Cast { expr: value, field }) | Expr::TryCast(TryCast { expr: value, field })) =
        &expr
    else {
        return Ok(Transformed::no(expr));
    };
    let data_type = field.data_type();
    let to_text = matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    if !to_text || !value.get_type(schema).is_ok_and(|from| has_own_text(&from)) {
        return Ok(Transformed::no(expr));
    }
    let call = Expr::ScalarFunction(ScalarFunction::new_udf(function(), vec![*value.clone()]));
    Ok(Transformed::yes(match data_type {
        DataType::Utf8 => call,
        other => Expr::Cast(Cast::new(Box::new(call), other.clone())),
    }))
}

fn has_own_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(_, None)
            | DataType::Interval(MonthDayNano)
            | DataType::Float64
            | DataType::Float32
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

/// The function, for the registry (a plan read back on another node names it).
pub fn function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(PostgresText {
        signature: Signature::any(1, Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PostgresText {
    signature: Signature,
}

impl ScalarUDFImpl for PostgresText {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let [values] = arguments.arrays.as_slice() else {
            return exec_err!("{NAME} takes one value");
        };
        arguments.answer(text(values)?)
    }
}

fn text(values: &ArrayRef) -> Result<ArrayRef> {
    let written = |write: &dyn Fn(&mut String, usize) -> std::fmt::Result| {
        let mut out = StringBuilder::with_capacity(values.len(), values.len() * 16);
        let mut value = String::new();
        for row in 0..values.len() {
            if values.is_null(row) {
                out.append_null();
                continue;
            }
            value.clear();
            write(&mut value, row)?;
            out.append_value(&value);
        }
        Ok::<ArrayRef, std::fmt::Error>(Arc::new(out.finish()))
    };
    let answer = match values.data_type() {
        DataType::Interval(MonthDayNano) => {
            let intervals = values.as_primitive::<IntervalMonthDayNanoType>();
            written(&|out, row| {
                let value = intervals.value(row);
                write_interval(out, value.months, value.days, value.nanoseconds / 1000)
            })
        }
        DataType::Float64 => {
            let floats = values.as_primitive::<Float64Type>();
            written(&|out, row| write_float8(out, floats.value(row)))
        }
        DataType::Float32 => {
            let floats = values.as_primitive::<Float32Type>();
            written(&|out, row| write_float4(out, floats.value(row)))
        }
        DataType::Timestamp(_, None) => {
            let micros = cast(values, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let micros = micros.as_primitive::<TimestampMicrosecondType>();
            written(&|out, row| write_timestamp(out, micros.value(row)))
        }
        // bytea's hex output form (`\x6162`); Arrow's cast kept the bytes as text.
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let bytes = cast(values, &DataType::Binary)?;
            let bytes = bytes.as_binary::<i32>();
            written(&|out, row| write_bytea(out, bytes.value(row)))
        }
        other => return exec_err!("{NAME} does not write {other}"),
    };
    answer.map_err(|_| {
        datafusion_common::DataFusionError::Execution(format!(
            "{NAME}: a value could not be written"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Float64Array, IntervalMonthDayNanoArray, StringArray, TimestampNanosecondArray,
    };
    use arrow::datatypes::IntervalMonthDayNano;

    fn texts(values: ArrayRef) -> Vec<Option<String>> {
        let answer = text(&values).expect("written");
        let strings = answer.as_any().downcast_ref::<StringArray>().expect("text");
        strings
            .iter()
            .map(|value| value.map(str::to_string))
            .collect()
    }

    #[test]
    fn values_read_as_postgresql_writes_them() {
        let stamps = TimestampNanosecondArray::from(vec![Some(1_582_958_700_250_000_000), None]);
        assert_eq!(
            texts(Arc::new(stamps)),
            [Some("2020-02-29 06:45:00.25".to_string()), None]
        );
        let intervals = IntervalMonthDayNanoArray::from(vec![
            IntervalMonthDayNano::new(1, -11, -33 * 3_600_000_000_000),
            IntervalMonthDayNano::new(0, 0, 0),
        ]);
        assert_eq!(
            texts(Arc::new(intervals)),
            [
                Some("1 mon -11 days -33:00:00".to_string()),
                Some("00:00:00".to_string())
            ]
        );
        let bytes = arrow::array::BinaryArray::from(vec![&b"ab"[..], b"\x00\xff"]);
        assert_eq!(
            texts(Arc::new(bytes)),
            [Some("\\x6162".to_string()), Some("\\x00ff".to_string())]
        );
        let floats = Float64Array::from(vec![0.1 + 0.2, f64::INFINITY]);
        assert_eq!(
            texts(Arc::new(floats)),
            [
                Some("0.30000000000000004".to_string()),
                Some("Infinity".to_string())
            ]
        );
    }
}
