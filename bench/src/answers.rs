//! Reference answers and the comparison rules of `tpch/README.md`: numbers within a
//! relative 1e-5, other values exactly, row order as the query's ORDER BY fixes it.

use std::path::Path;

use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// A result as text cells, one `Vec` per row.
pub type Rows = Vec<Vec<String>>;

/// Reads a reference answer CSV (header row skipped).
///
/// # Errors
/// When the file cannot be read or a quoted field is unterminated.
pub fn load_answer(path: &Path) -> Result<Rows, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows = parse_csv(&text)?;
    if !rows.is_empty() {
        rows.remove(0);
    }
    Ok(rows)
}

/// RFC 4180 CSV: quoted fields may hold commas, newlines and doubled quotes.
pub fn parse_csv(text: &str) -> Result<Rows, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    while let Some(ch) = chars.next() {
        match (in_quotes, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => in_quotes = false,
            (true, c) => field.push(c),
            (false, '"') => in_quotes = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if in_quotes {
        return Err("unterminated quoted field".into());
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// Formats result batches as text cells (dates ISO, decimals at their scale).
///
/// # Errors
/// When a value cannot be formatted.
pub fn format_rows(batches: &[RecordBatch]) -> Result<Rows, String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// Numbers match within a relative 1e-5, or within one unit in the last printed place
/// of either side: a decimal result (scale 6, say) is exact to its scale while the
/// CSV references hold doubles, and the SF 1 references are rounded to two places.
fn cells_match(actual: &str, expected: &str) -> bool {
    if actual == expected {
        return true;
    }
    match (actual.trim().parse::<f64>(), expected.trim().parse::<f64>()) {
        (Ok(a), Ok(e)) => {
            let scale = a.abs().max(e.abs()).max(1e-9);
            (a - e).abs() / scale <= 1e-5
                || (a - e).abs() <= last_place(actual).max(last_place(expected)).max(1e-9)
        }
        // The SF 1 references are space-padded, so surrounding spaces carry no meaning.
        _ => actual.trim() == expected.trim(),
    }
}

/// Compares a result with the reference; `ordered` checks row order too.
///
/// # Errors
/// A description of the first difference.
pub fn compare(actual: &Rows, expected: &Rows, ordered: bool) -> Result<(), String> {
    if actual.len() != expected.len() {
        return Err(format!(
            "{} rows, expected {}",
            actual.len(),
            expected.len()
        ));
    }
    let (mut actual, mut expected) = (actual.clone(), expected.clone());
    if !ordered {
        actual.sort();
        expected.sort();
    }
    for (row_idx, (a, e)) in actual.iter().zip(&expected).enumerate() {
        if a.len() != e.len() {
            return Err(format!(
                "row {row_idx}: {} columns, expected {}",
                a.len(),
                e.len()
            ));
        }
        for (column_idx, (av, ev)) in a.iter().zip(e).enumerate() {
            if !cells_match(av, ev) {
                return Err(format!("row {row_idx} column {column_idx}: got {av:?}, expected {ev:?}\n got row {a:?}\n expected {e:?}"));
            }
        }
    }
    Ok(())
}

/// One unit in the last decimal place printed, or 0 for integers.
fn last_place(number: &str) -> f64 {
    match number.trim().split_once('.') {
        Some((_, decimals)) if !decimals.is_empty() => 10f64.powi(-(decimals.len() as i32)),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_handles_quotes_and_commas() {
        let rows = parse_csv("a,b\n\"x, \"\"y\"\"\",2\n").unwrap();
        assert_eq!(rows, vec![vec!["a", "b"], vec!["x, \"y\"", "2"]]);
    }

    #[test]
    fn numbers_compare_with_tolerance_and_text_exactly() {
        assert!(cells_match("1.0000001", "1.0"));
        assert!(!cells_match("1.1", "1.0"));
        assert!(!cells_match("abc", "abd"));
        // A decimal of scale 6 is within its last place of the double.
        assert!(cells_match("0.047758", "0.047758620689655175"));
        assert!(!cells_match("0.047756", "0.047758620689655175"));
    }

    #[test]
    fn order_matters_only_when_asked() {
        let a = vec![vec!["1".to_string()], vec!["2".to_string()]];
        let b = vec![vec!["2".to_string()], vec!["1".to_string()]];
        assert!(compare(&a, &b, false).is_ok());
        assert!(compare(&a, &b, true).is_err());
    }
}
