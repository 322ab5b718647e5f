//! Cursor statements: `DECLARE name [BINARY] [NO SCROLL] CURSOR [WITH | WITHOUT HOLD]
//! FOR query`, `FETCH [FORWARD] [n | ALL | NEXT] [FROM | IN] name`, `CLOSE name | ALL`.
//! Drivers use them for server-side cursors (psycopg's named cursors read a big
//! result in pieces); the session keeps the running query and hands out its rows.

use sqlparser_current::dialect::GenericDialect;
use sqlparser_current::tokenizer::{Token, Tokenizer};

use crate::error::{ErrorCode, QueryError, QueryResult};

/// A cursor statement, recognized by its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorCommand {
    Declare {
        name: String,
        /// The query text after `FOR`.
        query: String,
        hold: bool,
    },
    /// `None` rows: all that are left.
    Fetch { name: String, rows: Option<usize> },
    /// `None`: every cursor.
    Close { name: Option<String> },
}

impl CursorCommand {
    /// The cursor statement `sql` is, if it is one.
    ///
    /// # Errors
    /// A cursor statement this does not understand (SCROLL, FETCH BACKWARD, ..).
    pub fn of(sql: &str) -> QueryResult<Option<CursorCommand>> {
        let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
            return Ok(None);
        };
        let words: Vec<(usize, &Token)> = tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_) | Token::SemiColon))
            .map(|(at, t)| (at, &t.token))
            .collect();
        let word = |i: usize| -> String {
            match words.get(i).map(|(_, t)| *t) {
                Some(Token::Word(w)) if w.quote_style.is_none() => w.value.to_ascii_lowercase(),
                _ => String::new(),
            }
        };
        let name = |i: usize| -> Option<String> {
            match words.get(i).map(|(_, t)| *t) {
                Some(Token::Word(w)) if w.quote_style.is_some() => Some(w.value.clone()),
                Some(Token::Word(w)) => Some(w.value.to_ascii_lowercase()),
                _ => None,
            }
        };
        let unsupported = |what: &str| Err(QueryError::unsupported(format!("{what} cursors")));
        match word(0).as_str() {
            "declare" => {
                let cursor = name(1).ok_or_else(|| syntax("DECLARE needs a cursor name"))?;
                let mut i = 2;
                let mut hold = false;
                while word(i) != "for" {
                    match word(i).as_str() {
                        "binary" | "insensitive" | "cursor" | "without" => {}
                        "no" if word(i + 1) == "scroll" => i += 1,
                        "scroll" => return unsupported("SCROLL"),
                        "with" if word(i + 1) == "hold" => {
                            hold = true;
                            i += 1;
                        }
                        "hold" => {}
                        "" => return Err(syntax("DECLARE .. CURSOR needs FOR query")),
                        other => return Err(syntax(&format!("unexpected {other} in DECLARE"))),
                    }
                    i += 1;
                }
                let at = words
                    .get(i + 1)
                    .map(|(at, _)| *at)
                    .ok_or_else(|| syntax("DECLARE .. FOR needs a query"))?;
                let query: String = tokens[at..].iter().map(|t| t.token.to_string()).collect();
                Ok(Some(CursorCommand::Declare {
                    name: cursor,
                    query,
                    hold,
                }))
            }
            "move" => unsupported("MOVE on"),
            "fetch" => {
                let mut i = 1;
                let mut rows = Some(1);
                if word(i) == "forward" {
                    i += 1;
                    rows = Some(1);
                }
                match (word(i).as_str(), words.get(i).map(|(_, t)| *t)) {
                    ("all", _) => {
                        rows = None;
                        i += 1;
                    }
                    ("next", _) => i += 1,
                    ("backward" | "prior" | "first" | "last" | "absolute" | "relative", _) => {
                        return unsupported("scrolling (FETCH BACKWARD, PRIOR, ABSOLUTE ..)")
                    }
                    (_, Some(Token::Number(n, _))) => {
                        rows = Some(
                            n.parse()
                                .map_err(|_| syntax("FETCH count is not a number"))?,
                        );
                        i += 1;
                    }
                    _ => {}
                }
                if matches!(word(i).as_str(), "from" | "in") {
                    i += 1;
                }
                let cursor = name(i).ok_or_else(|| syntax("FETCH needs a cursor name"))?;
                Ok(Some(CursorCommand::Fetch { name: cursor, rows }))
            }
            "close" if word(1) == "all" => Ok(Some(CursorCommand::Close { name: None })),
            "close" => Ok(Some(CursorCommand::Close {
                name: Some(name(1).ok_or_else(|| syntax("CLOSE needs a cursor name"))?),
            })),
            _ => Ok(None),
        }
    }
}

fn syntax(message: &str) -> QueryError {
    QueryError::new(ErrorCode::Syntax, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_statements_are_read() {
        assert_eq!(
            CursorCommand::of("DECLARE \"Big\" NO SCROLL CURSOR WITH HOLD FOR select 1").unwrap(),
            Some(CursorCommand::Declare {
                name: "Big".into(),
                query: "select 1".into(),
                hold: true
            })
        );
        assert_eq!(
            CursorCommand::of("fetch forward 100 from \"big\"").unwrap(),
            Some(CursorCommand::Fetch {
                name: "big".into(),
                rows: Some(100)
            })
        );
        assert_eq!(
            CursorCommand::of("FETCH ALL IN c").unwrap(),
            Some(CursorCommand::Fetch {
                name: "c".into(),
                rows: None
            })
        );
        assert_eq!(
            CursorCommand::of("close all").unwrap(),
            Some(CursorCommand::Close { name: None })
        );
        assert!(CursorCommand::of("fetch backward 1 from c").is_err());
        assert!(CursorCommand::of("declare c scroll cursor for select 1").is_err());
        assert_eq!(CursorCommand::of("select 1").unwrap(), None);
    }
}
