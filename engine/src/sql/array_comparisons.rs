//! Comparisons with every element of a constant array, as PostgreSQL writes them and
//! drivers send them: `x = ANY (ARRAY[1, 2])`, `x <> ALL ('{a,b}')`,
//! `x > ANY ('{1,2}'::int[])`, `x LIKE ANY (ARRAY['a%', 'b%'])`, `x NOT LIKE ALL (..)`. Percore has no array
//! type; an array written out element by element needs none. `= ANY` becomes
//! `IN (..)` and `<> ALL` `NOT IN (..)` (PostgreSQL defines them alike, NULLs
//! included); any other operator an OR (ANY) or AND (ALL) of one comparison per
//! element, which gives the same NULLs: true if one is true (ANY), else NULL if one
//! is NULL, else false. An empty array makes ANY false and ALL true. Arrays that are
//! not written out (a column, `array(select ..)`) are left to the planner. A text
//! literal cast to an array type anywhere else (`'{1,2}'::int[]` as a value) becomes
//! the `ARRAY[..]` it stands for.

use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions_mut, ArrayElemTypeDef, BinaryOperator, CastKind, DataType, Expr, FunctionArg,
    FunctionArgExpr, FunctionArguments, Statement, Value,
};

/// Rewrites the statement in place.
pub fn as_element_comparisons(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Some(rewritten) = rewritten(expr) {
            *expr = rewritten;
        } else if let Some(array) = written_array_value(expr) {
            *expr = array;
        }
        ControlFlow::<()>::Continue(())
    });
}

/// A text literal cast to an array type (`'{1,2}'::int[]`) as the array value it
/// stands for, `ARRAY[CAST('1' AS INT), ..]`: Arrow casts no text to lists. The
/// empty array keeps its type through a cast of `ARRAY[]`.
fn written_array_value(expr: &Expr) -> Option<Expr> {
    let Expr::Cast {
        data_type: data_type @ DataType::Array(_),
        expr: operand,
        ..
    } = expr
    else {
        return None;
    };
    if !matches!(operand.as_ref(), Expr::Value(_)) || is_null(operand) {
        return None;
    }
    let elements = elements(expr)?;
    let empty = elements.is_empty();
    let array = Expr::Array(sqlparser::ast::Array {
        elem: elements,
        named: true,
    });
    Some(if empty {
        Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(array),
            data_type: data_type.clone(),
            array: false,
            format: None,
        }
    } else {
        array
    })
}

fn rewritten(expr: &Expr) -> Option<Expr> {
    match expr {
        // A NULL array (a parameter bound to NULL, as when a prepared statement is
        // described): every comparison with it is NULL.
        Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } if is_null(right) => {
            Some(null_boolean())
        }
        Expr::Like {
            any: true, pattern, ..
        }
        | Expr::ILike {
            any: true, pattern, ..
        } if is_null(pattern) => Some(null_boolean()),
        Expr::AnyOp {
            left,
            compare_op,
            right,
            ..
        } => {
            let elements = elements(right)?;
            if *compare_op == BinaryOperator::Eq && !elements.is_empty() {
                return Some(in_list(left, elements, false));
            }
            Some(joined(left, compare_op, elements, BinaryOperator::Or))
        }
        Expr::AllOp {
            left,
            compare_op,
            right,
        } => {
            let elements = elements(right)?;
            if *compare_op == BinaryOperator::NotEq && !elements.is_empty() {
                return Some(in_list(left, elements, true));
            }
            Some(joined(left, compare_op, elements, BinaryOperator::And))
        }
        Expr::Like {
            negated,
            any,
            expr: matched,
            pattern,
            escape_char,
        }
        | Expr::ILike {
            negated,
            any,
            expr: matched,
            pattern,
            escape_char,
        } => {
            let (array, joiner) = quantified_patterns(*any, pattern)?;
            let case_insensitive = matches!(expr, Expr::ILike { .. });
            let comparisons = elements(array)?.into_iter().map(|pattern| {
                let (expr, pattern, escape_char) =
                    (matched.clone(), Box::new(pattern), escape_char.clone());
                if case_insensitive {
                    Expr::ILike {
                        negated: *negated,
                        any: false,
                        expr,
                        pattern,
                        escape_char,
                    }
                } else {
                    Expr::Like {
                        negated: *negated,
                        any: false,
                        expr,
                        pattern,
                        escape_char,
                    }
                }
            });
            Some(chained(comparisons, joiner))
        }
        _ => None,
    }
}

/// The array of `LIKE ANY (..)` (which the parser marks), or of `LIKE ALL (..)` and
/// `LIKE SOME (..)` (which it reads as calls of a function named ALL or SOME), with
/// how its comparisons combine.
fn quantified_patterns(any: bool, pattern: &Expr) -> Option<(&Expr, BinaryOperator)> {
    if any {
        return Some((pattern, BinaryOperator::Or));
    }
    let Expr::Function(function) = pattern else {
        return None;
    };
    let joiner = match function.name.to_string().to_ascii_uppercase().as_str() {
        "ALL" => BinaryOperator::And,
        "SOME" | "ANY" => BinaryOperator::Or,
        _ => return None,
    };
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(array))] if list.clauses.is_empty() => {
            Some((array, joiner))
        }
        _ => None,
    }
}

