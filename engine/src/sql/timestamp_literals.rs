//! Timestamp constants as PostgreSQL reads them. Arrow's parser wants seconds, so
//! `timestamp '2020-01-01 10:00'` (which PostgreSQL, DuckDB and every BI tool accept)
//! failed; here `HH:MM` gets its `:00` before the planner sees the text. Applies to
//! `TIMESTAMP '..'` and to `'..'::timestamp` / `CAST('..' AS TIMESTAMP)` of a
//! constant; strings cast at run time are read as Arrow reads them.

use std::ops::ControlFlow;

use sqlparser::ast::{DataType, Expr, Statement, TypedString, Value};

/// Rewrites the statement in place.
pub fn complete(statement: &mut Statement) {
    let _ = sqlparser::ast::visit_expressions_mut(statement, |expr| {
        match expr {
            Expr::TypedString(TypedString {
                data_type, value, ..
            }) if is_timestamp(data_type) => complete_value(&mut value.value),
            Expr::Cast {
                data_type, expr, ..
            } if is_timestamp(data_type) => {
                if let Expr::Value(value) = expr.as_mut() {
                    complete_value(&mut value.value);
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
}

fn is_timestamp(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(..) | DataType::TimestampNtz(..) | DataType::Datetime(_)
    )
}

fn complete_value(value: &mut Value) {
    if let Value::SingleQuotedString(text) = value {
        if let Some(completed) = with_seconds(text) {
            *text = completed;
        }
    }
}

/// `YYYY-MM-DD HH:MM` followed by nothing or a zone, with `:00` after the minutes.
fn with_seconds(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let bytes = trimmed.as_bytes();
    let shape = b"dddd-dd-dd dd:dd";
    if bytes.len() < shape.len() {
        return None;
    }
    let fits = shape.iter().zip(bytes).all(|(want, got)| match want {
        b'd' => got.is_ascii_digit(),
        b' ' => *got == b' ' || *got == b'T',
        other => got == other,
    });
    let rest = &trimmed[shape.len()..];
    let zone_or_end = rest.is_empty() || rest.starts_with(['+', '-', 'Z', ' ']);
    (fits && zone_or_end).then(|| format!("{}:00{rest}", &trimmed[..shape.len()]))
}

#[cfg(test)]
mod tests {
    use super::with_seconds;

    #[test]
    fn minutes_get_seconds_and_nothing_else_changes() {
        assert_eq!(
            with_seconds("2020-01-01 10:00").as_deref(),
            Some("2020-01-01 10:00:00")
        );
        assert_eq!(
            with_seconds("2020-01-01T23:59+02").as_deref(),
            Some("2020-01-01T23:59:00+02")
        );
        assert_eq!(with_seconds("2020-01-01 10:00:30"), None);
        assert_eq!(with_seconds("2020-01-01"), None);
        assert_eq!(with_seconds("2020-01-01 10:00.5"), None);
    }
}
