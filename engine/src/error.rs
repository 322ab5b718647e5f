//! Errors, typed per boundary: a [`TaskError`] is raised inside one task (an operator
//! failed or panicked), the [`QueryError`] is what the user sees. Context is added as an
//! error moves up; it is never flattened to a bare string before it reaches the user.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What went wrong, coarsely, in the SQLSTATE spirit: clients branch on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The SQL text could not be parsed (SQLSTATE 42601).
    Syntax,
    /// A table, column or function is unknown, or types do not fit (SQLSTATE 42P01/42703).
    Semantic,
    /// A setting `SET` or `SHOW` names does not exist (SQLSTATE 42704).
    UndefinedObject,
    /// No function of that name takes arguments of these types (SQLSTATE 42883).
    UndefinedFunction,
    /// Operands whose types no rule brings together, as `true BETWEEN 0 AND 1`
    /// (SQLSTATE 42804).
    DatatypeMismatch,
    /// Valid SQL that Percore does not run yet (SQLSTATE 0A000).
    Unsupported,
    /// Data made an expression fail: a bad cast, a value that does not parse
    /// (SQLSTATE 22000).
    DataException,
    /// Division by zero (SQLSTATE 22012).
    DivisionByZero,
    /// A date or time built from fields that name none (SQLSTATE 22008).
    DatetimeFieldOverflow,
    /// Text that does not read as a value of the type it is cast to (SQLSTATE 22P02).
    InvalidTextRepresentation,
    /// A result too large for its type (SQLSTATE 22003).
    NumericOutOfRange,
    /// A scalar subquery returned more than one row (SQLSTATE 21000).
    CardinalityViolation,
    /// A recursive query not of the form `non-recursive term UNION [ALL] recursive
    /// term`, or referring to itself more than once (SQLSTATE 42P19).
    InvalidRecursion,
    /// The query was cancelled (SQLSTATE 57014).
    Cancelled,
    /// A limit was hit: SQL size, nesting, planning deadline, memory (SQLSTATE 53000).
    ResourcesExhausted,
    /// The statement is too complex to plan: its text nests or chains expressions
    /// beyond a limit (SQLSTATE 54001, as PostgreSQL's "statement too complex").
    TooComplex,
    /// A statement in a transaction that already failed (SQLSTATE 25P02): only
    /// COMMIT or ROLLBACK end it.
    FailedTransaction,
    /// A statement that writes, inside a transaction Percore cannot roll back
    /// (SQLSTATE 25006).
    ReadOnlyTransaction,
    /// Another statement holds what this one needs (a DDL statement running on the
    /// cluster); retrying later succeeds (SQLSTATE 55P03, lock not available).
    Busy,
    /// A node of the cluster became unreachable or is shutting down (SQLSTATE 08006).
    NodeLost,
    /// An option given a value it cannot take (SQLSTATE 22023).
    InvalidParameterValue,
    /// A bug in Percore: a broken invariant or a caught panic (SQLSTATE XX000).
    Internal,
}

