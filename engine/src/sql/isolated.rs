//! Planning runs on a thread of its own: a stack deep enough for the recursive walks of
//! a large statement, a panic in DataFusion's planner or ours caught as an error
//! instead of taking the node down, and a deadline after which the caller gets an
//! error rather than waiting on a planner that went astray.

use std::sync::mpsc;
use std::time::Duration;

use crate::error::{panic_message, ErrorCode, QueryError, QueryResult};

/// Stack of the planning thread. Reserved, not committed: pages are touched only as
/// deep as planning goes (the guard bounds expression depth, so far less in practice).
const PLANNING_STACK_BYTES: usize = 256 << 20;
/// How long a statement may take to plan. TPC-H and TPC-DS plan in milliseconds.
pub const PLANNING_DEADLINE: Duration = Duration::from_secs(10);

/// Runs `plan` on a planning thread and waits for it up to [`PLANNING_DEADLINE`].
///
/// # Errors
/// What `plan` returns; `Internal` when it panicked; `TooComplex` when it outlived
/// the deadline (the thread is then left to finish on its own, its result dropped).
pub fn plan_isolated<T, F>(plan: F) -> QueryResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> QueryResult<T> + Send + 'static,
{
    plan_isolated_within(PLANNING_DEADLINE, plan)
}

fn plan_isolated_within<T, F>(deadline: Duration, plan: F) -> QueryResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> QueryResult<T> + Send + 'static,
{
    let (sender, receiver) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("percore-planner".into())
        .stack_size(PLANNING_STACK_BYTES)
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(plan));
            let _ = sender.send(outcome);
        })
        .map_err(|e| {
            QueryError::new(
                ErrorCode::ResourcesExhausted,
                format!("cannot start a planning thread: {e}"),
            )
        })?;
    match receiver.recv_timeout(deadline) {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => Err(QueryError::new(
            ErrorCode::Internal,
            format!("planning failed: {}", panic_message(panic.as_ref())),
        )),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(QueryError::new(
            ErrorCode::TooComplex,
            format!(
                "statement too complex: planning took longer than {} s",
                deadline.as_secs_f64()
            ),
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(QueryError::new(
            ErrorCode::Internal,
            "planning thread ended without an answer",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_planning_is_an_error() {
        let error = plan_isolated::<(), _>(|| panic!("broken invariant")).unwrap_err();
        assert_eq!(error.code, ErrorCode::Internal);
        assert!(error.message.contains("broken invariant"), "{error}");
    }

    #[test]
    fn planning_past_the_deadline_is_an_error() {
        let error = plan_isolated_within(Duration::from_millis(20), || {
            std::thread::sleep(Duration::from_millis(500));
            Ok(())
        })
        .unwrap_err();
        assert_eq!(error.code, ErrorCode::TooComplex);
    }

    #[test]
    fn deep_recursion_fits_the_planning_stack() {
        fn depth(n: usize) -> usize {
            let pad = std::hint::black_box([0u8; 512]);
            if n == 0 {
                pad[0] as usize
            } else {
                1 + depth(n - 1) + pad[1] as usize
            }
        }
        // 100k frames of over 512 bytes: beyond an 8 MiB main stack.
        assert_eq!(plan_isolated(|| Ok(depth(100_000))).unwrap(), 100_000);
    }
}
