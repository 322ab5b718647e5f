//! Per-session settings, changed with `SET name = value` and `SET name TO DEFAULT`.

use std::time::{Duration, Instant};

use crate::error::{ErrorCode, QueryError, QueryResult};
use crate::memory::{parse_byte_size, ByteSize};

pub const MEMORY_PER_CORE: &str = "percore.memory_per_core";
pub const STATEMENT_TIMEOUT: &str = "statement_timeout";
pub const SKEW_JOIN: &str = "percore.skew_join";

/// What a session changed from the node's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionSettings {
    /// The most one query of this session may reserve per core (at most the node's
    /// budget per core).
    pub memory_per_core: Option<usize>,
    /// A query running longer is cancelled everywhere with 57014, as PostgreSQL's.
    pub statement_timeout: Option<Duration>,
    /// `Some(false)`: joins never spread hot keys (to compare; on by default).
    pub skew_join: Option<bool>,
}

impl SessionSettings {
    /// When a statement starting now must end, under `statement_timeout`.
    pub fn deadline(&self) -> Option<Instant> {
        self.statement_timeout
            .map(|timeout| Instant::now() + timeout)
    }

    /// These settings for a query that must end by `deadline` (a step of a statement
    /// that started earlier): its timeout is what is left.
    pub fn until(&self, deadline: Option<Instant>) -> SessionSettings {
        SessionSettings {
            statement_timeout: deadline
                .map(|deadline| deadline.saturating_duration_since(Instant::now())),
            ..*self
        }
    }
}

/// What the server reports to clients at start-up (`ParameterStatus`) and for
/// `SHOW`: fixed, since Percore speaks one encoding, one date style and UTC.
pub const SERVER_PARAMETERS: [(&str, &str); 7] = [
    ("server_version", "16.0 (Percore)"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("TimeZone", "UTC"),
    ("integer_datetimes", "on"),
    ("standard_conforming_strings", "on"),
];

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
            STATEMENT_TIMEOUT => {
                self.statement_timeout = match value {
                    None => None,
                    Some(text) => {
                        let timeout = parse_duration(text).ok_or_else(|| {
                            QueryError::new(
                                ErrorCode::Semantic,
                                format!(
                                    "{STATEMENT_TIMEOUT} takes a duration such as 5s, 500ms \
                                     or 2min (a number is milliseconds; 0 turns it off), \
                                     not {text}"
                                ),
                            )
                        })?;
                        (!timeout.is_zero()).then_some(timeout)
                    }
                };
                Ok(match self.statement_timeout {
                    Some(timeout) => format!("{STATEMENT_TIMEOUT} = {timeout:?}"),
                    None => format!("{STATEMENT_TIMEOUT} = 0 (none)"),
                })
            }
            SKEW_JOIN => {
                self.skew_join = value.map(parse_bool).transpose()?;
                Ok(format!("{SKEW_JOIN} = {}", on_off(self.spreads_hot_keys())))
            }
            other if POSTGRES_CLIENT_SETTINGS.contains(&other) => {
                Ok(format!("{other}: accepted; Percore does not use it"))
            }
            other => Err(QueryError::new(
                ErrorCode::UndefinedObject,
                format!(
                    "unknown setting {other}; known: {MEMORY_PER_CORE}, {STATEMENT_TIMEOUT}, \
                     {SKEW_JOIN}"
                ),
            )),
        }
    }
}

impl SessionSettings {
    /// Whether joins may spread hot keys at run time (`percore.skew_join`).
    pub fn spreads_hot_keys(&self) -> bool {
        self.skew_join.unwrap_or(true)
    }

    /// `SHOW name`: the value as text.
    ///
    /// # Errors
    /// A name that is not a setting.
    pub fn show(&self, name: &str) -> QueryResult<String> {
        self.all()
            .into_iter()
            .find(|(known, _, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, value, _)| value)
            .ok_or_else(|| {
                QueryError::new(
                    ErrorCode::UndefinedObject,
                    format!(
                        "unrecognized configuration parameter \"{name}\" (SHOW ALL lists them)"
                    ),
                )
            })
    }