impl ErrorCode {
    /// The SQLSTATE class a PostgreSQL client would see for this code.
    pub fn sqlstate(self) -> &'static str {
        match self {
            ErrorCode::Syntax => "42601",
            ErrorCode::Semantic => "42P01",
            ErrorCode::UndefinedObject => "42704",
            ErrorCode::UndefinedFunction => "42883",
            ErrorCode::DatatypeMismatch => "42804",
            ErrorCode::Unsupported => "0A000",
            ErrorCode::DataException => "22000",
            ErrorCode::DivisionByZero => "22012",
            ErrorCode::DatetimeFieldOverflow => "22008",
            ErrorCode::InvalidTextRepresentation => "22P02",
            ErrorCode::NumericOutOfRange => "22003",
            ErrorCode::CardinalityViolation => "21000",
            ErrorCode::InvalidRecursion => "42P19",
            ErrorCode::Cancelled => "57014",
            ErrorCode::ResourcesExhausted => "53000",
            ErrorCode::TooComplex => "54001",
            ErrorCode::FailedTransaction => "25P02",
            ErrorCode::ReadOnlyTransaction => "25006",
            ErrorCode::Busy => "55P03",
            ErrorCode::NodeLost => "08006",
            ErrorCode::InvalidParameterValue => "22023",
            ErrorCode::Internal => "XX000",
        }
    }

    /// The code for a SQLSTATE this module produces (errors crossing between nodes
    /// travel as SQLSTATE and message); anything else is internal.
    pub fn from_sqlstate(sqlstate: &str) -> ErrorCode {
        const ALL: [ErrorCode; 22] = [
            ErrorCode::Syntax,
            ErrorCode::Semantic,
            ErrorCode::UndefinedObject,
            ErrorCode::UndefinedFunction,
            ErrorCode::DatatypeMismatch,
            ErrorCode::Unsupported,
            ErrorCode::DataException,
            ErrorCode::DivisionByZero,
            ErrorCode::DatetimeFieldOverflow,
            ErrorCode::InvalidTextRepresentation,
            ErrorCode::NumericOutOfRange,
            ErrorCode::CardinalityViolation,
            ErrorCode::InvalidRecursion,
            ErrorCode::Cancelled,
            ErrorCode::ResourcesExhausted,
            ErrorCode::TooComplex,
            ErrorCode::FailedTransaction,
            ErrorCode::ReadOnlyTransaction,
            ErrorCode::Busy,
            ErrorCode::NodeLost,
            ErrorCode::InvalidParameterValue,
            ErrorCode::Internal,
        ];
        ALL.into_iter()
            .find(|code| code.sqlstate() == sqlstate)
            .unwrap_or(ErrorCode::Internal)
    }
}

/// The text a panic was raised with, for the error that reports it.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// Where in the cluster a task ran: enough to find its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLocation {
    pub node: usize,
    pub core: usize,
    pub stage: usize,
    pub partition: usize,
}

impl fmt::Display for TaskLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node {} core {}, stage {} partition {}",
            self.node, self.core, self.stage, self.partition
        )
    }
}

/// Where an error was raised: the task, and the operator whose work failed (none
/// when the task's own plumbing did, such as sending its rows). It crosses nodes
/// with the error, in control messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorOrigin {
    pub location: TaskLocation,
    pub operator: Option<String>,
}

impl fmt::Display for ErrorOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.location)?;
        match &self.operator {
            Some(operator) => write!(f, ", operator {operator}"),
            None => Ok(()),
        }
    }
}

/// An error raised while one task ran: an operator failed or panicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    pub code: ErrorCode,
    pub message: String,
    pub location: Option<TaskLocation>,
    /// The operator that failed, set by the innermost operator the error left.
    pub operator: Option<String>,
}

