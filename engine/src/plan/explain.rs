//! EXPLAIN text for a distributed plan: stages top-down, each with its placement,
//! where its output goes, its operator tree, and every exchange's reason.

use std::fmt::Write;

use super::node::Node;
use super::{
    DistributedPlan, ExchangeKind, Placement, SkewRole, StageOutput, StoreDestination, StoreTarget,
};
use crate::catalog::parquet_table::ParquetSource;

/// Renders the plan as indented text, final stage first.
pub fn explain(plan: &DistributedPlan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Distributed plan: {} stages, {} exchanges, {} partitions",
        plan.stages.len(),
        plan.exchanges.len(),
        plan.partitions
    );
    for stage in plan.stages.iter().rev() {
        let placement = match stage.placement {
            Placement::AllPartitions => format!("{} tasks, one per partition", plan.partitions),
            Placement::Coordinator => "1 task, on the coordinator".to_string(),
        };
        let output = match stage.output {
            StageOutput::Client => match &plan.copy_to {
                Some(target) => format!(
                    "results to {}, written by the coordinator",
                    target.describe()
                ),
                None => "results to the client".to_string(),
            },
            StageOutput::Store => match &plan.store {
                Some(StoreTarget {
                    destination: StoreDestination::Files(target),
                    ..
                }) => format!(
                    "rows to {}, each partition's written where it is",
                    target.describe()
                ),
                Some(store) => format!(
                    "kept as table {} ({})",
                    store.name,
                    store.partitioning.describe()
                ),
                None => "kept".to_string(),
            },
            StageOutput::Exchange(id) => {
                let exchange = &plan.exchanges[id.0];
                let keys = match &exchange.kind {
                    ExchangeKind::Hash { keys } => format!(
                        "({})",
                        keys.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    _ => String::new(),
                };
                let skew = match exchange.skew {
                    None => String::new(),
                    Some(SkewRole::Spread { build }) => format!(
                        "; hot keys found in its first rows go round-robin to every \
                         partition (their build rows replicated by exchange #{})",
                        build.0
                    ),
                    Some(SkewRole::Replicate { probe }) => format!(
                        "; rows of the keys exchange #{} spreads go to every partition",
                        probe.0
                    ),
                };
                format!(
                    "exchange #{} {}{keys} to stage {}, because: {}{skew}",
                    id.0,
                    exchange.kind.name(),
                    exchange.target.0,
                    exchange.reason
                )
            }
        };
        let _ = writeln!(out, "Stage {} [{placement}] -> {output}", stage.id.0);
        write_node(&mut out, &stage.root, 1, plan);
    }
    if !plan.avoided.is_empty() {
        let _ = writeln!(out, "Exchanges avoided:");
        for avoided in &plan.avoided {
            let _ = writeln!(out, "  {}: {}", avoided.operator, avoided.reason);
        }
    }
    out
}

fn join_exprs<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|item| item.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One node's line in EXPLAIN (without its children); also names operators in
/// EXPLAIN ANALYZE's memory lines.
pub(crate) fn describe(node: &Node) -> String {
    match node {
        Node::Scan(scan) => {
            let columns = join_exprs(scan.schema.fields().iter().map(|f| f.name()));
            let filters = if scan.filters.is_empty() {
                String::new()
            } else {
                format!(" filters=[{}]", join_exprs(&scan.filters))
            };
            format!("Scan {} [{columns}]{filters}", scan.table.name)
        }
        Node::Values { batches, .. } => format!(
            "Values ({} rows)",
            batches.iter().map(|b| b.num_rows()).sum::<usize>()
        ),
        Node::Filter { predicate, .. } => format!("Filter {predicate}"),
        Node::Project { exprs, .. } => format!("Project [{}]", join_exprs(exprs)),
        Node::Aggregate(node) => format!(
            "Aggregate({:?}) group=[{}] aggregates=[{}]",
            node.mode,
            join_exprs(&node.group_exprs),
            join_exprs(node.aggregates.iter().map(|a| a.name().to_string()))
        ),
        Node::HashJoin(node) => {
            let keys = join_exprs(node.on.iter().map(|(l, r)| format!("{l} = {r}")));
            let filter = node
                .filter
                .as_ref()
                .map(|f| format!(" filter={f}"))
                .unwrap_or_default();
            let build = if node.build_left { "left" } else { "right" };
            format!(
                "HashJoin({:?}) on [{keys}]{filter} build={build}",
                node.kind
            )
        }
        Node::NestedLoopJoin(node) => {
            let filter = node
                .filter
                .as_ref()
                .map(|f| format!(" filter={f}"))
                .unwrap_or_default();
            format!("NestedLoopJoin({:?}){filter}", node.kind)
        }
        Node::Sort { exprs, fetch, .. } => {
            let fetch = fetch.map(|f| format!(" top {f}")).unwrap_or_default();
            format!("Sort [{}]{fetch}", join_exprs(exprs))
        }
        Node::Limit { skip, fetch, .. } => format!("Limit skip={skip} fetch={fetch:?}"),
        Node::Union { inputs, .. } => format!("Union ({} inputs)", inputs.len()),
        Node::Expand { projections, .. } => {
            let sets = projections.iter().map(|p| format!("[{}]", join_exprs(p)));
            format!(
                "Expand ({} grouping sets) {}",
                projections.len(),
                join_exprs(sets)
            )
        }
        Node::Unnest(node) => {
            let input = node.input.schema();
            let lists = node.lists.iter().map(|&i| input.field(i).name().clone());
            format!("Unnest [{}]", join_exprs(lists))
        }
        Node::Window(node) => {
            let functions = node.exprs.iter().map(|e| e.name().to_string());
            let partition = if node.partition_by.is_empty() {
                "none (one partition)".to_string()
            } else {
                join_exprs(&node.partition_by)
            };
            format!(
                "Window [{}] partition by [{partition}]",
                join_exprs(functions)
            )
        }
        Node::ExchangeRead { exchange, .. } => format!("ExchangeRead #{}", exchange.0),
    }
}

fn write_node(out: &mut String, node: &Node, depth: usize, plan: &DistributedPlan) {
    let indent = "  ".repeat(depth);
    let line = match node {
        Node::ExchangeRead { exchange, .. } => {
            let exchange = &plan.exchanges[exchange.0];
            format!(
                "ExchangeRead #{} ({} from stage {})",
                exchange.id.0,
                exchange.kind.name(),
                exchange.source.0
            )
        }
        Node::Scan(scan) => match &scan.table.parquet {
            Some(source) => format!("{}; {}", describe(node), parquet_layout(source)),
            None => describe(node),
        },
        other => describe(other),
    };
    let _ = writeln!(out, "{indent}{line}");
    for child in node.children() {
        write_node(out, child, depth + 1, plan);
    }
}

/// How a Parquet table's row groups are dealt to the partitions (the same on every
/// node): row groups cut into parts, and the rows each partition reads.
fn parquet_layout(source: &ParquetSource) -> String {
    let rows: Vec<usize> = source
        .assignments
        .iter()
        .map(|parts| parts.iter().map(|part| part.rows.len()).sum())
        .collect();
    let parts: usize = source.assignments.iter().map(Vec::len).sum();
    let spread = match (rows.iter().min(), rows.iter().max()) {
        _ if rows.len() <= 8 => join_exprs(&rows),
        (Some(least), Some(most)) => format!("{least} to {most}"),
        _ => String::new(),
    };
    format!(
        "{} row group(s) of {} file(s) read in {parts} part(s), rows per partition {spread}",
        source.row_groups(),
        source.files.len()
    )
}
