//! `COPY (query) TO 'path' [(FORMAT parquet | csv, HEADER true, DELIMITER ',')]` and
//! `COPY table TO ..`: the query to run and where its rows go. A path ending in `/`
//! (or naming a directory) gets one file per partition; any other path one file.
//! The format is the option's, else the path's extension, else Parquet.

use std::path::PathBuf;

use sqlparser::ast::{CopyOption, CopySource, CopyTarget, Statement as SqlStatement};

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
        return Err(QueryError::unsupported(
            "COPY .. FROM: read files with CREATE EXTERNAL TABLE, then load them with \
             CREATE TABLE .. AS SELECT",
        ));
    }
    let CopyTarget::File { filename } = target else {
        return Err(QueryError::unsupported(format!(
            "COPY .. TO {target}: only a file or directory path"
        )));
    };
    if !legacy_options.is_empty() {
        return Err(QueryError::unsupported(
            "COPY's pre-9.0 options; use (FORMAT csv, HEADER true, DELIMITER ',')",
        ));
    }
    let query = match source {
        CopySource::Query(query) => SqlStatement::Query(query),
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
            parsed.remove(0)
        }
    };
    let parts = filename.ends_with('/') || std::path::Path::new(&filename).is_dir();
    let path = PathBuf::from(&filename);
    let by_extension = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("csv") => Some("csv"),
        Some(ext) if ext.eq_ignore_ascii_case("parquet") => Some("parquet"),
        _ => None,
    };
    let mut format = None;
    let (mut header, mut delimiter) = (true, b',');
    for option in options {
        match option {
            CopyOption::Format(name) => format = Some(name.value.to_ascii_lowercase()),
            CopyOption::Header(on) => header = on,
            CopyOption::Delimiter(c) if c.is_ascii() => delimiter = c as u8,
            other => {
                return Err(QueryError::unsupported(format!(
                    "COPY option {other} (FORMAT, HEADER and DELIMITER are known)"
                )))
            }
        }
    }
    let format = match format.as_deref().or(by_extension).unwrap_or("parquet") {
        "parquet" => OutputFormat::Parquet,
        "csv" => OutputFormat::Csv { header, delimiter },
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
