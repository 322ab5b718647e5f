//! Limits checked before parsing, on the text and its tokens, without recursion.
//!
//! sqlparser 0.62 can take exponential time on short nested inputs, so deeply nested
//! text is refused before the parser sees it. And every later step walks expression
//! trees recursively (the AST's drop, DataFusion's planner and optimizer, our planner,
//! expression evaluation on the data cores), so a flat chain like `1 OR 1=1 OR ...`,
//! which the parser reads in a loop into a tree as deep as the chain is long, must be
//! refused here too: 20,000 terms overflowed the stack and aborted the process.

use sqlparser_current::dialect::GenericDialect;
use sqlparser_current::keywords::Keyword;
use sqlparser_current::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::error::{ErrorCode, QueryError, QueryResult};

/// Longest SQL text accepted, in bytes.
pub const MAX_SQL_BYTES: usize = 1 << 20;
/// Deepest parenthesis nesting accepted; also the parser's recursion limit.
pub const MAX_NESTING: usize = 64;
/// Deepest expression tree accepted, as estimated by [`nesting`]. DuckDB's
/// default `max_expression_depth` is the same; 5,000 overflowed an 8 MiB stack here.
pub const MAX_EXPRESSION_DEPTH: usize = 1000;

/// Refuses text that is too long, nested too deeply or chains too many operators;
/// returns its tokens (with locations, for the parser's messages), so the text is
/// tokenized once.
///
/// # Errors
/// `ResourcesExhausted` for the size, `TooComplex` (54001) for nesting and depth,
/// `Syntax` for text that does not tokenize.
pub fn check(sql: &str) -> QueryResult<Vec<TokenWithSpan>> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(QueryError::new(
            ErrorCode::ResourcesExhausted,
            format!(
                "SQL text of {} bytes exceeds the limit of {MAX_SQL_BYTES} bytes",
                sql.len()
            ),
        ));
    }
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| QueryError::new(ErrorCode::Syntax, format!("syntax error: {e}")))?;
    let nesting = nesting(tokens.iter().map(|t| &t.token));
    if nesting.parentheses > MAX_NESTING {
        return Err(QueryError::new(
            ErrorCode::TooComplex,
            format!(
                "statement too complex: SQL nesting depth {} exceeds the limit of {MAX_NESTING}",
                nesting.parentheses
            ),
        ));
    }
    if nesting.expression > MAX_EXPRESSION_DEPTH {
        return Err(QueryError::new(
            ErrorCode::TooComplex,
            format!(
                "statement too complex: an expression about {} levels deep exceeds the \
                 limit of {MAX_EXPRESSION_DEPTH} (long chains of AND, OR, +, || or UNION \
                 nest one level per operator; a long OR of equalities can be an IN list)",
                nesting.expression
            ),
        ));
    }
    Ok(tokens)
}

/// How deeply a statement nests, read off its tokens.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Nesting {
    /// Deepest parenthesis nesting (strings, quoted names and comments aside).
    pub parentheses: usize,
    /// An upper estimate of the deepest expression or plan tree the parser and
    /// planner build: within each group, every operator of a chain adds a level (the
    /// parser builds chains left-deep; see [`Group`]), and groups add up as they nest.
    pub expression: usize,
}

/// One level of parentheses or one CASE ... END.
///
/// AND, OR and NOT bind loosest, so an expression without parentheses is a tree of
/// them over operands made of the other operators: it is at most as deep as its
/// logical operators plus its deepest operand's operators.
#[derive(Default)]
struct Group {
    opened_by_case: bool,
    /// AND, OR and NOT since the last comma or clause keyword.
    logical: usize,
    /// Other operators in the current operand of the logical chain.
    operand: usize,
    /// Operators of the deepest finished operand.
    deepest_operand: usize,
    /// Set operations and joins: their plans nest one level each, across clauses.
    relations: usize,
}

impl Group {
    fn depth(&self) -> usize {
        1 + self.relations + self.logical + self.operand.max(self.deepest_operand)
    }

    fn logical_operator(&mut self) {
        self.logical += 1;
        self.deepest_operand = self.deepest_operand.max(self.operand);
        self.operand = 0;
    }

    fn end_expression(&mut self) {
        self.logical = 0;
        self.operand = 0;
        self.deepest_operand = 0;
    }
}

