//! A node's data directory: its catalog and its partitions of loaded tables, kept
//! across restarts.
//!
//! ```text
//! DIR/catalog.json                 the tables, in order of creation
//! DIR/tables/<name>-<id>/part-P.arrows  this node's partition P
//! DIR/tables/<name>-<id>/all.arrows     a replicated table's rows, once
//! ```
//!
//! Partition files hold frames of Arrow IPC ([`crate::memory::frames`]), the format
//! of spill files: at start a partition's first rows are read into the core's table
//! memory, and scans read the rest straight from the file.
//!
//! Every change is written completely, then renamed into place: a load's partitions
//! are written to a `.tmp-` directory before the statement commits, the directory is
//! renamed at commit, and `catalog.json` is replaced by renaming a new one over it
//! (the commit point). A crash at any step leaves the old catalog; what it no longer
//! names (staged or dropped directories) is removed at the next start.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::profile::TableProfile;
use super::stored_rows::{PartitionRows, StoredRows};
use super::TablePartitioning;
use crate::error::{ErrorCode, QueryError, QueryResult};
use crate::memory::frames::{FrameEncoder, FrameFileReader};
use crate::memory::size::batch_bytes;
use crate::memory::TableMemory;

const CATALOG: &str = "catalog.json";
const TABLES: &str = "tables";
const STAGING: &str = ".tmp-";
const REPLICATED_FILE: &str = "all.arrows";

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
        /// A CSV table's declared columns (none: inferred from the files).
        #[serde(default)]
        columns: Vec<DeclaredColumn>,
    },
    /// Rows loaded by `CREATE TABLE .. AS`, in `dir` under `tables/`.
    Loaded {
        name: String,
        partitioning: TablePartitioning,
        profile: TableProfile,
        dir: String,
    },
}

/// A declared column as the catalog file records it: its Arrow type by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeclaredColumn {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
}

impl DeclaredColumn {
    /// The columns of `schema`.
    pub fn all(schema: &Schema) -> Vec<DeclaredColumn> {
        schema
            .fields()
            .iter()
            .map(|field| DeclaredColumn {
                name: field.name().clone(),
                data_type: field.data_type().to_string(),
                nullable: field.is_nullable(),
            })
            .collect()
    }

