//! A client's cancel request for its statement, whatever the statement is doing when
//! it arrives: planning, waiting for memory, preparing on the peers, running, or
//! sending rows. Before, a request reached only a query already sending rows; one
//! that came earlier was lost and the statement ran on until its timeout.

use std::sync::Mutex;
use std::thread::Thread;
use std::time::Duration;

use super::query::QueryCanceller;
use crate::error::{ErrorCode, QueryError};

/// One statement's cancel: requested at most once, by a client's cancel request.
#[derive(Default)]
pub struct StatementCancel {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    requested: bool,
    /// The thread waiting on the statement's behalf (for admission).
    waiting: Option<Thread>,
    /// The statement's query once it runs.
    query: Option<QueryCanceller>,
}

impl StatementCancel {
    /// Cancels the statement: its query fails at once if it runs, or as soon as it
    /// starts; a wait for memory ends.
    pub fn request(&self) {
        let query = {
            let mut state = self.lock();
            state.requested = true;
            if let Some(thread) = &state.waiting {
                thread.unpark();
            }
            state.query.clone()
        };
        if let Some(query) = query {
            query.fail(cancelled_by_user());
        }
    }

    /// The statement's query, which a request cancels (at once if one came already).
    pub fn attach(&self, query: QueryCanceller) {
        let requested = {
            let mut state = self.lock();
            state.query = Some(query.clone());
            state.requested
        };
        if requested {
            query.fail(cancelled_by_user());
        }
    }

    pub fn is_requested(&self) -> bool {
        self.lock().requested
    }

    /// `Err` (57014, as PostgreSQL words it) once a cancel was requested.
    ///
    /// # Errors
    /// When the statement was cancelled.
    pub fn check(&self) -> Result<(), QueryError> {
        if self.is_requested() {
            return Err(cancelled_by_user());
        }
        Ok(())
    }

    /// Parks the calling thread for at most `timeout`, or until a request comes.
    pub fn park_timeout(&self, timeout: Duration) {
        {
            let mut state = self.lock();
            if state.requested {
                return;
            }
            state.waiting = Some(std::thread::current());
        }
        std::thread::park_timeout(timeout);
        self.lock().waiting = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The error of a statement its client cancelled.
pub fn cancelled_by_user() -> QueryError {
    QueryError::new(
        ErrorCode::Cancelled,
        "canceling statement due to user request",
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_request_wakes_the_waiting_thread() {
        let cancel = Arc::new(StatementCancel::default());
        let waiter = {
            let cancel = Arc::clone(&cancel);
            std::thread::spawn(move || {
                let started = Instant::now();
                while !cancel.is_requested() {
                    cancel.park_timeout(Duration::from_secs(60));
                }
                started.elapsed()
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        assert!(cancel.check().is_ok());
        cancel.request();
        let waited = waiter.join().unwrap();
        assert!(waited < Duration::from_secs(60), "woke by the request");
        assert_eq!(cancel.check().unwrap_err().code, ErrorCode::Cancelled);
    }
}
