//! Which node and core run each partition. Partitions are numbered cluster-wide:
//! node `n` owns partitions `n * cores_per_node ..` `(n + 1) * cores_per_node`, one per
//! core, so every node computes every task's home from the plan alone.

use std::ops::Range;

use crate::plan::Placement;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    /// This node's id, `0..nodes`.
    pub node: usize,
    pub nodes: usize,
    pub cores_per_node: usize,
}

impl Topology {
    /// One process holding every partition.
    pub fn single(cores: usize) -> Topology {
        Topology {
            node: 0,
            nodes: 1,
            cores_per_node: cores,
        }
    }

    pub fn partitions(&self) -> usize {
        self.nodes * self.cores_per_node
    }

    pub fn node_of(&self, partition: usize) -> usize {
        partition / self.cores_per_node
    }

    pub fn local_partitions(&self) -> Range<usize> {
        self.node * self.cores_per_node..(self.node + 1) * self.cores_per_node
    }

    /// The node that runs task `task` of a stage placed at `placement`.
    pub fn task_node(&self, placement: Placement, task: usize, coordinator: usize) -> usize {
        match placement {
            Placement::AllPartitions => self.node_of(task),
            Placement::Coordinator => coordinator,
        }
    }

    /// The local core that runs task `task` (on the node that runs it).
    pub fn task_core(&self, placement: Placement, task: usize) -> usize {
        match placement {
            Placement::AllPartitions => task % self.cores_per_node,
            Placement::Coordinator => 0,
        }
    }
}

/// The tasks a stage runs, cluster-wide: one per partition, or one on the coordinator.
pub fn stage_tasks(placement: Placement, partitions: usize) -> Range<usize> {
    match placement {
        Placement::AllPartitions => 0..partitions,
        Placement::Coordinator => 0..1,
    }
}
