//! The sort operator with spilling. Batches are buffered under the operator's
//! reservation; when it cannot grow, what is buffered is sorted and written out as a
//! run. At the end the runs are merged, one batch per run in memory; when even that
//! does not fit, runs are merged in groups first (more passes, less memory).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::operator_memory::OperatorMemory;
use super::query::QueryState;
use super::stream::{BatchStream, BoxFuture, Stream, StreamContext};
use crate::error::TaskResult;
use crate::memory::spill::{SpillFile, SpillReader, SpillWriter, RUN_BUFFER};
use crate::memory::Reservation;
use crate::operators::merge::{MergeStep, Merger};
use crate::operators::sort::{SortKeys, SortedRun, Sorter};

pub(crate) struct SortStream {
    input: Option<Stream>,
    sorter: Sorter,
    memory: OperatorMemory,
    runs: Vec<SpillFile>,
    output: Output,
    query: Arc<QueryState>,
    batch_rows: usize,
}

enum Output {
    Pending,
    Memory(SortedRun),
    Merge(Box<MergeState>),
    Done,
}

struct MergeState {
    merger: Merger,
    readers: Vec<SpillReader>,
    /// Kept so the files exist while they are read.
    _files: Vec<SpillFile>,
    _reservation: Reservation,
}

impl SortStream {
    /// `name` is the operator as EXPLAIN shows it.
    pub fn new(input: Stream, sorter: Sorter, name: &str, context: &StreamContext) -> SortStream {
        SortStream {
            input: Some(input),
            sorter,
            memory: OperatorMemory::new(name, context),
            runs: Vec::new(),
            output: Output::Pending,
            query: Arc::clone(&context.query),
            batch_rows: context.config.batch_rows,
        }
    }

    async fn consume(&mut self, mut input: Stream) -> TaskResult<()> {
        while let Some(batch) = input.next().await? {
            self.query.check_cancelled()?;
            self.push(batch).await?;
            glommio::yield_if_needed().await;
        }
        Ok(())
    }

    async fn push(&mut self, batch: RecordBatch) -> TaskResult<()> {
        let keyed = self.sorter.encode(batch)?;
        let bytes = keyed.bytes();
        if !self.memory.try_grow(bytes) {
            if !self.sorter.is_empty() {
                self.spill_buffered().await?;
            }
            self.memory.grow_first(bytes);
        }
        self.sorter.push(keyed)?;
        // Top-k trimming shrinks what is held; views may also keep a little more.
        let held = self.sorter.memory_bytes();
        self.memory.hold_exactly(held);
        Ok(())
    }

    async fn spill_buffered(&mut self) -> TaskResult<()> {
        let run = self.sorter.take_sorted()?;
        let file = write_run(run, &self.memory, &self.query).await?;
        self.memory.reservation.free();
        self.memory.spilled(&file);
        self.runs.push(file);
        Ok(())
    }

    async fn finish_input(&mut self) -> TaskResult<()> {
        if self.runs.is_empty() {
            self.output = Output::Memory(self.sorter.take_sorted()?);
            return Ok(());
        }
        if !self.sorter.is_empty() {
            self.spill_buffered().await?;
        }
        loop {
            let fan_in = self.reserve_fan_in();
            if fan_in.0 >= self.runs.len() {
                let files = std::mem::take(&mut self.runs);
                let state = self
                    .open_merge(files, fan_in.1, self.sorter.fetch())
                    .await?;
                self.output = Output::Merge(Box::new(state));
                return Ok(());
            }
            // Too many runs to read at once: merge the first ones into one run.
            let files: Vec<SpillFile> = self.runs.drain(..fan_in.0).collect();
            let mut state = self.open_merge(files, fan_in.1, None).await?;
            let mut writer = run_writer(&self.memory, self.sorter.schema()).await?;
            while let Some(batch) = next_merged(&mut state, &self.query).await? {
                writer.write(&batch).await?;
            }
            let file = writer.finish().await?;
            self.memory.spilled(&file);
            self.runs.insert(0, file);
        }
    }

    /// How many runs can be merged at once: each needs about two of its largest batches
    /// in memory (the batch and its encoded keys), plus the output batch. At least two.
    fn reserve_fan_in(&mut self) -> (usize, Reservation) {
        let mut reservation = self.memory.new_reservation();
        let mut fan_in = 0;
        for run in &self.runs {
            let need = 2 * run.largest_batch();
            if !reservation.try_grow(need) {
                if fan_in >= 2 {
                    break;
                }
                // A merge needs two runs to make progress.
                reservation.grow_forced(need);
            }
            fan_in += 1;
        }
        (fan_in, reservation)
    }

    async fn open_merge(
        &mut self,
        files: Vec<SpillFile>,
        reservation: Reservation,
        fetch: Option<usize>,
    ) -> TaskResult<MergeState> {
        let mut readers = Vec::with_capacity(files.len());
        for file in &files {
            readers.push(self.memory.read(file).await?);
        }
        Ok(MergeState {
            merger: Merger::new(
                SortKeys::clone(self.sorter.keys()),
                files.len(),
                self.batch_rows,
                fetch,
            ),
            readers,
            _files: files,
            _reservation: reservation,
        })
    }
}

/// Writes a sorted run to a new spill file.
async fn write_run(
    run: SortedRun,
    memory: &OperatorMemory,
    query: &QueryState,
) -> TaskResult<SpillFile> {
    let mut writer = run_writer(memory, run.schema()).await?;
    for batch in run {
        writer.write(&batch?).await?;
        query.check_cancelled()?;
    }
    writer.finish().await
}

/// A spill file for one sorted run, its buffer charged to the operator.
async fn run_writer(memory: &OperatorMemory, schema: &SchemaRef) -> TaskResult<SpillWriter> {
    SpillWriter::create(memory.space(), schema, RUN_BUFFER, memory.new_reservation()).await
}

async fn next_merged(
    state: &mut MergeState,
    query: &QueryState,
) -> TaskResult<Option<RecordBatch>> {
    loop {
        match state.merger.next_step()? {
            MergeStep::Batch(batch) => return Ok(Some(batch)),
            MergeStep::NeedInput(run) => {
                query.check_cancelled()?;
                let batch = state.readers[run].next().await?;
                state.merger.feed(run, batch)?;
            }
            MergeStep::Done => return Ok(None),
        }
    }
}

impl BatchStream for SortStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            if let Some(input) = self.input.take() {
                self.consume(input).await?;
                self.finish_input().await?;
            }
            let batch = match &mut self.output {
                Output::Memory(run) => run.next().transpose()?,
                Output::Merge(state) => next_merged(state, &self.query).await?,
                Output::Pending | Output::Done => None,
            };
            if batch.is_none() {
                self.output = Output::Done;
                self.memory.reservation.free();
            }
            Ok(batch)
        })
    }
}
