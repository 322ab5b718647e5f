//! The hash join under a memory budget. The build side is collected under the
//! operator's reservation; if it (or the table over it) does not fit, the join turns
//! into a grace hash join: both sides are split by a hash of the join keys into
//! `SPILL_FANOUT` files each, and every pair of files is joined on its own (rows with
//! equal keys meet in the same pair). A pair whose build side still does not fit is
//! split again one level deeper, on other hash bits. When a single key holds more
//! build rows than fit (splitting cannot help), the pair's build side is read in
//! chunks and the probe side scanned once per chunk, remembering which probe rows
//! matched; a last pass over the probe side emits what outer, semi and anti joins
//! keep of them.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::Array;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion_physical_expr::PhysicalExpr;

use super::exchange::TaskInputs;
use super::operator_memory::OperatorMemory;
use super::partition_spill::{PartitionWriters, SPILL_FANOUT};
use super::query::QueryState;
use super::runtime_filters::offer_for_join;
use super::stream::{build_stream, BatchStream, BoxFuture, Stream, StreamContext};
use crate::error::TaskResult;
use crate::memory::size::batch_bytes;
use crate::memory::spill::{SpillFile, SpillReader};
use crate::operators::evaluate;
use crate::operators::join::{HashJoinProbe, JoinTable, ProbeMode};
use crate::operators::output_limit::OutputLimit;
use crate::operators::runtime_filter::{BuildKeys, RuntimeFilterSlot};
use crate::plan::node::{HashJoinNode, JoinKind};

/// Split levels before a build side counts as one unsplittable key.
const MAX_LEVEL: u32 = 3;

pub(crate) struct HashJoinStream {
    build: Option<Stream>,
    probe: Option<Stream>,
    node: HashJoinNode,
    memory: OperatorMemory,
    query: Arc<QueryState>,
    state: State,
    /// Whether some build key was NULL and how many build rows there were (NOT IN).
    whole_side: (bool, usize),
    batch_rows: usize,
    limit: OutputLimit,
    /// Filters on scans under the probe side, by the index of their key; filled
    /// when the whole build side is in memory.
    runtime_filters: Vec<(usize, Arc<RuntimeFilterSlot>)>,
}

enum State {
    Start,
    /// The build side fit: probe batches stream through its table.
    InMemory {
        prober: Box<HashJoinProbe>,
        finished: bool,
    },
    /// Grace hash join: pairs of spilled partitions still to join, and the current one.
    Partitioned {
        pairs: VecDeque<Pair>,
        current: Option<Box<PairJoin>>,
    },
    Done,
}

impl Drop for HashJoinStream {
    fn drop(&mut self) {
        for (_, slot) in &self.runtime_filters {
            let (tested, passed) = slot.counts();
            self.memory.note_runtime_filter(tested, passed);
        }
    }
}

/// One partition of both sides.
struct Pair {
    build: Option<SpillFile>,
    probe: Option<SpillFile>,
    level: u32,
}

/// Joining one pair: its table (all of the build partition, or one chunk of it).
struct PairJoin {
    pair: Pair,
    prober: HashJoinProbe,
    probe: Option<SpillReader>,
    finished: bool,
    /// In chunked mode: the rest of the build partition and its next batch.
    build_rest: Option<(SpillReader, RecordBatch)>,
    /// In chunked mode: what the chunks so far matched.
    chunked: Option<Chunked>,
}

/// Which probe rows of a pair matched any build chunk so far, by position in the
/// probe file (read in the same order on every pass).
struct Chunked {
    matched: Vec<bool>,
    position: usize,
    /// The probe rows of the batch being joined with the current chunk.
    in_progress: Range<usize>,
    /// The last pass, over the probe rows alone (unmatched or matched rows out).
    final_pass: bool,
}

/// A build side read under the reservation, up to what fits.
struct Loaded {
    batches: Vec<RecordBatch>,
    rows: usize,
    /// The batch that did not fit, if reading stopped early.
    overflow: Option<RecordBatch>,
}

impl HashJoinStream {
    /// `name` is the operator as EXPLAIN shows it.
    pub fn new(
        node: &HashJoinNode,
        name: &str,
        inputs: &mut TaskInputs,
        context: &StreamContext,
    ) -> TaskResult<Self> {
        // Offered before the probe side's streams are built: its scans pick them up.
        let runtime_filters = offer_for_join(node, context);
        let left = build_stream(&node.left, inputs, context)?;
        let right = build_stream(&node.right, inputs, context)?;
        let (build, probe) = if node.build_left {
            (left, right)
        } else {
            (right, left)
        };
        Ok(HashJoinStream {
            build: Some(build),
            probe: Some(probe),
            node: node.clone(),
            memory: OperatorMemory::new(name, context),
            query: Arc::clone(&context.query),
            state: State::Start,
            whole_side: (false, 0),
            batch_rows: context.config.batch_rows,
            limit: context.config.output_limit(),
            runtime_filters,
        })
    }

