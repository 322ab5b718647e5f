//! Casts to a string type of bounded length, which PostgreSQL truncates:
//! `cast(12345 as varchar(2))` is `12`, `'abc'::char` is `a` (CHAR alone is
//! CHAR(1)). DataFusion ignores the length (and refuses `character varying(n)`),
//! so such a cast becomes `left(cast(x as varchar), n)`. CHAR(n) is not padded:
//! PostgreSQL ignores its trailing blanks in comparisons and drops them when it
//! becomes text, so unpadded values answer alike except in how they are shown.

use sqlparser::ast::{CastKind, CharacterLength, DataType, Expr, Value};

use super::pg_compat::function_call;

/// `cast(x as varchar(n))` and the like as `left(cast(x as varchar), n)`, in place.
pub fn truncated(expr: &mut Expr) {
    let Expr::Cast {
        kind,
        expr: operand,
        data_type,
        array: false,
        format: None,
    } = expr
    else {
        return;
    };
    let Some(length) = bound(data_type) else {
        return;
    };
    let cast = Expr::Cast {
        kind: if *kind == CastKind::DoubleColon {
            CastKind::Cast
        } else {
            kind.clone()
        },
        expr: Box::new(std::mem::replace(
            operand.as_mut(),
            Expr::value(Value::Null),
        )),
        data_type: DataType::Varchar(None),
        array: false,
        format: None,
    };
    *expr = function_call(
        "left",
        vec![cast, Expr::value(Value::Number(length.to_string(), false))],
    );
}

/// The length a cast to `data_type` cuts strings to.
fn bound(data_type: &DataType) -> Option<u64> {
    match data_type {
        DataType::Char(None) | DataType::Character(None) => Some(1),
        DataType::Char(Some(length))
        | DataType::Character(Some(length))
        | DataType::Varchar(Some(length))
        | DataType::CharacterVarying(Some(length))
        | DataType::CharVarying(Some(length)) => match length {
            CharacterLength::IntegerLength { length, .. } => Some(*length),
            CharacterLength::Max => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    fn rewritten(sql: &str) -> String {
        crate::sql::rewritten_sql(sql, |statement| {
            let _ = sqlparser::ast::visit_expressions_mut(statement, |expr| {
                super::truncated(expr);
                std::ops::ControlFlow::<()>::Continue(())
            });
        })
    }

    #[test]
    fn bounded_string_casts_truncate() {
        assert_eq!(
            rewritten("SELECT CAST(x AS VARCHAR(2)), x::CHARACTER VARYING(3), x::CHAR"),
            "SELECT left(CAST(x AS VARCHAR), 2), left(CAST(x AS VARCHAR), 3), \
             left(CAST(x AS VARCHAR), 1)"
        );
        assert_eq!(
            rewritten("SELECT CAST(x AS VARCHAR), x::TEXT"),
            "SELECT CAST(x AS VARCHAR), x::TEXT"
        );
    }
}
