//! The nested-loop join under a memory budget: the buffered right side is reserved
//! as it arrives; a right side beyond the budget fails the query with a clear error
//! (the planner gives this join small inputs only). Left batches stream through and
//! their output comes out in bounded pieces.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;

use super::exchange::TaskInputs;
use super::operator_memory::OperatorMemory;
use super::query::QueryState;
use super::stream::{build_stream, BatchStream, BoxFuture, Stream, StreamContext};
use crate::error::TaskResult;
use crate::memory::size::batch_bytes;
use crate::operators::nested_loop::NestedLoopJoin;
use crate::operators::output_limit::OutputLimit;
use crate::plan::node::NestedLoopJoinNode;

pub(crate) struct NestedLoopStream {
    right: Option<Stream>,
    left: Option<Stream>,
    node: NestedLoopJoinNode,
    join: Option<NestedLoopJoin>,
    memory: OperatorMemory,
    query: Arc<QueryState>,
    limit: OutputLimit,
}

impl NestedLoopStream {
    /// `name` is the operator as EXPLAIN shows it.
    pub fn new(
        node: &NestedLoopJoinNode,
        name: &str,
        inputs: &mut TaskInputs,
        context: &StreamContext,
    ) -> TaskResult<Self> {
        Ok(NestedLoopStream {
            left: Some(build_stream(&node.left, inputs, context)?),
            right: Some(build_stream(&node.right, inputs, context)?),
            node: node.clone(),
            join: None,
            memory: OperatorMemory::new(name, context),
            query: Arc::clone(&context.query),
            limit: context.config.output_limit(),
        })
    }

    /// Reads the right side whole, under the reservation.
    async fn build(&mut self, mut right: Stream) -> TaskResult<NestedLoopJoin> {
        let mut batches = Vec::new();
        while let Some(batch) = right.next().await? {
            self.query.check_cancelled()?;
            // Held twice while the join concatenates it into one batch.
            let bytes = 2 * batch_bytes(&batch);
            if !self.memory.grow_first(bytes) {
                return Err(self.memory.exhausted(bytes));
            }
            batches.push(batch);
            glommio::yield_if_needed().await;
        }
        let join = NestedLoopJoin::try_new(&self.node, &batches, self.limit)?;
        let held = batches.iter().map(batch_bytes).sum();
        drop(batches);
        self.memory.reservation.try_resize(held);
        Ok(join)
    }
}

impl BatchStream for NestedLoopStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            if let Some(right) = self.right.take() {
                self.join = Some(self.build(right).await?);
            }
            let Some(join) = self.join.as_mut() else {
                return Ok(None);
            };
            loop {
                self.query.check_cancelled()?;
                if let Some(output) = join.next_output()? {
                    if output.num_rows() > 0 {
                        return Ok(Some(output));
                    }
                    glommio::yield_if_needed().await;
                    continue;
                }
                let next = match self.left.as_mut() {
                    Some(left) => left.next().await?,
                    None => None,
                };
                match next {
                    Some(batch) => join.push(batch),
                    None => {
                        // A FULL join's unmatched right rows come last.
                        let left_schema = self.node.left.schema();
                        if let Some(unmatched) = join.unmatched_right(&left_schema)? {
                            self.left = None;
                            return Ok(Some(unmatched));
                        }
                        // Done: the right side's memory goes back at once.
                        self.left = None;
                        self.join = None;
                        self.memory.reservation.free();
                        return Ok(None);
                    }
                }
            }
        })
    }
}
