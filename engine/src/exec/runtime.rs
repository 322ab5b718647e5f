//! Starts one glommio executor per core and hands it tasks. The executors only run
//! query tasks; parsing and planning stay on the caller's thread, so a slow plan never
//! freezes a data core.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::thread::JoinHandle;

use futures_lite::FutureExt;
use glommio::{LocalExecutorBuilder, Placement};

use super::task::{run_task, TaskSpec};
use crate::error::{ErrorCode, QueryError, QueryResult};

/// Work handed to a core's executor from another thread: it builds its future there,
/// so the future itself need not be `Send` (glommio sockets are not).
pub type CoreJob = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

enum CoreCommand {
    Run(Box<TaskSpec>),
    Spawn(CoreJob),
}

/// How long a task runs before `yield_if_needed` lets the core's other tasks in.
/// glommio's default, 100 ms, made every wake-up of a short query wait behind each
/// CPU-bound task on its core: TPC-H Q5 (50 ms alone on three nodes) took 3.7 s
/// beside two long nested-loop joins, 0.56 s with 10 ms. TPC-H SF 1 did not slow
/// down measurably (three runs each, alone and 4 clients at once).
const TIME_SLICE: std::time::Duration = std::time::Duration::from_millis(10);

/// A running set of per-core executors. Dropping it stops them.
pub struct Runtime {
    submit: Vec<flume::Sender<CoreCommand>>,
    threads: Vec<JoinHandle<()>>,
}

impl Runtime {
    /// Starts `cores` executors, pinned round-robin to this machine's CPUs (several
    /// executors may share a CPU when nodes share a machine).
    ///
    /// # Errors
    /// When an executor cannot start, typically because io_uring is unavailable or
    /// locked memory (`ulimit -l`) is too small.
    pub fn start(cores: usize) -> QueryResult<Runtime> {
        Runtime::start_at(cores, 0)
    }

    /// Like [`Runtime::start`], pinning core `c` to CPU `(first_cpu + c) % cpus`: nodes
    /// sharing a machine start at different CPUs instead of all crowding CPU 0.
    ///
    /// # Errors
    /// As [`Runtime::start`].
    pub fn start_at(cores: usize, first_cpu: usize) -> QueryResult<Runtime> {
        assert!(cores > 0, "at least one core");
        super::uring_probe::check_io_uring()
            .map_err(|why| QueryError::new(ErrorCode::ResourcesExhausted, why))?;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut submit = Vec::with_capacity(cores);
        let mut threads = Vec::with_capacity(cores);
        for core in 0..cores {
            let (sender, receiver) = flume::unbounded::<CoreCommand>();
            let (started, running) = std::sync::mpsc::channel::<()>();
            let builder = LocalExecutorBuilder::new(Placement::Fixed((first_cpu + core) % cpus))
                .name(&format!("percore-core-{core}"))
                .preempt_timer(TIME_SLICE);
            let handle = builder
                .spawn(move || async move {
                    let _ = started.send(());
                    while let Ok(command) = receiver.recv_async().await {
                        match command {
                            CoreCommand::Run(spec) => {
                                glommio::spawn_local(survive_panic(run_task(*spec))).detach();
                            }
                            CoreCommand::Spawn(job) => {
                                glommio::spawn_local(survive_panic(job())).detach();
                            }
                        }
                    }
                })
                .map_err(|error| {
                    QueryError::new(
                        ErrorCode::ResourcesExhausted,
                        format!(
                            "cannot start the executor for core {core}: {error}. Percore needs \
                             io_uring (Linux 5.8+, not disabled by sysctl or seccomp) and locked \
                             memory (check `ulimit -l`)"
                        ),
                    )
                })?;
            // glommio builds the reactor inside the executor's thread: a failure there
            // ends the thread, and shows only here, not from `spawn`.
            if running.recv().is_err() {
                let why = match handle.join() {
                    Err(error) => error.to_string(),
                    Ok(()) => "it ended at once".to_string(),
                };
                return Err(QueryError::new(
                    ErrorCode::ResourcesExhausted,
                    format!("the executor for core {core} did not start: {why}"),
                ));
            }
            submit.push(sender);
            threads.push(std::thread::spawn(move || {
                // The executor's own thread; this one only waits for it to end.
                let _ = handle.join();
            }));
        }
        Ok(Runtime { submit, threads })
    }

    pub fn cores(&self) -> usize {
        self.submit.len()
    }

    /// Hands a task to the executor of `core`.
    pub(crate) fn submit(&self, core: usize, spec: TaskSpec) -> QueryResult<()> {
        self.submit[core]
            .send(CoreCommand::Run(Box::new(spec)))
            .map_err(|_| QueryError::internal(format!("executor of core {core} has stopped")))
    }

    /// Runs `job` on `core`'s executor, beside the query tasks.
    ///
    /// # Errors
    /// When that executor has stopped.
    pub fn spawn_on(&self, core: usize, job: CoreJob) -> QueryResult<()> {
        self.submit[core % self.submit.len()]
            .send(CoreCommand::Spawn(job))
            .map_err(|_| QueryError::internal(format!("executor of core {core} has stopped")))
    }
}

/// A panic that escapes a future would unwind through glommio's run loop and end the
/// core's thread, and with it every task and query on that core. Tasks fail their
/// query themselves; here the panic is only kept from spreading.
async fn survive_panic(work: impl Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
        eprintln!(
            "percore: a task on this core panicked: {}",
            crate::error::panic_message(panic.as_ref())
        );
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Closing the command channels ends each executor's loop.
        self.submit.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_panicking_job_leaves_its_core_running() {
        let runtime = Runtime::start(1).expect("executor starts");
        runtime
            .spawn_on(0, Box::new(|| Box::pin(async { panic!("injected") })))
            .expect("core accepts the job");
        let (done, finished) = flume::bounded(1);
        runtime
            .spawn_on(
                0,
                Box::new(move || {
                    Box::pin(async move {
                        let _ = done.send_async(()).await;
                    })
                }),
            )
            .expect("core still accepts jobs");
        finished
            .recv_timeout(Duration::from_secs(30))
            .expect("the core ran the job after the panic");
    }
}
