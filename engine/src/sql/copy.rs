//! `COPY (query) TO 'path' [(FORMAT parquet | csv, HEADER true, DELIMITER ',')]` and
//! `COPY table TO ..`: the query to run and where its rows go. A path ending in `/`
//! (or naming a directory) gets one file per partition; any other path one file.
//! The format is the option's, else the path's extension, else Parquet.

use std::path::PathBuf;

use sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget,
    Statement as SqlStatement,
};

use crate::error::{ErrorCode, QueryError, QueryResult};
use crate::output_files::{FileTarget, OutputFormat};

/// Splits `COPY .. TO` into the query to run and the files to write.
///
/// # Errors
/// `COPY FROM`, targets other than a file, unknown formats and options.
pub(crate) fn copy_to(statement: SqlStatement) -> QueryResult<(FileTarget, SqlStatement)> {
    let SqlStatement::Copy {
        source,
        to,
        target,
        options,
        legacy_options,
        ..
    } = statement
    else {
        return Err(QueryError::internal("not a COPY statement"));
    };
    if !to {
        return Err(copy_from_refused());
    }
    let CopyTarget::File { filename } = target else {
        return Err(QueryError::unsupported(match target {
            CopyTarget::Stdout => {
                "COPY .. TO STDOUT outside the PostgreSQL protocol (psql's \\copy \
                                   runs it); here write to a file: COPY .. TO 'path'"
                    .to_string()
            }
            other => format!("COPY .. TO {other}: only a file or directory path, or STDOUT"),
        }));
    };
    let options = CopyOptions::read(options, legacy_options)?;
    if let Some(refused) = options.only_for_the_client() {
        return Err(QueryError::unsupported(format!(
            "COPY option {refused} when writing files (FORMAT, HEADER and DELIMITER are known)"
        )));
    }
    let query = source_query(source)?;
    let parts = filename.ends_with('/') || std::path::Path::new(&filename).is_dir();
    let path = PathBuf::from(&filename);
    let by_extension = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("csv") => Some("csv"),
        Some(ext) if ext.eq_ignore_ascii_case("parquet") => Some("parquet"),
        _ => None,
    };
    let format = match options
        .format
        .as_deref()
        .or(by_extension)
        .unwrap_or("parquet")
    {
        "parquet" => OutputFormat::Parquet,
        "csv" => OutputFormat::Csv {
            header: options.header.unwrap_or(true),
            delimiter: options.delimiter.unwrap_or(b','),
        },
        other => {
            return Err(QueryError::unsupported(format!(
                "COPY .. TO in format {other} (parquet or csv)"
            )))
        }
    };
    Ok((
        FileTarget {
            path,
            format,
            parts,
        },
        query,
    ))
}

pub(crate) fn copy_from_refused() -> QueryError {
    QueryError::unsupported(
        "COPY .. FROM: read files with CREATE EXTERNAL TABLE, then load them with \
         CREATE TABLE .. AS SELECT",
    )
}

/// The query a COPY reads: its own, or every (or the named) column of a table.
///
/// # Errors
/// A table name that does not parse back.
pub(crate) fn source_query(source: CopySource) -> QueryResult<SqlStatement> {
    match source {
        CopySource::Query(query) => Ok(SqlStatement::Query(query)),
        CopySource::Table {
            table_name,
            columns,
        } => {
            let columns = if columns.is_empty() {
                "*".to_string()
            } else {
                columns
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let sql = format!("SELECT {columns} FROM {table_name}");
            let mut parsed =
                sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::GenericDialect {}, &sql)
                    .map_err(|e| QueryError::new(ErrorCode::Syntax, e.to_string()))?;
            Ok(parsed.remove(0))
        }
    }
}

/// Which columns CSV output quotes even when it need not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForceQuote {
    None,
    All,
    Columns(Vec<String>),
}

/// A COPY's options, from PostgreSQL's `(FORMAT csv, HEADER true, ..)` or its older
/// `CSV HEADER DELIMITER ','` spelling (what psql's `\copy .. csv header` sends);
/// `None` where the statement is silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopyOptions {
    pub format: Option<String>,
    pub header: Option<bool>,
    pub delimiter: Option<u8>,
    pub null: Option<String>,
    pub quote: Option<u8>,
    pub escape: Option<u8>,
    pub force_quote: ForceQuote,
}

