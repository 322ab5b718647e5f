//! Hash join kernels: a table over the build side ([`JoinTable`]) and a resumable
//! probe over it ([`HashJoinProbe`]). `exec::join` runs them under a memory budget.

mod key_presence;
mod packed_keys;
mod probe;
mod table;

pub(crate) use key_presence::KeyPresence;
pub use probe::{HashJoinProbe, ProbeMode};
pub use table::JoinTable;

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::batch_with_rows;
use crate::error::TaskResult;

/// A mark join's output for `batch`: its rows and columns, then whether each row
/// `matched`, under `schema` (the batch's fields and the mark).
pub(crate) fn with_mark(
    batch: &RecordBatch,
    matched: &[bool],
    schema: &SchemaRef,
) -> TaskResult<RecordBatch> {
    let mark: BooleanArray = matched.iter().map(|&m| Some(m)).collect();
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(mark) as ArrayRef);
    batch_with_rows(schema, columns, batch.num_rows())
}
