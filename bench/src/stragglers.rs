//! The slowest node of a query on a cluster, read from its EXPLAIN ANALYZE: a node
//! that is alive but slow makes every query wait for it, and the harness names it
//! per query rather than averaging it into the medians.

use serde::Serialize;

/// The node that spent the longest on its own share of a query.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlowestNode {
    pub node: usize,
    /// Summed over the stages that ran on several nodes: the longest one of the
    /// node's tasks was busy (its wall time less its waits for input and for room
    /// downstream: waiting on another node is that node's slowness, not this one's).
    pub own_ms: f64,
    /// `own_ms` over the median of the other nodes'.
    pub ratio: f64,
}

const BY_NODE: &str = "by node, slowest task: ";

/// From EXPLAIN ANALYZE text: each stage on several nodes has a line `by node,
/// slowest task: node 0 2.6 ms (network 0.0 ms, busy 2.1 ms), node 1 ...; slowest
/// node ..`. `None` when no stage ran on two nodes or more.
pub fn slowest_node(explain_analyze: &str) -> Option<SlowestNode> {
    let mut own_ms: Vec<f64> = Vec::new();
    for line in explain_analyze.lines() {
        let Some((_, nodes)) = line.split_once(BY_NODE) else {
            continue;
        };
        let nodes = nodes.split_once("; ").map_or(nodes, |(nodes, _)| nodes);
        for entry in nodes.split("), ") {
            let (node, busy) = parse_entry(entry)?;
            if own_ms.len() <= node {
                own_ms.resize(node + 1, 0.0);
            }
            own_ms[node] += busy;
        }
    }
    if own_ms.len() < 2 {
        return None;
    }
    let (node, &slowest) = own_ms
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    let mut others: Vec<f64> = own_ms
        .iter()
        .enumerate()
        .filter(|(other, _)| *other != node)
        .map(|(_, ms)| *ms)
        .collect();
    others.sort_by(f64::total_cmp);
    let median = if others.len() % 2 == 1 {
        others[others.len() / 2]
    } else {
        (others[others.len() / 2 - 1] + others[others.len() / 2]) / 2.0
    };
    Some(SlowestNode {
        node,
        own_ms: slowest,
        ratio: slowest / median.max(0.001),
    })
}

/// `node 1 3.2 ms (network 0.4 ms, busy 2.5 ms` (the closing parenthesis may be
/// split off): the node and its busy milliseconds.
fn parse_entry(entry: &str) -> Option<(usize, f64)> {
    let rest = entry.trim().strip_prefix("node ")?;
    let (node, rest) = rest.split_once(' ')?;
    let (_, busy) = rest.split_once(", busy ")?;
    let busy = busy.trim_end_matches(')').strip_suffix(" ms")?;
    Some((node.parse().ok()?, busy.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAGES: &str = "\
Stage 0: 3 task(s), rows out 27
  by node, slowest task: node 0 2.6 ms (network 0.0 ms, busy 2.6 ms), node 1 3.2 ms (network 0.0 ms, busy 3.1 ms), node 2 0.7 ms (network 0.0 ms, busy 0.7 ms); slowest node 1, 1.26x the others' median
Stage 4: 3 task(s), rows out 15
  by node, slowest task: node 0 13.5 ms (network 3.1 ms, busy 10.4 ms), node 1 24.3 ms (network 0.2 ms, busy 24.2 ms), node 2 11.5 ms (network 8.2 ms, busy 3.3 ms); slowest node 1, 1.80x the others' median
Stage 6: 1 task(s), rows out 5
  network wait by sending node (all tasks): node 2 24.4 ms
";

    #[test]
    fn the_node_with_the_most_own_time_is_named_against_the_others_median() {
        let slowest = slowest_node(STAGES).unwrap();
        assert_eq!(slowest.node, 1);
        assert!((slowest.own_ms - 27.3).abs() < 1e-9, "{slowest:?}");
        // Node 0: 2.6 + 10.4 = 13.0; node 2: 0.7 + 3.3 = 4.0; median 8.5.
        assert!((slowest.ratio - 27.3 / 8.5).abs() < 1e-9, "{slowest:?}");
        // The form without busy times (before it was printed) names none.
        let old = STAGES.replace(", busy 2.6 ms", "");
        assert_eq!(slowest_node(&old), None);
    }

    #[test]
    fn one_node_or_text_not_in_the_form_names_none() {
        assert_eq!(slowest_node("Stage 0: 1 task(s)\n  Scan lineitem\n"), None);
        let damaged =
            "  by node, slowest task: node 0 2.6 ms (network 1 ms, busy x ms), node 1 1 ms";
        assert_eq!(slowest_node(damaged), None);
    }
}