    fn build_keys(&self) -> Vec<Arc<dyn PhysicalExpr>> {
        let side = |(l, r): &(Arc<dyn PhysicalExpr>, Arc<dyn PhysicalExpr>)| {
            Arc::clone(if self.node.build_left { l } else { r })
        };
        self.node.on.iter().map(side).collect()
    }

    fn probe_keys(&self) -> Vec<Arc<dyn PhysicalExpr>> {
        let side = |(l, r): &(Arc<dyn PhysicalExpr>, Arc<dyn PhysicalExpr>)| {
            Arc::clone(if self.node.build_left { r } else { l })
        };
        self.node.on.iter().map(side).collect()
    }

    fn build_schema(&self) -> SchemaRef {
        if self.node.build_left {
            self.node.left.schema()
        } else {
            self.node.right.schema()
        }
    }

    fn probe_schema(&self) -> SchemaRef {
        if self.node.build_left {
            self.node.right.schema()
        } else {
            self.node.left.schema()
        }
    }

    /// Nothing can match an empty build side: inner and semi joins are done, and so
    /// is any join that outputs only build rows.
    fn empty_build_ends_join(&self) -> bool {
        self.whole_side.1 == 0
            && (matches!(self.node.kind, JoinKind::Inner | JoinKind::LeftSemi)
                || self.node.outputs_build_rows_by_match()
                || self.node.left_outer_on_build())
    }

    async fn start(&mut self) -> TaskResult<()> {
        let mut build = self.build.take().expect("started once");
        let mut loaded = Loaded {
            batches: Vec::new(),
            rows: 0,
            overflow: None,
        };
        while let Some(batch) = build.next().await? {
            self.query.check_cancelled()?;
            self.note_whole_side(&batch)?;
            if !self.memory.try_grow(table_bytes(&batch)) {
                loaded.overflow = Some(batch);
                break;
            }
            loaded.rows += batch.num_rows();
            loaded.batches.push(batch);
            glommio::yield_if_needed().await;
        }
        if loaded.overflow.is_some() {
            return self.go_partitioned(loaded, build).await;
        }
        drop(build);
        let table = self
            .table(&loaded.batches)?
            .with_whole_side(self.whole_side.0, self.whole_side.1);
        if self.empty_build_ends_join() {
            self.probe = None;
        }
        let filter_bytes = self.publish_runtime_filters(&loaded.batches)?;
        // Held beside the table until the join is done.
        self.memory.reservation.grow_forced(filter_bytes);
        self.state = State::InMemory {
            prober: Box::new(HashJoinProbe::new(
                &self.node,
                table,
                self.limit,
                ProbeMode::Whole,
            )),
            finished: false,
        };
        Ok(())
    }

    /// Hands the build side's keys to the scans under the probe side (the same slots,
    /// so what they test adds up in [`HashJoinStream`]'s drop); the bytes the
    /// filters hold.
    fn publish_runtime_filters(&self, batches: &[RecordBatch]) -> TaskResult<usize> {
        let mut bytes = 0;
        let build_keys = self.build_keys();
        let mut published: Option<(usize, Arc<BuildKeys>)> = None;
        // A key's slots are next to each other: its keys are computed once for all.
        for (key, slot) in &self.runtime_filters {
            if published.as_ref().is_none_or(|(done, _)| done != key) {
                let expr = std::slice::from_ref(&build_keys[*key]);
                let columns = batches
                    .iter()
                    .map(|batch| Ok(evaluate(expr, batch)?.remove(0)))
                    .collect::<TaskResult<Vec<_>>>()?;
                published = BuildKeys::of(&columns).map(|keys| {
                    bytes += keys.memory_bytes();
                    (*key, Arc::new(keys))
                });
            }
            if let Some((_, keys)) = &published {
                slot.publish(Arc::clone(keys));
            }
        }
        Ok(bytes)
    }

    fn note_whole_side(&mut self, batch: &RecordBatch) -> TaskResult<()> {
        self.whole_side.1 += batch.num_rows();
        if self.node.null_aware && !self.whole_side.0 {
            let keys = evaluate(&self.build_keys(), batch)?;
            self.whole_side.0 = keys.iter().any(|k| k.null_count() > 0);
        }
        Ok(())
    }

