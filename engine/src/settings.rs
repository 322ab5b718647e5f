//! Per-session settings, changed with `SET name = value` and `SET name TO DEFAULT`.

use crate::error::{ErrorCode, QueryError, QueryResult};
use crate::memory::{parse_byte_size, ByteSize};

pub const MEMORY_PER_CORE: &str = "percore.memory_per_core";

/// What a session changed from the node's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionSettings {
    /// The most one query of this session may reserve per core (at most the node's
    /// budget per core).
    pub memory_per_core: Option<usize>,
}

/// Settings PostgreSQL drivers and tools set when they connect (JDBC, psycopg,
/// pgcli, BI tools); accepted so they connect, without effect here.
const POSTGRES_CLIENT_SETTINGS: [&str; 11] = [
    "application_name",
    "extra_float_digits",
    "client_encoding",
    "datestyle",
    "timezone",
    "time zone",
    "search_path",
    "intervalstyle",
    "client_min_messages",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
];

impl SessionSettings {
    /// Applies `SET name = value` (`None`: back to the default); returns what is set now.
    ///
    /// # Errors
    /// An unknown setting or a value it does not take.
    pub fn set(&mut self, name: &str, value: Option<&str>) -> QueryResult<String> {
        match name {
            MEMORY_PER_CORE => {
                self.memory_per_core = value
                    .map(|value| {
                        let bytes = parse_byte_size(value)
                            .map_err(|e| QueryError::new(ErrorCode::Semantic, e))?;
                        if bytes == 0 {
                            return Err(QueryError::new(
                                ErrorCode::Semantic,
                                format!("{MEMORY_PER_CORE} must be more than 0"),
                            ));
                        }
                        Ok(bytes)
                    })
                    .transpose()?;
                Ok(match self.memory_per_core {
                    Some(bytes) => format!("{MEMORY_PER_CORE} = {}", ByteSize(bytes)),
                    None => format!("{MEMORY_PER_CORE} = DEFAULT (the node's budget per core)"),
                })
            }
            other if POSTGRES_CLIENT_SETTINGS.contains(&other) => {
                Ok(format!("{other}: accepted; Percore does not use it"))
            }
            other => Err(QueryError::new(
                ErrorCode::Semantic,
                format!("unknown setting {other}; known: {MEMORY_PER_CORE}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_per_core_is_set_reset_and_checked() {
        let mut settings = SessionSettings::default();
        settings.set(MEMORY_PER_CORE, Some("64MiB")).unwrap();
        assert_eq!(settings.memory_per_core, Some(64 << 20));
        assert!(settings.set(MEMORY_PER_CORE, Some("0")).is_err());
        assert!(settings.set(MEMORY_PER_CORE, Some("lots")).is_err());
        assert_eq!(
            settings.memory_per_core,
            Some(64 << 20),
            "a bad value changes nothing"
        );
        settings.set(MEMORY_PER_CORE, None).unwrap();
        assert_eq!(settings, SessionSettings::default());
        let error = settings.set("work_mem", Some("1")).unwrap_err();
        assert!(error.message.contains("unknown setting work_mem"));
    }
}
