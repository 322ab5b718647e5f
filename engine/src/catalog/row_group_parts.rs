//! Which rows of which Parquet row groups each partition reads. Row groups go whole,
//! in file and row-group order, each to the partition with the fewest rows so far
//! (round-robin while they are of a size, so the groups a filter keeps, often a run
//! of them, are spread over the cores). A row group that would leave its partition
//! well over its share of the table's rows is cut, so a file of one large row group
//! (pandas and pyarrow write up to a million rows in one) is read by every core.
//! Computed from the footers alone: the same on every node.

use std::ops::Range;

/// Rows `rows` (counted from the row group's first) of row group `group` of file
/// `file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowGroupPart {
    pub file: usize,
    pub group: usize,
    pub rows: Range<usize>,
}

/// Row groups are not cut into pieces of fewer rows (small tables are not cut).
const LEAST_PIECE_ROWS: usize = 8192;

/// Deals the row groups `(file, group, rows)`, in order, to `partitions`.
pub fn deal(groups: &[(usize, usize, usize)], partitions: usize) -> Vec<Vec<RowGroupPart>> {
    let partitions = partitions.max(1);
    let total: usize = groups.iter().map(|&(_, _, rows)| rows).sum();
    let share = total.div_ceil(partitions);
    // A partition may end an eighth over its share rather than cut a row group, and
    // no piece is cut smaller than a quarter share or a batch: every piece costs its
    // columns' dictionaries, and without an offset index, their whole chunks' bytes.
    let slack = share / 8;
    let least_piece = (share / 4).max(LEAST_PIECE_ROWS);
    let mut loads = vec![0usize; partitions];
    let mut parts = vec![Vec::new(); partitions];
    for &(file, group, rows) in groups {
        let mut start = 0;
        while start < rows {
            let partition = (0..partitions)
                .min_by_key(|&p| (loads[p], p))
                .expect("at least one partition");
            let remaining = rows - start;
            let room = share.saturating_sub(loads[partition]);
            let fits = loads[partition] + remaining <= share + slack;
            let tail = remaining.saturating_sub(room);
            let take = if fits || room < least_piece || tail < least_piece {
                remaining
            } else {
                room
            };
            parts[partition].push(RowGroupPart {
                file,
                group,
                rows: start..start + take,
            });
            loads[partition] += take;
            start += take;
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows per partition, after checking that every row of every group is dealt
    /// exactly once.
    fn loads(groups: &[(usize, usize, usize)], partitions: usize) -> Vec<usize> {
        let parts = deal(groups, partitions);
        assert_eq!(parts.len(), partitions.max(1));
        for &(file, group, rows) in groups {
            let mut pieces: Vec<Range<usize>> = parts
                .iter()
                .flatten()
                .filter(|part| part.file == file && part.group == group)
                .map(|part| part.rows.clone())
                .collect();
            pieces.sort_by_key(|piece| piece.start);
            let mut next = 0;
            for piece in pieces {
                assert_eq!(piece.start, next, "{groups:?} over {partitions}");
                assert!(piece.end > piece.start);
                next = piece.end;
            }
            assert_eq!(next, rows, "{groups:?} over {partitions}");
        }
        parts
            .iter()
            .map(|parts| parts.iter().map(|part| part.rows.len()).sum())
            .collect()
    }

    #[test]
    fn many_row_groups_go_whole_and_round_robin() {
        // DuckDB's 122,880-row groups: lineitem at SF 1 has 49.
        let groups: Vec<_> = (0..49).map(|g| (0, g, 122_880)).collect();
        let parts = deal(&groups, 2);
        assert!(parts.iter().flatten().all(|part| part.rows == (0..122_880)));
        let first: Vec<usize> = parts[0].iter().map(|part| part.group).collect();
        assert_eq!(first, (0..49).step_by(2).collect::<Vec<_>>());
        // Sixteen cores: one group more on one core rather than a cut of a few rows.
        let loads = loads(&groups, 16);
        assert_eq!(loads.iter().max(), Some(&(4 * 122_880)));
        assert_eq!(loads.iter().min(), Some(&(3 * 122_880)));
    }

    #[test]
    fn large_row_groups_are_cut_so_every_partition_reads_a_share() {
        for (groups, partitions) in [
            (vec![(0, 0, 1_000_000)], 2),
            (vec![(0, 0, 1_000_000)], 16),
            (vec![(0, 0, 999_999)], 3),
            (
                vec![(0, 0, 1_000_000), (0, 1, 1_000_000), (1, 0, 1_000_000)],
                2,
            ),
            (vec![(0, 0, 5), (1, 0, 700_000), (2, 0, 3)], 4),
        ] {
            let loads = loads(&groups, partitions);
            let total: usize = groups.iter().map(|g| g.2).sum();
            let share = total.div_ceil(partitions);
            for load in &loads {
                assert!(*load <= share + share / 4, "{loads:?} of {groups:?}");
                assert!(*load * 2 >= share, "{loads:?} of {groups:?}");
            }
        }
    }

    #[test]
    fn empty_tables_and_row_groups_deal_nothing() {
        assert_eq!(loads(&[], 3), [0, 0, 0]);
        assert_eq!(loads(&[(0, 0, 0), (0, 1, 10)], 2), [10, 0]);
        assert_eq!(loads(&[(0, 0, 7)], 0), [7]);
    }
}
