//! `COPY (query) TO STDOUT` and `COPY table TO STDOUT`: the query whose rows go to
//! the client, and PostgreSQL's text or CSV form to send them in (what psql's
//! `\copy .. to 'file'` and drivers' copy APIs read). Only the protocol server can
//! send them; everything else sees the statement as COPY to a file.

use sqlparser::ast::{CopyTarget, Statement as SqlStatement};
use sqlparser::dialect::GenericDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

pub use super::copy::ForceQuote;
use super::copy::{copy_from_refused, source_query, CopyOptions};
use super::{parse_statement, ParsedStatement};
use crate::error::{ErrorCode, QueryError, QueryResult};

/// The rows of `query`, for the client in `format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyToClient {
    pub query: String,
    pub format: ClientFormat,
}

/// PostgreSQL's COPY forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFormat {
    /// `PGCOPY` header, then each row's values in their binary send forms.
    Binary,
    /// Tab-separated, `\N` for NULL, backslash escapes.
    Text {
        delimiter: u8,
        null: String,
        header: bool,
    },
    /// Comma-separated, NULL unquoted and empty, values quoted where needed.
    Csv {
        delimiter: u8,
        null: String,
        header: bool,
        quote: u8,
        escape: u8,
        force_quote: ForceQuote,
    },
}

impl CopyToClient {
    /// What `sql` copies to the client, if it is `COPY .. TO STDOUT`.
    ///
    /// # Errors
    /// `COPY .. FROM STDIN`, the binary format, and options that do not fit the
    /// format, as PostgreSQL refuses them.
    pub fn of(sql: &str) -> QueryResult<Option<CopyToClient>> {
        if !starts_with_copy(sql) {
            return Ok(None);
        }
        let ParsedStatement::Plannable(statement) = parse_statement(sql)? else {
            return Ok(None);
        };
        let SqlStatement::Copy {
            source,
            to,
            target,
            options,
            legacy_options,
            ..
        } = *statement
        else {
            return Ok(None);
        };
        match (to, &target) {
            (true, CopyTarget::Stdout) => {}
            (false, CopyTarget::Stdin) => return Err(copy_from_refused()),
            _ => return Ok(None),
        }
        let options = CopyOptions::read(options, legacy_options)?;
        let format = client_format(options)?;
        let query = source_query(source)?.to_string();
        Ok(Some(CopyToClient { query, format }))
    }
}

fn client_format(options: CopyOptions) -> QueryResult<ClientFormat> {
    let csv = match options.format.as_deref() {
        None | Some("text") => false,
        Some("csv") => true,
        Some("binary") => {
            let refused = [
                ("DELIMITER", options.delimiter.is_some()),
                ("NULL", options.null.is_some()),
                ("HEADER", options.header.is_some()),
                ("QUOTE", options.quote.is_some()),
                ("ESCAPE", options.escape.is_some()),
                ("FORCE_QUOTE", options.force_quote != ForceQuote::None),
            ];
            if let Some((option, _)) = refused.iter().find(|(_, given)| *given) {
                return Err(QueryError::new(
                    ErrorCode::Syntax,
                    format!("cannot specify {option} in BINARY mode"),
                ));
            }
            return Ok(ClientFormat::Binary);
        }
        Some(other) => return Err(invalid(&format!("COPY format \"{other}\" not recognized"))),
    };
    let delimiter = options.delimiter.unwrap_or(if csv { b',' } else { b'\t' });
    let null = options
        .null
        .unwrap_or_else(|| if csv { String::new() } else { "\\N".into() });
    if null.as_bytes().contains(&delimiter) {
        return Err(invalid(
            "COPY delimiter must not appear in the NULL specification",
        ));
    }
    if !csv {
        if options.quote.is_some() || options.escape.is_some() {
            return Err(QueryError::unsupported(
                "COPY QUOTE and ESCAPE are available only in CSV mode",
            ));
        }
        if options.force_quote != ForceQuote::None {
            return Err(QueryError::unsupported(
                "COPY FORCE_QUOTE is available only in CSV mode",
            ));
        }
        if delimiter == b'\\' || delimiter.is_ascii_alphanumeric() {
            return Err(invalid(
                "COPY delimiter cannot be a backslash, a letter or a digit in text mode",
            ));
        }
        return Ok(ClientFormat::Text {
            delimiter,
            null,
            header: options.header.unwrap_or(false),
        });
    }
    let quote = options.quote.unwrap_or(b'"');
    if quote == delimiter {
        return Err(invalid("COPY delimiter and quote must be different"));
    }
    Ok(ClientFormat::Csv {
        delimiter,
        null,
        header: options.header.unwrap_or(false),
        quote,
        escape: options.escape.unwrap_or(quote),
        force_quote: options.force_quote,
    })
}

