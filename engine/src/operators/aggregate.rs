//! Hash aggregation. Group keys map to dense group indices (`group_table`); aggregate
//! state lives in DataFusion's `GroupsAccumulator`s, one per aggregate, indexed by group.

use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion_expr::{EmitTo, GroupsAccumulator};
use datafusion_functions_aggregate_common::aggregate::groups_accumulator::GroupsAccumulatorAdapter;
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;
use datafusion_physical_expr::expressions::Column;
use datafusion_physical_expr::PhysicalExpr;

use super::evaluate;
use super::group_table::GroupTable;
use crate::error::TaskResult;
use crate::plan::node::{AggregateMode, AggregateNode, Node};

/// Accumulates batches into groups; `finish` emits one row per group.
pub struct HashAggregator {
    mode: AggregateMode,
    group_exprs: Vec<Arc<dyn PhysicalExpr>>,
    aggregates: Vec<Arc<AggregateFunctionExpr>>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    /// For `Partial` and `Single`: what each aggregate reads from a row, its
    /// arguments and then its ORDER BY keys (accumulators of ordered aggregates
    /// keep the keys beside the values to sort and merge them).
    inputs: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    /// For `Final` and `Merge`: the input columns holding each aggregate's partial
    /// state.
    state_columns: Vec<std::ops::Range<usize>>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    groups: GroupTable,
    schema: SchemaRef,
    input_schema: SchemaRef,
    /// Whether any batch reached the accumulators (a global aggregate needs them to
    /// have seen its one group even when no row arrived).
    received_input: bool,
    batch_rows: usize,
    /// Groups already emitted (they leave the accumulators from the front).
    emitted: usize,
}

impl HashAggregator {
    pub fn try_new(node: &AggregateNode, batch_rows: usize) -> TaskResult<Self> {
        let state_columns = node
            .state_offsets
            .iter()
            .zip(&node.aggregates)
            .map(|(&offset, aggregate)| Ok(offset..offset + aggregate.state_fields()?.len()))
            .collect::<TaskResult<Vec<_>>>()?;
        let global = node.group_exprs.is_empty();
        // A global aggregate uses plain accumulators (through the adapter): DataFusion's
        // groups accumulators assume every group arrives with a row, and the one group of
        // a global aggregate may see none (SUM of nothing is NULL, not 0).
        let accumulators = node
            .aggregates
            .iter()
            .map(|aggregate| -> TaskResult<Box<dyn GroupsAccumulator>> {
                if aggregate.groups_accumulator_supported() && !global {
                    Ok(aggregate.create_groups_accumulator()?)
                } else {
                    let aggregate = Arc::clone(aggregate);
                    Ok(Box::new(GroupsAccumulatorAdapter::new(move || {
                        aggregate.create_accumulator()
                    })))
                }
            })
            .collect::<TaskResult<Vec<_>>>()?;
        let mut aggregator = HashAggregator {
            mode: node.mode,
            group_exprs: node.group_exprs.clone(),
            aggregates: node.aggregates.clone(),
            filters: node.filters.clone(),
            inputs: node.aggregates.iter().map(|a| inputs(a)).collect(),
            state_columns,
            accumulators,
            // A global aggregate has its one group even when no row arrives.
            groups: GroupTable::new(global),
            schema: Arc::clone(&node.schema),
            input_schema: node.input.schema(),
            received_input: false,
            batch_rows,
            emitted: 0,
        };
        match (&node.seed_groups, node.mode) {
            (Some(seed), AggregateMode::Partial | AggregateMode::Single) => {
                let none = BooleanArray::from(vec![false; seed.num_rows()]);
                aggregator.accumulate_filtered(seed, Some(&none))?;
            }
            // Seeds of merged states hold the states of no rows: merging them
            // changes nothing but the groups that exist.
            (Some(seed), AggregateMode::Merge) => aggregator.accumulate(seed)?,
            _ => {}
        }
        Ok(aggregator)
    }