    /// `SHOW ALL`: every setting's name, value and what it does.
    pub fn all(&self) -> Vec<(String, String, String)> {
        let mut rows =
            vec![
            (
                MEMORY_PER_CORE.to_string(),
                self.memory_per_core
                    .map_or_else(|| "default".to_string(), |bytes| ByteSize(bytes).to_string()),
                "the most one query of this session reserves per core (default: the node's \
                 budget per core)"
                    .to_string(),
            ),
            (
                STATEMENT_TIMEOUT.to_string(),
                self.statement_timeout
                    .map_or_else(|| "0".to_string(), |timeout| format!("{timeout:?}")),
                "a statement running longer is cancelled on every node with 57014 (0: none)"
                    .to_string(),
            ),
            (
                SKEW_JOIN.to_string(),
                on_off(self.spreads_hot_keys()).to_string(),
                "a join whose probe side has hot keys spreads their rows over every partition \
                 and replicates their build rows (off: every row by hash)"
                    .to_string(),
            ),
            (
                "transaction_isolation".to_string(),
                "read committed".to_string(),
                "accepted for drivers; queries read loaded data that does not change under them"
                    .to_string(),
            ),
        ];
        rows.extend(SERVER_PARAMETERS.iter().map(|(name, value)| {
            (
                (*name).to_string(),
                (*value).to_string(),
                "reported to clients; fixed".to_string(),
            )
        }));
        rows
    }
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

/// PostgreSQL's boolean spellings.
fn parse_bool(text: &str) -> QueryResult<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "t" | "y" => Ok(true),
        "off" | "false" | "no" | "0" | "f" | "n" => Ok(false),
        _ => Err(QueryError::new(
            ErrorCode::Semantic,
            format!("a boolean setting takes on or off, not {text}"),
        )),
    }
}

/// PostgreSQL's duration spellings: `500` (milliseconds), `500ms`, `5s`, `2min`,
/// `1h`, `1d`, with or without a space.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let millis = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => 1.0,
        "s" | "sec" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let millis = number * millis;
    (millis.is_finite() && (0.0..1e15).contains(&millis))
        .then(|| Duration::from_micros((millis * 1000.0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_gives_each_setting_and_all_of_them() {
        let mut settings = SessionSettings::default();
        assert_eq!(settings.show("statement_timeout").unwrap(), "0");
        settings.set(STATEMENT_TIMEOUT, Some("5s")).unwrap();
        settings.set(MEMORY_PER_CORE, Some("64MiB")).unwrap();
        assert_eq!(settings.show("STATEMENT_TIMEOUT").unwrap(), "5s");
        assert_eq!(settings.show(MEMORY_PER_CORE).unwrap(), "64.0 MiB");
        assert_eq!(settings.show("server_version").unwrap(), "16.0 (Percore)");
        assert_eq!(settings.show("datestyle").unwrap(), "ISO, MDY");
        let error = settings.show("work_mem").unwrap_err();
        assert!(error.message.contains("work_mem"), "{error}");
        assert_eq!(error.code.sqlstate(), "42704");
        let all = settings.all();
        assert_eq!(all.len(), 4 + SERVER_PARAMETERS.len());
        assert!(all
            .iter()
            .all(|(_, _, description)| !description.is_empty()));
    }

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

    #[test]
    fn statement_timeouts_take_postgresql_durations() {
        let mut settings = SessionSettings::default();
        for (text, millis) in [
            ("250", 250),
            ("5s", 5000),
            ("2 min", 120_000),
            ("1.5s", 1500),
        ] {
            settings.set(STATEMENT_TIMEOUT, Some(text)).unwrap();
            assert_eq!(
                settings.statement_timeout,
                Some(Duration::from_millis(millis))
            );
        }
        settings.set(STATEMENT_TIMEOUT, Some("0")).unwrap();
        assert_eq!(settings.statement_timeout, None);
        assert!(settings.set(STATEMENT_TIMEOUT, Some("soon")).is_err());
        settings.set(SKEW_JOIN, Some("off")).unwrap();
        assert!(!settings.spreads_hot_keys());
        assert!(settings.set(SKEW_JOIN, Some("maybe")).is_err());
        settings.set(SKEW_JOIN, None).unwrap();
        assert!(settings.spreads_hot_keys());
        assert!(settings.set(STATEMENT_TIMEOUT, Some("5 parsecs")).is_err());
    }
}
