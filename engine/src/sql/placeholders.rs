//! Parameters of prepared statements (`$1`, `$2`, ..) bound by substituting SQL
//! literals into the text. Every node plans a statement from its text, so a bound
//! statement must be text too; the substitution works on tokens, so a `$1` inside a
//! string literal or a comment is left alone.

use sqlparser_current::dialect::GenericDialect;
use sqlparser_current::tokenizer::{Token, Tokenizer};

use crate::error::{ErrorCode, QueryError, QueryResult};

/// How many parameters `sql` uses: the highest `$n` in it (0 when none).
///
/// # Errors
/// Text that does not tokenize, or a placeholder that is not `$n`.
pub fn count(sql: &str) -> QueryResult<usize> {
    let mut highest = 0;
    for token in tokens(sql)? {
        if let Token::Placeholder(name) = token {
            highest = highest.max(number(&name)?);
        }
    }
    Ok(highest)
}

/// `sql` with each `$n` replaced by `literals[n - 1]`, which must be SQL literal
/// text (quoted as needed by the caller).
///
/// # Errors
/// A placeholder without a value, or text that does not tokenize.
pub fn bind(sql: &str, literals: &[String]) -> QueryResult<String> {
    let mut bound = String::with_capacity(sql.len());
    for token in tokens(sql)? {
        match token {
            Token::Placeholder(name) => {
                let n = number(&name)?;
                let literal = literals.get(n - 1).ok_or_else(|| {
                    QueryError::new(
                        ErrorCode::Syntax,
                        format!(
                            "the statement uses ${n} but {} parameter(s) were bound",
                            literals.len()
                        ),
                    )
                })?;
                // Parenthesized: `-$1` with $1 = -5 must not read as `--5`.
                bound.push('(');
                bound.push_str(literal);
                bound.push(')');
            }
            other => bound.push_str(&other.to_string()),
        }
    }
    Ok(bound)
}

fn tokens(sql: &str) -> QueryResult<Vec<Token>> {
    Tokenizer::new(&GenericDialect {}, sql)
        .tokenize()
        .map_err(|e| QueryError::new(ErrorCode::Syntax, format!("syntax error: {e}")))
}

fn number(placeholder: &str) -> QueryResult<usize> {
    placeholder
        .strip_prefix('$')
        .and_then(|digits| digits.parse::<usize>().ok())
        .filter(|&n| n >= 1)
        .ok_or_else(|| {
            QueryError::unsupported(format!(
                "the parameter {placeholder}; parameters are written $1, $2, .."
            ))
        })
}

/// `text` as a quoted SQL string literal.
pub fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_outside_strings_only() {
        let sql = "select '$1', x from t where a > $1 and b = $2 -- $3";
        assert_eq!(count(sql).unwrap(), 2);
        let bound = bind(sql, &["-5".into(), quoted("it's")]).unwrap();
        assert_eq!(
            bound,
            "select '$1', x from t where a > (-5) and b = ('it''s') -- $3\n"
        );
        let error = bind("select $2", &["1".into()]).unwrap_err();
        assert!(error.message.contains("$2"), "{error}");
        assert!(bind("select $x", &[]).is_err());
    }
}
