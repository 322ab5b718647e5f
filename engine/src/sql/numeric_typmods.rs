//! `numeric(p, s)` with a negative scale, or one beyond the precision, as PostgreSQL
//! has them since version 15: `numeric(3, -1)` rounds to tens and holds values up to
//! 9990, `numeric(2, 5)` holds 0.00099 at most. DataFusion takes the first for an
//! Arrow decimal of negative scale, whose casts truncate (`15::numeric(3, -1)` was
//! 10, not 20) and whose zero prints as `00`, and refuses the second. A cast to such
//! a type becomes a call that rounds half away from zero, checks the field's limit,
//! and answers an ordinary decimal: scale 0 for a negative scale, `decimal(s, s)`
//! for a scale beyond the precision.

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Decimal128Array};
use arrow::buffer::ScalarBuffer;
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{i256, DataType, Decimal128Type, Field, FieldRef, DECIMAL128_MAX_PRECISION};
use datafusion_common::{exec_err, plan_err, Result, ScalarValue};
use datafusion_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use sqlparser::ast::{DataType as SqlType, ExactNumberInfo, Expr, Statement, Value};

use super::call_values::Arguments;
use super::decimal_products::overflow;
use super::decimal_round::round_value;
use super::pg_compat::function_call;
use crate::error::QueryError;

const NAME: &str = "numeric_typmod";
const MAX_DIGITS: i64 = DECIMAL128_MAX_PRECISION as i64;

