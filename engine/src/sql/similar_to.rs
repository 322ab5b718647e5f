//! `x SIMILAR TO pattern [ESCAPE e]` as PostgreSQL answers it: the SQL pattern
//! translated into an anchored regular expression by `similar_to_escape`, then
//! matched with `~`. DataFusion's own SIMILAR TO takes the pattern as a regular
//! expression, unanchored and with `%` and `_` as plain characters, so
//! `'abc' SIMILAR TO '(a|b)%'` came out false; and it refuses ESCAPE.

use std::sync::Arc;

use arrow::array::{Array, AsArray, StringArray};
use arrow::datatypes::DataType;
use datafusion_common::{exec_err, DataFusionError, Result};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use sqlparser::ast::{BinaryOperator, Expr, Value};

use super::call_values::Arguments;
use super::pg_compat::function_call;
use crate::error::{ErrorCode, TaskError};

const NAME: &str = "similar_to_escape";

/// `x [NOT] SIMILAR TO p [ESCAPE e]` as `x [!]~ similar_to_escape(p [, e])`, in place.
pub fn as_regex_match(expr: &mut Expr) {
    let Expr::SimilarTo {
        negated,
        expr: operand,
        pattern,
        escape_char,
    } = expr
    else {
        return;
    };
    let null = || Expr::value(Value::Null);
    let mut arguments = vec![std::mem::replace(pattern.as_mut(), null())];
    if let Some(escape) = escape_char.take() {
        arguments.push(Expr::Value(escape));
    }
    *expr = Expr::BinaryOp {
        left: Box::new(std::mem::replace(operand.as_mut(), null())),
        op: if *negated {
            BinaryOperator::PGRegexNotMatch
        } else {
            BinaryOperator::PGRegexMatch
        },
        right: Box::new(function_call(NAME, arguments)),
    };
}