    /// The schema of `columns`; `None` when there are none.
    ///
    /// # Errors
    /// A type name Arrow does not know (a damaged catalog file).
    pub fn schema(columns: &[DeclaredColumn]) -> QueryResult<Option<SchemaRef>> {
        if columns.is_empty() {
            return Ok(None);
        }
        let fields = columns
            .iter()
            .map(|column| {
                let data_type = column.data_type.parse::<DataType>().map_err(|e| {
                    QueryError::new(
                        ErrorCode::Internal,
                        format!("column {} of the catalog: {e}", column.name),
                    )
                })?;
                Ok(Field::new(&column.name, data_type, column.nullable))
            })
            .collect::<QueryResult<Vec<_>>>()?;
        Ok(Some(Arc::new(Schema::new(fields))))
    }
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
        partitions: &[PartitionRows],
    ) -> QueryResult<Staged> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = format!("{}-{nanos:x}", name.to_ascii_lowercase());
        let staging = self.root.join(TABLES).join(format!("{STAGING}{dir}"));
        let empty = PartitionRows::default();
        let written = (|| -> QueryResult<()> {
            std::fs::create_dir_all(&staging).map_err(|e| io_failed(&staging, &e))?;
            let local = self.local_partitions();
            if *partitioning == TablePartitioning::Replicated {
                let rows = partitions.get(local.start).unwrap_or(&empty);
                write_frames(&staging.join(REPLICATED_FILE), schema, rows)?;
            } else {
                for partition in local {
                    let rows = partitions.get(partition).unwrap_or(&empty);
                    write_frames(&staging.join(partition_file(partition)), schema, rows)?;
                }
            }
            File::open(&staging)
                .and_then(|dir| dir.sync_all())
                .map_err(|e| io_failed(&staging, &e))
        })();
        written.map_err(|error| {
            let _ = std::fs::remove_dir_all(&staging);
            QueryError::new(
                error.code,
                format!("cannot write table {name}: {}", error.message),
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
    /// empty where other nodes hold the rows): each partition's first rows in
    /// `tables`' memory on its core, the rest left in the file for scans to read.
    ///
    /// # Errors
    /// Missing or damaged files, named.
    pub fn read_partitions(
        &self,
        dir: &str,
        partitioning: &TablePartitioning,
        tables: &Arc<TableMemory>,
    ) -> QueryResult<(SchemaRef, Vec<PartitionRows>)> {
        let path = self.root.join(TABLES).join(dir);
        let partitions = self.placement.nodes * self.placement.cores_per_node;
        let mut all: Vec<PartitionRows> =
            (0..partitions).map(|_| PartitionRows::default()).collect();
        if *partitioning == TablePartitioning::Replicated {
            let (schema, rows) = read_frames(&path.join(REPLICATED_FILE), tables, 0)?;
            all[0] = rows;
            return Ok((schema, all));
        }
        let mut schema = None;
        for (core, partition) in self.local_partitions().enumerate() {
            let (read, rows) = read_frames(&path.join(partition_file(partition)), tables, core)?;
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

fn partition_file(partition: usize) -> String {
    format!("part-{partition}.arrows")
}

fn io_failed(path: &Path, error: &dyn std::fmt::Display) -> QueryError {
    QueryError::new(
        ErrorCode::ResourcesExhausted,
        format!("{}: {error}", path.display()),
    )
}

/// Writes a partition's rows (those on disk read back through memory a batch at a
/// time) as frames, then syncs the file.
fn write_frames(path: &Path, schema: &SchemaRef, rows: &PartitionRows) -> QueryResult<()> {
    let failed = |error: &dyn std::fmt::Display| io_failed(path, error);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).map_err(|e| failed(&e))?);
    let mut encoder = FrameEncoder::new(schema).map_err(|e| failed(&e))?;
    let mut frame = Vec::new();
    for batch in rows.read_batches() {
        encoder
            .encode(&batch?, &mut frame)
            .map_err(|e| failed(&e))?;
        out.write_all(&frame).map_err(|e| failed(&e))?;
        frame.clear();
    }
    encoder.finish(&mut frame).map_err(|e| failed(&e))?;
    out.write_all(&frame).map_err(|e| failed(&e))?;
    let file = out.into_inner().map_err(|e| failed(&e.into_error()))?;
    file.sync_all().map_err(|e| failed(&e))
}

/// Reads a partition file: batches into `tables`' memory on `core` while they fit,
/// the rest named as rows on disk (counted, not kept).
fn read_frames(
    path: &Path,
    tables: &Arc<TableMemory>,
    core: usize,
) -> QueryResult<(SchemaRef, PartitionRows)> {
    let damaged = |error: String| {
        QueryError::new(
            ErrorCode::DataException,
            format!("loaded table file {error}"),
        )
    };
    let end = std::fs::metadata(path)
        .map_err(|e| damaged(format!("{}: {e}", path.display())))?
        .len();
    let mut reader = FrameFileReader::open(path, 0, end, None)
        .map_err(|e| damaged(format!("{}: {e}", path.display())))?;
    let mut rows = PartitionRows::default();
    // Where the rows left on disk start, and how many there are.
    let mut on_disk: Option<(u64, usize)> = None;
    loop {
        let frame_start = reader.position();
        let Some(batches) = reader.next_frame().map_err(damaged)? else {
            break;
        };
        for batch in batches {
            if let Some((_, count)) = &mut on_disk {
                *count += batch.num_rows();
                continue;
            }
            match tables.try_hold(core, batch_bytes(&batch)) {
                Some(hold) => {
                    match &mut rows.memory {
                        Some(held) => held.absorb(hold),
                        None => rows.memory = Some(hold),
                    }
                    rows.batches.push(batch);
                }
                // A frame holds one batch: the rest of the file starts with this one.
                None => on_disk = Some((frame_start, batch.num_rows())),
            }
        }
    }
    let schema = reader
        .schema()
        .cloned()
        .ok_or_else(|| damaged(format!("{}: no schema", path.display())))?;
    if let Some((start, count)) = on_disk {
        rows.on_disk.push(StoredRows::in_file(
            path,
            start,
            end,
            count,
            Arc::clone(&schema),
        ));
    }
    Ok((schema, rows))
}
