//! UNNEST, a batch of input at a time: each row once per element of its longest
//! list, shorter lists padded with NULL, the other columns repeated. Output comes
//! at most `batch_rows` rows at a time, generated from a cursor into the input
//! batch, so one row with a long list never becomes one huge batch or index.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, GenericListArray, OffsetSizeTrait, RecordBatch, UInt32Array,
    UInt64Array,
};
use arrow::compute::take;
use arrow::datatypes::DataType;
use datafusion_common::NullHandling;

use super::stream::{BatchStream, BoxFuture, Stream};
use crate::error::{TaskError, TaskResult};
use crate::plan::node::UnnestNode;

pub(crate) struct UnnestStream {
    input: Stream,
    node: UnnestNode,
    batch_rows: usize,
    current: Option<Unnesting>,
}

/// An input batch being unnested, and how far output has got through it.
struct Unnesting {
    batch: RecordBatch,
    lists: Vec<Elements>,
    /// Output rows of each input row.
    counts: Vec<u64>,
    row: usize,
    element: u64,
}

/// One unnested column of a batch: its elements, and where each row's lie.
struct Elements {
    values: ArrayRef,
    starts: Vec<u64>,
    /// 0 for a NULL list.
    lengths: Vec<u64>,
    nulls: Vec<bool>,
}

impl UnnestStream {
    pub fn new(input: Stream, node: &UnnestNode, batch_rows: usize) -> Self {
        UnnestStream {
            input,
            node: node.clone(),
            batch_rows: batch_rows.max(1),
            current: None,
        }
    }

    fn start(&self, batch: RecordBatch) -> TaskResult<Unnesting> {
        let lists = self
            .node
            .lists
            .iter()
            .map(|&column| elements(batch.column(column)))
            .collect::<TaskResult<Vec<_>>>()?;
        let counts = (0..batch.num_rows())
            .map(|row| {
                let longest = lists
                    .iter()
                    .map(|list| list.lengths[row])
                    .max()
                    .unwrap_or(0);
                match (longest, &self.node.null_handling) {
                    (0, NullHandling::Drop) => 0,
                    (0, NullHandling::Preserve) => {
                        u64::from(lists.iter().any(|list| list.nulls[row]))
                    }
                    (0, NullHandling::PreserveAndExpandEmpty) => 1,
                    (longest, _) => longest,
                }
            })
            .collect();
        Ok(Unnesting {
            batch,
            lists,
            counts,
            row: 0,
            element: 0,
        })
    }

    /// The next output batch of the batch being unnested, or None when it is done.
    fn next_output(&mut self) -> TaskResult<Option<RecordBatch>> {
        let Some(unnesting) = self.current.as_mut() else {
            return Ok(None);
        };
        let mut rows = Vec::with_capacity(self.batch_rows);
        let mut ordinals = Vec::with_capacity(self.batch_rows);
        while rows.len() < self.batch_rows && unnesting.row < unnesting.counts.len() {
            let remaining = unnesting.counts[unnesting.row] - unnesting.element;
            let take_now = remaining.min((self.batch_rows - rows.len()) as u64);
            for ordinal in unnesting.element..unnesting.element + take_now {
                rows.push(unnesting.row as u32);
                ordinals.push(ordinal);
            }
            unnesting.element += take_now;
            if unnesting.element == unnesting.counts[unnesting.row] {
                unnesting.row += 1;
                unnesting.element = 0;
            }
        }
        if rows.is_empty() {
            self.current = None;
            return Ok(None);
        }
        let repeated = UInt32Array::from(rows);
        let unnested = unnesting
            .lists
            .iter()
            .map(|list| {
                let indices: UInt64Array = repeated
                    .values()
                    .iter()
                    .zip(&ordinals)
                    .map(|(&row, &ordinal)| {
                        let row = row as usize;
                        (ordinal < list.lengths[row]).then(|| list.starts[row] + ordinal)
                    })
                    .collect();
                take(list.values.as_ref(), &indices, None)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let columns = self
            .node
            .outputs
            .iter()
            .map(
                |&source| match self.node.lists.iter().position(|&l| l == source) {
                    Some(list) => Ok(Arc::clone(&unnested[list])),
                    None => take(unnesting.batch.column(source).as_ref(), &repeated, None),
                },
            )
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.node.schema),
            columns,
        )?))
    }
}

impl BatchStream for UnnestStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            loop {
                if let Some(batch) = self.next_output()? {
                    return Ok(Some(batch));
                }
                let Some(batch) = self.input.next().await? else {
                    return Ok(None);
                };
                self.current = Some(self.start(batch)?);
            }
        })
    }
}

fn elements(column: &ArrayRef) -> TaskResult<Elements> {
    let rows = column.len();
    let nulls: Vec<bool> = (0..rows).map(|row| column.is_null(row)).collect();
    let (values, starts, lengths): (ArrayRef, Vec<u64>, Vec<u64>) = match column.data_type() {
        DataType::List(_) => list_bounds(column.as_list::<i32>()),
        DataType::LargeList(_) => list_bounds(column.as_list::<i64>()),
        DataType::FixedSizeList(_, size) => {
            let size = *size as u64;
            (
                Arc::clone(column.as_fixed_size_list().values()),
                (0..rows as u64).map(|row| row * size).collect(),
                vec![size; rows],
            )
        }
        other => {
            return Err(TaskError::internal(format!(
                "UNNEST of a {other} column, not a list"
            )))
        }
    };
    // A NULL list has no elements, whatever its offsets say.
    let lengths = lengths
        .into_iter()
        .zip(&nulls)
        .map(|(length, &null)| if null { 0 } else { length })
        .collect();
    Ok(Elements {
        values,
        starts,
        lengths,
        nulls,
    })
}

/// A list's element values, and where each row's elements start and how many.
fn list_bounds<O: OffsetSizeTrait>(list: &GenericListArray<O>) -> (ArrayRef, Vec<u64>, Vec<u64>) {
    let offsets = list.value_offsets();
    let starts = offsets[..list.len()]
        .iter()
        .map(|start| start.as_usize() as u64)
        .collect();
    let lengths = offsets
        .windows(2)
        .map(|pair| (pair[1] - pair[0]).as_usize() as u64)
        .collect();
    (Arc::clone(list.values()), starts, lengths)
}
