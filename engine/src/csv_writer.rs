//! CSV as PostgreSQL's `COPY .. TO .. (FORMAT csv)` writes it: a NULL is an empty
//! unquoted field and an empty string is `""`, so the two survive a round trip
//! (Arrow's CSV writer writes both as nothing, and PostgreSQL then reads every
//! empty string back as NULL). A value is quoted when it holds the delimiter, a
//! quote, a line break, or is `\.` (PostgreSQL's end-of-data marker); quotes inside
//! are doubled. Values are formatted as Arrow's writer formats them.

use std::io::Write;

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

pub struct CsvWriter<W: Write> {
    out: W,
    delimiter: u8,
    header_pending: bool,
    field: String,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W, header: bool, delimiter: u8) -> Self {
        CsvWriter {
            out,
            delimiter,
            header_pending: header,
            field: String::new(),
        }
    }

    /// Writes the batch's rows (and, before the first, the header line).
    ///
    /// # Errors
    /// A nested column (CSV has no form for it), a value Arrow cannot format, or
    /// the output's write error.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        if std::mem::take(&mut self.header_pending) {
            let schema = batch.schema();
            for (index, field) in schema.fields().iter().enumerate() {
                self.separator(index)?;
                self.value(field.name())?;
            }
            self.out.write_all(b"\n")?;
        }
        let options = FormatOptions::default();
        let columns = batch
            .columns()
            .iter()
            .map(|column| {
                if column.data_type().is_nested() {
                    return Err(ArrowError::CsvError(format!(
                        "a column of type {} cannot be written as CSV",
                        column.data_type()
                    )));
                }
                ArrayFormatter::try_new(column.as_ref(), &options)
            })
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            for (index, formatter) in columns.iter().enumerate() {
                self.separator(index)?;
                if batch.column(index).is_null(row) {
                    continue;
                }
                let mut text = std::mem::take(&mut self.field);
                text.clear();
                formatter.value(row).write(&mut text)?;
                let written = self.value(&text);
                self.field = text;
                written?;
            }
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn separator(&mut self, index: usize) -> Result<(), ArrowError> {
        if index > 0 {
            self.out.write_all(&[self.delimiter])?;
        }
        Ok(())
    }

    /// One non-NULL value, quoted where PostgreSQL would quote it.
    fn value(&mut self, text: &str) -> Result<(), ArrowError> {
        let needs_quotes = text.is_empty()
            || text == "\\."
            || text
                .bytes()
                .any(|b| b == self.delimiter || b == b'"' || b == b'\n' || b == b'\r');
        if !needs_quotes {
            self.out.write_all(text.as_bytes())?;
            return Ok(());
        }
        self.out.write_all(b"\"")?;
        for (index, piece) in text.split('"').enumerate() {
            if index > 0 {
                self.out.write_all(b"\"\"")?;
            }
            self.out.write_all(piece.as_bytes())?;
        }
        self.out.write_all(b"\"")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn null_and_empty_string_differ_and_special_values_are_quoted() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![
                    Some(1),
                    None,
                    Some(3),
                    Some(4),
                    None,
                ])),
                Arc::new(StringArray::from(vec![
                    None,
                    Some(""),
                    Some("a,b"),
                    Some("say \"hi\"\nbye"),
                    Some("\\."),
                ])),
            ],
        )
        .unwrap();
        let mut writer = CsvWriter::new(Vec::new(), true, b',');
        writer.write(&batch).unwrap();
        let text = String::from_utf8(writer.into_inner()).unwrap();
        assert_eq!(
            text,
            "k,s\n1,\n,\"\"\n3,\"a,b\"\n4,\"say \"\"hi\"\"\nbye\"\n,\"\\.\"\n"
        );
    }
}