/// The function, for the registry (PostgreSQL has it under the same name).
pub fn function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(SimilarToEscape {
        signature: Signature::one_of(
            vec![TypeSignature::String(1), TypeSignature::String(2)],
            Volatility::Immutable,
        ),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SimilarToEscape {
    signature: Signature,
}

impl ScalarUDFImpl for SimilarToEscape {
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
        let strings = arguments
            .arrays
            .iter()
            .map(|array| arrow::compute::cast(array, &DataType::Utf8))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let (patterns, escapes) = match strings.as_slice() {
            [patterns] => (patterns.as_string::<i32>(), None),
            [patterns, escapes] => (
                patterns.as_string::<i32>(),
                Some(escapes.as_string::<i32>()),
            ),
            _ => return exec_err!("{NAME} takes a pattern and an optional escape"),
        };
        let expressions = (0..patterns.len())
            .map(|row| {
                if patterns.is_null(row) || escapes.is_some_and(|escapes| escapes.is_null(row)) {
                    return Ok(None);
                }
                let escape = match escapes.map(|escapes| escapes.value(row)) {
                    None => Some('\\'),
                    Some(escape) => escape_character(escape)?,
                };
                regular_expression(patterns.value(row), escape).map(Some)
            })
            .collect::<Result<StringArray>>()?;
        arguments.answer(Arc::new(expressions))
    }
}

/// The ESCAPE string: empty for none, else exactly one character.
fn escape_character(escape: &str) -> Result<Option<char>> {
    let mut characters = escape.chars();
    match (characters.next(), characters.next()) {
        (None, _) => Ok(None),
        (Some(escape), None) => Ok(Some(escape)),
        _ => Err(data_error(
            ErrorCode::DataException,
            "invalid escape string: escape string must be empty or one character",
        )),
    }
}

/// The anchored regular expression that matches what the SQL pattern does: `%` any
/// string, `_` any character, `|*+?{}()` and bracket classes as in regular
/// expressions, `.^$` and backslashes literal, and the escape character making the
/// next one literal. `(?s)` lets `.` match newlines, as `%` does in PostgreSQL.
fn regular_expression(pattern: &str, escape: Option<char>) -> Result<String> {
    let mut translated = String::from("(?s)^(?:");
    let mut characters = pattern.chars().peekable();
    let mut separators = 0;
    while let Some(character) = characters.next() {
        if Some(character) == escape {
            let Some(escaped) = characters.next() else {
                return Err(data_error(
                    ErrorCode::DataException,
                    "invalid escape string: SIMILAR TO pattern ends with the escape character",
                ));
            };
            // The escape-double-quote separators (which SUBSTRING uses to mark the
            // part it returns) group without changing what matches.
            if escaped == '"' {
                translated.push_str(match separators {
                    0 => "){1,1}?(?:",
                    1 => "){1,1}(?:",
                    _ => {
                        return Err(data_error(
                            ErrorCode::DataException,
                            "SQL regular expression may not contain more than two \
                             escape-double-quote separators",
                        ))
                    }
                });
                separators += 1;
            } else {
                translated.push_str(&regex_syntax::escape(&escaped.to_string()));
            }
            continue;
        }
        match character {
            '%' => translated.push_str(".*"),
            '_' => translated.push('.'),
            '(' => translated.push_str("(?:"),
            '[' => bracket_class(&mut characters, escape, &mut translated),
            '.' | '^' | '$' | '\\' => {
                translated.push('\\');
                translated.push(character);
            }
            other => translated.push(other),
        }
    }
    translated.push_str(")$");
    // Unbalanced groups or classes: PostgreSQL's 2201B, not an internal error from
    // the regex crate later.
    regex_syntax::ast::parse::Parser::new()
        .parse(&translated)
        .map_err(|error| {
            data_error(
                ErrorCode::DataException,
                &format!("invalid regular expression: {}", error.kind()),
            )
        })?;
    Ok(translated)
}

/// Copies a bracket class, the opening `[` already read, up to its closing `]`: a
/// `]` first (or after `^`) is a member, `[:alpha:]` names a class, and what the
/// regex crate would read as class operators (`[`, `&&`, `--`, `~~`) or escapes is
/// made literal.
fn bracket_class(
    characters: &mut std::iter::Peekable<std::str::Chars<'_>>,
    escape: Option<char>,
    translated: &mut String,
) {
    translated.push('[');
    if characters.peek() == Some(&'^') {
        characters.next();
        translated.push('^');
    }
    let mut first = true;
    while let Some(character) = characters.next() {
        match character {
            ']' if !first => {
                translated.push(']');
                return;
            }
            '[' if characters.peek() == Some(&':') => {
                translated.push_str("[:");
                characters.next();
                for named in characters.by_ref() {
                    translated.push(named);
                    if named == ']' {
                        break;
                    }
                }
            }
            character if Some(character) == escape => {
                if let Some(escaped) = characters.next() {
                    translated.push('\\');
                    translated.push(escaped);
                }
            }
            '[' | ']' | '&' | '~' | '\\' => {
                translated.push('\\');
                translated.push(character);
            }
            '-' if characters.peek() == Some(&'-') => translated.push_str("\\-"),
            other => translated.push(other),
        }
        first = false;
    }
    // An unclosed class stays unclosed: the expression is refused as invalid, as
    // PostgreSQL refuses it (brackets [] not balanced).
}

fn data_error(code: ErrorCode, message: &str) -> DataFusionError {
    TaskError::new(code, message).into()
}

#[cfg(test)]
mod tests {
    use super::regular_expression;

    fn matches(text: &str, pattern: &str, escape: Option<char>) -> bool {
        let expression = regular_expression(pattern, escape).expect("translates");
        regex::Regex::new(&expression)
            .unwrap_or_else(|error| panic!("{expression}: {error}"))
            .is_match(text)
    }

    /// PostgreSQL 15's answers.
    #[test]
    fn patterns_match_as_in_postgresql() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "a", false),
            ("abc", "%(b|d)%", true),
            ("abc", "(a|b)%", true),
            ("abc", "(b|c)%", false),
            ("abd", "a_d", true),
            ("a.c", "a.c", true),
            ("abc", "a.c", false),
            ("a^$", "a^$", true),
            ("aaab", "a+b", true),
            ("b", "a*b", true),
            ("a\nb", "a%b", true),
            ("a7", "a[0-9]", true),
            ("a]", "a[]x]", true),
            ("ax", "a[^]x]", false),
            ("ab", "a[[:alpha:]]", true),
            ("a-", "a[a-]", true),
            ("a&", "a[&b]", true),
            ("x\\y", "x\\\\y", true),
            ("50%", "50\\%", true),
            ("500", "50\\%", false),
            ("aaa", "a{2,3}", true),
            ("aaaa", "a{2,3}", false),
        ];
        for (text, pattern, expected) in cases {
            assert_eq!(
                matches(text, pattern, Some('\\')),
                expected,
                "{text:?} SIMILAR TO {pattern:?}"
            );
        }
        assert!(matches("50%", "50#%", Some('#')));
        assert!(!matches("500", "50#%", Some('#')));
        assert!(
            matches("a\\b", "a\\b", None),
            "no escape: backslash literal"
        );
        assert!(
            matches("ab", "#\"a#\"b", Some('#')),
            "separators group only"
        );
    }

    #[test]
    fn a_trailing_escape_and_a_third_separator_are_refused() {
        assert!(regular_expression("ab\\", Some('\\')).is_err());
        assert!(regular_expression("(a", Some('\\')).is_err());
        assert!(regular_expression("a[", Some('\\')).is_err());
        assert!(regular_expression("a[bc", Some('\\')).is_err());
        assert!(regular_expression("#\"a#\"b#\"", Some('#')).is_err());
    }
}
