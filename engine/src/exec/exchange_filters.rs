//! Runtime filters across a hash exchange. A join whose probe key is read from an
//! exchange has no scan under it in its own stage to hand its build keys to (TPC-H
//! Q22 hashes all 1.5M orders to an anti join with 42K customers). Instead, each
//! producer of the exchange tests its rows against the build keys of the partition
//! each row goes to, and drops those none of that partition's build rows has before
//! it copies and sends them. A row goes to the partition its key hashes to, and so
//! do the build rows of that key (a skew join's hot keys' build rows go to every
//! partition), so that partition's build keys are all the row could ever meet.
//!
//! Producer and consumer share a slot per exchange, consumer partition and column,
//! made by whichever asks first. A consumer on another node shares nothing with
//! this node's producers: rows bound for it go untested.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::BooleanArray;
use arrow::buffer::BooleanBuffer;
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;

use super::runtime_filters::{filtered_probe_keys, probe_side, sources, Source};
use crate::error::TaskResult;
use crate::operators::hash::partition_of;
use crate::operators::runtime_filter::{kept_where_routed, RuntimeFilterSlot};
use crate::plan::node::Node;
use crate::plan::{DistributedPlan, ExchangeId, ExchangeKind};

type SlotKey = (ExchangeId, usize, usize);

/// One query's filters across exchanges, on one node.
#[derive(Default)]
pub(crate) struct ExchangeFilters {
    /// Per hash exchange, the columns of its rows that some join above it filters.
    columns: HashMap<ExchangeId, Vec<usize>>,
    /// By exchange, consumer partition and column.
    slots: Mutex<HashMap<SlotKey, Arc<RuntimeFilterSlot>>>,
}

impl ExchangeFilters {
    /// The exchanges of `plan` whose rows a join's runtime filter can test.
    pub fn of(plan: &DistributedPlan) -> ExchangeFilters {
        let mut columns: HashMap<ExchangeId, Vec<usize>> = HashMap::new();
        for stage in &plan.stages {
            each_join_source(&stage.root, &mut |source| {
                let Source::Exchange(exchange, column) = source else {
                    return;
                };
                let hashed = plan
                    .exchanges
                    .get(exchange.0)
                    .is_some_and(|e| matches!(e.kind, ExchangeKind::Hash { .. }));
                let known = columns.entry(exchange).or_default();
                if hashed && !known.contains(&column) {
                    known.push(column);
                }
            });
        }
        columns.retain(|_, columns| !columns.is_empty());
        ExchangeFilters {
            columns,
            slots: Mutex::default(),
        }
    }

    /// The slot for `column` of the rows `exchange` delivers to `partition`; `None`
    /// when no join filters that column.
    pub fn slot(
        &self,
        exchange: ExchangeId,
        partition: usize,
        column: usize,
    ) -> Option<Arc<RuntimeFilterSlot>> {
        if !self
            .columns
            .get(&exchange)
            .is_some_and(|columns| columns.contains(&column))
        {
            return None;
        }
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots.entry((exchange, partition, column)).or_default();
        Some(Arc::clone(slot))
    }

    /// What a producer of `exchange` tests; `local[t]` says whether consumer `t`
    /// runs on this node. `None` when nothing is filtered.
    pub fn for_producer(&self, exchange: ExchangeId, local: &[bool]) -> Option<ProducerFilters> {
        let columns = self.columns.get(&exchange)?;
        let columns = columns
            .iter()
            .map(|&column| {
                let slots = local
                    .iter()
                    .enumerate()
                    .map(|(target, &here)| {
                        here.then(|| self.slot(exchange, target, column)).flatten()
                    })
                    .collect();
                (column, slots)
            })
            .collect();
        Some(ProducerFilters { columns })
    }
}

/// Calls `found` with every source a hash join's runtime filter reaches under `node`.
fn each_join_source(node: &Node, found: &mut dyn FnMut(Source<'_>)) {
    if let Node::HashJoin(join) = node {
        for (_, column) in filtered_probe_keys(join) {
            let mut reached = Vec::new();
            sources(probe_side(join), column, &mut reached);
            reached.into_iter().for_each(&mut *found);
        }
    }
    for child in node.children() {
        each_join_source(child, found);
    }
}

/// A producer's filters: per column, each consumer partition's slot (`None` for a
/// consumer on another node).
pub(crate) struct ProducerFilters {
    columns: Vec<(usize, Vec<Option<Arc<RuntimeFilterSlot>>>)>,
}

impl ProducerFilters {
    /// The rows of `batch` (whose keys hashed to `hashes`) that the partitions they
    /// go to may join, with their hashes.
    pub fn retain(
        &self,
        batch: RecordBatch,
        hashes: Vec<u64>,
    ) -> TaskResult<(RecordBatch, Vec<u64>)> {
        // Before the builds are done, and once every filter gave up, rows pass as
        // they are, without working out where each goes.
        let testing = self
            .columns
            .iter()
            .any(|(_, slots)| slots.iter().flatten().any(|slot| slot.is_active()));
        if !testing {
            return Ok((batch, hashes));
        }
        let mut kept: Option<BooleanBuffer> = None;
        let mut targets: Option<Vec<usize>> = None;
        for (column, slots) in &self.columns {
            let targets = targets.get_or_insert_with(|| {
                hashes
                    .iter()
                    .map(|&hash| partition_of(hash, slots.len()))
                    .collect()
            });
            let Some(mask) = kept_where_routed(batch.column(*column).as_ref(), targets, slots)
            else {
                continue;
            };
            kept = Some(match kept {
                Some(kept) => &kept & &mask,
                None => mask,
            });
        }
        let Some(kept) = kept else {
            return Ok((batch, hashes));
        };
        if kept.count_set_bits() == batch.num_rows() {
            return Ok((batch, hashes));
        }
        let hashes = hashes
            .into_iter()
            .zip(kept.iter())
            .filter_map(|(hash, keep)| keep.then_some(hash))
            .collect();
        let batch = filter_record_batch(&batch, &BooleanArray::from(kept))?;
        Ok((batch, hashes))
    }
}
