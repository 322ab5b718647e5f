//! How a node's output rows are spread over partitions. The planner compares
//! distributions to decide whether an operator can run where the data already lies.

/// Where a node's rows are. Key lists are column positions in the node's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Distribution {
    /// All rows, on partition 0 only.
    Single,
    /// All rows, on every partition.
    Replicated,
    /// Partitioned by Percore's hash of these columns.
    Hash(Vec<usize>),
    /// Partitioned by catalog key ranges of `domain` on these columns.
    KeyRange { columns: Vec<usize>, domain: String },
    /// Partitioned, on no known key.
    Any,
}

impl Distribution {
    /// Whether rows are spread over several partitions (not complete anywhere).
    pub fn is_partitioned(&self) -> bool {
        !matches!(self, Distribution::Single | Distribution::Replicated)
    }

    /// The partitioning key columns, if rows are partitioned on a key.
    pub fn keys(&self) -> Option<&[usize]> {
        match self {
            Distribution::Hash(columns) | Distribution::KeyRange { columns, .. } => Some(columns),
            _ => None,
        }
    }

    /// The same distribution seen through a projection; `map` gives a column's new
    /// position, or `None` when the projection drops it (the key is then lost).
    pub fn remap(&self, map: impl Fn(usize) -> Option<usize>) -> Distribution {
        let remap_all = |columns: &[usize]| columns.iter().map(|&c| map(c)).collect();
        match self {
            Distribution::Hash(columns) => match remap_all(columns) {
                Some(columns) => Distribution::Hash(columns),
                None => Distribution::Any,
            },
            Distribution::KeyRange { columns, domain } => match remap_all(columns) {
                Some(columns) => Distribution::KeyRange {
                    columns,
                    domain: domain.clone(),
                },
                None => Distribution::Any,
            },
            other => other.clone(),
        }
    }

    /// Whether rows of `left` and `right` that agree on the `pairs` of key columns
    /// (left column, right column) are always in the same partition.
    pub fn co_partitioned(
        left: &Distribution,
        right: &Distribution,
        pairs: &[(usize, usize)],
    ) -> bool {
        let keys_pair_up = |left_keys: &[usize], right_keys: &[usize]| {
            left_keys.len() == right_keys.len()
                && left_keys
                    .iter()
                    .zip(right_keys)
                    .all(|(l, r)| pairs.contains(&(*l, *r)))
        };
        match (left, right) {
            (Distribution::Hash(l), Distribution::Hash(r)) => keys_pair_up(l, r),
            (
                Distribution::KeyRange {
                    columns: l,
                    domain: left_domain,
                },
                Distribution::KeyRange {
                    columns: r,
                    domain: right_domain,
                },
            ) => left_domain == right_domain && keys_pair_up(l, r),
            _ => false,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Distribution::Single => "single".to_string(),
            Distribution::Replicated => "replicated".to_string(),
            Distribution::Hash(columns) => format!("hash{columns:?}"),
            Distribution::KeyRange { columns, domain } => format!("{domain} ranges on {columns:?}"),
            Distribution::Any => "partitioned".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_domain_key_ranges_are_co_partitioned_only_on_their_keys() {
        let orders = Distribution::KeyRange {
            columns: vec![0],
            domain: "orderkey".into(),
        };
        let lineitem = Distribution::KeyRange {
            columns: vec![2],
            domain: "orderkey".into(),
        };
        assert!(Distribution::co_partitioned(&orders, &lineitem, &[(0, 2)]));
        assert!(!Distribution::co_partitioned(&orders, &lineitem, &[(0, 1)]));
        let part = Distribution::KeyRange {
            columns: vec![2],
            domain: "partkey".into(),
        };
        assert!(!Distribution::co_partitioned(&orders, &part, &[(0, 2)]));
    }

    #[test]
    fn projection_that_drops_a_key_loses_the_partitioning() {
        let hashed = Distribution::Hash(vec![1, 3]);
        assert_eq!(
            hashed.remap(|c| Some(c + 1)),
            Distribution::Hash(vec![2, 4])
        );
        assert_eq!(hashed.remap(|c| (c == 1).then_some(0)), Distribution::Any);
    }
}