impl TaskError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        TaskError {
            code,
            message: message.into(),
            location: None,
            operator: None,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        TaskError::new(ErrorCode::Internal, message)
    }

    /// Attaches the task's location, keeping a location set closer to the failure.
    pub fn at(mut self, location: TaskLocation) -> Self {
        self.location.get_or_insert(location);
        self
    }

    /// Names the operator the error left, keeping one named closer to the failure.
    pub fn in_operator(mut self, operator: impl FnOnce() -> String) -> Self {
        if self.operator.is_none() {
            self.operator = Some(operator());
        }
        self
    }

    fn origin(&self) -> Option<ErrorOrigin> {
        self.location.map(|location| ErrorOrigin {
            location,
            operator: self.operator.clone(),
        })
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.origin() {
            Some(origin) => write!(f, "{} (at {origin})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The code for an Arrow error: what the data did, as PostgreSQL would name it.
fn arrow_code(error: &arrow::error::ArrowError) -> ErrorCode {
    use arrow::error::ArrowError;
    if invalid_text(error).is_some() {
        return ErrorCode::InvalidTextRepresentation;
    }
    match error {
        ArrowError::DivideByZero => ErrorCode::DivisionByZero,
        ArrowError::ArithmeticOverflow(_) => ErrorCode::NumericOutOfRange,
        // Arrow says "Can't cast value 2147483648 to type Int32" for a number too
        // large for the target, and "Int64Array overflow on abs(..)".
        ArrowError::CastError(message)
            if message.contains("out of range") || message.starts_with("Can't cast value") =>
        {
            ErrorCode::NumericOutOfRange
        }
        ArrowError::ComputeError(message) if message.contains("overflow") => {
            ErrorCode::NumericOutOfRange
        }
        // A decimal cast: "100000 is too large to store in a Decimal128 of precision 5".
        ArrowError::InvalidArgumentError(message) if message.contains("to store in a Decimal") => {
            ErrorCode::NumericOutOfRange
        }
        ArrowError::CastError(_)
        | ArrowError::ParseError(_)
        | ArrowError::ComputeError(_)
        | ArrowError::InvalidArgumentError(_) => ErrorCode::DataException,
        ArrowError::NotYetImplemented(_) => ErrorCode::Unsupported,
        _ => ErrorCode::Internal,
    }
}

/// The message for an Arrow error: PostgreSQL's words where they are plainer than
/// Arrow's ("division by zero", not "Arrow error: Divide by zero error").
fn arrow_message(error: &arrow::error::ArrowError) -> Option<String> {
    if let Some((value, type_name)) = invalid_text(error) {
        return Some(format!(
            "invalid input syntax for type {type_name}: \"{value}\""
        ));
    }
    match error {
        arrow::error::ArrowError::DivideByZero => Some("division by zero".to_string()),
        _ => None,
    }
}

/// The text and PostgreSQL's name of the type, for a cast of text that did not
/// parse (Arrow: "Cannot cast string 'abc' to value of Int32 type").
fn invalid_text(error: &arrow::error::ArrowError) -> Option<(&str, &'static str)> {
    use arrow::error::ArrowError;
    let (value, arrow_type) = match error {
        ArrowError::CastError(message) => {
            let rest = message
                .strip_prefix("Cannot cast string '")
                .or_else(|| message.strip_prefix("Cannot cast value '"))?;
            let (value, arrow_type) = rest.rsplit_once("' to value of ")?;
            (value, arrow_type.strip_suffix(" type")?)
        }
        ArrowError::ParseError(message) => {
            let rest = message.strip_prefix("Error parsing timestamp from '")?;
            (rest.rsplit_once("': ")?.0, "Timestamp")
        }
        _ => return None,
    };
    let type_name = [
        ("Int8", "smallint"),
        ("Int16", "smallint"),
        ("Int32", "integer"),
        ("Int64", "bigint"),
        ("UInt", "bigint"),
        ("Float16", "real"),
        ("Float32", "real"),
        ("Float64", "double precision"),
        ("Decimal", "numeric"),
        ("Boolean", "boolean"),
        ("Date", "date"),
        ("Time32", "time"),
        ("Time64", "time"),
        ("Timestamp", "timestamp"),
    ]
    .into_iter()
    .find(|(arrow, _)| arrow_type.starts_with(arrow))?
    .1;
    Some((value, type_name))
}

impl From<arrow::error::ArrowError> for TaskError {
    fn from(error: arrow::error::ArrowError) -> Self {
        let message = arrow_message(&error).unwrap_or_else(|| error.to_string());
        TaskError::new(arrow_code(&error), message)
    }
}

impl std::error::Error for TaskError {}

/// Our own functions raise a TaskError through DataFusion to keep its code (see
/// `From<DataFusionError> for TaskError`).
impl From<TaskError> for datafusion_common::DataFusionError {
    fn from(error: TaskError) -> Self {
        datafusion_common::DataFusionError::External(Box::new(error))
    }
}

/// The message of DataFusion's root error: Arrow's in PostgreSQL's words where we
/// know them, else DataFusion's own text.
fn root_message(root: &datafusion_common::DataFusionError) -> String {
    match root {
        datafusion_common::DataFusionError::ArrowError(inner, _) => arrow_message(inner),
        _ => None,
    }
    .unwrap_or_else(|| root.to_string())
}

impl From<datafusion_common::DataFusionError> for TaskError {
    fn from(error: datafusion_common::DataFusionError) -> Self {
        use datafusion_common::DataFusionError as E;
        let root = error.find_root();
        // Our own functions raise a TaskError through DataFusion to keep its code.
        if let E::External(inner) = root {
            if let Some(task) = inner.downcast_ref::<TaskError>() {
                return task.clone();
            }
        }
        let code = match root {
            E::NotImplemented(_) => ErrorCode::Unsupported,
            E::ResourcesExhausted(_) => ErrorCode::ResourcesExhausted,
            E::Internal(_) => ErrorCode::Internal,
            E::ArrowError(inner, _) if arrow_code(inner) != ErrorCode::Internal => {
                arrow_code(inner)
            }
            _ => ErrorCode::DataException,
        };
        TaskError::new(code, root_message(root))
    }
}

/// The error a user sees for a query: a code, a message, and for an error raised
/// by a task, where in the cluster it was raised (kept apart from the message, as
/// PostgreSQL keeps its context apart, and across nodes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub code: ErrorCode,
    pub message: String,
    pub origin: Option<ErrorOrigin>,
}

impl QueryError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        QueryError {
            code,
            message: message.into(),
            origin: None,
        }
    }

    pub fn unsupported(what: impl fmt::Display) -> Self {
        QueryError::new(ErrorCode::Unsupported, format!("unsupported: {what}"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        QueryError::new(ErrorCode::Internal, message)
    }

    pub fn with_origin(mut self, origin: Option<ErrorOrigin>) -> Self {
        self.origin = origin;
        self
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ERROR {}: {}", self.code.sqlstate(), self.message)?;
        match &self.origin {
            Some(origin) => write!(f, "\nCONTEXT: {origin}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for QueryError {}

impl From<TaskError> for QueryError {
    fn from(error: TaskError) -> Self {
        let origin = error.origin();
        QueryError::new(error.code, error.message).with_origin(origin)
    }
}

/// A query's error entering a task's world (a peer's failure failing this node's
/// tasks) keeps where it was raised.
impl From<QueryError> for TaskError {
    fn from(error: QueryError) -> Self {
        let (location, operator) = error.origin.map_or((None, None), |origin| {
            (Some(origin.location), origin.operator)
        });
        TaskError {
            code: error.code,
            message: error.message,
            location,
            operator,
        }
    }
}

impl From<arrow::error::ArrowError> for QueryError {
    fn from(error: arrow::error::ArrowError) -> Self {
        QueryError::from(TaskError::from(error))
    }
}

/// Planning errors come from DataFusion's front end; sort them into user-facing codes.
impl From<datafusion_common::DataFusionError> for QueryError {
    fn from(error: datafusion_common::DataFusionError) -> Self {
        use datafusion_common::DataFusionError as E;
        let root = error.find_root();
        let code = match root {
            E::SQL(..) => ErrorCode::Syntax,
            E::NotImplemented(_) => ErrorCode::Unsupported,
            E::Plan(_) | E::SchemaError(..) => ErrorCode::Semantic,
            E::ArrowError(inner, _) if arrow_code(inner) != ErrorCode::Internal => {
                arrow_code(inner)
            }
            E::ArrowError(..) | E::Execution(_) => ErrorCode::DataException,
            E::ResourcesExhausted(_) => ErrorCode::ResourcesExhausted,
            E::Internal(message) => {
                if let Some(message) = no_matching_signature(message) {
                    return QueryError::new(ErrorCode::UndefinedFunction, message);
                }
                // Type coercion's complaints about the user's operand types.
                if message.contains("coerce") {
                    return QueryError::new(ErrorCode::DatatypeMismatch, message.clone());
                }
                ErrorCode::Internal
            }
            _ => ErrorCode::Internal,
        };
        QueryError::new(code, root_message(root))
    }
}

/// DataFusion reports a call whose argument types no signature of the function
/// takes as an internal error; it is the user's, as PostgreSQL's 42883. The message
/// keeps the first candidate's complaint, not all of them.
fn no_matching_signature(message: &str) -> Option<String> {
    let (head, candidates) = message.split_once(" failed to match any signature")?;
    let first = candidates
        .trim_start_matches(", errors: ")
        .trim_start_matches("Error during planning: ")
        .split(",Error during planning: ")
        .next()
        .unwrap_or_default()
        .trim_end_matches('.');
    Some(format!(
        "{head} takes no arguments of these types ({first})"
    ))
}

pub type QueryResult<T> = Result<T, QueryError>;
pub type TaskResult<T> = Result<T, TaskError>;
