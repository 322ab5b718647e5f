//! A task on a node started with `--slowdown N` works at 1/N of its speed: after
//! each batch its operators produced, it waits N - 1 times the time they worked
//! (waits for input and the network excluded, so only this node's own slowness is
//! multiplied). The wait is a timer, so the core serves its other tasks, heartbeats
//! and exchanges meanwhile, as a slow or contended machine would.

use std::rc::Rc;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;

use super::stats::TaskCounters;
use super::stream::Stream;
use crate::error::TaskResult;

pub(crate) struct Pace {
    factor: u32,
    counters: Rc<TaskCounters>,
    started: Instant,
    waited_at_start: Duration,
}

impl Pace {
    pub(crate) fn new(factor: u32, counters: Rc<TaskCounters>) -> Self {
        Pace {
            factor,
            counters,
            started: Instant::now(),
            waited_at_start: Duration::ZERO,
        }
    }

    /// The stream's next batch, produced at this node's pace.
    pub(crate) async fn next(&mut self, stream: &mut Stream) -> TaskResult<Option<RecordBatch>> {
        self.start();
        let batch = stream.next().await?;
        self.slow_down().await;
        Ok(batch)
    }

    /// Marks the start of the work for one batch.
    fn start(&mut self) {
        if self.factor > 1 {
            self.started = Instant::now();
            self.waited_at_start = self.waited();
        }
    }

    /// Waits out the slowdown for the work since [`Pace::start`].
    async fn slow_down(&mut self) {
        if self.factor <= 1 {
            return;
        }
        let waited = self.waited().saturating_sub(self.waited_at_start);
        let worked = self.started.elapsed().saturating_sub(waited);
        glommio::timer::sleep(worked.saturating_mul(self.factor - 1)).await;
    }

    fn waited(&self) -> Duration {
        self.counters.input_wait.get() + self.counters.network_wait.get()
    }
}
