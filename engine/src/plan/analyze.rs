//! EXPLAIN ANALYZE: the plan, annotated with what every stage and exchange did when
//! the query ran: rows, skew across partitions, rows and bytes that stayed within a
//! node or crossed between nodes, and time spent waiting for input, the network, or
//! room downstream.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use super::explain::explain;
use super::{DistributedPlan, SkewRole, StageOutput};
use crate::exec::stats::{OperatorStats, TaskStats};

/// How the query ran as a whole.
#[derive(Debug, Clone, Copy)]
pub struct RunSummary {
    pub nodes: usize,
    pub cores_per_node: usize,
    pub rows: u64,
    pub elapsed: Duration,
}

pub fn render(plan: &DistributedPlan, stats: &[TaskStats], summary: RunSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Executed on {} node(s) x {} core(s): {} rows in {:.1} ms",
        summary.nodes,
        summary.cores_per_node,
        summary.rows,
        summary.elapsed.as_secs_f64() * 1e3
    );
    let _ = writeln!(out, "{}", memory_line(stats));
    for stage in &plan.stages {
        let tasks: Vec<&TaskStats> = stats.iter().filter(|s| s.stage == stage.id.0).collect();
        if tasks.is_empty() {
            let _ = writeln!(out, "Stage {}: no task reported", stage.id.0);
            continue;
        }
        let rows: Vec<u64> = tasks.iter().map(|t| t.rows_out).collect();
        let max_of = |f: fn(&TaskStats) -> u64| tasks.iter().map(|t| f(t)).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "Stage {}: {} task(s), rows out {} (per task max {}, skew max/mean {}), \
             wall max {}, input wait max {} (network {}), send wait max {}",
            stage.id.0,
            tasks.len(),
            rows.iter().sum::<u64>(),
            rows.iter().max().unwrap_or(&0),
            skew(&rows),
            millis(max_of(|t| t.wall_us)),
            millis(max_of(|t| t.input_wait_us)),
            millis(max_of(|t| t.network_wait_us)),
            millis(max_of(|t| t.send_wait_us)),
        );
        if let Some(line) = node_line(&tasks) {
            let _ = writeln!(out, "{line}");
        }
        if let Some(line) = waited_for_line(&tasks, stats) {
            let _ = writeln!(out, "{line}");
        }
        operator_lines(&mut out, &tasks);
        if let StageOutput::Exchange(id) = stage.output {
            let exchange = &plan.exchanges[id.0];
            let between: u64 = tasks.iter().map(|t| t.rows_to_other_nodes).sum();
            let mut per_target: Vec<u64> = Vec::new();
            for task in &tasks {
                if per_target.len() < task.rows_per_target.len() {
                    per_target.resize(task.rows_per_target.len(), 0);
                }
                for (target, rows) in task.rows_per_target.iter().enumerate() {
                    per_target[target] += rows;
                }
            }
            // A broadcast sends each row to every consumer: count what was sent.
            let sent: u64 = per_target.iter().sum();
            let _ = writeln!(
                out,
                "  exchange #{} {} -> stage {}: {} rows within nodes ({} of buffers referenced), {} rows between \
                 nodes ({} on the wire); rows per consumer max {}, skew max/mean {}",
                id.0,
                exchange.kind.name(),
                exchange.target.0,
                sent.saturating_sub(between),
                bytes(tasks.iter().map(|t| t.bytes_within_node).sum()),
                between,
                bytes(tasks.iter().map(|t| t.bytes_to_other_nodes).sum()),
                per_target.iter().max().unwrap_or(&0),
                skew(&per_target),
            );
            if let Some(line) = hot_keys_line(&tasks) {
                let _ = writeln!(out, "{line}");
            }
            if let Some(line) = exchange.skew.and_then(|role| skew_join_line(role, &tasks)) {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out.push('\n');
    out.push_str(&explain(plan));
    out
}

/// For a stage that waited for other nodes: how long its tasks waited for each
/// sending node in all, so the node the others wait for is named.
fn waited_for_line(tasks: &[&TaskStats], all: &[TaskStats]) -> Option<String> {
    let node_of: BTreeMap<usize, usize> = all.iter().map(|t| (t.task, t.node)).collect();
    let mut by_sender: BTreeMap<usize, u64> = BTreeMap::new();
    for task in tasks {
        for &(source, waited) in &task.network_wait_by_source_us {
            let node = node_of.get(&source)?;
            *by_sender.entry(*node).or_default() += waited;
        }
    }
    if by_sender.is_empty() {
        return None;
    }
    let senders: Vec<String> = by_sender
        .iter()
        .map(|(node, waited)| format!("node {node} {}", millis(*waited)))
        .collect();
    Some(format!(
        "  network wait by sending node (all tasks): {}",
        senders.join(", ")
    ))
}

/// For a stage on several nodes: each node's slowest task, its wait for the network
/// and the longest any of the node's tasks was busy (wall time less waits for input
/// and for room downstream: the node's own work, which a straggler's slowness does
/// not inflate on the others), and the slowest node, so a straggler is named rather
/// than averaged in.
fn node_line(tasks: &[&TaskStats]) -> Option<String> {
    let mut by_node: BTreeMap<usize, (u64, u64, u64)> = BTreeMap::new();
    for task in tasks {
        let entry = by_node.entry(task.node).or_default();
        entry.0 = entry.0.max(task.wall_us);
        entry.1 = entry.1.max(task.network_wait_us);
        let busy = task
            .wall_us
            .saturating_sub(task.input_wait_us + task.send_wait_us);
        entry.2 = entry.2.max(busy);
    }
    if by_node.len() < 2 {
        return None;
    }
    let nodes: Vec<String> = by_node
        .iter()
        .map(|(node, (wall, network, busy))| {
            format!(
                "node {node} {} (network {}, busy {})",
                millis(*wall),
                millis(*network),
                millis(*busy)
            )
        })
        .collect();
    let (slowest, (wall, _, _)) = by_node
        .iter()
        .max_by_key(|(node, (wall, _, _))| (*wall, std::cmp::Reverse(**node)))
        .expect("two nodes or more");
    let mut others: Vec<u64> = by_node
        .iter()
        .filter(|(node, _)| *node != slowest)
        .map(|(_, (wall, _, _))| *wall)
        .collect();
    others.sort_unstable();
    let median = others[others.len() / 2].max(1);
    Some(format!(
        "  by node, slowest task: {}; slowest node {slowest}, {:.2}x the others' median",
        nodes.join(", "),
        *wall as f64 / median as f64
    ))
}

/// The keys that held at least 1% of the rows the producers of a hash exchange
/// sampled, with their share (summed over the producers), hottest first.
fn hot_keys_line(tasks: &[&TaskStats]) -> Option<String> {
    let sampled: u64 = tasks.iter().map(|t| t.sampled_rows).sum();
    if sampled == 0 {
        return None;
    }
    let mut rows: BTreeMap<&str, u64> = BTreeMap::new();
    for task in tasks {
        for hot in &task.hot_keys {
            *rows.entry(hot.key.as_str()).or_default() += hot.rows;
        }
    }
    let mut hot: Vec<(&str, u64)> = rows
        .into_iter()
        .filter(|&(_, rows)| rows * 100 >= sampled)
        .collect();
    hot.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let listed: Vec<String> = hot
        .iter()
        .take(3)
        .map(|(key, rows)| format!("{key} ({:.1}%)", *rows as f64 * 100.0 / sampled as f64))
        .collect();
    Some(if listed.is_empty() {
        format!("    hot keys: none over 1% of {sampled} sampled rows")
    } else {
        format!(
            "    hot keys of {sampled} sampled rows: {}",
            listed.join(", ")
        )
    })
}

/// What a side of a skew join did: how many hot keys, how many of their rows moved.
/// Nothing when no key was hot.
fn skew_join_line(role: SkewRole, tasks: &[&TaskStats]) -> Option<String> {
    let rows: u64 = tasks.iter().map(|t| t.skew_rows).sum();
    let keys = tasks.iter().map(|t| t.skew_keys).max().unwrap_or(0);
    if keys == 0 {
        return None;
    }
    Some(match role {
        SkewRole::Spread { .. } => format!(
            "    skew join: {rows} rows of hot keys sent round-robin (up to {keys} hot key(s) \
             per producer)"
        ),
        SkewRole::Replicate { .. } => format!(
            "    skew join: {keys} hot key(s) for the whole query; {rows} build rows of them \
             sent to every partition"
        ),
    })
}

/// The query's peak reservation on every core, as `node.core=bytes`.
fn memory_line(stats: &[TaskStats]) -> String {
    let mut peaks: BTreeMap<(usize, usize), u64> = BTreeMap::new();
    for task in stats {
        let peak = peaks.entry((task.node, task.core)).or_default();
        *peak = (*peak).max(task.core_peak_reserved);
    }
    let cores: Vec<String> = peaks
        .iter()
        .map(|((node, core), peak)| format!("{node}.{core}={}", bytes(*peak)))
        .collect();
    format!("Memory: peak reservation per node.core {}", cores.join(" "))
}

/// One line per memory-holding operator or file scan of a stage, summed over its
/// tasks.
fn operator_lines(out: &mut String, tasks: &[&TaskStats]) {
    let mut operators: BTreeMap<&str, OperatorStats> = BTreeMap::new();
    for operator in tasks.iter().flat_map(|t| &t.operators) {
        let entry = operators.entry(&operator.operator).or_default();
        entry.peak_reserved = entry.peak_reserved.max(operator.peak_reserved);
        entry.spills += operator.spills;
        entry.spilled_bytes += operator.spilled_bytes;
        entry.read_back_bytes += operator.read_back_bytes;
        entry.row_groups_read += operator.row_groups_read;
        entry.row_groups_skipped += operator.row_groups_skipped;
        entry.row_groups_skipped_by_join_keys += operator.row_groups_skipped_by_join_keys;
        entry.rows_skipped_by_pages += operator.rows_skipped_by_pages;
        entry.row_groups_filtered_first += operator.row_groups_filtered_first;
        entry.bytes_read += operator.bytes_read;
        entry.runtime_filter_tested += operator.runtime_filter_tested;
        entry.runtime_filter_passed += operator.runtime_filter_passed;
    }
    for (name, stats) in operators {
        let skipped = stats.row_groups_skipped + stats.row_groups_skipped_by_join_keys;
        if stats.row_groups_read + skipped > 0 {
            let _ = writeln!(
                out,
                "  {name}: {} row group(s) read, {} skipped by their statistics ({} by a \
                 join's keys); {} row(s) skipped by the page index; {} row group(s) read \
                 filters first; {} read",
                stats.row_groups_read,
                skipped,
                stats.row_groups_skipped_by_join_keys,
                stats.rows_skipped_by_pages,
                stats.row_groups_filtered_first,
                bytes(stats.bytes_read)
            );
            continue;
        }
        let _ = write!(
            out,
            "  {name}: peak reservation max {} per task, {} spill file(s), {} written, {} read back",
            bytes(stats.peak_reserved),
            stats.spills,
            bytes(stats.spilled_bytes),
            bytes(stats.read_back_bytes),
        );
        if stats.runtime_filter_tested > 0 {
            let _ = write!(
                out,
                "; runtime filter: kept {} of {} row(s) tested",
                stats.runtime_filter_passed, stats.runtime_filter_tested
            );
        }
        out.push('\n');
    }
}

/// Max over mean: 1.00 is perfectly even.
fn skew(values: &[u64]) -> String {
    let total: u64 = values.iter().sum();
    if values.is_empty() || total == 0 {
        return "-".into();
    }
    let mean = total as f64 / values.len() as f64;
    format!("{:.2}", *values.iter().max().unwrap_or(&0) as f64 / mean)
}

fn millis(micros: u64) -> String {
    format!("{:.1} ms", micros as f64 / 1e3)
}

fn bytes(count: u64) -> String {
    match count {
        0..1024 => format!("{count} B"),
        1024..1_048_576 => format!("{:.1} KiB", count as f64 / 1024.0),
        _ => format!("{:.1} MiB", count as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(node: usize, wall_ms: u64, network_ms: u64) -> TaskStats {
        TaskStats {
            node,
            wall_us: wall_ms * 1000,
            network_wait_us: network_ms * 1000,
            // Waiting for local input too, and for room downstream.
            input_wait_us: (network_ms + 2) * 1000,
            send_wait_us: 1000,
            ..TaskStats::default()
        }
    }

    #[test]
    fn a_slow_node_is_named_with_its_ratio_to_the_others() {
        let tasks = [
            task(0, 100, 80),
            task(0, 90, 70),
            task(1, 120, 90),
            task(2, 360, 5),
        ];
        let refs: Vec<&TaskStats> = tasks.iter().collect();
        assert_eq!(
            node_line(&refs).unwrap(),
            "  by node, slowest task: node 0 100.0 ms (network 80.0 ms, busy 17.0 ms), node 1 \
             120.0 ms (network 90.0 ms, busy 27.0 ms), node 2 360.0 ms (network 5.0 ms, busy \
             352.0 ms); slowest node 2, 3.00x the others' median"
        );
        assert_eq!(node_line(&refs[..2]), None, "one node: nothing to compare");
    }

    #[test]
    fn network_waits_are_summed_by_the_node_that_sent() {
        // Partitions 0-1 on node 0, 2-3 on node 1; stage 1's tasks waited mostly for
        // partition 3.
        let producer = |partition: usize, node: usize| TaskStats {
            stage: 0,
            task: partition,
            node,
            ..TaskStats::default()
        };
        let consumer = |partition: usize, node: usize, waits: Vec<(usize, u64)>| TaskStats {
            stage: 1,
            task: partition,
            node,
            network_wait_by_source_us: waits,
            ..TaskStats::default()
        };
        let all = [
            producer(0, 0),
            producer(1, 0),
            producer(2, 1),
            producer(3, 1),
            consumer(0, 0, vec![(2, 1_000), (3, 40_000)]),
            consumer(1, 0, vec![(3, 30_000)]),
            consumer(2, 1, vec![(0, 500), (1, 1_500)]),
        ];
        let stage: Vec<&TaskStats> = all.iter().filter(|t| t.stage == 1).collect();
        assert_eq!(
            waited_for_line(&stage, &all).unwrap(),
            "  network wait by sending node (all tasks): node 0 2.0 ms, node 1 71.0 ms"
        );
        let producers: Vec<&TaskStats> = all.iter().filter(|t| t.stage == 0).collect();
        assert_eq!(waited_for_line(&producers, &all), None);
    }
}
