//! A node's data directory: its catalog and its partitions of loaded tables, kept
//! across restarts.
//!
//! ```text
//! DIR/catalog.json                 the tables, in order of creation
//! DIR/tables/<name>-<id>/part-P.arrow   this node's partition P (Arrow IPC file)
//! DIR/tables/<name>-<id>/all.arrow      a replicated table's rows, once
//! ```
//!
//! Every change is written completely, then renamed into place: a load's partitions
//! are written to a `.tmp-` directory before the statement commits, the directory is
//! renamed at commit, and `catalog.json` is replaced by renaming a new one over it
//! (the commit point). A crash at any step leaves the old catalog; what it no longer
//! names (staged or dropped directories) is removed at the next start.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::profile::TableProfile;
use super::TablePartitioning;
use crate::error::{ErrorCode, QueryError, QueryResult};

const CATALOG: &str = "catalog.json";
const TABLES: &str = "tables";
const STAGING: &str = ".tmp-";

/// Where a node sits in its cluster: a data directory serves only the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub node: usize,
    pub nodes: usize,
    pub cores_per_node: usize,
}

/// One table as the catalog file records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum TableRecord {
    /// Files read where they lie; opened again at start.
    External {
        name: String,
        location: String,
        /// `parquet` or `csv`.
        format: String,
        #[serde(default)]
        header: bool,
        #[serde(default)]
        delimiter: u8,
        #[serde(default)]
        newlines_in_values: bool,
    },
    /// Rows loaded by `CREATE TABLE .. AS`, in `dir` under `tables/`.
    Loaded {
        name: String,
        partitioning: TablePartitioning,
        profile: TableProfile,
        dir: String,
    },
}

