//! Text cast to bytea reads PostgreSQL's input forms, as `byteain` does: `\x` and
//! hex digit pairs (`'\x6162'::bytea` is the two bytes `ab`; Arrow's cast kept the
//! six characters), or the escape form, where `\\` is a backslash and `\141` an
//! octal byte. That covers the casts the analyzer adds too (`bytes = '\x00ff'`).
//! Runs on the analyzed plan. (The other way, bytea to text, is `text_casts`.)

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{exec_err, DFSchema, Result};
use datafusion_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use super::call_values::Arguments;
use super::expr_rewrite::each_expression;
use crate::error::{ErrorCode, TaskError};

const NAME: &str = "pg_bytea";

/// Rewrites every cast of text to bytea in `plan`.
pub fn read_as_postgresql(plan: LogicalPlan) -> Result<LogicalPlan> {
    each_expression(plan, read)
}

fn read(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let (Expr::Cast(Cast { expr: value, field }) | Expr::TryCast(TryCast { expr: value, field })) =
        &expr
    else {
        return Ok(Transformed::no(expr));
    };
    let data_type = field.data_type();
    let to_bytes = matches!(
        data_type,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    );
    let from_text = value.get_type(schema).is_ok_and(|from| {
        matches!(
            from,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        )
    });
    if !to_bytes || !from_text {
        return Ok(Transformed::no(expr));
    }
    let call = Expr::ScalarFunction(ScalarFunction::new_udf(function(), vec![*value.clone()]));
    Ok(Transformed::yes(match data_type {
        DataType::Binary => call,
        other => Expr::Cast(Cast::new(Box::new(call), other.clone())),
    }))
}

/// The function, for the registry (a plan read back on another node names it).
pub fn function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(ByteaInput {
        signature: Signature::any(1, Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ByteaInput {
    signature: Signature,
}

impl ScalarUDFImpl for ByteaInput {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let [values] = arguments.arrays.as_slice() else {
            return exec_err!("{NAME} takes one value");
        };
        let texts = cast(values, &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let mut out = BinaryBuilder::with_capacity(texts.len(), texts.value_data().len());
        let mut bytes = Vec::new();
        for row in 0..texts.len() {
            if texts.is_null(row) {
                out.append_null();
                continue;
            }
            bytes.clear();
            parse(texts.value(row), &mut bytes)?;
            out.append_value(&bytes);
        }
        let answer: ArrayRef = Arc::new(out.finish());
        arguments.answer(answer)
    }
}

/// PostgreSQL's `byteain`: the hex form after `\x`, else the escape form.
fn parse(text: &str, out: &mut Vec<u8>) -> std::result::Result<(), TaskError> {
    let bytes = text.as_bytes();
    if let Some(hex) = bytes.strip_prefix(b"\\x") {
        return parse_hex(hex, out);
    }
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if byte != b'\\' {
            out.push(byte);
            at += 1;
            continue;
        }
        match &bytes[at + 1..] {
            [b'\\', ..] => {
                out.push(b'\\');
                at += 2;
            }
            [a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] => {
                out.push(((a - b'0') << 6) | ((b - b'0') << 3) | (c - b'0'));
                at += 4;
            }
            _ => {
                return Err(TaskError::new(
                    ErrorCode::InvalidTextRepresentation,
                    "invalid input syntax for type bytea".to_string(),
                ))
            }
        }
    }
    Ok(())
}

/// Pairs of hex digits; whitespace may come between pairs, not inside one.
fn parse_hex(hex: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), TaskError> {
    let digit = |byte: u8| {
        (byte as char).to_digit(16).ok_or_else(|| {
            TaskError::new(
                ErrorCode::InvalidParameterValue,
                format!("invalid hexadecimal digit: \"{}\"", byte as char),
            )
        })
    };
    let mut at = 0;
    while at < hex.len() {
        if hex[at].is_ascii_whitespace() {
            at += 1;
            continue;
        }
        let high = digit(hex[at])?;
        let Some(&low) = hex.get(at + 1) else {
            return Err(TaskError::new(
                ErrorCode::InvalidParameterValue,
                "invalid hexadecimal data: odd number of digits".to_string(),
            ));
        };
        out.push(u8::try_from(high * 16 + digit(low)?).unwrap_or(0));
        at += 2;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> std::result::Result<Vec<u8>, String> {
        let mut out = Vec::new();
        parse(text, &mut out).map_err(|e| e.message)?;
        Ok(out)
    }

    #[test]
    fn reads_both_input_forms_as_postgresql_does() {
        assert_eq!(read("\\x6162").unwrap(), b"ab");
        assert_eq!(read("\\x61 62\n0A").unwrap(), b"ab\n");
        assert_eq!(read("\\x").unwrap(), b"");
        assert_eq!(read("ab").unwrap(), b"ab");
        assert_eq!(read("a\\\\b\\141\\000").unwrap(), b"a\\ba\0");
        assert_eq!(read("").unwrap(), b"");
        for (text, error) in [
            ("\\x6", "invalid hexadecimal data: odd number of digits"),
            ("\\x6g", "invalid hexadecimal digit: \"g\""),
            ("\\x6 1", "invalid hexadecimal digit: \" \""),
            ("a\\", "invalid input syntax for type bytea"),
            ("\\400", "invalid input syntax for type bytea"),
            ("\\12", "invalid input syntax for type bytea"),
        ] {
            assert_eq!(read(text).unwrap_err(), error, "{text:?}");
        }
    }
}
