//! Which scans and exchanges a hash join's runtime filters go to, and how they get
//! there: the join traces each probe key down its probe side to the scan column, or
//! the column of an exchange's rows, it is read from unchanged. It leaves the filter
//! with the stream context for that scan's stream, built right after, to pick up;
//! an exchange's producers find it in the query's `ExchangeFilters`.

use std::cell::RefCell;
use std::sync::Arc;

use datafusion_physical_expr::expressions::Column;

use super::stream::StreamContext;
use crate::operators::runtime_filter::{RuntimeFilter, RuntimeFilterSlot};
use crate::plan::node::{HashJoinNode, JoinKind, Node, ScanNode};
use crate::plan::ExchangeId;

/// Filters offered to scans whose streams are not built yet, by scan node.
#[derive(Default)]
pub(crate) struct PendingFilters(RefCell<Vec<(usize, RuntimeFilter)>>);

impl PendingFilters {
    pub fn offer(&self, scan: &ScanNode, filter: RuntimeFilter) {
        self.0.borrow_mut().push((address(scan), filter));
    }

    /// The filters offered to `scan`, which it now applies.
    pub fn take_for(&self, scan: &ScanNode) -> Vec<RuntimeFilter> {
        let mut pending = self.0.borrow_mut();
        let (mine, others) = pending
            .drain(..)
            .partition(|(target, _)| *target == address(scan));
        *pending = others;
        mine.into_iter().map(|(_, filter)| filter).collect()
    }
}

/// A plan node's identity while its task's streams are built from it.
fn address(scan: &ScanNode) -> usize {
    scan as *const ScanNode as usize
}

/// Where a probe key's values are read from unchanged.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// A scan, and the column of the batches it filters.
    Scan(&'a ScanNode, usize),
    /// An exchange, and the column of the rows it delivers.
    Exchange(ExchangeId, usize),
}

/// The side of `join` whose rows stream through its table.
pub(crate) fn probe_side(join: &HashJoinNode) -> &Node {
    if join.build_left {
        &join.right
    } else {
        &join.left
    }
}

/// `join`'s keys a runtime filter can carry, by index, each with its probe side's
/// column: integer columns (and dates) of one type on both sides, of a join that
/// drops the probe rows that match nothing.
pub(crate) fn filtered_probe_keys(join: &HashJoinNode) -> Vec<(usize, usize)> {
    if !join.drops_unmatched_probe_rows() || join.null_aware || join.nulls_equal {
        return Vec::new();
    }
    let build = if join.build_left {
        &join.left
    } else {
        &join.right
    };
    let (probe_schema, build_schema) = (probe_side(join).schema(), build.schema());
    let mut keys = Vec::new();
    for (key, (left, right)) in join.on.iter().enumerate() {
        let (probe_key, build_key) = if join.build_left {
            (right, left)
        } else {
            (left, right)
        };
        let Some(column) = probe_key.downcast_ref::<Column>() else {
            continue;
        };
        let data_type = probe_schema.field(column.index()).data_type();
        let same_type = build_key
            .data_type(&build_schema)
            .is_ok_and(|build_type| &build_type == data_type);
        if same_type && crate::operators::runtime_filter::supports(data_type) {
            keys.push((key, column.index()));
        }
    }
    keys
}

/// Offers a filter for each of `join`'s probe keys that is read unchanged from a
/// scan or an exchange under the probe side, and returns the slots to publish its
/// build keys in, each with the index of its key (a key may have several: one per
/// exchange it is read from).
pub(crate) fn offer_for_join(
    join: &HashJoinNode,
    context: &StreamContext,
) -> Vec<(usize, Arc<RuntimeFilterSlot>)> {
    let mut offered = Vec::new();
    for (key, column) in filtered_probe_keys(join) {
        let mut found = Vec::new();
        sources(probe_side(join), column, &mut found);
        let mut slots: Vec<Arc<RuntimeFilterSlot>> = found
            .iter()
            .filter_map(|source| match *source {
                Source::Exchange(exchange, column) => context.query.exchange_filters().slot(
                    exchange,
                    context.location.partition,
                    column,
                ),
                Source::Scan(..) => None,
            })
            .collect();
        let scans: Vec<(&ScanNode, usize)> = found
            .iter()
            .filter_map(|source| match *source {
                Source::Scan(scan, column) => Some((scan, column)),
                Source::Exchange(..) => None,
            })
            .collect();
        if !scans.is_empty() && slots.is_empty() {
            slots.push(Arc::default());
        }
        // One slot for every scan: they count their rows into it, and give up together.
        if let Some(slot) = slots.first() {
            for (scan, read_column) in scans {
                context.runtime_filters.offer(
                    scan,
                    RuntimeFilter {
                        column: read_column,
                        slot: Arc::clone(slot),
                    },
                );
            }
        }
        offered.extend(slots.into_iter().map(|slot| (key, slot)));
    }
    offered
}

/// The scans and exchanges (see [`Source`]) that `node`'s output column `column` is
/// read from unchanged, through projections, filters, full sorts,
/// the branches of a union, the group keys of aggregations, the partition keys of
/// windows and the sides of joins whose rows it passes through: filtering those scans
/// by it drops exactly the output rows with other values. A union branch it cannot
/// be traced through is left unfiltered, which keeps every row of that branch.
pub(crate) fn sources<'a>(node: &'a Node, column: usize, found: &mut Vec<Source<'a>>) {
    match node {
        Node::Scan(scan) => {
            if let Some(&read) = scan.output_columns.get(column) {
                found.push(Source::Scan(scan, read));
            }
        }
        Node::Project { input, exprs, .. } => {
            if let Some(source) = exprs.get(column).and_then(|e| e.downcast_ref::<Column>()) {
                sources(input, source.index(), found);
            }
        }
        Node::Filter { input, .. }
        | Node::Sort {
            input, fetch: None, ..
        } => {
            sources(input, column, found);
        }
        Node::Union { inputs, .. } => {
            for input in inputs {
                sources(input, column, found);
            }
        }
        // A group's key is the key of its rows: dropping the rows of some keys drops
        // their groups and leaves every other group's rows, and so its aggregates, as
        // they were (TPC-H Q2 and Q17 aggregate every part's rows, then keep a few).
        Node::Aggregate(aggregate) => {
            let group = aggregate.group_exprs.get(column);
            if let Some(source) = group.and_then(|e| e.downcast_ref::<Column>()) {
                sources(&aggregate.input, source.index(), found);
            }
        }
        // Likewise a window partition's rows share its keys: dropping other
        // partitions leaves its rows' window values as they were.
        Node::Window(window) => {
            let partitions_by_it = window.partition_by.iter().any(|key| {
                key.downcast_ref::<Column>()
                    .is_some_and(|key| key.index() == column)
            });
            if partitions_by_it {
                sources(&window.input, column, found);
            }
        }
        Node::HashJoin(join) => {
            let left_columns = join.left.schema().fields().len();
            if column < left_columns {
                // Every output row's left columns are one left row's (or NULL,
                // which no key matches, on a full join's right-only rows).
                sources(&join.left, column, found);
            } else if join.kind == JoinKind::Inner {
                sources(&join.right, column - left_columns, found);
            }
        }
        Node::ExchangeRead { exchange, .. } => found.push(Source::Exchange(*exchange, column)),
        _ => {}
    }
}
