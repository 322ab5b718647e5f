//! Statements that change the catalog, in two steps so that a cluster runs them on
//! every node or on none: [`Cluster::prepare_change`] checks the statement and builds
//! the change (opening files, reading footers) without touching the catalog, and says
//! what it will do in a form nodes compare; [`Cluster::apply_change`] makes it. The
//! caller holds [`Cluster::lock_ddl`] across both.

use std::fmt::Write;
use std::sync::Arc;

use crate::catalog::stored_rows::PartitionRows;
use arrow::datatypes::SchemaRef;

use super::Cluster;
use crate::catalog::csv_table::{open_csv_table, CsvOptions};
use crate::catalog::data_dir::{DeclaredColumn, Staged, TableRecord};
use crate::catalog::loaded::{loaded_summary, loaded_table};
use crate::catalog::parquet_table::open_parquet_table;
use crate::catalog::profile::TableProfile;
use crate::catalog::TablePartitioning;
use crate::catalog::{Catalog, Table};
use crate::error::{ErrorCode, QueryError, QueryResult};
use crate::output_files::{copied_summary, write_parts, FileTarget};
use crate::plan::{StoreDestination, StoreTarget};
use crate::sql::{declared_schema, ExternalFormat, SessionStatement};

enum Change {
    Create(Table),
    Drop(String),
    /// `COPY .. TO 'dir/'`: this node's partitions, written where they are.
    WriteParts {
        target: FileTarget,
        schema: SchemaRef,
        partitions: Vec<(usize, PartitionRows)>,
    },
    /// `IF [NOT] EXISTS` found nothing to do.
    Nothing,
}

/// A checked catalog change, not yet made.
pub struct CatalogChange {
    change: Change,
    /// How the data directory records a created table; with a load's staged files.
    record: Option<(TableRecord, Option<Staged>)>,
    /// What the statement answers once the change is made.
    pub summary: String,
    /// Everything that must agree between nodes: the table's name, layout, schema,
    /// rows and files. Nodes that would make different changes do not make any.
    pub identity: String,
}

impl Cluster {
    /// Checks a DDL statement and builds its change.
    ///
    /// # Errors
    /// Names taken or unknown, files missing or unreadable, statements that are not DDL.
    pub fn prepare_change(&self, statement: &SessionStatement) -> QueryResult<CatalogChange> {
        match statement {
            SessionStatement::CreateExternalTable {
                name,
                location,
                format,
                columns,
                if_not_exists,
                or_replace,
            } => {
                if let Some(done) = self.check_table_name(name, *if_not_exists, *or_replace)? {
                    return Ok(nothing(done));
                }
                let partitions = self.topology.partitions();
                let table = match format {
                    ExternalFormat::Parquet => open_parquet_table(name, location, partitions)?,
                    ExternalFormat::Csv(options) => {
                        let declared = if columns.is_empty() {
                            None
                        } else {
                            Some(declared_schema(columns, &self.catalog(), &self.functions)?)
                        };
                        open_csv_table(name, location, partitions, *options, declared)?
                    }
                };
                let summary = match (&table.parquet, &table.csv) {
                    (Some(source), _) => format!(
                        "created table {name}: {} rows in {} file(s), {} row group(s)",
                        table.row_count,
                        source.files.len(),
                        source.row_groups()
                    ),
                    (None, Some(source)) => format!(
                        "created table {name}: {} column(s), about {} rows in {} CSV file(s)",
                        table.schema.fields().len(),
                        table.row_count,
                        source.files.len()
                    ),
                    (None, None) => format!("created table {name}"),
                };
                let (csv, format) = match format {
                    ExternalFormat::Parquet => (CsvOptions::default(), "parquet"),
                    ExternalFormat::Csv(options) => (*options, "csv"),
                };
                let record = TableRecord::External {
                    name: name.clone(),
                    location: location.clone(),
                    format: format.to_string(),
                    header: csv.header,
                    delimiter: csv.delimiter,
                    newlines_in_values: csv.newlines_in_values,
                    columns: if columns.is_empty() {
                        Vec::new()
                    } else {
                        DeclaredColumn::all(&table.schema)
                    },
                };
                Ok(create(table, summary, Some((record, None))))
            }
            SessionStatement::DropTable { name, if_exists } => {
                if self.catalog().table(name).is_none() {
                    if *if_exists {
                        return Ok(nothing(format!("no table {name}")));
                    }
                    return Err(QueryError::new(
                        ErrorCode::Semantic,
                        format!("table '{name}' not found"),
                    ));
                }
                Ok(CatalogChange {
                    identity: format!("drop {}", name.to_ascii_lowercase()),
                    summary: format!("dropped table {name}"),
                    change: Change::Drop(name.clone()),
                    record: None,
                })
            }
            other => Err(QueryError::internal(format!(
                "{other:?} does not change the catalog"
            ))),
        }
    }

