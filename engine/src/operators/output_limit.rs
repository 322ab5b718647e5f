//! The bound on every output batch. An operator whose output can outgrow its input (a
//! join that fans out, a cross join, outer rows left at the end) hands it on in
//! pieces of at most `rows` rows and about `bytes` bytes: each piece is what the
//! operators above, an exchange and a cancellation check deal with at a time, so the
//! memory in flight between operators stays a fixed number of batches.

use arrow::record_batch::RecordBatch;

use crate::memory::size::batch_bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimit {
    pub rows: usize,
    pub bytes: usize,
}

impl OutputLimit {
    pub fn new(rows: usize, bytes: usize) -> Self {
        OutputLimit {
            rows: rows.max(1),
            bytes: bytes.max(1),
        }
    }

    /// Rows per output batch when each row takes about `row_bytes`: at least one.
    pub fn rows_for(&self, row_bytes: usize) -> usize {
        (self.bytes / row_bytes.max(1)).clamp(1, self.rows)
    }
}

/// Average bytes per row of `batch` (zero for an empty batch).
pub fn row_bytes(batch: &RecordBatch) -> usize {
    batch_bytes(batch).div_ceil(batch.num_rows().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_rows_get_fewer_rows_per_batch_but_never_none() {
        let limit = OutputLimit::new(8192, 4 << 20);
        assert_eq!(limit.rows_for(100), 8192);
        assert_eq!(limit.rows_for(4096), 1024);
        assert_eq!(limit.rows_for(64 << 20), 1);
        assert_eq!(limit.rows_for(0), 8192);
        assert_eq!(OutputLimit::new(0, 0).rows_for(10), 1);
    }
}
