//! Parsing. sqlparser 0.62, the version DataFusion 55's planner takes, needs time
//! exponential in the nesting of some short, malformed inputs: here 12 levels of a
//! truncated `CAST(CASE (` took 2.8 s and 14 levels 180 s. sqlparser 0.64 rejects them
//! in microseconds, so the current parser checks the text first and 0.62 only ever
//! sees SQL that 0.64 accepted. Valid nested inputs (parentheses, CAST, CASE, function
//! calls, subqueries, IN lists, EXISTS, 16 levels each) parse in under 0.1 ms with
//! 0.62, as `examples/parse_hazard.rs` measures. Bridging the 0.64 AST to 0.62 through
//! serde was tried and fails: the AST shapes differ (`index_hints` and others).

use sqlparser::ast::Statement;
use sqlparser_current::dialect::GenericDialect as CurrentDialect;
use sqlparser_current::parser::Parser as CurrentParser;
use sqlparser_current::tokenizer::TokenWithSpan;

use super::guard::MAX_NESTING;
use crate::error::{ErrorCode, QueryError, QueryResult};

/// Parses SQL text into statements in the AST version DataFusion's planner takes.
/// `tokens` are the text's, from [`super::guard::check`].
///
/// # Errors
/// Syntax errors, with the parser's message.
pub fn parse(sql: &str, mut tokens: Vec<TokenWithSpan>) -> QueryResult<Vec<Statement>> {
    let csv = csv_as_textfile(&mut tokens);
    let partitioned = partitioned_as_partition(&mut tokens);
    let symmetric = super::symmetric_between::marked(&mut tokens);
    let trimmed = trim_blanks_named(&mut tokens);
    let xor = sharp_as_xor(&mut tokens);
    let grouped = grouping_subqueries_parenthesized(&mut tokens);
    let materialization = cte_materialization_dropped(&mut tokens);
    let changed = csv || partitioned || symmetric || trimmed || xor || grouped || materialization;
    let rewritten = changed.then(|| {
        tokens
            .iter()
            .map(|token| token.token.to_string())
            .collect::<String>()
    });
    let sql = rewritten.as_deref().unwrap_or(sql);
    let excludes_in_frame = frame_exclusion(&tokens);
    CurrentParser::new(&CurrentDialect {})
        .with_recursion_limit(MAX_NESTING)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|error| match excludes_in_frame {
            Some(exclusion) => QueryError::unsupported(format!(
                "the window frame exclusion EXCLUDE {exclusion} (the frame is taken whole \
                 or not at all)"
            )),
            None => syntax_error(error),
        })?;
    let mut statements = sqlparser::parser::Parser::new(&sqlparser::dialect::GenericDialect {})
        .with_recursion_limit(MAX_NESTING)
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_statements())
        .map_err(syntax_error)?;
    for statement in &mut statements {
        super::distinct_from_precedence::regrouped(statement);
        super::symmetric_between::expanded(statement);
    }
    Ok(statements)
}

/// `STORED AS CSV` (DataFusion's spelling, which sqlparser lacks) becomes Hive's
/// `STORED AS TEXTFILE`, which it parses; returns whether anything changed.
fn csv_as_textfile(tokens: &mut [TokenWithSpan]) -> bool {
    use sqlparser_current::keywords::Keyword;
    replace_word(
        tokens,
        [&["stored"], &["as"], &["csv"]],
        2,
        ("TEXTFILE", Keyword::TEXTFILE),
    )
}

/// `PARTITIONED BY HASH (..)` (or `RANGE`, `REPLICATED`) of `CREATE TABLE .. AS`
/// becomes `PARTITION BY HASH (..)`, which the parser takes as an expression. Hive's
/// `PARTITIONED BY (column type)` is left alone. Returns whether anything changed.
fn partitioned_as_partition(tokens: &mut [TokenWithSpan]) -> bool {
    use sqlparser_current::keywords::Keyword;
    let phrase: [&[&str]; 3] = [&["partitioned"], &["by"], &["hash", "range", "replicated"]];
    replace_word(tokens, phrase, 0, ("PARTITION", Keyword::PARTITION))
}