    pub fn push(&mut self, batch: &RecordBatch) -> TaskResult<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.accumulate(batch)
    }

    fn accumulate(&mut self, batch: &RecordBatch) -> TaskResult<()> {
        self.accumulate_filtered(batch, None)
    }

    /// Accumulates `batch`; with `only`, just the rows it selects reach the
    /// aggregates, though every row's group is created.
    fn accumulate_filtered(
        &mut self,
        batch: &RecordBatch,
        only: Option<&BooleanArray>,
    ) -> TaskResult<()> {
        self.received_input = true;
        let keys = evaluate(&self.group_exprs, batch)?;
        self.groups.assign(&keys, batch.num_rows())?;
        let group_count = self.groups.count();
        for (aggregate_idx, accumulator) in self.accumulators.iter_mut().enumerate() {
            match self.mode {
                AggregateMode::Partial | AggregateMode::Single => {
                    let values = evaluate(&self.inputs[aggregate_idx], batch)?;
                    // The accumulator skips rows whose filter is false (NULL made false).
                    let filter = match (&self.filters[aggregate_idx], only) {
                        (Some(filter), Some(only)) => Some(arrow::compute::and(
                            &super::evaluate_mask(filter, batch)?,
                            only,
                        )?),
                        (Some(filter), None) => Some(super::evaluate_mask(filter, batch)?),
                        (None, only) => only.cloned(),
                    };
                    accumulator.update_batch(
                        &values,
                        self.groups.indices(),
                        filter.as_ref(),
                        group_count,
                    )?;
                }
                AggregateMode::Final | AggregateMode::Merge => {
                    let states = &batch.columns()[self.state_columns[aggregate_idx].clone()];
                    accumulator.merge_batch(states, self.groups.indices(), group_count)?;
                }
            }
        }
        Ok(())
    }

    /// Emits every group, in batches of at most `batch_rows` rows.
    pub fn finish(mut self) -> TaskResult<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        while let Some(batch) = self.emit_next()? {
            batches.push(batch);
        }
        Ok(batches)
    }

    /// The next batch of at most `batch_rows` groups: final values, or for a partial
    /// aggregate the partial states. Emitting a batch at a time keeps the output's
    /// memory to one batch beside the state (which shrinks as groups go).
    pub fn emit_next(&mut self) -> TaskResult<Option<RecordBatch>> {
        self.emit_batch(self.mode.emits_states())
    }

    /// Like [`HashAggregator::emit_next`], always as keys and partial states (the
    /// input of [`merge_node`]), to be spilled and aggregated again later.
    pub fn emit_state_next(&mut self) -> TaskResult<Option<RecordBatch>> {
        self.emit_batch(true)
    }

    /// Groups held (emitted ones included until the aggregator is dropped).
    pub fn group_count(&self) -> usize {
        self.groups.count()
    }

    pub fn is_global(&self) -> bool {
        self.group_exprs.is_empty()
    }

    fn emit_batch(&mut self, as_state: bool) -> TaskResult<Option<RecordBatch>> {
        if !self.received_input && self.group_exprs.is_empty() {
            self.accumulate(&RecordBatch::new_empty(Arc::clone(&self.input_schema)))?;
        }
        let start = self.emitted;
        let count = self.batch_rows.max(1).min(self.groups.count() - start);
        if count == 0 {
            return Ok(None);
        }
        self.emitted += count;
        let mut columns = self.groups.key_columns(start..start + count)?;
        for accumulator in &mut self.accumulators {
            // Each emit takes the first groups left, so the state shrinks as it goes.
            let emit = EmitTo::First(count);
            if as_state {
                columns.extend(accumulator.state(emit)?);
            } else {
                columns.push(accumulator.evaluate(emit)?);
            }
        }
        let schema = if as_state && !self.mode.emits_states() {
            state_schema(&self.schema, self.group_exprs.len(), &self.aggregates)?
        } else {
            Arc::clone(&self.schema)
        };
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(count));
        Ok(Some(RecordBatch::try_new_with_options(
            schema, columns, &options,
        )?))
    }

    /// Bytes of group keys, the hash table and accumulator state held.
    pub fn memory_bytes(&self) -> usize {
        self.groups.memory_bytes() + self.accumulators.iter().map(|a| a.size()).sum::<usize>()
    }
}

/// What `aggregate` reads from each row: its arguments, then its ORDER BY keys.
fn inputs(aggregate: &AggregateFunctionExpr) -> Vec<Arc<dyn PhysicalExpr>> {
    let mut inputs = aggregate.expressions();
    inputs.extend(
        aggregate
            .order_bys()
            .iter()
            .map(|sort| Arc::clone(&sort.expr)),
    );
    inputs
}

/// Group columns as in the final output, then each aggregate's state fields: what a
/// partial aggregate emits and a final one reads.
///
/// # Errors
/// An aggregate whose state fields cannot be named.
pub fn state_schema(
    output: &Schema,
    group_count: usize,
    aggregates: &[Arc<AggregateFunctionExpr>],
) -> TaskResult<SchemaRef> {
    let mut fields: Vec<Arc<Field>> = output.fields()[..group_count].to_vec();
    for aggregate in aggregates {
        fields.extend(aggregate.state_fields()?);
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// The aggregate that merges `node`'s partial states (as [`HashAggregator::finish_state`]
/// emits them) into `node`'s output: a final aggregate over the state columns.
///
/// # Errors
/// An aggregate whose state fields cannot be named.
pub fn merge_node(node: &AggregateNode) -> TaskResult<AggregateNode> {
    if node.mode == AggregateMode::Final {
        return Ok(node.clone());
    }
    let group_count = node.group_exprs.len();
    let input_schema = state_schema(&node.schema, group_count, &node.aggregates)?;
    let group_exprs = (0..group_count)
        .map(|i| Arc::new(Column::new(input_schema.field(i).name(), i)) as Arc<dyn PhysicalExpr>)
        .collect();
    let mut state_offsets = Vec::with_capacity(node.aggregates.len());
    let mut offset = group_count;
    for aggregate in &node.aggregates {
        state_offsets.push(offset);
        offset += aggregate.state_fields()?.len();
    }
    Ok(AggregateNode {
        input: Box::new(Node::Values {
            batches: Vec::new(),
            schema: input_schema,
        }),
        mode: AggregateMode::Final,
        group_exprs,
        aggregates: node.aggregates.clone(),
        filters: vec![None; node.aggregates.len()],
        seed_groups: None,
        state_offsets,
        schema: Arc::clone(&node.schema),
    })
}