    /// Writes this node's partitions of a finished load to the data directory's
    /// staging area (nothing without a data directory), before the load commits.
    ///
    /// # Errors
    /// When the files cannot be written.
    pub fn stage_load(
        &self,
        store: &StoreTarget,
        schema: &SchemaRef,
        partitions: &[PartitionRows],
    ) -> QueryResult<Option<Staged>> {
        if store.destination != StoreDestination::Table {
            return Ok(None);
        }
        self.data_dir
            .as_ref()
            .map(|dir| dir.stage(&store.name, &store.partitioning, schema, partitions))
            .transpose()
    }

    /// The table a finished load made, from this node's partitions (and their staged
    /// files) and the whole cluster's profile.
    pub fn loaded_change(
        &self,
        store: &StoreTarget,
        schema: SchemaRef,
        partitions: Vec<PartitionRows>,
        profile: &TableProfile,
        staged: Option<Staged>,
    ) -> CatalogChange {
        if let StoreDestination::Files(target) = &store.destination {
            let local = self.topology.local_partitions();
            let partitions: Vec<(usize, PartitionRows)> = partitions
                .into_iter()
                .enumerate()
                .filter(|(p, rows)| local.contains(p) && rows.rows() > 0)
                .collect();
            // A replicated result is the same on every partition: write it once.
            let partitions = match store.partitioning {
                TablePartitioning::Replicated if self.topology.node == 0 => {
                    partitions.into_iter().take(1).collect()
                }
                TablePartitioning::Replicated => Vec::new(),
                _ => partitions,
            };
            return CatalogChange {
                identity: target.describe(),
                summary: copied_summary(profile.rows, target),
                change: Change::WriteParts {
                    target: target.clone(),
                    schema,
                    partitions,
                },
                record: None,
            };
        }
        let table = loaded_table(store, schema, partitions, profile);
        let summary = loaded_summary(&table);
        let record = staged.map(|staged| {
            let record = TableRecord::Loaded {
                name: store.name.clone(),
                partitioning: store.partitioning.clone(),
                profile: profile.clone(),
                dir: staged.dir().to_string(),
            };
            (record, Some(staged))
        });
        create(table, summary, record)
    }

    /// Makes a prepared change; returns what the statement answers.
    ///
    /// # Errors
    /// A table whose partitions do not fit this cluster.
    pub fn apply_change(&self, change: CatalogChange) -> QueryResult<String> {
        match change.change {
            Change::Create(table) => {
                if let (Some(dir), Some((record, staged))) = (&self.data_dir, change.record) {
                    dir.record(record, staged)?;
                }
                self.register_table(table)?;
            }
            Change::Drop(name) => {
                if let Some(dir) = &self.data_dir {
                    dir.forget(&name)?;
                }
                let mut catalog = self.catalog.write().unwrap_or_else(|e| e.into_inner());
                let mut updated = Catalog::clone(&catalog);
                updated.remove(&name);
                *catalog = Arc::new(updated);
            }
            Change::WriteParts {
                target,
                schema,
                partitions,
            } => {
                write_parts(&target.path, target.format, &schema, &partitions)?;
            }
            Change::Nothing => {}
        }
        Ok(change.summary)
    }
}

fn nothing(summary: String) -> CatalogChange {
    CatalogChange {
        identity: summary.clone(),
        summary,
        change: Change::Nothing,
        record: None,
    }
}

fn create(
    table: Table,
    summary: String,
    record: Option<(TableRecord, Option<Staged>)>,
) -> CatalogChange {
    CatalogChange {
        identity: identity(&table),
        summary,
        change: Change::Create(table),
        record,
    }
}

fn identity(table: &Table) -> String {
    let mut text = format!(
        "create {} {} rows={}",
        table.name.to_ascii_lowercase(),
        table.partitioning.describe(),
        table.row_count
    );
    for field in table.schema.fields() {
        let _ = write!(
            text,
            " {}:{}:{}",
            field.name(),
            field.data_type(),
            field.is_nullable()
        );
    }
    if let Some(source) = &table.parquet {
        for file in &source.files {
            let _ = write!(text, " {}:{}", file.path.display(), file.size);
        }
    }
    if let Some(source) = &table.csv {
        for file in &source.files {
            let _ = write!(text, " {}:{}", file.path.display(), file.size);
        }
    }
    text
}