/// `trim(LEADING FROM x)` (or TRAILING, BOTH) trims blanks in PostgreSQL, but the
/// parsers want the characters named: `' '` is put between the two words. Returns
/// whether anything changed.
fn trim_blanks_named(tokens: &mut Vec<TokenWithSpan>) -> bool {
    use sqlparser_current::tokenizer::Token;
    let words = significant(tokens);
    let places: Vec<usize> = words
        .windows(3)
        .filter(|window| {
            tokens[window[0]].token == Token::LParen
                && is_word(&tokens[window[1]].token, &["leading", "trailing", "both"])
                && is_word(&tokens[window[2]].token, &["from"])
        })
        .map(|window| window[2])
        .collect();
    for &from in places.iter().rev() {
        for token in [
            Token::Whitespace(sqlparser_current::tokenizer::Whitespace::Space),
            Token::SingleQuotedString(" ".to_string()),
        ] {
            tokens.insert(from, TokenWithSpan::wrap(token));
        }
    }
    !places.is_empty()
}

/// `a # b`, PostgreSQL's bitwise XOR, which neither parser knows: the `XOR`
/// keyword, whose precedence (below `+`, above comparisons) is PostgreSQL's for `#`;
/// planning makes it a bitwise XOR (`pg_compat`). The generic dialect lets `#` start
/// or continue an unquoted identifier, so `5#3` was `5 AS "#3"`; PostgreSQL's
/// identifiers hold no `#`, so such a word is split at each one. Returns whether
/// anything changed.
fn sharp_as_xor(tokens: &mut Vec<TokenWithSpan>) -> bool {
    use sqlparser_current::tokenizer::{Token, Tokenizer, Whitespace, Word};
    let xor = || {
        [
            Token::Whitespace(Whitespace::Space),
            Token::make_keyword("XOR"),
            Token::Whitespace(Whitespace::Space),
        ]
    };
    let mut changed = false;
    let mut rewritten = Vec::with_capacity(tokens.len());
    for token in tokens.drain(..) {
        match &token.token {
            Token::Sharp => {
                rewritten.extend(xor().map(TokenWithSpan::wrap));
                changed = true;
            }
            Token::Word(Word {
                value,
                quote_style: None,
                ..
            }) if value.contains('#') => {
                for (index, piece) in value.split('#').enumerate() {
                    if index > 0 {
                        rewritten.extend(xor().map(TokenWithSpan::wrap));
                    }
                    let pieces = Tokenizer::new(&CurrentDialect {}, piece)
                        .tokenize()
                        .unwrap_or_default();
                    rewritten.extend(pieces.into_iter().map(TokenWithSpan::wrap));
                }
                changed = true;
            }
            _ => rewritten.push(token),
        }
    }
    *tokens = rewritten;
    changed
}

/// A subquery as an element of `ROLLUP (..)`, `CUBE (..)` or `GROUPING SETS (..)`
/// (`cube ((select max(a) from t))`): sqlparser 0.62 reads an element's parenthesis
/// as a list of expressions and then fails on SELECT ("Expected: ), found: max").
/// Such a subquery gets a second pair of parentheses, the list of one expression
/// the parser expects. Returns whether anything changed.
fn grouping_subqueries_parenthesized(tokens: &mut Vec<TokenWithSpan>) -> bool {
    use sqlparser_current::tokenizer::Token;
    /// What an open parenthesis inside a grouping list is.
    #[derive(PartialEq)]
    enum Open {
        /// A list of elements (the grouping list, or a tuple in it).
        Elements,
        /// A subquery element, at this token, to be parenthesized again.
        Subquery(usize),
        Other,
    }
    let words = significant(tokens);
    let mut insertions = Vec::new();
    for (at, &start) in words.iter().enumerate() {
        let opens_list = is_word(&tokens[start].token, &["rollup", "cube", "sets"])
            && words
                .get(at + 1)
                .is_some_and(|&next| tokens[next].token == Token::LParen);
        if !opens_list {
            continue;
        }
        let mut open = vec![Open::Elements];
        let mut element_starts = true;
        for (offset, &index) in words.iter().enumerate().skip(at + 2) {
            let in_elements = open.last() == Some(&Open::Elements);
            match &tokens[index].token {
                Token::LParen => {
                    let query_follows = words
                        .get(offset + 1)
                        .is_some_and(|&next| is_word(&tokens[next].token, &["select", "with"]));
                    let kind = match (element_starts && in_elements, query_follows) {
                        (true, true) => Open::Subquery(index),
                        (true, false) => Open::Elements,
                        _ => Open::Other,
                    };
                    element_starts = kind == Open::Elements;
                    open.push(kind);
                }
                Token::RParen => {
                    if let Some(Open::Subquery(opened)) = open.pop() {
                        insertions.push((opened, Token::LParen));
                        insertions.push((index + 1, Token::RParen));
                    }
                    if open.is_empty() {
                        break;
                    }
                    element_starts = false;
                }
                Token::Comma => element_starts = in_elements,
                _ => element_starts = false,
            }
        }
    }
    insertions.sort_by_key(|(index, _)| std::cmp::Reverse(*index));
    for (index, token) in &insertions {
        tokens.insert(*index, TokenWithSpan::wrap(token.clone()));
    }
    !insertions.is_empty()
}