fn is_null(array: &Expr) -> bool {
    match array {
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => is_null(inner),
        Expr::Value(value) => value.value == Value::Null,
        _ => false,
    }
}

fn null_boolean() -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(Expr::value(Value::Null)),
        data_type: DataType::Boolean,
        array: false,
        format: None,
    }
}

fn in_list(left: &Expr, list: Vec<Expr>, negated: bool) -> Expr {
    Expr::InList {
        expr: Box::new(left.clone()),
        list,
        negated,
    }
}

/// `left op e1 joiner left op e2 ..`, or the joiner's identity for no element.
fn joined(left: &Expr, op: &BinaryOperator, elements: Vec<Expr>, joiner: BinaryOperator) -> Expr {
    let comparisons = elements.into_iter().map(|element| Expr::BinaryOp {
        left: Box::new(left.clone()),
        op: op.clone(),
        right: Box::new(element),
    });
    chained(comparisons, joiner)
}

fn chained(comparisons: impl Iterator<Item = Expr>, joiner: BinaryOperator) -> Expr {
    let identity = joiner == BinaryOperator::And;
    let chain = comparisons.reduce(|chain, next| Expr::BinaryOp {
        left: Box::new(chain),
        op: joiner.clone(),
        right: Box::new(next),
    });
    Expr::Nested(Box::new(
        chain.unwrap_or(Expr::value(Value::Boolean(identity))),
    ))
}

/// The elements of an array written out: `ARRAY[..]`, a text literal `'{..}'`, either
/// cast to an array type (each element then cast to the element type).
fn elements(array: &Expr) -> Option<Vec<Expr>> {
    match array {
        Expr::Nested(inner) => elements(inner),
        Expr::Array(array) => Some(array.elem.clone()),
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text) => Some(
                parse_array_text(text)?
                    .into_iter()
                    .map(|element| {
                        Expr::value(element.map_or(Value::Null, Value::SingleQuotedString))
                    })
                    .collect(),
            ),
            _ => None,
        },
        Expr::Cast {
            kind,
            expr,
            data_type: DataType::Array(element_type),
            array: false,
            format: None,
        } => {
            let element_type = match element_type {
                ArrayElemTypeDef::AngleBracket(inner)
                | ArrayElemTypeDef::SquareBracket(inner, _)
                | ArrayElemTypeDef::Parenthesis(inner) => inner.as_ref().clone(),
                ArrayElemTypeDef::None => return None,
            };
            let cast = |element: Expr| Expr::Cast {
                kind: if *kind == CastKind::DoubleColon {
                    CastKind::Cast
                } else {
                    kind.clone()
                },
                expr: Box::new(element),
                data_type: element_type.clone(),
                array: false,
                format: None,
            };
            Some(elements(expr)?.into_iter().map(cast).collect())
        }
        _ => None,
    }
}

/// The elements of PostgreSQL's text form of a one-dimensional array: `{a, "b c",
/// NULL, "x\"y"}`. `None` for text that is not one (nested arrays included).
pub(super) fn parse_array_text(text: &str) -> Option<Vec<Option<String>>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    let mut elements = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let element = if chars.next_if_eq(&'"').is_some() {
            let mut quoted = String::new();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => quoted.push(chars.next()?),
                    c => quoted.push(c),
                }
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            Some(quoted)
        } else {
            let mut bare = String::new();
            while let Some(c) = chars.next_if(|&c| c != ',') {
                if matches!(c, '{' | '}' | '"') {
                    return None;
                }
                if c == '\\' {
                    bare.push(chars.next()?);
                } else {
                    bare.push(c);
                }
            }
            let bare = bare.trim_end().to_string();
            if bare.is_empty() {
                return None;
            }
            (!bare.eq_ignore_ascii_case("null")).then_some(bare)
        };
        elements.push(element);
        match chars.next() {
            None => return Some(elements),
            Some(',') => {}
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_array_text;

    fn texts(elements: &[Option<&str>]) -> Option<Vec<Option<String>>> {
        Some(
            elements
                .iter()
                .map(|element| element.map(str::to_string))
                .collect(),
        )
    }

    #[test]
    fn array_text_is_read_as_postgresql_writes_it() {
        assert_eq!(parse_array_text("{}"), texts(&[]));
        assert_eq!(
            parse_array_text("{1, 2,3 }"),
            texts(&[Some("1"), Some("2"), Some("3")])
        );
        assert_eq!(
            parse_array_text(r#"{"a b", NULL, "null", "x\"y", c\,d}"#),
            texts(&[Some("a b"), None, Some("null"), Some("x\"y"), Some("c,d")])
        );
    }

    #[test]
    fn other_text_is_not_an_array() {
        for text in ["", "1,2", "{1,,2}", "{{1,2},{3,4}}", r#"{"open}"#, "{a} x"] {
            assert_eq!(parse_array_text(text), None, "{text}");
        }
    }
}
