//! Which scan a hash join's runtime filters go to, and how they get there: the join
//! traces each probe key down its probe side to the scan column it is read from
//! unchanged, and leaves the filter with the stream context for that scan's stream,
//! built right after, to pick up.

use std::cell::RefCell;
use std::sync::Arc;

use datafusion_physical_expr::expressions::Column;

use crate::operators::runtime_filter::{RuntimeFilter, RuntimeFilterSlot};
use crate::plan::node::{HashJoinNode, JoinKind, Node, ScanNode};

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

/// Offers a filter for each of `join`'s probe keys that is an integer column read
/// unchanged from a scan under the probe side, and returns them with the index of
/// their key. None when the join keeps probe rows that match nothing.
pub(crate) fn offer_for_join(
    join: &HashJoinNode,
    pending: &PendingFilters,
) -> Vec<(usize, Arc<RuntimeFilterSlot>)> {
    if !join.drops_unmatched_probe_rows() || join.null_aware || join.nulls_equal {
        return Vec::new();
    }
    let (probe, build) = if join.build_left {
        (&join.right, &join.left)
    } else {
        (&join.left, &join.right)
    };
    let (probe_schema, build_schema) = (probe.schema(), build.schema());
    let mut offered = Vec::new();
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
        if !same_type || !crate::operators::runtime_filter::supports(data_type) {
            continue;
        }
        let mut scans = Vec::new();
        scan_columns(probe, column.index(), &mut scans);
        if scans.is_empty() {
            continue;
        }
        // One slot for every scan: they count their rows into it, and give up together.
        let slot = Arc::new(RuntimeFilterSlot::default());
        for (scan, read_column) in scans {
            pending.offer(
                scan,
                RuntimeFilter {
                    column: read_column,
                    slot: Arc::clone(&slot),
                },
            );
        }
        offered.push((key, slot));
    }
    offered
}

/// The scans, each with the column of the batches it filters, that `node`'s output
/// column `column` is read from unchanged, through projections, filters, full sorts,
/// the branches of a union, the group keys of aggregations, the partition keys of
/// windows and the sides of joins whose rows it passes through: filtering those scans
/// by it drops exactly the output rows with other values. A union branch it cannot
/// be traced through is left unfiltered, which keeps every row of that branch.
fn scan_columns<'a>(node: &'a Node, column: usize, found: &mut Vec<(&'a ScanNode, usize)>) {
    match node {
        Node::Scan(scan) => {
            if let Some(&read) = scan.output_columns.get(column) {
                found.push((scan, read));
            }
        }
        Node::Project { input, exprs, .. } => {
            if let Some(source) = exprs.get(column).and_then(|e| e.downcast_ref::<Column>()) {
                scan_columns(input, source.index(), found);
            }
        }
        Node::Filter { input, .. }
        | Node::Sort {
            input, fetch: None, ..
        } => {
            scan_columns(input, column, found);
        }
        Node::Union { inputs, .. } => {
            for input in inputs {
                scan_columns(input, column, found);
            }
        }
        // A group's key is the key of its rows: dropping the rows of some keys drops
        // their groups and leaves every other group's rows, and so its aggregates, as
        // they were (TPC-H Q2 and Q17 aggregate every part's rows, then keep a few).
        Node::Aggregate(aggregate) => {
            let group = aggregate.group_exprs.get(column);
            if let Some(source) = group.and_then(|e| e.downcast_ref::<Column>()) {
                scan_columns(&aggregate.input, source.index(), found);
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
                scan_columns(&window.input, column, found);
            }
        }
        Node::HashJoin(join) => {
            let left_columns = join.left.schema().fields().len();
            if column < left_columns {
                // Every output row's left columns are one left row's (or NULL,
                // which no key matches, on a full join's right-only rows).
                scan_columns(&join.left, column, found);
            } else if join.kind == JoinKind::Inner {
                scan_columns(&join.right, column - left_columns, found);
            }
        }
        _ => {}
    }
}
