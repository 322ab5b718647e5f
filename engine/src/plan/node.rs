//! Operator trees inside a stage. Every node knows its output schema; column order
//! always matches the logical plan node it came from.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion_common::NullHandling;
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;
use datafusion_physical_expr::window::WindowExpr;
use datafusion_physical_expr::{PhysicalExpr, PhysicalSortExpr};

use super::ExchangeId;
use crate::catalog::Table;

/// Which phase of a two-phase aggregation a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateMode {
    /// Aggregates raw rows into partial states (before an exchange).
    Partial,
    /// Merges partial states and evaluates the final values (after an exchange).
    Final,
    /// Aggregates raw rows to final values in one step (input already co-located).
    Single,
    /// Merges partial states into partial states (before an exchange): grouping sets
    /// aggregate each row once, by every group column, and merge those states once
    /// per set, rather than aggregate every row once per set.
    Merge,
}

impl AggregateMode {
    /// Whether it emits partial states that a final aggregate merges later: each
    /// group may leave in several pieces (when memory runs short, and from every
    /// partition), so its keys need not be together.
    pub fn emits_states(self) -> bool {
        matches!(self, AggregateMode::Partial | AggregateMode::Merge)
    }
}

/// Join semantics the hash and nested-loop joins implement. Right-hand variants are
/// planned as their left-hand mirror with inputs swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    /// All left rows; right columns null where nothing matched.
    Left,
    /// All rows of both sides.
    Full,
    /// Left rows with at least one match.
    LeftSemi,
    /// Left rows with no match.
    LeftAnti,
    /// Every left row once, with a boolean column saying whether it has a match
    /// (`EXISTS` and `IN` subqueries inside `OR`, decorrelated).
    LeftMark,
}

#[derive(Debug, Clone)]
pub struct ScanNode {
    pub table: Arc<Table>,
    /// Columns of the table to read before filtering (projection ∪ filter columns).
    pub read_columns: Vec<usize>,
    /// Predicates over the `read_columns` batch; all must hold.
    pub filters: Vec<Arc<dyn PhysicalExpr>>,
    /// Positions in the `read_columns` batch forming the output.
    pub output_columns: Vec<usize>,
    pub schema: SchemaRef,
}

#[derive(Debug, Clone)]
pub struct AggregateNode {
    pub input: Box<Node>,
    pub mode: AggregateMode,
    /// Group keys over the input (for `Final`, the first input columns).
    pub group_exprs: Vec<Arc<dyn PhysicalExpr>>,
    pub aggregates: Vec<Arc<AggregateFunctionExpr>>,
    /// Each aggregate's `FILTER (WHERE ..)` over the input; applied where rows are
    /// accumulated (`Single`, `Partial`), never to partial states (`Final`).
    pub filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    /// Input rows whose groups exist even when no row arrives (the grand total of a
    /// grouping set): they create their groups without reaching any aggregate. Every
    /// partition's `Partial` seeds them, which merges as nothing; `Final` never.
    pub seed_groups: Option<RecordBatch>,
    /// For `Final` and `Merge`: first input column of each aggregate's partial state.
    pub state_offsets: Vec<usize>,
    pub schema: SchemaRef,
}

/// Window functions sharing one `PARTITION BY` and `ORDER BY`. The input arrives
/// sorted by the partition keys, then the order keys (a sort below it), with every
/// row of a window partition in one task (a hash exchange on the partition keys, or
/// a gather when there are none); each window partition is evaluated on its own and
/// its rows come out with one column per function appended.
#[derive(Debug, Clone)]
pub struct WindowNode {
    pub input: Box<Node>,
    pub partition_by: Vec<Arc<dyn PhysicalExpr>>,
    pub exprs: Vec<Arc<dyn WindowExpr>>,
    pub schema: SchemaRef,
}

#[derive(Debug, Clone)]
pub struct HashJoinNode {
    pub left: Box<Node>,
    pub right: Box<Node>,
    /// Equi-join keys: (over left, over right).
    pub on: Vec<(Arc<dyn PhysicalExpr>, Arc<dyn PhysicalExpr>)>,
    /// Extra condition over `left ++ right` columns.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    pub kind: JoinKind,
    /// Build the hash table on the left side (it is smaller): for inner joins, and for
    /// semi and anti joins (not NOT IN), which then output build rows by whether the
    /// probe side matched them.
    pub build_left: bool,
    /// `NOT IN` semantics: any null key on the right empties the result.
    pub null_aware: bool,
    /// NULL keys equal each other (INTERSECT and EXCEPT compare rows so), instead of
    /// matching nothing.
    pub nulls_equal: bool,
    pub schema: SchemaRef,
}

impl HashJoinNode {
    /// A semi or anti join built on its left input: its output is the build rows that
    /// matched (or not), known only after the whole probe side.
    pub fn outputs_build_rows_by_match(&self) -> bool {
        self.build_left && matches!(self.kind, JoinKind::LeftSemi | JoinKind::LeftAnti)
    }

