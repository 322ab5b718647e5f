//! `to_char(date or timestamp, template)` with PostgreSQL's templates (see
//! `pg_datetime_template`), in place of DataFusion's chrono-format `to_char`, and
//! `to_char(number, template)` (see `pg_number_template`).
//! `to_date` and `to_timestamp` keep DataFusion's parsers; their constant templates
//! are translated to chrono's formats before planning (`chrono_formats`).

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, TimeUnit, TimestampMicrosecondType};
use datafusion_common::{exec_err, plan_err, Result};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use sqlparser::ast::{self, FunctionArg, FunctionArgExpr, FunctionArguments, Statement};

use super::call_values::Arguments;
use super::pg_datetime_template::{chrono_format, parse, render, Token};
use super::pg_number_template::{Number, NumberTemplate};
use crate::error::{ErrorCode, QueryError, QueryResult, TaskError};

/// The function, for the planner's registry (it replaces DataFusion's).
pub fn to_char() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(ToChar {
        signature: Signature::any(2, Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ToChar {
    signature: Signature,
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [DataType::Date32 | DataType::Date64 | DataType::Timestamp(..), DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null] => {
                Ok(DataType::Utf8)
            }
            [value, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null]
                if number_kind(value).is_some() =>
            {
                Ok(DataType::Utf8)
            }
            [value, _] => plan_err!(
                "to_char of {value}: Percore formats numbers, dates and timestamps \
                 (intervals with a template are not supported)"
            ),
            _ => plan_err!("to_char takes a value and a template"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let [values, templates] = arguments.arrays.as_slice() else {
            return exec_err!("to_char takes a value and a template");
        };
        if let Some(kind) = number_kind(values.data_type()) {
            return arguments.answer(numbers_to_char(values, kind, templates)?);
        }
        let zone = match values.data_type() {
            DataType::Timestamp(_, zone) => zone.clone(),
            _ => None,
        };
        let micros = cast(
            values,
            &DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
        )?;
        let micros = micros.as_primitive::<TimestampMicrosecondType>();
        let templates = cast(templates, &DataType::Utf8)?;
        let templates = templates.as_string::<i32>();
        let mut out = StringBuilder::with_capacity(micros.len(), micros.len() * 16);
        let mut parsed: Option<(String, Vec<Token>)> = None;
        let mut text = String::new();
        for row in 0..micros.len() {
            if micros.is_null(row) || templates.is_null(row) {
                out.append_null();
                continue;
            }
            let template = templates.value(row);
            if parsed.as_ref().is_none_or(|(known, _)| known != template) {
                parsed = Some((template.to_string(), parse(template)));
            }
            let Some(at) = chrono::DateTime::from_timestamp_micros(micros.value(row)) else {
                return exec_err!("to_char: timestamp out of range");
            };
            text.clear();
            if let Some((_, tokens)) = &parsed {
                render(tokens, at.naive_utc(), zone.as_deref(), &mut text);
            }
            out.append_value(&text);
        }
        arguments.answer(Arc::new(out.finish()))
    }
}

/// How a number type's values are read for a template.
#[derive(Clone, Copy)]
enum NumberKind {
    Integer,
    Decimal(i8),
    /// A float; `true` for a single-precision one.
    Float(bool),
}

fn number_kind(data_type: &DataType) -> Option<NumberKind> {
    Some(match data_type {
        t if t.is_integer() => NumberKind::Integer,
        DataType::Decimal128(_, scale) => NumberKind::Decimal(*scale),
        DataType::Float64 => NumberKind::Float(false),
        DataType::Float16 | DataType::Float32 => NumberKind::Float(true),
        _ => return None,
    })
}

/// `to_char(number, template)` of every row (see `pg_number_template`).
fn numbers_to_char(values: &ArrayRef, kind: NumberKind, templates: &ArrayRef) -> Result<ArrayRef> {
    let templates = cast(templates, &DataType::Utf8)?;
    let templates = templates.as_string::<i32>();
    let numbers: Box<dyn Fn(usize) -> Number> = match kind {
        NumberKind::Integer => {
            let wide = cast(values, &DataType::Decimal128(38, 0))?;
            let wide = wide.as_primitive::<Decimal128Type>().clone();
            Box::new(move |row| Number::Integer(wide.value(row)))
        }
        NumberKind::Decimal(scale) => {
            let exact = values.as_primitive::<Decimal128Type>().clone();
            Box::new(move |row| Number::Exact {
                value: exact.value(row),
                scale,
            })
        }
        NumberKind::Float(single) => {
            let floats = cast(values, &DataType::Float64)?;
            let floats = floats.as_primitive::<Float64Type>().clone();
            Box::new(move |row| Number::Float {
                value: floats.value(row),
                single,
            })
        }
    };
    let mut out = StringBuilder::with_capacity(values.len(), values.len() * 12);
    let mut parsed: Option<(String, NumberTemplate)> = None;
    for row in 0..values.len() {
        if values.is_null(row) || templates.is_null(row) {
            out.append_null();
            continue;
        }
        let template = templates.value(row);
        if parsed.as_ref().is_none_or(|(known, _)| known != template) {
            let layout = NumberTemplate::parse(template)
                .map_err(|message| TaskError::new(ErrorCode::Syntax, message))?;
            parsed = Some((template.to_string(), layout));
        }
        if let Some((_, layout)) = &parsed {
            out.append_value(layout.render(numbers(row)));
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Rewrites, in place, the constant template of every two-argument `to_date` and
/// `to_timestamp` into the chrono format DataFusion's parsers read.
///
/// # Errors
/// A template with a field chrono cannot parse (such as `CC` or `J`).
pub fn chrono_formats(statement: &mut Statement) -> QueryResult<()> {
    let mut refused = None;
    let _ = ast::visit_expressions_mut(statement, |expr| {
        let ast::Expr::Function(function) = expr else {
            return ControlFlow::Continue(());
        };
        let name = function.name.to_string().to_ascii_lowercase();
        if !matches!(name.as_str(), "to_date" | "to_timestamp") {
            return ControlFlow::Continue(());
        }
        let FunctionArguments::List(list) = &mut function.args else {
            return ControlFlow::Continue(());
        };
        let [_, FunctionArg::Unnamed(FunctionArgExpr::Expr(ast::Expr::Value(value)))] =
            list.args.as_mut_slice()
        else {
            return ControlFlow::Continue(());
        };
        let ast::Value::SingleQuotedString(template) = &mut value.value else {
            return ControlFlow::Continue(());
        };
        match chrono_format(template) {
            Ok(format) => {
                *template = format;
                ControlFlow::Continue(())
            }
            Err(field) => {
                refused = Some(QueryError::unsupported(format!(
                    "{name} with the template field {field} in '{template}'"
                )));
                ControlFlow::Break(())
            }
        }
    });
    refused.map_or(Ok(()), Err)
}
