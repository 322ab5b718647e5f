//! `x BETWEEN SYMMETRIC a AND b`, true when x lies between a and b in either order
//! (PostgreSQL; neither parser knows SYMMETRIC, and both read it as a column name).
//! Before parsing, the tokens `SYMMETRIC a AND` become `__between_symmetric(a) AND`:
//! the low bound ends at the first AND outside parentheses, where the parser ends
//! it. After parsing, that marked BETWEEN becomes
//! `(x BETWEEN a AND b OR x BETWEEN b AND a)`, which is PostgreSQL's definition,
//! NULLs included. `BETWEEN ASYMMETRIC` is plain BETWEEN.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement, UnaryOperator,
};
use sqlparser_current::tokenizer::{Token, TokenWithSpan, Whitespace, Word};

const MARK: &str = "__between_symmetric";

/// Marks the low bound of every `BETWEEN SYMMETRIC` and drops `ASYMMETRIC`; returns
/// whether any token changed.
pub fn marked(tokens: &mut Vec<TokenWithSpan>) -> bool {
    let mut changed = false;
    let mut at = 0;
    while let Some(between) = next_word(tokens, at, "between") {
        at = between + 1;
        let Some(modifier) = next_significant(tokens, at) else {
            break;
        };
        if is_word(&tokens[modifier].token, "asymmetric") {
            tokens[modifier] = TokenWithSpan::wrap(Token::Whitespace(Whitespace::Space));
            changed = true;
            continue;
        }
        if !is_word(&tokens[modifier].token, "symmetric") {
            continue;
        }
        // `BETWEEN symmetric AND ..` names a column.
        let Some(and) = closing_and(tokens, modifier + 1)
            .filter(|&and| next_significant(tokens, modifier + 1) != Some(and))
        else {
            continue;
        };
        tokens.insert(and, TokenWithSpan::wrap(Token::RParen));
        tokens[modifier] = TokenWithSpan::wrap(Token::make_word(MARK, None));
        tokens.insert(modifier + 1, TokenWithSpan::wrap(Token::LParen));
        changed = true;
    }
    changed
}

/// Rewrites the marked BETWEENs of the statement in place.
pub fn expanded(statement: &mut Statement) {
    let _ = sqlparser::ast::visit_expressions_mut(statement, |expr| {
        if let Expr::Between {
            expr: operand,
            negated,
            low,
            high,
        } = expr
        {
            if let Some(low) = marked_bound(low) {
                let between = |low: &Expr, high: &Expr| Expr::Between {
                    expr: operand.clone(),
                    negated: false,
                    low: Box::new(low.clone()),
                    high: Box::new(high.clone()),
                };
                let either = Expr::Nested(Box::new(Expr::BinaryOp {
                    left: Box::new(between(&low, high)),
                    op: BinaryOperator::Or,
                    right: Box::new(between(high, &low)),
                }));
                *expr = if *negated {
                    Expr::UnaryOp {
                        op: UnaryOperator::Not,
                        expr: Box::new(either),
                    }
                } else {
                    either
                };
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

fn marked_bound(low: &Expr) -> Option<Expr> {
    let Expr::Function(function) = low else {
        return None;
    };
    if function.name.to_string() != MARK {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(bound))] => Some(bound.clone()),
        _ => None,
    }
}

fn is_word(token: &Token, text: &str) -> bool {
    matches!(token, Token::Word(Word { value, quote_style: None, .. }) if value.eq_ignore_ascii_case(text))
}

fn next_word(tokens: &[TokenWithSpan], from: usize, text: &str) -> Option<usize> {
    (from..tokens.len()).find(|&at| is_word(&tokens[at].token, text))
}

fn next_significant(tokens: &[TokenWithSpan], from: usize) -> Option<usize> {
    (from..tokens.len()).find(|&at| !matches!(tokens[at].token, Token::Whitespace(_)))
}

/// The first AND from `from` on outside any parentheses opened after `from`.
fn closing_and(tokens: &[TokenWithSpan], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (at, token) in tokens.iter().enumerate().skip(from) {
        match &token.token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => depth = depth.checked_sub(1)?,
            token if depth == 0 && is_word(token, "and") => return Some(at),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use sqlparser_current::dialect::GenericDialect;
    use sqlparser_current::tokenizer::Tokenizer;

    fn rewritten(sql: &str) -> String {
        let mut tokens = Tokenizer::new(&GenericDialect {}, sql)
            .tokenize_with_location()
            .expect("tokenizes");
        super::marked(&mut tokens);
        let text: String = tokens.iter().map(|token| token.token.to_string()).collect();
        let mut statement =
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::GenericDialect {}, &text)
                .expect("parses")
                .remove(0);
        super::expanded(&mut statement);
        statement.to_string()
    }

    #[test]
    fn symmetric_bounds_are_tried_both_ways() {
        assert_eq!(
            rewritten("SELECT x BETWEEN SYMMETRIC f(a, b) AND 0 AND y"),
            "SELECT (x BETWEEN f(a, b) AND 0 OR x BETWEEN 0 AND f(a, b)) AND y"
        );
        assert_eq!(
            rewritten("SELECT x NOT BETWEEN SYMMETRIC 2 AND 1"),
            "SELECT NOT (x BETWEEN 2 AND 1 OR x BETWEEN 1 AND 2)"
        );
        assert_eq!(
            rewritten("SELECT x BETWEEN ASYMMETRIC 1 AND 2"),
            "SELECT x BETWEEN 1 AND 2"
        );
        assert_eq!(
            rewritten("SELECT symmetric FROM t WHERE x BETWEEN symmetric AND 2"),
            "SELECT symmetric FROM t WHERE x BETWEEN symmetric AND 2"
        );
    }
}