impl TableRecord {
    pub fn name(&self) -> &str {
        match self {
            TableRecord::External { name, .. } | TableRecord::Loaded { name, .. } => name,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CatalogFile {
    placement: Option<Placement>,
    tables: Vec<TableRecord>,
}

/// A node's data directory. Writes are serialized by the caller's DDL lock; the
/// mutex only guards the in-memory copy of the catalog file.
pub struct DataDir {
    root: PathBuf,
    placement: Placement,
    records: Mutex<Vec<TableRecord>>,
}

/// A load's partitions written to a staging directory, not yet part of the catalog.
#[derive(Debug)]
pub struct Staged {
    staging: PathBuf,
    dir: String,
}

impl DataDir {
    /// Opens (or creates) the directory and reads its catalog; removes what the
    /// catalog does not name (leftovers of an interrupted statement).
    ///
    /// # Errors
    /// An unreadable directory or catalog, or one written by a node elsewhere in a
    /// cluster (another node id, node count or core count).
    pub fn open(root: &Path, placement: Placement) -> QueryResult<DataDir> {
        let io = |what: &str, error: std::io::Error| {
            QueryError::new(
                ErrorCode::Internal,
                format!("data directory {}: {what}: {error}", root.display()),
            )
        };
        std::fs::create_dir_all(root.join(TABLES)).map_err(|e| io("cannot create it", e))?;
        let catalog = match std::fs::read(root.join(CATALOG)) {
            Ok(bytes) => serde_json::from_slice::<CatalogFile>(&bytes).map_err(|e| {
                QueryError::new(
                    ErrorCode::Internal,
                    format!(
                        "data directory {}: {CATALOG} is damaged: {e}",
                        root.display()
                    ),
                )
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => CatalogFile::default(),
            Err(error) => return Err(io("cannot read the catalog", error)),
        };
        if let Some(written) = catalog.placement {
            if written != placement {
                return Err(QueryError::new(
                    ErrorCode::Internal,
                    format!(
                        "data directory {} belongs to node {} of {} nodes with {} cores each; \
                         this node is node {} of {} with {} cores (start it as before, or \
                         give it another --data-dir)",
                        root.display(),
                        written.node,
                        written.nodes,
                        written.cores_per_node,
                        placement.node,
                        placement.nodes,
                        placement.cores_per_node
                    ),
                ));
            }
        }
        let data_dir = DataDir {
            root: root.to_path_buf(),
            placement,
            records: Mutex::new(catalog.tables),
        };
        data_dir.remove_unnamed();
        Ok(data_dir)
    }

    /// The tables the catalog file names, in order of creation.
    pub fn records(&self) -> Vec<TableRecord> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Writes this node's partitions of a load to a staging directory.
    ///
    /// # Errors
    /// When a file cannot be written (the disk is full, say).
    pub fn stage(
        &self,
        name: &str,
        partitioning: &TablePartitioning,
        schema: &SchemaRef,
        partitions: &[Vec<RecordBatch>],
    ) -> QueryResult<Staged> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = format!("{}-{nanos:x}", name.to_ascii_lowercase());
        let staging = self.root.join(TABLES).join(format!("{STAGING}{dir}"));
        let written = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(&staging)?;
            let local = self.local_partitions();
            if *partitioning == TablePartitioning::Replicated {
                let rows = partitions.get(local.start).map_or(&[][..], Vec::as_slice);
                write_ipc(&staging.join("all.arrow"), schema, rows)?;
            } else {
                for partition in local {
                    let rows = partitions.get(partition).map_or(&[][..], Vec::as_slice);
                    write_ipc(
                        &staging.join(format!("part-{partition}.arrow")),
                        schema,
                        rows,
                    )?;
                }
            }
            File::open(&staging)?.sync_all()
        })();
        written.map_err(|error| {
            let _ = std::fs::remove_dir_all(&staging);
            QueryError::new(
                ErrorCode::ResourcesExhausted,
                format!(
                    "cannot write table {name} to {}: {error}",
                    staging.display()
                ),
            )
        })?;
        Ok(Staged { staging, dir })
    }

    /// Adds (or replaces, by name) a table in the catalog file; a staged load's
    /// directory is renamed into place first.
    ///
    /// # Errors
    /// When the directory cannot be renamed or the catalog written.
    pub fn record(&self, record: TableRecord, staged: Option<Staged>) -> QueryResult<()> {
        if let Some(staged) = &staged {
            let target = self.root.join(TABLES).join(&staged.dir);
            std::fs::rename(&staged.staging, &target).map_err(|e| self.failed(e))?;
        }
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let mut updated: Vec<TableRecord> = records
            .iter()
            .filter(|r| !r.name().eq_ignore_ascii_case(record.name()))
            .cloned()
            .collect();
        updated.push(record);
        self.write_catalog(&updated)?;
        *records = updated;
        drop(records);
        self.remove_unnamed();
        Ok(())
    }

    /// Removes a table from the catalog file, then its files.
    ///
    /// # Errors
    /// When the catalog cannot be written.
    pub fn forget(&self, name: &str) -> QueryResult<()> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let updated: Vec<TableRecord> = records
            .iter()
            .filter(|r| !r.name().eq_ignore_ascii_case(name))
            .cloned()
            .collect();
        self.write_catalog(&updated)?;
        *records = updated;
        drop(records);
        self.remove_unnamed();
        Ok(())
    }

    /// A loaded table's partitions as this node holds them (every partition index;
    /// empty where other nodes hold the rows).
    ///
    /// # Errors
    /// Missing or damaged files, named.
    pub fn read_partitions(
        &self,
        dir: &str,
        partitioning: &TablePartitioning,
    ) -> QueryResult<(SchemaRef, Vec<Vec<RecordBatch>>)> {
        let path = self.root.join(TABLES).join(dir);
        let partitions = self.placement.nodes * self.placement.cores_per_node;
        let mut all = vec![Vec::new(); partitions];
        if *partitioning == TablePartitioning::Replicated {
            let (schema, rows) = read_ipc(&path.join("all.arrow"))?;
            return Ok((schema, vec![rows; partitions]));
        }
        let mut schema = None;
        for partition in self.local_partitions() {
            let (read, rows) = read_ipc(&path.join(format!("part-{partition}.arrow")))?;
            schema = Some(read);
            all[partition] = rows;
        }
        let schema = schema.ok_or_else(|| QueryError::internal("a node with no partitions"))?;
        Ok((schema, all))
    }

    fn local_partitions(&self) -> std::ops::Range<usize> {
        let first = self.placement.node * self.placement.cores_per_node;
        first..first + self.placement.cores_per_node
    }

    fn write_catalog(&self, records: &[TableRecord]) -> QueryResult<()> {
        let file = CatalogFile {
            placement: Some(self.placement),
            tables: records.to_vec(),
        };
        let text =
            serde_json::to_vec_pretty(&file).map_err(|e| QueryError::internal(e.to_string()))?;
        let staging = self.root.join(format!("{CATALOG}.tmp"));
        let written = (|| -> std::io::Result<()> {
            let mut out = File::create(&staging)?;
            out.write_all(&text)?;
            out.sync_all()?;
            std::fs::rename(&staging, self.root.join(CATALOG))?;
            File::open(&self.root)?.sync_all()
        })();
        written.map_err(|e| self.failed(e))
    }

    /// Removes table directories the catalog does not name: staged loads that never
    /// committed, dropped or replaced tables.
    fn remove_unnamed(&self) {
        let named: Vec<String> = self
            .records()
            .into_iter()
            .filter_map(|record| match record {
                TableRecord::Loaded { dir, .. } => Some(dir),
                TableRecord::External { .. } => None,
            })
            .collect();
        let Ok(entries) = std::fs::read_dir(self.root.join(TABLES)) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !named.contains(&name) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    fn failed(&self, error: std::io::Error) -> QueryError {
        QueryError::new(
            ErrorCode::Internal,
            format!("data directory {}: {error}", self.root.display()),
        )
    }
}

impl Staged {
    /// The table's directory name once recorded.
    pub fn dir(&self) -> &str {
        &self.dir
    }
}

impl Drop for Staged {
    /// A staged load that was never recorded (the statement failed elsewhere).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}

fn write_ipc(path: &Path, schema: &SchemaRef, batches: &[RecordBatch]) -> std::io::Result<()> {
    let file = File::create(path)?;
    let mut writer =
        FileWriter::try_new(BufWriter::new(file), schema).map_err(std::io::Error::other)?;
    for batch in batches {
        writer.write(batch).map_err(std::io::Error::other)?;
    }
    writer.finish().map_err(std::io::Error::other)?;
    let file = writer.into_inner().map_err(std::io::Error::other)?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn read_ipc(path: &Path) -> QueryResult<(SchemaRef, Vec<RecordBatch>)> {
    let damaged = |error: String| {
        QueryError::new(
            ErrorCode::DataException,
            format!("loaded table file {}: {error}", path.display()),
        )
    };
    let file = File::open(path).map_err(|e| damaged(e.to_string()))?;
    let reader =
        FileReader::try_new(BufReader::new(file), None).map_err(|e| damaged(e.to_string()))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| damaged(e.to_string()))?;
    Ok((schema, batches))
}