    /// Builds the table over batches reserved with [`table_bytes`], then holds what
    /// it really takes instead.
    fn table(&mut self, batches: &[RecordBatch]) -> TaskResult<JoinTable> {
        let table = JoinTable::build(
            self.build_schema(),
            batches,
            &self.build_keys(),
            self.node.nulls_equal,
        )?;
        self.memory.hold_exactly(table.memory_bytes());
        Ok(table)
    }

    /// Spills what was collected and the rest of the build side, then the probe side,
    /// split into partitions.
    async fn go_partitioned(&mut self, loaded: Loaded, mut rest: Stream) -> TaskResult<()> {
        let mut writers =
            PartitionWriters::open(&self.memory, &self.build_schema(), self.build_keys(), 0)
                .await?;
        for batch in loaded.batches.iter().chain(&loaded.overflow) {
            writers.write(batch).await?;
        }
        drop(loaded);
        self.memory.reservation.free();
        while let Some(batch) = rest.next().await? {
            self.query.check_cancelled()?;
            self.note_whole_side(&batch)?;
            writers.write(&batch).await?;
        }
        drop(rest);
        let build_files = writers.finish(&mut self.memory).await?;
        let mut probe_files: Vec<Option<SpillFile>> = (0..SPILL_FANOUT).map(|_| None).collect();
        if self.empty_build_ends_join() {
            self.probe = None;
        }
        if let Some(mut probe) = self.probe.take() {
            let mut writers =
                PartitionWriters::open(&self.memory, &self.probe_schema(), self.probe_keys(), 0)
                    .await?;
            while let Some(batch) = probe.next().await? {
                self.query.check_cancelled()?;
                writers.write(&batch).await?;
            }
            probe_files = writers.finish(&mut self.memory).await?;
        }
        let pairs = pair_up(build_files, probe_files, 0, &self.node);
        self.state = State::Partitioned {
            pairs,
            current: None,
        };
        Ok(())
    }

    /// Reads a build partition while the reservation grows.
    async fn load(
        &mut self,
        reader: &mut SpillReader,
        first: Option<RecordBatch>,
    ) -> TaskResult<Loaded> {
        let mut loaded = Loaded {
            batches: Vec::new(),
            rows: 0,
            overflow: None,
        };
        let mut next = first;
        loop {
            let batch = match next.take() {
                Some(batch) => batch,
                None => match reader.next().await? {
                    Some(batch) => batch,
                    None => return Ok(loaded),
                },
            };
            self.query.check_cancelled()?;
            let bytes = table_bytes(&batch);
            // A chunk holds at least one batch, or it would never make progress.
            let fits = if loaded.batches.is_empty() {
                self.memory.grow_first(bytes)
            } else {
                self.memory.try_grow(bytes)
            };
            if !fits {
                loaded.overflow = Some(batch);
                return Ok(loaded);
            }
            loaded.rows += batch.num_rows();
            loaded.batches.push(batch);
        }
    }

    /// Starts joining the next pair: loads its build side, splits it further, or
    /// falls back to chunks.
    async fn open_pair(&mut self, pair: Pair) -> TaskResult<Option<Box<PairJoin>>> {
        self.memory.reservation.free();
        let Some(build) = &pair.build else {
            // No build rows: probe rows find no match (outer and anti joins keep them).
            let table = self.table(&[])?;
            return Ok(Some(self.pair_join(pair, table, None, None).await?));
        };
        let mut reader = self.memory.read(build).await?;
        if build.rows() <= self.batch_rows {
            // At most a batch: splitting cannot make it smaller than the one batch an
            // operator may always hold (other operators may be holding the budget).
            let mut batches = Vec::new();
            while let Some(batch) = reader.next().await? {
                self.memory.reservation.grow_forced(table_bytes(&batch));
                batches.push(batch);
            }
            let table = self.table(&batches)?;
            return Ok(Some(self.pair_join(pair, table, None, None).await?));
        }
        let loaded = self.load(&mut reader, None).await?;
        let Some(overflow) = loaded.overflow else {
            let table = self.table(&loaded.batches)?;
            return Ok(Some(self.pair_join(pair, table, None, None).await?));
        };
        if pair.level < MAX_LEVEL {
            drop(loaded.batches);
            self.memory.reservation.free();
            self.split_pair(pair).await?;
            return Ok(None);
        }
        // One key too large to split: join the build side chunk by chunk.
        let table = self.table(&loaded.batches)?;
        Ok(Some(
            self.pair_join(pair, table, Some((reader, overflow)), None)
                .await?,
        ))
    }

