//! Client sessions by cancel key, so a PostgreSQL CancelRequest (psql's Ctrl-C),
//! which arrives on a new connection, can find and cancel the session's running query.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use percore_engine::error::{ErrorCode, QueryError};
use percore_engine::exec::query::QueryCanceller;

/// What BackendKeyData gives the client: a session number and a secret, so that
/// knowing the number alone cannot cancel someone else's query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CancelKey {
    pub connection: i32,
    pub secret: i32,
}

pub(crate) struct Session {
    pub key: CancelKey,
    running: Mutex<Option<QueryCanceller>>,
}

impl Session {
    /// Records the query now running on this session (`None` when it ended).
    pub fn running(&self, canceller: Option<QueryCanceller>) {
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = canceller;
    }
}

#[derive(Default)]
pub struct Sessions {
    next: AtomicI32,
    by_key: Mutex<HashMap<CancelKey, Arc<Session>>>,
}

impl Sessions {
    pub(crate) fn begin(&self) -> Arc<Session> {
        let secret = RandomState::new().build_hasher().finish() as i32;
        let key = CancelKey {
            connection: self.next.fetch_add(1, Ordering::Relaxed) + 1,
            secret,
        };
        let session = Arc::new(Session {
            key,
            running: Mutex::new(None),
        });
        self.lock().insert(key, Arc::clone(&session));
        session
    }

    pub(crate) fn end(&self, key: CancelKey) {
        self.lock().remove(&key);
    }

    /// Cancels the session's running query, if the key is right and one runs.
    pub(crate) fn cancel(&self, key: CancelKey) {
        let session = self.lock().get(&key).cloned();
        let canceller =
            session.and_then(|s| s.running.lock().unwrap_or_else(|e| e.into_inner()).clone());
        if let Some(canceller) = canceller {
            canceller.fail(QueryError::new(
                ErrorCode::Cancelled,
                "canceling statement due to user request",
            ));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CancelKey, Arc<Session>>> {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner())
    }
}
