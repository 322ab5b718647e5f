//! Relations a statement brings with it: rows computed before the statement is
//! planned (the steps of a recursive CTE), named like the CTE they stand for. Every
//! node plans with the same rows, so each is a replicated table of this statement
//! alone, shadowing any table of the same name and absent from the system catalog.

use std::io::Cursor;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use super::profile::TableProfile;
use super::{Table, TablePartitioning};
use crate::error::{QueryError, QueryResult};

/// Rows bound to a name for one statement.
#[derive(Debug, Clone)]
pub struct BoundRelation {
    /// Lower case, as the catalog keys tables.
    pub name: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl BoundRelation {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The table the planner sees: every partition holds every row (the batches are
    /// shared, not copied), with statistics measured from the rows.
    ///
    /// # Errors
    /// A column whose values the statistics cannot read.
    pub fn table(&self, partitions: usize) -> QueryResult<Table> {
        let mut profile = TableProfile::new(&self.schema);
        for batch in &self.batches {
            profile.add(batch)?;
        }
        Ok(Table {
            name: self.name.clone(),
            schema: Arc::clone(&self.schema),
            partitioning: TablePartitioning::Replicated,
            partitions: vec![self.batches.clone(); partitions],
            row_count: self.rows(),
            statistics: profile.statistics(),
            parquet: None,
            csv: None,
            series: None,
            stored: None,
        })
    }

    /// The rows in Arrow's IPC stream format, for the peers of a cluster.
    ///
    /// # Errors
    /// Arrow's, for columns IPC cannot write.
    pub fn to_ipc(&self) -> QueryResult<Vec<u8>> {
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::try_new(&mut bytes, &self.schema)?;
        for batch in &self.batches {
            writer.write(batch)?;
        }
        writer.finish()?;
        drop(writer);
        Ok(bytes)
    }

    /// Reads what [`BoundRelation::to_ipc`] wrote.
    ///
    /// # Errors
    /// Bytes that are not an IPC stream.
    pub fn from_ipc(name: &str, bytes: &[u8]) -> QueryResult<BoundRelation> {
        let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(|error| {
            QueryError::internal(format!("relation {name} arrived malformed: {error}"))
        })?;
        let schema = reader.schema();
        let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|error| {
            QueryError::internal(format!("relation {name} arrived malformed: {error}"))
        })?;
        Ok(BoundRelation {
            name: name.to_ascii_lowercase(),
            schema,
            batches,
        })
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn rows_survive_the_wire_and_fill_every_partition() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
                Arc::new(StringArray::from(vec!["a", "b", "c"])),
            ],
        )
        .unwrap();
        let relation = BoundRelation {
            name: "r".into(),
            schema,
            batches: vec![batch.clone(), batch],
        };
        let back = BoundRelation::from_ipc("R", &relation.to_ipc().unwrap()).unwrap();
        assert_eq!(back.name, "r");
        assert_eq!(back.batches, relation.batches);
        let table = back.table(3).unwrap();
        assert_eq!(table.row_count, 6);
        assert!(table.partitions.iter().all(|part| part.len() == 2));
        assert!(BoundRelation::from_ipc("r", b"not arrow").is_err());
    }
}
