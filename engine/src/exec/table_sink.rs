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

use crate::error::TaskResult;
use crate::memory::query::Reservation;
use crate::memory::size::batch_bytes;
use crate::operators::compact::{compact_views, Compact};

/// The partitions a load produced on this node, by global partition index.
#[derive(Debug)]
pub struct TableSink {
    partitions: Mutex<Vec<Vec<RecordBatch>>>,
}

impl TableSink {
    pub fn new(partitions: usize) -> Arc<TableSink> {
        Arc::new(TableSink {
            partitions: Mutex::new(vec![Vec::new(); partitions]),
        })
    }

    fn put(&self, partition: usize, batches: Vec<RecordBatch>) {
        let mut partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = partitions.get_mut(partition) {
            *slot = batches;
        }
    }

    /// Every partition's batches (empty for partitions other nodes hold); leaves the
    /// sink empty.
    pub fn take(&self) -> Vec<Vec<RecordBatch>> {
        let mut partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        let count = partitions.len();
        std::mem::replace(&mut *partitions, vec![Vec::new(); count])
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
}

impl PartitionWriter {
    pub fn new(schema: SchemaRef, batch_rows: usize, reservation: Reservation) -> Self {
        PartitionWriter {
            schema,
            batch_rows: batch_rows.max(1),
            pending: Vec::new(),
            pending_rows: 0,
            done: Vec::new(),
            reservation,
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
        sink.put(partition, std::mem::take(&mut self.done));
        Ok(())
    }
}
