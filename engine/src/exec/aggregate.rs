//! Hash aggregation under a memory budget. The aggregator's state is reserved after
//! each batch (it only exists once the batch is in); when the reservation cannot grow:
//! - a partial aggregate emits what it has and starts over (the final aggregate after
//!   the exchange merges the pieces);
//! - a single or final aggregate spills its groups' partial states, split by a hash of
//!   the group keys into [`SPILL_FANOUT`] files, and starts over. After the input, each
//!   file is aggregated again on its own (its groups are in no other file), spilling
//!   again one level deeper (other hash bits) if it still does not fit.
//!
//! Groups leave an aggregator one batch at a time, so emitting holds one output batch
//! beside the state, not a copy of it.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;

use super::operator_memory::OperatorMemory;
use super::partition_spill::PartitionWriters;
use super::query::QueryState;
use super::stream::{BatchStream, BoxFuture, Stream, StreamContext};
use crate::error::TaskResult;
use crate::memory::spill::{SpillFile, SpillReader};
use crate::operators::aggregate::{merge_node, HashAggregator};
use crate::plan::node::AggregateNode;

/// Spill levels before giving up: 16^4 partitions could not split the groups, so one
/// group's own state is too large.
const MAX_LEVEL: u32 = 4;

pub(crate) struct AggregateStream {
    input: Option<Stream>,
    node: Arc<AggregateNode>,
    /// The aggregate over `node`'s partial states: what spilled partitions go through
    /// (for a final aggregate, `node` itself).
    merge: Arc<AggregateNode>,
    memory: OperatorMemory,
    /// An aggregator whose groups are being emitted.
    emitting: Option<HashAggregator>,
    /// Spilled partitions still to aggregate, with their level.
    partitions: VecDeque<(SpillFile, u32)>,
    query: Arc<QueryState>,
    batch_rows: usize,
}

/// Where a phase reads its rows: the operator's input, or a spilled partition.
enum Source<'a> {
    Input(&'a mut Stream),
    File(SpillReader),
}

impl Source<'_> {
    async fn next(&mut self) -> TaskResult<Option<RecordBatch>> {
        match self {
            Source::Input(stream) => stream.next().await,
            Source::File(reader) => reader.next().await,
        }
    }
}

/// What aggregating one source produced.
enum Phase {
    /// Everything fit: the aggregator holding every group.
    Done(Box<HashAggregator>),
    /// Some state was spilled: the partitions to aggregate next.
    Spilled(Vec<SpillFile>),
}

impl AggregateStream {
    /// `name` is the operator as EXPLAIN shows it.
    pub fn new(
        input: Stream,
        node: &AggregateNode,
        name: &str,
        context: &StreamContext,
    ) -> TaskResult<AggregateStream> {
        Ok(AggregateStream {
            input: Some(input),
            merge: Arc::new(merge_node(node)?),
            node: Arc::new(node.clone()),
            memory: OperatorMemory::new(name, context),
            emitting: None,
            partitions: VecDeque::new(),
            query: Arc::clone(&context.query),
            batch_rows: context.config.batch_rows,
        })
    }

    /// A partial aggregate: aggregates until memory runs short, then emits.
    async fn next_partial(&mut self) -> TaskResult<()> {
        let Some(input) = self.input.as_mut() else {
            return Ok(());
        };
        let mut aggregator = HashAggregator::try_new(&self.node, self.batch_rows)?;
        let mut full = false;
        while let Some(batch) = input.next().await? {
            self.query.check_cancelled()?;
            aggregator.push(&batch)?;
            if !self.memory.hold(aggregator.memory_bytes()) {
                full = true;
                break;
            }
            glommio::yield_if_needed().await;
        }
        if !full {
            self.input = None;
        }
        // When memory ran short, the groups so far go on; the final aggregate merges them.
        self.emitting = Some(aggregator);
        Ok(())
    }

