//! Limits checked before parsing. sqlparser 0.62 can take exponential time on short
//! nested inputs, so oversize or deeply nested text is refused with a clear error
//! before the parser ever sees it.

use crate::error::{ErrorCode, QueryError, QueryResult};

/// Longest SQL text accepted, in bytes.
pub const MAX_SQL_BYTES: usize = 1 << 20;
/// Deepest parenthesis nesting accepted; also the parser's recursion limit.
pub const MAX_NESTING: usize = 64;

/// Refuses text that is too long or nested too deeply.
///
/// # Errors
/// `ResourcesExhausted` naming the limit that was hit.
pub fn check(sql: &str) -> QueryResult<()> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(QueryError::new(
            ErrorCode::ResourcesExhausted,
            format!(
                "SQL text of {} bytes exceeds the limit of {MAX_SQL_BYTES} bytes",
                sql.len()
            ),
        ));
    }
    let depth = max_paren_depth(sql);
    if depth > MAX_NESTING {
        return Err(QueryError::new(
            ErrorCode::ResourcesExhausted,
            format!("SQL nesting depth {depth} exceeds the limit of {MAX_NESTING}"),
        ));
    }
    Ok(())
}

/// Parenthesis depth outside string literals and quoted identifiers.
fn max_paren_depth(sql: &str) -> usize {
    let (mut depth, mut max_depth) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    for ch in sql.chars() {
        match (quote, ch) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(ch),
            (None, '(') => {
                depth += 1;
                max_depth = max_depth.max(depth);
            }
            (None, ')') => depth = depth.saturating_sub(1),
            (None, _) => {}
        }
    }
    max_depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_parentheses_in_strings() {
        assert_eq!(max_paren_depth("select ((1)), '((((('"), 2);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let sql = format!("select {}1{}", "(".repeat(100), ")".repeat(100));
        let error = check(&sql).unwrap_err();
        assert_eq!(error.code, ErrorCode::ResourcesExhausted);
    }
}
