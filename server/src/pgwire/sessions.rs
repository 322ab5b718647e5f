//! Client sessions by cancel key, so a PostgreSQL CancelRequest (psql's Ctrl-C),
//! which arrives on a new connection, can find and cancel the session's running query.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use percore_engine::exec::statement_cancel::StatementCancel;

/// What BackendKeyData gives the client: a session number and a secret, so that
/// knowing the number alone cannot cancel someone else's query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CancelKey {
    pub connection: i32,
    pub secret: i32,
}

pub(crate) struct Session {
    pub key: CancelKey,
    statement: Mutex<Option<Arc<StatementCancel>>>,
}

impl Session {
    /// A statement begins: a cancel request from now until [`Session::end_statement`]
    /// reaches it, whatever it is doing.
    pub fn begin_statement(&self) -> Arc<StatementCancel> {
        let cancel = Arc::new(StatementCancel::default());
        *self.lock_statement() = Some(Arc::clone(&cancel));
        cancel
    }

    /// The statement ended: a cancel request now finds nothing to cancel, as in
    /// PostgreSQL.
    pub fn end_statement(&self) {
        *self.lock_statement() = None;
    }

    fn lock_statement(&self) -> std::sync::MutexGuard<'_, Option<Arc<StatementCancel>>> {
        self.statement.lock().unwrap_or_else(|e| e.into_inner())
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
            statement: Mutex::new(None),
        });
        self.lock().insert(key, Arc::clone(&session));
        session
    }

    pub(crate) fn end(&self, key: CancelKey) {
        self.lock().remove(&key);
    }

    /// Cancels the session's statement, if the key is right and one runs.
    pub(crate) fn cancel(&self, key: CancelKey) {
        let session = self.lock().get(&key).cloned();
        let statement = session.and_then(|s| s.lock_statement().clone());
        if let Some(statement) = statement {
            statement.request();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CancelKey, Arc<Session>>> {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner())
    }
}
