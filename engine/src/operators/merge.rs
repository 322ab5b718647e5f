//! K-way merge of sorted runs. Each run feeds one batch at a time; the merger asks for
//! the next batch of a run when its current one is used up (so the caller can read it
//! from disk), and emits merged batches of at most `batch_rows` rows. Equal keys come
//! out in run order, so a merge of runs in arrival order is stable.

use arrow::compute::interleave_record_batch;
use arrow::record_batch::RecordBatch;
use arrow::row::Rows;

use super::sort::SortKeys;
use crate::error::TaskResult;

/// What the merger needs or has.
pub enum MergeStep {
    Batch(RecordBatch),
    /// Call [`Merger::feed`] for this run (with `None` when it is exhausted).
    NeedInput(usize),
    Done,
}

struct Cursor {
    batch: RecordBatch,
    rows: Rows,
    position: usize,
}

pub struct Merger {
    keys: SortKeys,
    cursors: Vec<Option<Cursor>>,
    /// Runs that have not yet received their first batch or ended.
    waiting: Vec<bool>,
    /// Min-heap of run indices by their current row.
    heap: Vec<usize>,
    /// (run, row) of the output rows gathered so far.
    pending: Vec<(usize, usize)>,
    batch_rows: usize,
    remaining: usize,
}

impl Merger {
    /// `fetch` stops the merge after that many rows.
    pub fn new(keys: SortKeys, runs: usize, batch_rows: usize, fetch: Option<usize>) -> Merger {
        Merger {
            keys,
            cursors: (0..runs).map(|_| None).collect(),
            waiting: vec![true; runs],
            heap: Vec::with_capacity(runs),
            pending: Vec::new(),
            batch_rows: batch_rows.max(1),
            remaining: fetch.unwrap_or(usize::MAX),
        }
    }

    /// Gives run `run` its next batch, or `None` when it has no more.
    pub fn feed(&mut self, run: usize, batch: Option<RecordBatch>) -> TaskResult<()> {
        self.waiting[run] = false;
        match batch {
            Some(batch) if batch.num_rows() > 0 => {
                let rows = self.keys.encode(&batch)?;
                self.cursors[run] = Some(Cursor {
                    batch,
                    rows,
                    position: 0,
                });
                self.heap.push(run);
                self.sift_up(self.heap.len() - 1);
            }
            Some(_) => self.waiting[run] = true,
            None => self.cursors[run] = None,
        }
        Ok(())
    }

    /// The next step: a merged batch, a run to feed, or the end.
    pub fn next_step(&mut self) -> TaskResult<MergeStep> {
        if self.remaining == 0 {
            return Ok(match self.emit()? {
                Some(batch) => MergeStep::Batch(batch),
                None => MergeStep::Done,
            });
        }
        if let Some(run) = self.waiting.iter().position(|&w| w) {
            return Ok(MergeStep::NeedInput(run));
        }
        while self.pending.len() < self.batch_rows && self.remaining > 0 {
            let Some(&run) = self.heap.first() else {
                break;
            };
            let cursor = self.cursors[run].as_mut().expect("in the heap");
            self.pending.push((run, cursor.position));
            self.remaining -= 1;
            cursor.position += 1;
            if cursor.position < cursor.batch.num_rows() {
                self.sift_down(0);
                continue;
            }
            // The run's batch is used up: emit what refers to it before replacing it.
            let last = self.heap.len() - 1;
            self.heap.swap(0, last);
            self.heap.pop();
            if !self.heap.is_empty() {
                self.sift_down(0);
            }
            self.waiting[run] = true;
            let output = self.emit()?;
            return Ok(match output {
                Some(batch) => MergeStep::Batch(batch),
                None => MergeStep::NeedInput(run),
            });
        }
        Ok(match self.emit()? {
            Some(batch) => MergeStep::Batch(batch),
            None => MergeStep::Done,
        })
    }

    fn emit(&mut self) -> TaskResult<Option<RecordBatch>> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        // Runs map to dense batch slots for `interleave`.
        let mut slots: Vec<Option<usize>> = vec![None; self.cursors.len()];
        let mut batches: Vec<&RecordBatch> = Vec::new();
        let indices: Vec<(usize, usize)> = self
            .pending
            .iter()
            .map(|&(run, row)| {
                let slot = *slots[run].get_or_insert_with(|| {
                    batches.push(&self.cursors[run].as_ref().expect("pending rows").batch);
                    batches.len() - 1
                });
                (slot, row)
            })
            .collect();
        let batch = interleave_record_batch(&batches, &indices)?;
        self.pending.clear();
        Ok(Some(batch))
    }

    fn less(&self, a: usize, b: usize) -> bool {
        let (x, y) = (
            self.cursors[a].as_ref().expect("in the heap"),
            self.cursors[b].as_ref().expect("in the heap"),
        );
        x.rows
            .row(x.position)
            .cmp(&y.rows.row(y.position))
            .then(a.cmp(&b))
            .is_lt()
    }

    fn sift_up(&mut self, mut at: usize) {
        while at > 0 {
            let parent = (at - 1) / 2;
            if !self.less(self.heap[at], self.heap[parent]) {
                break;
            }
            self.heap.swap(at, parent);
            at = parent;
        }
    }

    fn sift_down(&mut self, mut at: usize) {
        loop {
            let (left, right) = (2 * at + 1, 2 * at + 2);
            let mut smallest = at;
            if left < self.heap.len() && self.less(self.heap[left], self.heap[smallest]) {
                smallest = left;
            }
            if right < self.heap.len() && self.less(self.heap[right], self.heap[smallest]) {
                smallest = right;
            }
            if smallest == at {
                return;
            }
            self.heap.swap(at, smallest);
            at = smallest;
        }
    }
}