/// PostgreSQL's `WITH name AS [NOT] MATERIALIZED (..)`, which only sqlparser's
/// PostgreSQL dialect takes: the words are dropped. They say whether a CTE is computed
/// once or written into its readers, and either gives the same rows: Percore computes
/// a CTE named more than once once (when it fits in memory) and writes a CTE named once
/// into its reader. Returns whether anything changed.
fn cte_materialization_dropped(tokens: &mut Vec<TokenWithSpan>) -> bool {
    use sqlparser_current::tokenizer::Token;
    let words = significant(tokens);
    let word = |at: usize| words.get(at).map(|&index| (index, &tokens[index].token));
    let mut dropped = Vec::new();
    for at in 0..words.len() {
        if !is_word(&tokens[words[at]].token, &["as"]) {
            continue;
        }
        match (word(at + 1), word(at + 2), word(at + 3)) {
            (Some((materialized, first)), Some((_, Token::LParen)), _)
                if is_word(first, &["materialized"]) =>
            {
                dropped.push(materialized);
            }
            (Some((not, first)), Some((materialized, second)), Some((_, Token::LParen)))
                if is_word(first, &["not"]) && is_word(second, &["materialized"]) =>
            {
                dropped.extend([not, materialized]);
            }
            _ => {}
        }
    }
    for &index in dropped.iter().rev() {
        tokens.remove(index);
    }
    !dropped.is_empty()
}

/// Whether `token` is an unquoted word spelled as one of `texts`, in any case.
fn is_word(token: &sqlparser_current::tokenizer::Token, texts: &[&str]) -> bool {
    use sqlparser_current::tokenizer::{Token, Word};
    matches!(token, Token::Word(Word { value, quote_style: None, .. })
        if texts.iter().any(|text| value.eq_ignore_ascii_case(text)))
}

/// Wherever three unquoted words in a row match `phrase` (each one of its
/// alternatives, in any case), the word at `at` becomes `replacement`; returns
/// whether any did.
fn replace_word(
    tokens: &mut [TokenWithSpan],
    phrase: [&[&str]; 3],
    at: usize,
    replacement: (&str, sqlparser_current::keywords::Keyword),
) -> bool {
    use sqlparser_current::tokenizer::Token;
    let words = significant(tokens);
    let mut changed = false;
    for window in words.windows(3) {
        let matched = (0..3).all(|i| is_word(&tokens[window[i]].token, phrase[i]));
        if let (true, Token::Word(word)) = (matched, &mut tokens[window[at]].token) {
            word.value = replacement.0.to_string();
            word.keyword = replacement.1;
            changed = true;
        }
    }
    changed
}

/// `EXCLUDE CURRENT ROW`, `EXCLUDE GROUP`, `EXCLUDE TIES` or `EXCLUDE NO OTHERS`:
/// valid SQL that neither parser takes, so a statement holding it gets an error that
/// names it rather than a syntax error. The words that follow EXCLUDE, if any.
fn frame_exclusion(tokens: &[TokenWithSpan]) -> Option<String> {
    use sqlparser_current::tokenizer::{Token, Word};
    let word = |at: usize| match &tokens[at].token {
        Token::Word(Word {
            value,
            quote_style: None,
            ..
        }) => Some(value.to_ascii_uppercase()),
        _ => None,
    };
    let words = significant(tokens);
    words.windows(3).find_map(|window| {
        let [exclude, first, second] = [0, 1, 2].map(|i| word(window[i]));
        if exclude.as_deref() != Some("EXCLUDE") {
            return None;
        }
        match (first?.as_str(), second.as_deref()) {
            (first @ ("GROUP" | "TIES"), _) => Some(first.to_string()),
            ("CURRENT", Some("ROW")) => Some("CURRENT ROW".to_string()),
            ("NO", Some("OTHERS")) => Some("NO OTHERS".to_string()),
            _ => None,
        }
    })
}