/// Rewrites every cast to such a numeric type into the call.
///
/// # Errors
/// A type whose values need more than 38 digits, and `TRY_CAST` to such a type.
pub fn as_calls(statement: &mut Statement) -> Result<(), QueryError> {
    let flow = sqlparser::ast::visit_expressions_mut(statement, |expr| {
        let Expr::Cast {
            kind,
            expr: value,
            data_type,
            array: false,
            ..
        } = expr
        else {
            return ControlFlow::Continue(());
        };
        let Some((precision, scale)) = unusual_typmod(data_type) else {
            return ControlFlow::Continue(());
        };
        if !matches!(
            kind,
            sqlparser::ast::CastKind::Cast | sqlparser::ast::CastKind::DoubleColon
        ) {
            return ControlFlow::Break(QueryError::unsupported(format!(
                "{kind:?} to {data_type}: only CAST and :: round to a negative scale"
            )));
        }
        if output_type(precision, scale).is_none() {
            return ControlFlow::Break(QueryError::unsupported(format!(
                "{data_type}: its values need more than {MAX_DIGITS} digits"
            )));
        }
        let value = std::mem::replace(value.as_mut(), Expr::value(Value::Null));
        let number = |n: i64| Expr::value(Value::Number(n.to_string(), false));
        *expr = function_call(NAME, vec![value, number(precision), number(scale)]);
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Refuses a declared column (of a CSV table) of such a type: its values would be
/// read as they are written, unrounded.
///
/// # Errors
/// The first such column.
pub fn refused_in_columns(columns: &[sqlparser::ast::ColumnDef]) -> Result<(), QueryError> {
    match columns
        .iter()
        .find(|column| unusual_typmod(&column.data_type).is_some())
    {
        Some(column) => Err(QueryError::unsupported(format!(
            "column {} {}: a declared numeric column of negative scale or of a scale \
             beyond its precision (declare numeric(p, 0) and cast it in the query)",
            column.name, column.data_type
        ))),
        None => Ok(()),
    }
}

/// The precision and scale of a numeric type Arrow's decimals cannot take as they are.
fn unusual_typmod(data_type: &SqlType) -> Option<(i64, i64)> {
    let (SqlType::Numeric(info) | SqlType::Decimal(info) | SqlType::Dec(info)) = data_type else {
        return None;
    };
    let ExactNumberInfo::PrecisionAndScale(precision, scale) = *info else {
        return None;
    };
    let precision = i64::try_from(precision).ok()?;
    (scale < 0 || scale > precision).then_some((precision, scale))
}

/// The decimal that holds `numeric(precision, scale)`'s values, `None` past 38 digits.
fn output_type(precision: i64, scale: i64) -> Option<(u8, i8)> {
    let output_scale = scale.max(0);
    let digits = (precision - scale).max(0) + output_scale;
    let valid = precision >= 1 && (1..=MAX_DIGITS).contains(&digits) && output_scale <= MAX_DIGITS;
    valid.then_some((digits as u8, output_scale as i8))
}

/// The function, for the registry.
pub fn function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(NumericTypmod {
        signature: Signature::any(3, Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct NumericTypmod {
    signature: Signature,
}

impl ScalarUDFImpl for NumericTypmod {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        plan_err!("{NAME} is typed by its constant precision and scale")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let constant = |index: usize| {
            args.scalar_arguments
                .get(index)
                .copied()
                .flatten()
                .and_then(|value| match value.cast_to(&DataType::Int64).ok()? {
                    ScalarValue::Int64(value) => value,
                    _ => None,
                })
        };
        let (Some(precision), Some(scale)) = (constant(1), constant(2)) else {
            return plan_err!("{NAME} takes a value and a constant precision and scale");
        };
        let Some((digits, output_scale)) = output_type(precision, scale) else {
            return plan_err!("numeric({precision}, {scale}) needs more than {MAX_DIGITS} digits");
        };
        Ok(Arc::new(Field::new(
            NAME,
            DataType::Decimal128(digits, output_scale),
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let DataType::Decimal128(digits, output_scale) = *args.return_field.data_type() else {
            return exec_err!("{NAME} answers a decimal");
        };
        let arguments = Arguments::of(&args.args)?;
        let [values, precision, scale] = arguments.arrays.as_slice() else {
            return exec_err!("{NAME} takes a value, a precision and a scale");
        };
        let first = |array: &ArrayRef| -> Result<Option<i64>> {
            let array = cast_with_options(array, &DataType::Int64, &CastOptions::default())?;
            let array = array.as_primitive::<arrow::datatypes::Int64Type>();
            Ok(array.values().first().copied())
        };
        let (Some(precision), Some(scale)) = (first(precision)?, first(scale)?) else {
            return arguments.answer(Arc::new(
                Decimal128Array::new_null(0).with_precision_and_scale(digits, output_scale)?,
            ));
        };
        // At most `precision` digits at `scale`, in units of the output's scale.
        let limit_digits = precision - scale + i64::from(output_scale);
        let values = exact_decimals(values, digits)?;
        let DataType::Decimal128(_, scale_in) = *values.data_type() else {
            return exec_err!("{NAME} read {} as a decimal", values.data_type());
        };
        let values = values.as_primitive::<Decimal128Type>();
        let limit = i256::from_i128(10).wrapping_pow(limit_digits.clamp(0, MAX_DIGITS) as u32);
        let mut rounded = Vec::with_capacity(values.len());
        for (row, value) in values.values().iter().enumerate() {
            if values.is_null(row) {
                rounded.push(0);
                continue;
            }
            let value = round_value(*value, scale_in, scale, output_scale);
            if value.wrapping_abs() >= limit {
                return Err(field_overflow(precision, scale));
            }
            rounded.push(
                value
                    .to_i128()
                    .ok_or_else(|| field_overflow(precision, scale))?,
            );
        }
        let array = Decimal128Array::new(ScalarBuffer::from(rounded), values.nulls().cloned())
            .with_precision_and_scale(digits, output_scale)?;
        arguments.answer(Arc::new(array))
    }
}

/// `values` as a decimal that holds them exactly (integers, decimals) or with more
/// digits than the result keeps (floats, text), so only the final rounding rounds.
fn exact_decimals(values: &ArrayRef, digits: u8) -> Result<ArrayRef> {
    let data_type = values.data_type();
    let target = match data_type {
        DataType::Decimal128(..) => return Ok(Arc::clone(values)),
        DataType::Decimal256(_, scale) => DataType::Decimal128(DECIMAL128_MAX_PRECISION, *scale),
        DataType::Null => DataType::Decimal128(DECIMAL128_MAX_PRECISION, 0),
        integer if integer.is_integer() => DataType::Decimal128(DECIMAL128_MAX_PRECISION, 0),
        // One digit over the result's for the carry; the rest are decimals.
        _ => DataType::Decimal128(
            DECIMAL128_MAX_PRECISION,
            (DECIMAL128_MAX_PRECISION - digits - 1) as i8,
        ),
    };
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    match cast_with_options(values, &target, &options) {
        Err(_) if data_type.is_floating() => Err(overflow("the value is too large for numeric")),
        cast => Ok(cast?),
    }
}

fn field_overflow(precision: i64, scale: i64) -> datafusion_common::DataFusionError {
    overflow(&format!(
        "a field with precision {precision}, scale {scale} must round to an absolute \
         value less than 10^{}",
        precision - scale
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_scales_keep_integers_and_large_scales_keep_their_decimals() {
        assert_eq!(output_type(3, -1), Some((4, 0)));
        assert_eq!(output_type(2, 5), Some((5, 5)));
        assert_eq!(output_type(38, -1), None);
        assert_eq!(output_type(1, 38), Some((38, 38)));
        assert_eq!(output_type(1, 39), None);
    }

    #[test]
    fn only_scales_arrow_cannot_hold_are_rewritten() {
        let typmod = |p, s| SqlType::Numeric(ExactNumberInfo::PrecisionAndScale(p, s));
        assert_eq!(unusual_typmod(&typmod(3, -1)), Some((3, -1)));
        assert_eq!(unusual_typmod(&typmod(2, 5)), Some((2, 5)));
        assert_eq!(unusual_typmod(&typmod(10, 2)), None);
        assert_eq!(
            unusual_typmod(&SqlType::Numeric(ExactNumberInfo::None)),
            None
        );
    }
}
