//! Bringing back a node's tables from its data directory at start: external tables
//! are opened again (their files listed, footers read), loaded tables read from their
//! Arrow IPC files, each with the profile it was committed with, so the node plans as
//! its peers do.

use std::sync::Arc;

use super::Cluster;
use crate::catalog::csv_table::{open_csv_table, CsvOptions};
use crate::catalog::data_dir::{DeclaredColumn, TableRecord};
use crate::catalog::loaded::loaded_table;
use crate::catalog::parquet_table::open_parquet_table;
use crate::catalog::Table;
use crate::error::QueryResult;
use crate::plan::{StoreDestination, StoreTarget};

impl Cluster {
    /// Registers every table the data directory records; returns what could not be
    /// brought back (a file gone, say), one line each, for the node's log. Such a
    /// table stays recorded: when its files return, the next start finds it again.
    pub(super) fn restore(&self) -> Vec<String> {
        let Some(dir) = &self.data_dir else {
            return Vec::new();
        };
        let mut warnings = Vec::new();
        for record in dir.records() {
            match self
                .reopen(&record)
                .and_then(|table| self.register_table(table))
            {
                Ok(()) => {}
                Err(error) => warnings.push(format!(
                    "table {} from the data directory is not available: {error}",
                    record.name()
                )),
            }
        }
        warnings
    }

    fn reopen(&self, record: &TableRecord) -> QueryResult<Table> {
        let partitions = self.topology.partitions();
        match record {
            TableRecord::External {
                name,
                location,
                format,
                header,
                delimiter,
                newlines_in_values,
                columns,
            } => match format.as_str() {
                "csv" => {
                    let options = CsvOptions {
                        header: *header,
                        delimiter: *delimiter,
                        newlines_in_values: *newlines_in_values,
                    };
                    let declared = DeclaredColumn::schema(columns)?;
                    open_csv_table(name, location, partitions, options, declared)
                }
                _ => open_parquet_table(name, location, partitions),
            },
            TableRecord::Loaded {
                name,
                partitioning,
                profile,
                dir,
            } => {
                let data_dir = self.data_dir.as_ref().expect("checked by restore");
                let (schema, rows) =
                    data_dir.read_partitions(dir, partitioning, &self.memory.tables)?;
                let store = StoreTarget {
                    name: name.clone(),
                    partitioning: partitioning.clone(),
                    if_not_exists: false,
                    or_replace: false,
                    destination: StoreDestination::Table,
                };
                Ok(loaded_table(&store, Arc::clone(&schema), rows, profile))
            }
        }
    }
}