fn invalid(message: &str) -> QueryError {
    QueryError::new(ErrorCode::InvalidParameterValue, message)
}

/// Whether the first word (past whitespace and comments) is COPY: most statements
/// are not, and need no second parse.
fn starts_with_copy(sql: &str) -> bool {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return false;
    };
    tokens
        .iter()
        .find(|token| !matches!(token, Token::Whitespace(_)))
        .is_some_and(|token| {
            matches!(token, Token::Word(word) if word.quote_style.is_none()
                && word.value.eq_ignore_ascii_case("copy"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(sql: &str) -> QueryResult<Option<ClientFormat>> {
        CopyToClient::of(sql).map(|copy| copy.map(|copy| copy.format))
    }

    #[test]
    fn reads_both_spellings_of_the_options() {
        let copy = CopyToClient::of("/* psql */ COPY ( select 1 as one ) TO STDOUT csv header")
            .unwrap()
            .unwrap();
        assert_eq!(copy.query, "SELECT 1 AS one");
        assert_eq!(
            copy.format,
            ClientFormat::Csv {
                delimiter: b',',
                null: String::new(),
                header: true,
                quote: b'"',
                escape: b'"',
                force_quote: ForceQuote::None,
            }
        );
        assert_eq!(
            format("copy nation (n_name, n_nationkey) to stdout").unwrap(),
            Some(ClientFormat::Text {
                delimiter: b'\t',
                null: "\\N".into(),
                header: false,
            })
        );
        assert_eq!(
            format("copy (select 1) to stdout binary").unwrap(),
            Some(ClientFormat::Binary)
        );
        assert_eq!(
            CopyToClient::of("copy nation (n_name) to stdout")
                .unwrap()
                .unwrap()
                .query,
            "SELECT n_name FROM nation"
        );
        assert_eq!(
            format(
                "copy (select 1) to stdout with (format csv, delimiter ';', null 'NULL', \
                 quote '''', force_quote (one))"
            )
            .unwrap(),
            Some(ClientFormat::Csv {
                delimiter: b';',
                null: "NULL".into(),
                header: false,
                quote: b'\'',
                escape: b'\'',
                force_quote: ForceQuote::Columns(vec!["one".into()]),
            })
        );
    }

    #[test]
    fn other_statements_are_not_copies_to_the_client() {
        for sql in [
            "select 1",
            "copy (select 1) to '/tmp/x.csv'",
            "select 'copy'",
            "\"copy\"",
        ] {
            assert_eq!(format(sql).ok().flatten(), None, "{sql}");
        }
    }

    #[test]
    fn refuses_what_postgresql_refuses() {
        for (sql, why) in [
            ("copy nation from stdin", "COPY .. FROM"),
            (
                "copy (select 1) to stdout (format binary, header)",
                "HEADER in BINARY mode",
            ),
            ("copy (select 1) to stdout (format json)", "not recognized"),
            ("copy (select 1) to stdout (quote '\"')", "only in CSV mode"),
            (
                "copy (select 1) to stdout (format csv, delimiter '\"')",
                "must be different",
            ),
            (
                "copy (select 1) to stdout (delimiter 'a')",
                "backslash, a letter or a digit",
            ),
            (
                "copy (select 1) to stdout (null 'a,b', format csv)",
                "NULL specification",
            ),
            ("copy (select 1) to stdout (freeze)", "COPY option FREEZE"),
        ] {
            let error = format(sql).unwrap_err();
            assert!(error.message.contains(why), "{sql}: {}", error.message);
        }
    }
}
