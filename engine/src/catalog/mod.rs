//! The catalog: tables split into partitions, one per core, and how each table is
//! partitioned. The planner reads the partitioning to avoid exchanges: two tables
//! partitioned on the same key domain are joined where they lie.

pub mod bound;
pub mod csv_table;
pub mod data_dir;
pub mod loaded;
mod parquet_sample;
pub mod parquet_table;
pub mod pg_bytea_text;
pub mod pg_float_text;
pub mod pg_interval_text;
pub mod pg_timestamp_text;
pub mod pg_types;
pub mod profile;
pub mod row_group_parts;
pub mod series_table;
mod statistics;
pub mod stored_rows;
pub mod system;
pub mod tpch;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::error::QueryResult;

pub use statistics::TableStatistics;

/// How a table's rows are spread over the partitions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TablePartitioning {
    /// Partition `p` holds the rows whose `columns` fall in key range `p` of `domain`.
    /// Tables with the same domain on their key columns are co-partitioned.
    KeyRange {
        columns: Vec<String>,
        domain: String,
    },
    /// Partition `p` holds the rows whose `columns` hash to `p` (the hash exchanges
    /// use): a scan is laid out as a hash exchange on them would leave it.
    Hash { columns: Vec<String> },
    /// Every partition holds every row (small dimension tables).
    Replicated,
    /// Rows spread over the partitions with no key (round-robin, file order).
    Unkeyed,
}

impl TablePartitioning {
    /// For SHOW TABLES and EXPLAIN.
    pub fn describe(&self) -> String {
        match self {
            TablePartitioning::KeyRange { columns, domain } => {
                format!("{domain} ranges on ({})", columns.join(", "))
            }
            TablePartitioning::Hash { columns } => format!("hash on ({})", columns.join(", ")),
            TablePartitioning::Replicated => "replicated".to_string(),
            TablePartitioning::Unkeyed => "no key".to_string(),
        }
    }
}

/// One table: its schema, partitioning, and the batches of every partition.
#[derive(Debug)]
pub struct Table {
    pub name: String,
    pub schema: SchemaRef,
    pub partitioning: TablePartitioning,
    /// `partitions[p]` is owned by the core running partition `p`.
    pub partitions: Vec<Vec<RecordBatch>>,
    /// Logical rows (a replicated table counts its rows once).
    pub row_count: usize,
    pub statistics: TableStatistics,
    /// For an external table: its files, read by scans at query time (`partitions`
    /// then hold no batches).
    pub parquet: Option<Arc<parquet_table::ParquetSource>>,
    /// For an external CSV table: its files.
    pub csv: Option<Arc<csv_table::CsvSource>>,
    /// For `generate_series(..)`: the series each partition generates.
    pub series: Option<Arc<series_table::SeriesSource>>,
    /// For a loaded table: its rows on disk, read after `partitions`' batches, and
    /// the table memory those batches hold.
    pub stored: Option<Arc<stored_rows::LoadedStorage>>,
}

impl Table {
    /// A table whose partitions hold rows with no key relation (`Unkeyed`).
    pub fn unkeyed(name: &str, schema: SchemaRef, partitions: Vec<Vec<RecordBatch>>) -> Table {
        let row_count = partitions.iter().flatten().map(RecordBatch::num_rows).sum();
        Table {
            name: name.to_string(),
            schema,
            partitioning: TablePartitioning::Unkeyed,
            partitions,
            row_count,
            statistics: TableStatistics::default(),
            parquet: None,
            csv: None,
            series: None,
            stored: None,
        }
    }
}

/// Tables by lower-case name; a `BTreeMap` so every listing is deterministic.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    tables: BTreeMap<String, Arc<Table>>,
    /// `pg_catalog` and `information_schema` tables describing `tables`, keyed by
    /// `schema.table`; rebuilt whenever `tables` changes.
    system: BTreeMap<String, Arc<Table>>,
    /// The statement's own relations ([`bound::BoundRelation`]): found first by a
    /// bare name, never listed.
    bound: BTreeMap<String, Arc<Table>>,
    partition_count: usize,
}

impl Catalog {
    pub fn new(partition_count: usize) -> Self {
        Catalog {
            tables: BTreeMap::new(),
            system: system::system_tables(&BTreeMap::new(), partition_count),
            bound: BTreeMap::new(),
            partition_count,
        }
    }

    /// This catalog with a statement's bound relations in front of its tables.
    ///
    /// # Errors
    /// A relation whose statistics cannot be measured.
    pub fn with_bound(&self, relations: &[bound::BoundRelation]) -> QueryResult<Catalog> {
        let mut catalog = self.clone();
        for relation in relations {
            let table = relation.table(self.partition_count)?;
            catalog.bound.insert(relation.name.clone(), Arc::new(table));
        }
        Ok(catalog)
    }

    /// Adds a table.
    ///
    /// # Panics
    /// When the table's partition count differs from the catalog's: a broken invariant.
    pub fn insert(&mut self, table: Table) {
        assert_eq!(table.partitions.len(), self.partition_count);
        self.tables
            .insert(table.name.to_ascii_lowercase(), Arc::new(table));
        self.system = system::system_tables(&self.tables, self.partition_count);
    }

    /// Removes a table; whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let removed = self.tables.remove(&name.to_ascii_lowercase()).is_some();
        self.system = system::system_tables(&self.tables, self.partition_count);
        removed
    }

    /// The user's tables, by name.
    pub fn tables(&self) -> impl Iterator<Item = &Arc<Table>> {
        self.tables.values()
    }

    /// A user table by name.
    pub fn table(&self, name: &str) -> Option<&Arc<Table>> {
        self.tables.get(&name.to_ascii_lowercase())
    }

    /// The table a query names: a user table (bare or in `public`), or a system
    /// table in `pg_catalog` or `information_schema` (`pg_catalog` also bare, after
    /// the user's tables, as PostgreSQL's search path has it). A database name in
    /// front is ignored: the cluster is one database.
    pub fn resolve(&self, reference: &datafusion_common::TableReference) -> Option<&Arc<Table>> {
        let table = reference.table().to_ascii_lowercase();
        match reference.schema() {
            None => self
                .bound
                .get(&table)
                .or_else(|| self.tables.get(&table))
                .or_else(|| self.system.get(&format!("{}.{table}", system::PG_CATALOG))),
            Some(schema) if schema.eq_ignore_ascii_case(system::PUBLIC) => self.tables.get(&table),
            Some(schema) if system::is_system_schema(schema) => self
                .system
                .get(&format!("{}.{table}", schema.to_ascii_lowercase())),
            Some(_) => None,
        }
    }

    pub fn partition_count(&self) -> usize {
        self.partition_count
    }
}