    async fn pair_join(
        &mut self,
        pair: Pair,
        table: JoinTable,
        build_rest: Option<(SpillReader, RecordBatch)>,
        chunked: Option<Chunked>,
    ) -> TaskResult<Box<PairJoin>> {
        let table = table.with_whole_side(self.whole_side.0, self.whole_side.1);
        let probe = self.memory.read_some(pair.probe.as_ref()).await?;
        let chunked = chunked.or_else(|| {
            build_rest.as_ref().map(|_| Chunked {
                matched: Vec::new(),
                position: 0,
                in_progress: 0..0,
                final_pass: false,
            })
        });
        let mode = if chunked.is_some() {
            ProbeMode::Chunk
        } else {
            ProbeMode::Whole
        };
        Ok(Box::new(PairJoin {
            pair,
            prober: HashJoinProbe::new(&self.node, table, self.limit, mode),
            probe,
            finished: false,
            build_rest,
            chunked,
        }))
    }

    /// Splits a pair that does not fit into pairs one level deeper.
    async fn split_pair(&mut self, pair: Pair) -> TaskResult<()> {
        let level = pair.level + 1;
        let build = match &pair.build {
            Some(file) => {
                self.split_file(file, self.build_keys(), &self.build_schema(), level)
                    .await?
            }
            None => (0..SPILL_FANOUT).map(|_| None).collect(),
        };
        let probe = match &pair.probe {
            Some(file) => {
                self.split_file(file, self.probe_keys(), &self.probe_schema(), level)
                    .await?
            }
            None => (0..SPILL_FANOUT).map(|_| None).collect(),
        };
        let State::Partitioned { pairs, .. } = &mut self.state else {
            unreachable!("pairs are split only when partitioned");
        };
        for deeper in pair_up(build, probe, level, &self.node).into_iter().rev() {
            pairs.push_front(deeper);
        }
        Ok(())
    }

    async fn split_file(
        &mut self,
        file: &SpillFile,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        schema: &SchemaRef,
        level: u32,
    ) -> TaskResult<Vec<Option<SpillFile>>> {
        let mut reader = self.memory.read(file).await?;
        let mut writers = PartitionWriters::open(&self.memory, schema, keys, level).await?;
        while let Some(batch) = reader.next().await? {
            self.query.check_cancelled()?;
            writers.write(&batch).await?;
        }
        writers.finish(&mut self.memory).await
    }

    /// The next output batch of a partitioned join.
    async fn next_partitioned(&mut self) -> TaskResult<Option<RecordBatch>> {
        loop {
            glommio::yield_if_needed().await;
            let State::Partitioned { pairs, current } = &mut self.state else {
                return Ok(None);
            };
            let Some(join) = current.as_mut() else {
                let Some(pair) = pairs.pop_front() else {
                    return Ok(None);
                };
                let opened = self.open_pair(pair).await?;
                if let State::Partitioned { current, .. } = &mut self.state {
                    *current = opened;
                }
                continue;
            };
            if let Some(output) = join.next_probe_output(&self.query).await? {
                if output.num_rows() > 0 {
                    return Ok(Some(output));
                }
                continue;
            }
            if !join.finished {
                // Full joins: build rows (of this chunk) that matched no probe row.
                match join.prober.finish()? {
                    Some(batch) => return Ok(Some(batch)),
                    None => join.finished = true,
                }
            }
            let mut join = current.take().expect("checked above");
            let Some(mut chunked) = join.chunked.take() else {
                continue;
            };
            chunked.position = 0;
            let next = match join.build_rest.take() {
                Some((mut reader, first)) => {
                    // The next chunk of the build side against all the probe rows.
                    self.memory.reservation.free();
                    drop(join.prober);
                    let loaded = self.load(&mut reader, Some(first)).await?;
                    let table = self.table(&loaded.batches)?;
                    let rest = loaded.overflow.map(|batch| (reader, batch));
                    self.pair_join(join.pair, table, rest, Some(chunked))
                        .await?
                }
                None if chunked.final_pass
                    || self.node.kind == JoinKind::Inner
                    || self.node.outputs_build_rows_by_match()
                    || self.node.left_outer_on_build() =>
                {
                    continue
                }
                None => {
                    // Every chunk seen: the probe rows that come out matched or not.
                    chunked.final_pass = true;
                    join.probe = self.memory.read_some(join.pair.probe.as_ref()).await?;
                    join.finished = true;
                    join.chunked = Some(chunked);
                    join
                }
            };
            if let State::Partitioned { current, .. } = &mut self.state {
                *current = Some(next);
            }
        }
    }
}

