//! Transaction control statements. Percore is read-only at query time and has no
//! transactions to commit or roll back, but drivers open one by default (psycopg,
//! JDBC with autocommit off): BEGIN, COMMIT and ROLLBACK are accepted and tracked by
//! the session so the client sees the transaction status it expects.

use sqlparser_current::dialect::GenericDialect;
use sqlparser_current::tokenizer::{Token, Tokenizer};

/// What a transaction control statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionCommand {
    /// `BEGIN`, `START TRANSACTION`.
    Begin,
    /// `COMMIT`, `END`.
    Commit,
    /// `ROLLBACK`, `ABORT`.
    Rollback,
    /// `SET TRANSACTION ..`, `SET SESSION CHARACTERISTICS ..`: accepted, no effect.
    Characteristics,
}

impl TransactionCommand {
    /// The command `sql` is, if it is one (decided by its first words).
    pub fn of(sql: &str) -> Option<TransactionCommand> {
        let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
        let mut words = tokens.iter().filter_map(|token| match token {
            Token::Word(word) if word.quote_style.is_none() => {
                Some(word.value.to_ascii_lowercase())
            }
            Token::Whitespace(_) | Token::SemiColon => None,
            _ => Some(String::new()),
        });
        let first = words.next()?;
        let second = words.next().unwrap_or_default();
        match (first.as_str(), second.as_str()) {
            ("begin", _) => Some(TransactionCommand::Begin),
            ("start", "transaction") => Some(TransactionCommand::Begin),
            ("commit" | "end", _) => Some(TransactionCommand::Commit),
            ("rollback" | "abort", _) => Some(TransactionCommand::Rollback),
            ("set", "transaction") => Some(TransactionCommand::Characteristics),
            ("set", "session") if words.next().as_deref() == Some("characteristics") => {
                Some(TransactionCommand::Characteristics)
            }
            _ => None,
        }
    }

    /// The CommandComplete tag PostgreSQL answers with.
    pub fn tag(self) -> &'static str {
        match self {
            TransactionCommand::Begin => "BEGIN",
            TransactionCommand::Commit => "COMMIT",
            TransactionCommand::Rollback => "ROLLBACK",
            TransactionCommand::Characteristics => "SET",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_statements_are_told_apart_from_others() {
        use TransactionCommand::*;
        assert_eq!(TransactionCommand::of("BEGIN"), Some(Begin));
        assert_eq!(
            TransactionCommand::of("  start transaction read only;"),
            Some(Begin)
        );
        assert_eq!(TransactionCommand::of("commit work"), Some(Commit));
        assert_eq!(TransactionCommand::of("END"), Some(Commit));
        assert_eq!(TransactionCommand::of("rollback"), Some(Rollback));
        assert_eq!(
            TransactionCommand::of("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
            Some(Characteristics)
        );
        assert_eq!(
            TransactionCommand::of("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"),
            Some(Characteristics)
        );
        assert_eq!(TransactionCommand::of("set session timezone = 'UTC'"), None);
        assert_eq!(TransactionCommand::of("select 'begin'"), None);
        assert_eq!(TransactionCommand::of(""), None);
    }
}
