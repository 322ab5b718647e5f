//! Where a `CREATE TABLE .. AS` leaves its rows: each task of the final stage keeps
//! its partition's batches, compacted to full batches, and hands them over when it
//! ends. The table is registered only once every task on every node succeeded.
//!
//! While the load runs, the kept batches are reserved against the query's budget on
//! their core, so a load is bounded like any query: a partition that does not fit
//! fails the statement with a clear error instead of growing the process. The table
//! itself then lives outside query budgets, as generated tables do.

use std::sync::{Arc, Mutex};

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::catalog::profile::TableProfile;
use crate::catalog::TablePartitioning;
use crate::error::TaskResult;
use crate::memory::query::Reservation;
use crate::memory::size::batch_bytes;
use crate::operators::compact::{compact_views, Compact};

/// The partitions a load produced on this node, by global partition index.
#[derive(Debug)]
pub struct TableSink {
    kept: Mutex<KeptPartitions>,
}

/// What a load's tasks on one node kept: each partition's batches (empty where other
/// nodes hold them) and what was measured of them.
#[derive(Debug, Clone, Default)]
pub struct KeptPartitions {
    pub partitions: Vec<Vec<RecordBatch>>,
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
                partitions: vec![Vec::new(); partitions],
                profiles: vec![None; partitions],
            }),
        })
    }

    fn put(&self, partition: usize, batches: Vec<RecordBatch>, profile: TableProfile) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if partition < kept.partitions.len() {
            kept.partitions[partition] = batches;
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
/// alive in the table).
pub(crate) struct PartitionWriter {
    schema: SchemaRef,
    batch_rows: usize,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    done: Vec<RecordBatch>,
    reservation: Reservation,
    profile: TableProfile,
}

impl PartitionWriter {
    pub fn new(schema: SchemaRef, batch_rows: usize, reservation: Reservation) -> Self {
        PartitionWriter {
            batch_rows: batch_rows.max(1),
            pending: Vec::new(),
            pending_rows: 0,
            done: Vec::new(),
            reservation,
            profile: TableProfile::new(&schema),
            schema,
        }
    }

    /// Keeps `batch`, within the query's budget on this core.
    ///
    /// # Errors
    /// When the partition outgrows the budget.
    pub fn push(&mut self, batch: RecordBatch) -> TaskResult<()> {
        let bytes = batch_bytes(&batch);
        if !self.reservation.try_grow(bytes) {
            return Err(self.reservation.exhausted("table load", bytes));
        }
        self.profile.add(&batch)?;
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        if self.pending_rows >= self.batch_rows {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> TaskResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let joined = concat_batches(&self.schema, &self.pending)?;
        let compact = compact_views(&joined, Compact::ToOneBuffer)?;
        self.pending.clear();
        self.pending_rows = 0;
        self.done.push(compact);
        Ok(())
    }

    /// Hands the partition to the sink.
    ///
    /// # Errors
    /// When the last batches cannot be joined.
    pub fn finish(mut self, sink: &TableSink, partition: usize) -> TaskResult<()> {
        self.flush()?;
        let profile = std::mem::take(&mut self.profile);
        sink.put(partition, std::mem::take(&mut self.done), profile);
        Ok(())
    }
}
