//! How a node's output rows are spread over partitions. The planner compares
//! distributions to decide whether an operator can run where the data already lies.

/// How partitioned rows were assigned to partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// Percore's stable hash of the key columns.
    Hash,
    /// Catalog key ranges of a domain (tables sharing the domain are aligned).
    KeyRange(String),
    /// No known rule.
    Unknown,
}

/// Where a node's rows are. Key columns are positions in the node's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Distribution {
    /// All rows, on partition 0 only.
    Single,
    /// All rows, on every partition.
    Replicated,
    /// Spread over the partitions by `scheme`. Each entry of `key_sets` is a list of
    /// columns the rows are partitioned on; after an equi-join several lists are
    /// equivalent (`o_orderkey` and `l_orderkey`), and any one of them may be used.
    Partitioned {
        scheme: Scheme,
        key_sets: Vec<Vec<usize>>,
    },
}

impl Distribution {
    /// Partitioned on no known key.
    pub fn any() -> Self {
        Distribution::Partitioned {
            scheme: Scheme::Unknown,
            key_sets: Vec::new(),
        }
    }

    pub fn hash(columns: Vec<usize>) -> Self {
        Distribution::Partitioned {
            scheme: Scheme::Hash,
            key_sets: vec![columns],
        }
    }

    pub fn key_range(columns: Vec<usize>, domain: String) -> Self {
        Distribution::Partitioned {
            scheme: Scheme::KeyRange(domain),
            key_sets: vec![columns],
        }
    }

    /// Whether rows are spread over several partitions (not complete anywhere).
    pub fn is_partitioned(&self) -> bool {
        matches!(self, Distribution::Partitioned { .. })
    }

    /// The equivalent key column lists the rows are partitioned on (empty if none).
    pub fn key_sets(&self) -> &[Vec<usize>] {
        match self {
            Distribution::Partitioned { key_sets, .. } => key_sets,
            _ => &[],
        }
    }

    /// Whether all rows with equal values in `columns` share a partition: the rows are
    /// partitioned on keys that are all among them (`None` is a column with no
    /// input position, an expression).
    pub fn partitioned_within(&self, columns: &[Option<usize>]) -> bool {
        self.key_sets()
            .iter()
            .any(|keys| keys.iter().all(|key| columns.contains(&Some(*key))))
    }

    /// Whether the rows are hash-partitioned on exactly `columns`.
    pub fn is_hashed_on(&self, columns: &[usize]) -> bool {
        matches!(self, Distribution::Partitioned { scheme: Scheme::Hash, key_sets }
            if key_sets.iter().any(|keys| keys == columns))
    }

    /// The same distribution seen through a projection; `map` gives a column's new
    /// position, or `None` when the projection drops it. Key lists with a dropped
    /// column are forgotten; with none left, the rows are partitioned on no known key.
    pub fn remap(&self, map: impl Fn(usize) -> Option<usize>) -> Distribution {
        let Distribution::Partitioned { scheme, key_sets } = self else {
            return self.clone();
        };
        let key_sets: Vec<Vec<usize>> = key_sets
            .iter()
            .filter_map(|keys| keys.iter().map(|&c| map(c)).collect::<Option<Vec<_>>>())
            .collect();
        if key_sets.is_empty() {
            return Distribution::any();
        }
        Distribution::Partitioned {
            scheme: scheme.clone(),
            key_sets,
        }
    }

    /// Both inputs' key lists, for the output of a join whose inputs were co-located
    /// on equal keys; `right_offset` is where the right input's columns start.
    pub fn merged_with(&self, right: &Distribution, right_offset: usize) -> Distribution {
        let shifted = right.remap(|c| Some(c + right_offset));
        match (self, shifted) {
            (
                Distribution::Partitioned { scheme, key_sets },
                Distribution::Partitioned {
                    scheme: right_scheme,
                    key_sets: right_sets,
                },
            ) if *scheme == right_scheme && *scheme != Scheme::Unknown => {
                let mut key_sets = key_sets.clone();
                key_sets.extend(right_sets);
                Distribution::Partitioned {
                    scheme: scheme.clone(),
                    key_sets,
                }
            }
            _ => self.clone(),
        }
    }

    /// Whether rows of `left` and `right` that agree on the `pairs` of key columns
    /// (left column, right column) are always in the same partition.
    pub fn co_partitioned(
        left: &Distribution,
        right: &Distribution,
        pairs: &[(usize, usize)],
    ) -> bool {
        let (
            Distribution::Partitioned {
                scheme: left_scheme,
                key_sets: left_sets,
            },
            Distribution::Partitioned {
                scheme: right_scheme,
                key_sets: right_sets,
            },
        ) = (left, right)
        else {
            return false;
        };
        if left_scheme != right_scheme || *left_scheme == Scheme::Unknown {
            return false;
        }
        let keys_pair_up = |left_keys: &Vec<usize>, right_keys: &Vec<usize>| {
            left_keys.len() == right_keys.len()
                && left_keys
                    .iter()
                    .zip(right_keys)
                    .all(|(l, r)| pairs.contains(&(*l, *r)))
        };
        left_sets
            .iter()
            .any(|l| right_sets.iter().any(|r| keys_pair_up(l, r)))
    }

    pub fn describe(&self) -> String {
        match self {
            Distribution::Single => "single".to_string(),
            Distribution::Replicated => "replicated".to_string(),
            Distribution::Partitioned { scheme, key_sets } => {
                let keys = key_sets
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(" or ");
                match scheme {
                    Scheme::Hash => format!("hash on {keys}"),
                    Scheme::KeyRange(domain) => format!("{domain} ranges on {keys}"),
                    Scheme::Unknown => "partitioned".to_string(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_domain_key_ranges_are_co_partitioned_only_on_their_keys() {
        let orders = Distribution::key_range(vec![0], "orderkey".into());
        let lineitem = Distribution::key_range(vec![2], "orderkey".into());
        assert!(Distribution::co_partitioned(&orders, &lineitem, &[(0, 2)]));
        assert!(!Distribution::co_partitioned(&orders, &lineitem, &[(0, 1)]));
        let part = Distribution::key_range(vec![2], "partkey".into());
        assert!(!Distribution::co_partitioned(&orders, &part, &[(0, 2)]));
        assert!(!Distribution::co_partitioned(
            &Distribution::any(),
            &Distribution::any(),
            &[(0, 0)]
        ));
    }

    #[test]
    fn projection_that_drops_a_key_loses_the_partitioning() {
        let hashed = Distribution::hash(vec![1, 3]);
        assert_eq!(
            hashed.remap(|c| Some(c + 1)),
            Distribution::hash(vec![2, 4])
        );
        assert_eq!(hashed.remap(|c| (c == 1).then_some(0)), Distribution::any());
    }

    #[test]
    fn join_output_keeps_either_side_key_after_projection() {
        // orders(o_orderkey@0) joined with lineitem(l_orderkey@0) on 2 left columns.
        let orders = Distribution::key_range(vec![0], "orderkey".into());
        let lineitem = Distribution::key_range(vec![0], "orderkey".into());
        let joined = orders.merged_with(&lineitem, 2);
        // A projection that drops o_orderkey but keeps l_orderkey (now column 0).
        let projected = joined.remap(|c| (c == 2).then_some(0));
        assert_eq!(
            projected,
            Distribution::key_range(vec![0], "orderkey".into())
        );
    }
}
