//! Spilling by hash partition, shared by the aggregation and the grace hash join:
//! rows are split by a hash of their keys into `SPILL_FANOUT` files, so each file can
//! later be processed on its own.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion_physical_expr::PhysicalExpr;

use super::operator_memory::OperatorMemory;
use crate::error::TaskResult;
use crate::memory::spill::{SpillFile, SpillWriter, PARTITION_BUFFER};
use crate::operators::partition::HashPartitioner;

/// Files one spill splits its rows into.
pub(crate) const SPILL_FANOUT: usize = 16;

/// One open spill file per hash partition.
pub(crate) struct PartitionWriters {
    writers: Vec<SpillWriter>,
    partitioner: HashPartitioner,
}

impl PartitionWriters {
    /// Opens the files; `level` picks the hash bits (each level splits what the one
    /// above could not).
    pub async fn open(
        memory: &OperatorMemory,
        schema: &SchemaRef,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        level: u32,
    ) -> TaskResult<PartitionWriters> {
        let mut writers = Vec::with_capacity(SPILL_FANOUT);
        for _ in 0..SPILL_FANOUT {
            writers.push(
                SpillWriter::create(
                    memory.space(),
                    schema,
                    PARTITION_BUFFER,
                    memory.new_reservation(),
                )
                .await?,
            );
        }
        Ok(PartitionWriters {
            writers,
            partitioner: HashPartitioner::for_spill(keys, SPILL_FANOUT, level),
        })
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> TaskResult<()> {
        let pieces = self.partitioner.split(batch)?;
        for (writer, piece) in self.writers.iter_mut().zip(pieces) {
            if let Some(piece) = piece {
                writer.write(&piece).await?;
            }
        }
        Ok(())
    }

    /// The files by partition; `None` for partitions that got no row.
    pub async fn finish(self, memory: &mut OperatorMemory) -> TaskResult<Vec<Option<SpillFile>>> {
        let mut files = Vec::with_capacity(self.writers.len());
        for writer in self.writers {
            let file = writer.finish().await?;
            if file.rows() == 0 {
                files.push(None);
                continue;
            }
            memory.spilled(&file);
            files.push(Some(file));
        }
        Ok(files)
    }
}