impl PairJoin {
    /// The next piece of this pair's pass over its probe side (empty when a step
    /// found nothing to output), or `None` once the probe side is done.
    async fn next_probe_output(&mut self, query: &QueryState) -> TaskResult<Option<RecordBatch>> {
        loop {
            query.check_cancelled()?;
            if let Some(output) = self.prober.next_output()? {
                return Ok(Some(output));
            }
            if let (Some(chunked), Some(matched)) = (&mut self.chunked, self.prober.take_matched())
            {
                chunked.merge(&matched);
            }
            let Some(probe) = self.probe.as_mut() else {
                return Ok(None);
            };
            let Some(batch) = probe.next().await? else {
                self.probe = None;
                return Ok(None);
            };
            match &mut self.chunked {
                Some(chunked) if chunked.final_pass => {
                    let rows = chunked.advance(batch.num_rows());
                    let rest = self.prober.probe_rest(&batch, &chunked.matched[rows])?;
                    if let Some(rest) = rest {
                        return Ok(Some(rest));
                    }
                }
                Some(chunked) => {
                    chunked.in_progress = chunked.advance(batch.num_rows());
                    self.prober.push(batch)?;
                }
                None => self.prober.push(batch)?,
            }
        }
    }
}

impl Chunked {
    /// The positions of the next `rows` probe rows.
    fn advance(&mut self, rows: usize) -> Range<usize> {
        let range = self.position..self.position + rows;
        self.position = range.end;
        if self.matched.len() < range.end {
            self.matched.resize(range.end, false);
        }
        range
    }

    /// Adds what the batch in progress matched in the current chunk.
    fn merge(&mut self, matched: &[bool]) {
        let seen = &mut self.matched[self.in_progress.clone()];
        for (seen, now) in seen.iter_mut().zip(matched) {
            *seen |= now;
        }
    }
}

/// Pairs build and probe partitions, keeping the pairs that can produce rows.
fn pair_up(
    build: Vec<Option<SpillFile>>,
    probe: Vec<Option<SpillFile>>,
    level: u32,
    node: &HashJoinNode,
) -> VecDeque<Pair> {
    let by_build = node.outputs_build_rows_by_match();
    // Mark joins keep every probe row, as anti joins keep the unmatched ones.
    let anti = matches!(node.kind, JoinKind::LeftAnti | JoinKind::LeftMark);
    let keeps_unmatched_probe = node.outputs_unmatched_probe_rows() || (anti && !by_build);
    let keeps_unmatched_build = node.outputs_unmatched_build_rows() || (anti && by_build);
    build
        .into_iter()
        .zip(probe)
        .filter(|(build, probe)| match (build, probe) {
            (Some(_), Some(_)) => true,
            (Some(_), None) => keeps_unmatched_build,
            (None, Some(_)) => keeps_unmatched_probe,
            (None, None) => false,
        })
        .map(|(build, probe)| Pair {
            build,
            probe,
            level,
        })
        .collect()
}

/// What a build batch needs while its table is built: itself, its copy in the table,
/// and the keys and chains.
fn table_bytes(batch: &RecordBatch) -> usize {
    let bytes = batch_bytes(batch);
    bytes + JoinTable::build_overhead(bytes, batch.num_rows())
}

impl BatchStream for HashJoinStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            if matches!(self.state, State::Start) {
                self.start().await?;
            }
            let batch = match &mut self.state {
                State::InMemory { prober, finished } => loop {
                    self.query.check_cancelled()?;
                    if let Some(output) = prober.next_output()? {
                        if output.num_rows() > 0 {
                            break Some(output);
                        }
                        glommio::yield_if_needed().await;
                        continue;
                    }
                    if let Some(probe) = self.probe.as_mut() {
                        match probe.next().await? {
                            Some(batch) => {
                                prober.push(batch)?;
                                continue;
                            }
                            None => self.probe = None,
                        }
                    }
                    if *finished {
                        break None;
                    }
                    match prober.finish()? {
                        Some(output) => break Some(output),
                        None => *finished = true,
                    }
                },
                State::Partitioned { .. } => self.next_partitioned().await?,
                State::Start | State::Done => None,
            };
            if batch.is_none() {
                self.state = State::Done;
                self.memory.reservation.free();
            }
            Ok(batch)
        })
    }
}
