//! Client sessions by cancel key, so a PostgreSQL CancelRequest (psql's Ctrl-C),
//! which arrives on a new connection, can find and cancel the session's running query.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use percore_engine::exec::statement_cancel::StatementCancel;
use pgwire::messages::Message;

use super::connection::Terminator;
use super::server::fatal_response;

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
    terminator: Terminator,
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
    pub(crate) fn begin(&self, terminator: Terminator) -> Arc<Session> {
        let secret = RandomState::new().build_hasher().finish() as i32;
        let key = CancelKey {
            connection: self.next.fetch_add(1, Ordering::Relaxed) + 1,
            secret,
        };
        let session = Arc::new(Session {
            key,
            statement: Mutex::new(None),
            terminator,
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

    /// Ends every client connection as PostgreSQL does at shutdown: FATAL 57P01
    /// `terminating connection due to administrator command`, then the socket
    /// closes (a client sees why, not just a closed connection).
    pub fn terminate_all(&self) {
        let mut last = BytesMut::new();
        let fatal = fatal_response(
            "57P01",
            "terminating connection due to administrator command",
        );
        if fatal.encode(&mut last).is_err() {
            return;
        }
        let sessions: Vec<Arc<Session>> = self.lock().values().cloned().collect();
        for session in sessions {
            session
                .terminator
                .end_with(&last, std::time::Duration::from_millis(500));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CancelKey, Arc<Session>>> {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner())
    }
}
