//! `LIKE .. ESCAPE 'c'` with a character other than the backslash: DataFusion
//! evaluates only the backslash, so a constant pattern is rewritten into the same
//! pattern with backslash escapes (`'a#%b' ESCAPE '#'` becomes `'a\%b'`), and
//! `ESCAPE ''` (no escape character: PostgreSQL reads every backslash literally)
//! doubles the pattern's backslashes. A pattern that is not a constant keeps its
//! ESCAPE, which the planner refuses by name.

use sqlparser::ast::{visit_expressions_mut, Expr, Statement, Value, ValueWithSpan};
use std::ops::ControlFlow;

/// Rewrites the statement in place.
pub fn as_backslashes(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        } = expr
        {
            rewrite(pattern, escape_char);
        }
        ControlFlow::<()>::Continue(())
    });
}

fn rewrite(pattern: &mut Expr, escape_char: &mut Option<ValueWithSpan>) {
    let Some(escape) = escape_char.as_ref() else {
        return;
    };
    let Value::SingleQuotedString(escape) = &escape.value else {
        return;
    };
    let mut escape_chars = escape.chars();
    let escape = match (escape_chars.next(), escape_chars.next()) {
        (None, _) => None,
        (Some(only), None) => Some(only),
        _ => return,
    };
    let Expr::Value(value) = pattern else {
        return;
    };
    let Value::SingleQuotedString(text) = &mut value.value else {
        return;
    };
    if let Some(rewritten) = with_backslashes(text, escape) {
        *text = rewritten;
        *escape_char = None;
    }
}

/// `pattern` with `escape` as its escape character (or none), written with the
/// backslash instead; `None` for a pattern that ends in its escape character,
/// which PostgreSQL refuses (left to the planner's error).
fn with_backslashes(pattern: &str, escape: Option<char>) -> Option<String> {
    let mut written = String::with_capacity(pattern.len() + 2);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            written.push('\\');
            written.push(chars.next()?);
        } else if c == '\\' {
            written.push_str("\\\\");
        } else {
            written.push(c);
        }
    }
    Some(written)
}

#[cfg(test)]
mod tests {
    use super::with_backslashes;

    #[test]
    fn escapes_become_backslashes_and_backslashes_become_literal() {
        assert_eq!(with_backslashes("a#%b", Some('#')).unwrap(), "a\\%b");
        assert_eq!(with_backslashes("a##_", Some('#')).unwrap(), "a\\#_");
        assert_eq!(with_backslashes("a\\%", Some('#')).unwrap(), "a\\\\%");
        assert_eq!(with_backslashes("a\\%", None).unwrap(), "a\\\\%");
        assert_eq!(with_backslashes("100!%", Some('!')).unwrap(), "100\\%");
        assert!(with_backslashes("ab#", Some('#')).is_none());
    }
}