    /// Aggregates `source` with `node`; spills state into partitions at `level` when
    /// memory runs short.
    async fn phase(
        &mut self,
        mut source: Source<'_>,
        node: &AggregateNode,
        level: u32,
    ) -> TaskResult<Phase> {
        let mut aggregator = HashAggregator::try_new(node, self.batch_rows)?;
        let mut writers: Option<PartitionWriters> = None;
        while let Some(batch) = source.next().await? {
            self.query.check_cancelled()?;
            aggregator.push(&batch)?;
            let held = aggregator.memory_bytes();
            if self.memory.hold(held) {
                // Fits.
            } else if aggregator.group_count() <= self.batch_rows {
                // Up to one output batch of groups is held even beyond the budget
                // (the allowance of an operator's first batch): when other operators
                // hold the core, spilling less would write a file per input batch.
                let extra = held - self.memory.reservation.size();
                self.memory.reservation.grow_forced(extra);
            } else if aggregator.is_global() || level >= MAX_LEVEL {
                return Err(self.memory.exhausted(held - self.memory.reservation.size()));
            } else {
                let full = std::mem::replace(
                    &mut aggregator,
                    HashAggregator::try_new(node, self.batch_rows)?,
                );
                let writers = match &mut writers {
                    Some(writers) => writers,
                    None => writers.insert(self.open_writers(level).await?),
                };
                self.spill_state(full, writers).await?;
                self.memory.reservation.free();
            }
            glommio::yield_if_needed().await;
        }
        let Some(mut writers) = writers else {
            return Ok(Phase::Done(Box::new(aggregator)));
        };
        self.spill_state(aggregator, &mut writers).await?;
        self.memory.reservation.free();
        let files = writers.finish(&mut self.memory).await?;
        Ok(Phase::Spilled(files.into_iter().flatten().collect()))
    }

    /// Partition files for partial states, split by their group keys (the state
    /// spilled from the input and from a partition has the same columns).
    async fn open_writers(&self, level: u32) -> TaskResult<PartitionWriters> {
        let schema = self.merge.input.schema();
        let keys = self.merge.group_exprs.clone();
        PartitionWriters::open(&self.memory, &schema, keys, level).await
    }

    /// Writes an aggregator's groups, as partial states, to the partition files.
    async fn spill_state(
        &self,
        mut aggregator: HashAggregator,
        writers: &mut PartitionWriters,
    ) -> TaskResult<()> {
        while let Some(batch) = aggregator.emit_state_next()? {
            writers.write(&batch).await?;
            self.query.check_cancelled()?;
        }
        Ok(())
    }

    /// Aggregates the input, or the next spilled partition, of a single or final
    /// aggregate.
    async fn next_merged(&mut self) -> TaskResult<()> {
        if let Some(mut input) = self.input.take() {
            let node = Arc::clone(&self.node);
            let phase = self.phase(Source::Input(&mut input), &node, 0).await?;
            drop(input);
            self.absorb(phase, 1);
            return Ok(());
        }
        if let Some((file, level)) = self.partitions.pop_front() {
            let merge = Arc::clone(&self.merge);
            let reader = self.memory.read(&file).await?;
            let phase = self.phase(Source::File(reader), &merge, level).await?;
            drop(file);
            self.absorb(phase, level + 1);
        }
        Ok(())
    }

    fn absorb(&mut self, phase: Phase, next_level: u32) {
        match phase {
            Phase::Done(aggregator) => self.emitting = Some(*aggregator),
            Phase::Spilled(files) => {
                // Deeper partitions first, so few files exist at once.
                for file in files.into_iter().rev() {
                    self.partitions.push_front((file, next_level));
                }
            }
        }
    }
}

impl BatchStream for AggregateStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            loop {
                if let Some(aggregator) = self.emitting.as_mut() {
                    if let Some(batch) = aggregator.emit_next()? {
                        return Ok(Some(batch));
                    }
                    self.emitting = None;
                    self.memory.reservation.free();
                }
                if self.input.is_none() && self.partitions.is_empty() {
                    return Ok(None);
                }
                if self.node.mode.emits_states() {
                    self.next_partial().await?;
                } else {
                    self.next_merged().await?;
                }
            }
        })
    }
}
