//! Where a `CREATE TABLE .. AS` leaves its rows: each task of the final stage keeps
//! its partition's batches, compacted to full batches, and hands them over when it
//! ends. The table is registered only once every task on every node succeeded.
//!
//! A finished batch stays in memory while its core's table memory has room and goes
//! to a file on the node's disk when it has not, so a load of any size is bounded:
//! the query budget holds only the batch being gathered, the table budget what the
//! table keeps in memory. Scans read the files back.

use std::sync::{Arc, Mutex};

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::catalog::profile::TableProfile;
use crate::catalog::stored_rows::{PartitionRows, StoredRows};
use crate::catalog::TablePartitioning;
use crate::error::TaskResult;
use crate::memory::query::{QueryMemory, Reservation};
use crate::memory::size::batch_bytes;
use crate::memory::spill::{SpillWriter, RUN_BUFFER};
use crate::memory::{TableMemory, TableMemoryHold};
use crate::operators::compact::{compact_views, Compact};

/// The partitions a load produced on this node, by global partition index.
#[derive(Debug)]
pub struct TableSink {
    kept: Mutex<KeptPartitions>,
}

/// What a load's tasks on one node kept: each partition's rows (none where other
/// nodes hold them) and what was measured of them.
#[derive(Debug, Default)]
pub struct KeptPartitions {
    pub partitions: Vec<PartitionRows>,
    pub profiles: Vec<Option<TableProfile>>,
}

impl KeptPartitions {
    /// This node's share of the table's profile: a replicated table's partitions each
    /// hold every row, so one of them stands for all.
    pub fn profile(&self, partitioning: &TablePartitioning) -> TableProfile {
        let profiles = self.profiles.iter().flatten();
        match partitioning {
            TablePartitioning::Replicated => profiles
                .max_by_key(|profile| profile.rows)
                .cloned()
                .unwrap_or_default(),
            _ => profiles.fold(TableProfile::default(), |mut total, profile| {
                total.merge(profile);
                total
            }),
        }
    }
}

impl TableSink {
    pub fn new(partitions: usize) -> Arc<TableSink> {
        Arc::new(TableSink {
            kept: Mutex::new(KeptPartitions {
                partitions: (0..partitions).map(|_| PartitionRows::default()).collect(),
                profiles: vec![None; partitions],
            }),
        })
    }

    fn put(&self, partition: usize, rows: PartitionRows, profile: TableProfile) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if partition < kept.partitions.len() {
            kept.partitions[partition] = rows;
            kept.profiles[partition] = Some(profile);
        }
    }

    /// Every partition this node kept; leaves the sink empty.
    pub fn take(&self) -> KeptPartitions {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *kept)
    }
}

/// One task's share of a load: gathers batches into ones of about `batch_rows` rows,
/// each copied compactly (a slice of a scan would otherwise keep the whole scan batch
/// alive in the table), and keeps each in table memory or in its file.
pub(crate) struct PartitionWriter {
    schema: SchemaRef,
    batch_rows: usize,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    /// Holds the pending batches under the query's budget.
    reservation: Reservation,
    memory: Arc<QueryMemory>,
    tables: Arc<TableMemory>,
    kept: Vec<RecordBatch>,
    kept_memory: Option<TableMemoryHold>,
    overflow: Option<SpillWriter>,
    profile: TableProfile,
}

impl PartitionWriter {
    /// A writer on `core`, gathering under `memory`'s budget.
    pub fn new(
        schema: SchemaRef,
        batch_rows: usize,
        memory: &Arc<QueryMemory>,
        core: usize,
    ) -> Self {
        PartitionWriter {
            batch_rows: batch_rows.max(1),
            pending: Vec::new(),
            pending_rows: 0,
            reservation: Reservation::new(memory, core),
            memory: Arc::clone(memory),
            tables: Arc::clone(memory.tables()),
            kept: Vec::new(),
            kept_memory: None,
            overflow: None,
            profile: TableProfile::new(&schema),
            schema,
        }
    }

    /// Takes `batch` into the partition.
    ///
    /// # Errors
    /// When the batch being gathered outgrows the query's budget, or the table's rows
    /// cannot be written to disk.
    pub async fn push(&mut self, batch: RecordBatch) -> TaskResult<()> {
        let bytes = batch_bytes(&batch);
        if !self.reservation.try_grow(bytes) {
            return Err(self.reservation.exhausted("table load", bytes));
        }
        self.profile.add(&batch)?;
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        if self.pending_rows >= self.batch_rows {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> TaskResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let joined = concat_batches(&self.schema, &self.pending)?;
        let compact = compact_views(&joined, Compact::ToOneBuffer)?;
        self.pending.clear();
        self.pending_rows = 0;
        let bytes = batch_bytes(&compact);
        match self.tables.try_hold(self.reservation.core(), bytes) {
            Some(hold) => {
                match &mut self.kept_memory {
                    Some(kept) => kept.absorb(hold),
                    None => self.kept_memory = Some(hold),
                }
                self.kept.push(compact);
            }
            None => self.write_to_disk(&compact).await?,
        }
        self.reservation.free();
        Ok(())
    }

    async fn write_to_disk(&mut self, batch: &RecordBatch) -> TaskResult<()> {
        if self.overflow.is_none() {
            let buffer_memory = Reservation::new(&self.memory, self.reservation.core());
            self.overflow = Some(
                SpillWriter::create(self.tables.files(), &self.schema, RUN_BUFFER, buffer_memory)
                    .await?,
            );
        }
        self.overflow
            .as_mut()
            .expect("created above")
            .write(batch)
            .await
    }

    /// Hands the partition to the sink.
    ///
    /// # Errors
    /// When the last batches cannot be joined or written.
    pub async fn finish(mut self, sink: &TableSink, partition: usize) -> TaskResult<()> {
        self.flush().await?;
        let on_disk = match self.overflow.take() {
            Some(writer) => vec![StoredRows::spilled(
                writer.finish().await?,
                Arc::clone(&self.schema),
            )],
            None => Vec::new(),
        };
        let rows = PartitionRows {
            batches: std::mem::take(&mut self.kept),
            on_disk,
            memory: self.kept_memory.take(),
        };
        sink.put(partition, rows, std::mem::take(&mut self.profile));
        Ok(())
    }
}