    /// A left join built on its (smaller) left input: matched pairs stream out, and
    /// the left rows that matched nothing come out after the probe side, as a full
    /// join's unmatched build rows do. Right rows that match nothing are dropped.
    pub fn left_outer_on_build(&self) -> bool {
        self.build_left && self.kind == JoinKind::Left
    }

    /// Build rows that matched nothing come out, with NULL probe columns: full joins
    /// and left joins built on their left.
    pub fn outputs_unmatched_build_rows(&self) -> bool {
        self.kind == JoinKind::Full || self.left_outer_on_build()
    }

    /// Probe rows that matched nothing come out, with NULL build columns: left and
    /// full joins probing with their left side.
    pub fn outputs_unmatched_probe_rows(&self) -> bool {
        matches!(self.kind, JoinKind::Left | JoinKind::Full) && !self.left_outer_on_build()
    }

    /// A probe row that matches no build row adds nothing to the output: inner and
    /// semi joins, and joins that output build rows by what matched them.
    pub fn drops_unmatched_probe_rows(&self) -> bool {
        match self.kind {
            JoinKind::Inner | JoinKind::LeftSemi => true,
            JoinKind::LeftAnti | JoinKind::Left => self.build_left,
            JoinKind::Full | JoinKind::LeftMark => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NestedLoopJoinNode {
    /// Streamed side.
    pub left: Box<Node>,
    /// Buffered side: must be small.
    pub right: Box<Node>,
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    pub kind: JoinKind,
    pub schema: SchemaRef,
}

/// UNNEST of list columns (`select unnest(a)`, `from unnest(..)`): each input row
/// once per element of its longest list, shorter lists padded with NULL (PostgreSQL
/// zips several set-returning calls the same way), the other columns repeated.
#[derive(Debug, Clone)]
pub struct UnnestNode {
    pub input: Box<Node>,
    /// The input columns whose lists are unnested.
    pub lists: Vec<usize>,
    /// For each output column, the input column it comes from.
    pub outputs: Vec<usize>,
    /// What a row whose lists are all NULL or empty becomes.
    pub null_handling: NullHandling,
    pub schema: SchemaRef,
}

#[derive(Debug, Clone)]
pub enum Node {
    Scan(ScanNode),
    /// Literal rows, the same on every partition.
    Values {
        batches: Vec<RecordBatch>,
        schema: SchemaRef,
    },
    Filter {
        input: Box<Node>,
        predicate: Arc<dyn PhysicalExpr>,
    },
    Project {
        input: Box<Node>,
        exprs: Vec<Arc<dyn PhysicalExpr>>,
        schema: SchemaRef,
    },
    /// Each input row once per projection (grouping sets: one per set), so a batch of
    /// input becomes that many batches of its size.
    Expand {
        input: Box<Node>,
        projections: Vec<Vec<Arc<dyn PhysicalExpr>>>,
        schema: SchemaRef,
    },
    Aggregate(AggregateNode),
    Window(WindowNode),
    Unnest(UnnestNode),
    HashJoin(HashJoinNode),
    NestedLoopJoin(NestedLoopJoinNode),
    Sort {
        input: Box<Node>,
        exprs: Vec<PhysicalSortExpr>,
        fetch: Option<usize>,
    },
    Limit {
        input: Box<Node>,
        skip: usize,
        fetch: Option<usize>,
    },
    Union {
        inputs: Vec<Node>,
        schema: SchemaRef,
    },
    /// Reads what an exchange delivers to this task's partition.
    ExchangeRead {
        exchange: ExchangeId,
        schema: SchemaRef,
    },
}

impl Node {
    pub fn schema(&self) -> SchemaRef {
        match self {
            Node::Scan(scan) => Arc::clone(&scan.schema),
            Node::Values { schema, .. }
            | Node::Project { schema, .. }
            | Node::Union { schema, .. }
            | Node::Expand { schema, .. }
            | Node::ExchangeRead { schema, .. } => Arc::clone(schema),
            Node::Filter { input, .. } | Node::Sort { input, .. } | Node::Limit { input, .. } => {
                input.schema()
            }
            Node::Aggregate(node) => Arc::clone(&node.schema),
            Node::Window(node) => Arc::clone(&node.schema),
            Node::Unnest(node) => Arc::clone(&node.schema),
            Node::HashJoin(node) => Arc::clone(&node.schema),
            Node::NestedLoopJoin(node) => Arc::clone(&node.schema),
        }
    }

    pub fn children(&self) -> Vec<&Node> {
        match self {
            Node::Scan(_) | Node::Values { .. } | Node::ExchangeRead { .. } => vec![],
            Node::Filter { input, .. }
            | Node::Project { input, .. }
            | Node::Expand { input, .. }
            | Node::Sort { input, .. }
            | Node::Limit { input, .. } => vec![input],
            Node::Aggregate(node) => vec![&node.input],
            Node::Window(node) => vec![&node.input],
            Node::Unnest(node) => vec![&node.input],
            Node::HashJoin(node) => vec![&node.left, &node.right],
            Node::NestedLoopJoin(node) => vec![&node.left, &node.right],
            Node::Union { inputs, .. } => inputs.iter().collect(),
        }
    }
}
