//! Which joins may spread hot keys at run time. A join whose two sides are hashed on
//! its keys can spread the probe rows of a hot key over every partition if the build
//! rows of that key go to every partition too (see [`SkewRole`]). Two things rule it
//! out: a join that outputs build rows by themselves (unmatched or matched-only build
//! rows would come out once per partition), and an operator above the join, in the
//! same stage, that relies on rows with equal keys sharing a partition (a final
//! aggregation, a window, a co-partitioned join, a table kept as hashed).

use super::node::{HashJoinNode, JoinKind, Node};
use super::{Exchange, ExchangeId, ExchangeKind, SkewRole, Stage, StageOutput};

/// Sets [`Exchange::skew`] on both hash exchanges of every join that may spread.
pub(crate) fn mark_skew_joins(stages: &[Stage], exchanges: &mut [Exchange]) {
    let mut pairs = Vec::new();
    for stage in stages {
        let relied_on = stage.output == StageOutput::Store;
        find_spreadable(&stage.root, relied_on, exchanges, &mut pairs);
    }
    for (probe, build) in pairs {
        exchanges[probe.0].skew = Some(SkewRole::Spread { build });
        exchanges[build.0].skew = Some(SkewRole::Replicate { probe });
    }
}

/// `relied_on`: whether something above `node` needs its rows partitioned by key.
fn find_spreadable(
    node: &Node,
    relied_on: bool,
    exchanges: &[Exchange],
    pairs: &mut Vec<(ExchangeId, ExchangeId)>,
) {
    match node {
        Node::HashJoin(join) => {
            if !relied_on {
                if let Some(pair) = spreadable_sides(join, exchanges) {
                    pairs.push(pair);
                    return;
                }
            }
            // The output is partitioned like an input only if the other is everywhere.
            let left = relied_on || !is_broadcast_read(&join.right, exchanges);
            let right = relied_on || !is_broadcast_read(&join.left, exchanges);
            find_spreadable(&join.left, left, exchanges, pairs);
            find_spreadable(&join.right, right, exchanges, pairs);
        }
        Node::NestedLoopJoin(join) => {
            find_spreadable(&join.left, relied_on, exchanges, pairs);
            find_spreadable(&join.right, true, exchanges, pairs);
        }
        Node::Aggregate(aggregate) => {
            let needs_keys_together = !aggregate.mode.emits_states();
            find_spreadable(
                &aggregate.input,
                relied_on || needs_keys_together,
                exchanges,
                pairs,
            );
        }
        Node::Window(window) => find_spreadable(&window.input, true, exchanges, pairs),
        Node::Unnest(unnest) => find_spreadable(&unnest.input, relied_on, exchanges, pairs),
        Node::Filter { input, .. }
        | Node::Project { input, .. }
        | Node::Expand { input, .. }
        | Node::Sort { input, .. }
        | Node::Limit { input, .. } => find_spreadable(input, relied_on, exchanges, pairs),
        Node::Union { inputs, .. } => {
            for input in inputs {
                find_spreadable(input, relied_on, exchanges, pairs);
            }
        }
        Node::Scan(_) | Node::Values { .. } | Node::ExchangeRead { .. } => {}
    }
}

/// (probe, build) exchanges of a join that may spread its probe side's hot keys.
fn spreadable_sides(
    join: &HashJoinNode,
    exchanges: &[Exchange],
) -> Option<(ExchangeId, ExchangeId)> {
    let emits_build_rows_alone =
        join.outputs_unmatched_build_rows() || join.outputs_build_rows_by_match();
    // NOT IN and mark joins look at the whole build side (any NULL, any row).
    if emits_build_rows_alone || join.null_aware || join.kind == JoinKind::LeftMark {
        return None;
    }
    let left = hash_read(&join.left, exchanges)?;
    let right = hash_read(&join.right, exchanges)?;
    Some(if join.build_left {
        (right, left)
    } else {
        (left, right)
    })
}

fn hash_read(node: &Node, exchanges: &[Exchange]) -> Option<ExchangeId> {
    match node {
        Node::ExchangeRead { exchange, .. }
            if matches!(exchanges[exchange.0].kind, ExchangeKind::Hash { .. }) =>
        {
            Some(*exchange)
        }
        _ => None,
    }
}

fn is_broadcast_read(node: &Node, exchanges: &[Exchange]) -> bool {
    matches!(node, Node::ExchangeRead { exchange, .. }
        if matches!(exchanges[exchange.0].kind, ExchangeKind::Broadcast))
}
