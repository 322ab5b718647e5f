//! What the planner knows about a table's values beyond its row count: how many
//! distinct values a column (or a set of columns) holds and the range a numeric or
//! date column spans. The planner orders joins and sizes their sides by them.
//!
//! Statistics are declared with the table, not measured from the partitions a node
//! holds: every node must derive the same numbers, or nodes would plan differently.

/// Declared value statistics of one table; anything not declared is unknown.
#[derive(Debug, Clone, Default)]
pub struct TableStatistics {
    /// Distinct value combinations of column sets (single columns are one-element sets).
    distinct: Vec<(Vec<String>, f64)>,
    /// `(column, min, max)` with dates as days since 1970-01-01.
    ranges: Vec<(String, f64, f64)>,
}

impl TableStatistics {
    /// Declares that `columns` together take `count` distinct values.
    pub fn with_distinct(mut self, columns: &[&str], count: f64) -> Self {
        let mut columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        columns.sort_unstable();
        self.distinct.push((columns, count));
        self
    }

    /// Declares that `column`'s values lie in `min..=max`.
    pub fn with_range(mut self, column: &str, min: f64, max: f64) -> Self {
        self.ranges.push((column.to_string(), min, max));
        self
    }

    /// Distinct values of exactly this set of columns, when declared.
    pub fn distinct(&self, columns: &[&str]) -> Option<f64> {
        let mut wanted: Vec<&str> = columns.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        self.distinct
            .iter()
            .find(|(set, _)| set.iter().map(String::as_str).eq(wanted.iter().copied()))
            .map(|(_, count)| *count)
    }

    /// The declared `(min, max)` of a column.
    pub fn range(&self, column: &str) -> Option<(f64, f64)> {
        self.ranges
            .iter()
            .find(|(name, _, _)| name == column)
            .map(|(_, min, max)| (*min, *max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_sets_match_in_any_order() {
        let stats = TableStatistics::default()
            .with_distinct(&["a"], 10.0)
            .with_distinct(&["b", "a"], 40.0);
        assert_eq!(stats.distinct(&["a"]), Some(10.0));
        assert_eq!(stats.distinct(&["a", "b"]), Some(40.0));
        assert_eq!(stats.distinct(&["b"]), None);
        assert_eq!(stats.range("a"), None);
    }
}
