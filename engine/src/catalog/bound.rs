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

    /// Whether every partition holds every row (see [`BoundRelation::table`]).
    pub fn replicated(&self) -> bool {
        self.rows() <= REPLICATED_ROWS_MAX
    }

    /// The table the planner sees, with statistics measured from the rows. Up to
    /// [`REPLICATED_ROWS_MAX`] rows, every partition holds every row (the batches are
    /// shared, not copied), so joins with it need no exchange; more are split into
    /// equal runs of rows, one per partition (slices, not copies), so that work on
    /// them is shared by every core instead of repeated by each. Every node lays the
    /// same rows out the same way.
    ///
    /// # Errors
    /// A column whose values the statistics cannot read.
    pub fn table(&self, partitions: usize) -> QueryResult<Table> {
        let mut profile = TableProfile::new(&self.schema);
        for batch in &self.batches {
            profile.add(batch)?;
        }
        let (partitioning, parts) = if self.replicated() {
            let parts = vec![self.batches.clone(); partitions];
            (TablePartitioning::Replicated, parts)
        } else {
            let parts = split_rows(&self.batches, self.rows(), partitions);
            (TablePartitioning::Unkeyed, parts)
        };
        Ok(Table {
            name: self.name.clone(),
            schema: Arc::clone(&self.schema),
            partitioning,
            partitions: parts,
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

/// For `EXPLAIN ANALYZE`: a line per relation the statement brought, with its rows
/// and where they were held.
pub fn computed_first(relations: &[BoundRelation]) -> String {
    relations
        .iter()
        .map(|relation| {
            let layout = if relation.replicated() {
                "on every partition"
            } else {
                "split over the partitions"
            };
            format!(
                "CTE {} computed first: {} row(s), held {layout}\n",
                relation.name,
                relation.rows()
            )
        })
        .collect()
}

/// The most rows a bound relation holds in every partition.
pub const REPLICATED_ROWS_MAX: usize = 8192;

/// `rows` rows of `batches` cut into `partitions` runs of consecutive rows whose
/// sizes differ by at most one.
fn split_rows(batches: &[RecordBatch], rows: usize, partitions: usize) -> Vec<Vec<RecordBatch>> {
    let mut parts = vec![Vec::new(); partitions.max(1)];
    let count = parts.len();
    // The first `rows % count` parts take one row more.
    let size = |part: usize| rows / count + usize::from(part < rows % count);
    let mut part = 0;
    // Rows of the current part still to fill.
    let mut wanted = size(0);
    for batch in batches {
        let mut offset = 0;
        while offset < batch.num_rows() {
            while wanted == 0 {
                part += 1;
                wanted = size(part);
            }
            let take = wanted.min(batch.num_rows() - offset);
            parts[part].push(batch.slice(offset, take));
            offset += take;
            wanted -= take;
        }
    }
    parts
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

    #[test]
    fn many_rows_are_split_into_even_runs_in_order() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = |from: i64, to: i64| {
            let column = Int64Array::from((from..to).collect::<Vec<_>>());
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(column)]).unwrap()
        };
        let rows = REPLICATED_ROWS_MAX as i64 + 2;
        let relation = BoundRelation {
            name: "r".into(),
            schema: Arc::clone(&schema),
            batches: vec![batch(0, 5), batch(5, rows - 3), batch(rows - 3, rows)],
        };
        let table = relation.table(3).unwrap();
        assert_eq!(table.partitioning, TablePartitioning::Unkeyed);
        let counts: Vec<usize> = table
            .partitions
            .iter()
            .map(|part| part.iter().map(RecordBatch::num_rows).sum())
            .collect();
        let third = (rows / 3) as usize;
        assert_eq!(counts, vec![third + 1, third, third]);
        let values: Vec<i64> = table
            .partitions
            .iter()
            .flatten()
            .flat_map(|batch| {
                let column = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap();
                column.values().to_vec()
            })
            .collect();
        assert_eq!(values, (0..rows).collect::<Vec<_>>());
    }
}