/// Where the tokens other than white space are.
fn significant(tokens: &[TokenWithSpan]) -> Vec<usize> {
    use sqlparser_current::tokenizer::Token;
    tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_)))
        .map(|(at, _)| at)
        .collect()
}

fn syntax_error(error: impl std::fmt::Display) -> QueryError {
    QueryError::new(ErrorCode::Syntax, format!("syntax error: {error}"))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::sql::guard;

    fn parse(sql: &str) -> QueryResult<Vec<Statement>> {
        super::parse(sql, guard::check(sql)?)
    }

    /// Regression: inputs that made sqlparser 0.62 run for minutes. The bound is loose
    /// on purpose (an unoptimized build on a shared machine): the failure it guards
    /// against takes seconds to minutes, a passing run milliseconds.
    #[test]
    fn inputs_slow_for_the_old_parser_fail_fast() {
        for input in [
            format!("SELECT {}", "CAST(CASE (".repeat(14)),
            format!("SELECT {}", "CAST((".repeat(24)),
        ] {
            let started = Instant::now();
            let error = parse(&input).unwrap_err();
            assert_eq!(error.code, ErrorCode::Syntax);
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{input}: {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn subqueries_in_grouping_lists_parse() {
        for sql in [
            "select 1 from t group by cube((select max(a) from u))",
            "select 1 from t group by rollup(k, (select max(a) from u where u.k = t.k), (k, (select 1)))",
            "select 1 from t group by grouping sets (((select max(a) from u)), (k, (with w as (select 1) select * from w)))",
        ] {
            let statements = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(statements.len(), 1);
        }
        // Only the elements' subqueries: not a tuple, nor the derived tables inside.
        let sql = "select 1 from t group by rollup (k, (a, b)), cube ((select 1 from (select 2) s, (select 3) r))";
        let mut tokens = guard::check(sql).expect("valid");
        assert!(grouping_subqueries_parenthesized(&mut tokens));
        let text: String = tokens.iter().map(|token| token.token.to_string()).collect();
        assert_eq!(
            text,
            "select 1 from t group by rollup (k, (a, b)), cube (((select 1 from (select 2) s, (select 3) r)))"
        );
    }

    #[test]
    fn sharp_is_xor_with_postgresqls_precedence() {
        let parsed = parse("select 5#3 + 1 = 1, '#', a#b#c, \"#q\" # 1 from t").unwrap();
        assert_eq!(
            parsed[0].to_string(),
            "SELECT 5 XOR 3 + 1 = 1, '#', a XOR b XOR c, \"#q\" XOR 1 FROM t"
        );
    }

    #[test]
    fn a_frame_exclusion_is_named_as_unsupported_and_other_errors_stay_syntax_errors() {
        let frame = "select sum(x) over (order by x rows between 1 preceding and 1 following \
                     exclude {}) from t";
        for (exclusion, named) in [
            ("current row", "EXCLUDE CURRENT ROW"),
            ("Group", "EXCLUDE GROUP"),
            ("ties", "EXCLUDE TIES"),
            ("no others", "EXCLUDE NO OTHERS"),
        ] {
            let error = parse(&frame.replace("{}", exclusion)).unwrap_err();
            assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
            assert!(error.message.contains(named), "{error}");
        }
        let error = parse("select (exclude current from t").unwrap_err();
        assert_eq!(error.code, ErrorCode::Syntax, "{error}");
    }

    #[test]
    fn cte_materialization_words_are_dropped_where_postgresql_takes_them() {
        let parsed = parse(
            "with w as materialized (select 1 as materialized), \
             v (b) AS Not Materialized (select 2) select * from w, v",
        )
        .unwrap();
        assert_eq!(
            parsed[0].to_string(),
            "WITH w AS (SELECT 1 AS materialized), v (b) AS (SELECT 2) SELECT * FROM w, v"
        );
        // Not before a parenthesis, the word is left alone (a column alias); and a
        // statement wrong with the words is wrong without them.
        assert!(parse("select x as materialized from t").is_ok());
        let error = parse("select 1 as not materialized (2)").unwrap_err();
        assert_eq!(error.code, ErrorCode::Syntax, "{error}");
    }

    #[test]
    fn deeply_nested_valid_sql_parses() {
        let mut expr = "1".to_string();
        for _ in 0..14 {
            expr = format!("CAST(CASE ({expr}) WHEN 1 THEN 2 ELSE 3 END AS INT)");
        }
        let started = Instant::now();
        assert_eq!(parse(&format!("SELECT {expr}")).unwrap().len(), 1);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