impl CopyOptions {
    /// # Errors
    /// An option Percore does not know, or a delimiter, quote or escape that is not
    /// one ASCII character.
    pub fn read(
        options: Vec<CopyOption>,
        legacy_options: Vec<CopyLegacyOption>,
    ) -> QueryResult<CopyOptions> {
        let mut read = CopyOptions {
            format: None,
            header: None,
            delimiter: None,
            null: None,
            quote: None,
            escape: None,
            force_quote: ForceQuote::None,
        };
        for option in options {
            match option {
                CopyOption::Format(name) => read.format = Some(name.value.to_ascii_lowercase()),
                CopyOption::Header(on) => read.header = Some(on),
                CopyOption::Delimiter(c) => read.delimiter = Some(ascii("DELIMITER", c)?),
                CopyOption::Null(text) => read.null = Some(text),
                CopyOption::Quote(c) => read.quote = Some(ascii("QUOTE", c)?),
                CopyOption::Escape(c) => read.escape = Some(ascii("ESCAPE", c)?),
                CopyOption::ForceQuote(columns) => read.force_quote = force_quote(&columns),
                CopyOption::Encoding(name)
                    if name.eq_ignore_ascii_case("utf8") || name.eq_ignore_ascii_case("utf-8") => {}
                other => return Err(unknown_option(&other.to_string())),
            }
        }
        for option in legacy_options {
            match option {
                CopyLegacyOption::Binary => read.format = Some("binary".into()),
                CopyLegacyOption::Delimiter(c) => read.delimiter = Some(ascii("DELIMITER", c)?),
                CopyLegacyOption::Null(text) => read.null = Some(text),
                CopyLegacyOption::Header => read.header = Some(true),
                CopyLegacyOption::Csv(csv) => {
                    read.format = Some("csv".into());
                    for option in csv {
                        match option {
                            CopyLegacyCsvOption::Header => read.header = Some(true),
                            CopyLegacyCsvOption::Quote(c) => read.quote = Some(ascii("QUOTE", c)?),
                            CopyLegacyCsvOption::Escape(c) => {
                                read.escape = Some(ascii("ESCAPE", c)?);
                            }
                            CopyLegacyCsvOption::ForceQuote(columns) => {
                                read.force_quote = force_quote(&columns);
                            }
                            other => return Err(unknown_option(&other.to_string())),
                        }
                    }
                }
                other => return Err(unknown_option(&other.to_string())),
            }
        }
        Ok(read)
    }

    /// An option that only output to the client knows (files are written by Arrow's
    /// writers, which have none of them).
    fn only_for_the_client(&self) -> Option<&'static str> {
        if self.null.is_some() {
            Some("NULL")
        } else if self.quote.is_some() {
            Some("QUOTE")
        } else if self.escape.is_some() {
            Some("ESCAPE")
        } else if self.force_quote != ForceQuote::None {
            Some("FORCE_QUOTE")
        } else {
            None
        }
    }
}

fn ascii(option: &str, c: char) -> QueryResult<u8> {
    u8::try_from(c)
        .ok()
        .filter(|byte| byte.is_ascii() && *byte != b'\n' && *byte != b'\r')
        .ok_or_else(|| {
            QueryError::unsupported(format!(
                "COPY {option} must be a single one-byte character, not a line break"
            ))
        })
}

fn force_quote(columns: &[sqlparser::ast::Ident]) -> ForceQuote {
    if columns.len() == 1 && columns[0].value == "*" {
        ForceQuote::All
    } else {
        ForceQuote::Columns(columns.iter().map(|c| c.value.clone()).collect())
    }
}

fn unknown_option(option: &str) -> QueryError {
    QueryError::unsupported(format!(
        "COPY option {option} (FORMAT, HEADER, DELIMITER, NULL, QUOTE, ESCAPE and \
         FORCE_QUOTE are known)"
    ))
}