/// Measures [`Nesting`] in one pass over the tokens.
pub fn nesting<'a>(tokens: impl IntoIterator<Item = &'a Token>) -> Nesting {
    let mut groups = vec![Group::default()];
    // The depth of all groups but the innermost, kept so each token costs O(1).
    let mut enclosing = 0;
    let mut parentheses = 0;
    let mut measured = Nesting::default();
    for token in tokens {
        let nested = groups.len() > 1;
        let innermost = groups
            .last_mut()
            .expect("the outermost group is never closed");
        match token {
            Token::LParen => {
                enclosing += innermost.depth();
                groups.push(Group::default());
                parentheses += 1;
                measured.parentheses = measured.parentheses.max(parentheses);
            }
            Token::Word(word) if word.quote_style.is_none() && word.keyword == Keyword::CASE => {
                enclosing += innermost.depth();
                groups.push(Group {
                    opened_by_case: true,
                    ..Group::default()
                });
            }
            Token::RParen if nested && !innermost.opened_by_case => {
                groups.pop();
                enclosing -= groups.last().map_or(0, Group::depth);
                parentheses -= 1;
            }
            Token::Word(word)
                if word.quote_style.is_none()
                    && word.keyword == Keyword::END
                    && innermost.opened_by_case =>
            {
                groups.pop();
                enclosing -= groups.last().map_or(0, Group::depth);
            }
            Token::Comma => innermost.end_expression(),
            Token::Word(word) if word.quote_style.is_none() => match word.keyword {
                Keyword::SELECT
                | Keyword::FROM
                | Keyword::WHERE
                | Keyword::GROUP
                | Keyword::HAVING
                | Keyword::QUALIFY
                | Keyword::WINDOW
                | Keyword::ORDER
                | Keyword::LIMIT
                | Keyword::OFFSET
                | Keyword::ON
                | Keyword::USING
                | Keyword::WHEN
                | Keyword::THEN
                | Keyword::ELSE => innermost.end_expression(),
                Keyword::UNION | Keyword::INTERSECT | Keyword::EXCEPT | Keyword::JOIN => {
                    innermost.relations += 1;
                }
                Keyword::AND | Keyword::OR | Keyword::NOT => innermost.logical_operator(),
                Keyword::IS
                | Keyword::IN
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::SIMILAR
                | Keyword::BETWEEN
                | Keyword::COLLATE
                | Keyword::AT => innermost.operand += 1,
                _ => {}
            },
            token if is_operator(token) => innermost.operand += 1,
            _ => {}
        }
        let innermost = groups.last().map_or(0, Group::depth);
        measured.expression = measured.expression.max(enclosing + innermost);
    }
    measured
}

/// Tokens that join or wrap operands: everything but words, literals and punctuation.
fn is_operator(token: &Token) -> bool {
    !matches!(
        token,
        Token::EOF
            | Token::Word(_)
            | Token::Number(..)
            | Token::Char(_)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::Placeholder(_)
            | Token::Comma
            | Token::Whitespace(_)
            | Token::LParen
            | Token::RParen
            | Token::RBracket
            | Token::Period
            | Token::SemiColon
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(sql: &str) -> Nesting {
        nesting(&Tokenizer::new(&GenericDialect {}, sql).tokenize().unwrap())
    }

    fn depth(sql: &str) -> usize {
        measure(sql).expression
    }

    #[test]
    fn depth_ignores_parentheses_in_strings_names_and_comments() {
        let sql = "select ((1)), '(((((', \"((\" -- ((((\n";
        assert_eq!(measure(sql).parentheses, 2);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let sql = format!("select {}1{}", "(".repeat(100), ")".repeat(100));
        let error = check(&sql).unwrap_err();
        assert_eq!(error.code, ErrorCode::TooComplex);
    }

    #[test]
    fn chains_count_one_level_per_operator() {
        let chain = |n: usize, op: &str| format!("select 1{}", format!(" {op} 1").repeat(n));
        for op in ["+", "OR", "AND", "||", "*"] {
            assert!(depth(&chain(100, op)) >= 100, "{op}");
            assert!(depth(&chain(100, op)) < 110, "{op}");
        }
        let union = format!("select 1{}", " union all select 1".repeat(50));
        assert!((50..60).contains(&depth(&union)));
    }

    #[test]
    fn operands_of_a_logical_chain_count_once() {
        let terms: Vec<String> = (0..300).map(|i| format!("x + {i} = {i}")).collect();
        let sql = format!("select 1 where {}", terms.join(" or "));
        assert!((300..310).contains(&depth(&sql)), "{}", depth(&sql));
        // The deepest operand counts wherever it stands in the chain.
        let deep_first = format!("select 1 where {} = 1 or x = 2", vec!["x"; 200].join(" + "));
        assert!(depth(&deep_first) >= 201, "{}", depth(&deep_first));
    }

    #[test]
    fn commas_and_clauses_end_a_chain() {
        let list: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
        let in_list = format!("select x from t where x in ({})", list.join(", "));
        assert!(depth(&in_list) < 10, "{}", depth(&in_list));
        let columns = format!("select {} from t", vec!["a + b"; 2000].join(", "));
        assert!(depth(&columns) < 10);
    }

    #[test]
    fn groups_add_up() {
        let inner = format!("({})", vec!["a"; 40].join(" + "));
        let outer = format!("select {}", vec![inner.as_str(); 40].join(" * "));
        assert!(depth(&outer) >= 40 + 39);
        let cases = format!(
            "select {}1{}",
            "case when x then ".repeat(30),
            " end".repeat(30)
        );
        assert!((30..40).contains(&depth(&cases)));
    }

    #[test]
    fn long_chains_are_refused_as_too_complex() {
        let sql = format!("SELECT 1 {}", "OR 1=1 ".repeat(20_000));
        let error = check(&sql).unwrap_err();
        assert_eq!(error.code, ErrorCode::TooComplex);
        assert!(error.message.contains("statement too complex"), "{error}");
    }
}
