//! Hash join. The build side is collected whole into one batch with a chained hash
//! table over its row-encoded keys; probe batches stream through. Rows whose keys hold
//! a NULL never match (SQL equality), except for the NOT IN rule of null-aware joins.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, UInt32Array};
use arrow::compute::{concat_batches, filter_record_batch, take};
use arrow::datatypes::SchemaRef;
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrow::row::{RowConverter, Rows, SortField};
use datafusion_physical_expr::PhysicalExpr;
use hashbrown::HashTable;

use super::compact::{compact_views, Compact};
use super::hash::{hash_u64, stable_hash};
use super::{evaluate, evaluate_mask};
use crate::error::{TaskError, TaskResult};
use crate::memory::size::batch_bytes;
use crate::plan::node::{HashJoinNode, JoinKind};

const NO_ROW: u32 = u32::MAX;

/// The build side's keys: a single 64-bit integer column is hashed and compared as
/// integers (most equi-joins on surrogate keys); anything else is row-encoded.
enum BuildKeys {
    Int64(Int64Array),
    Encoded { converter: RowConverter, rows: Rows },
}

/// The built side: its rows and a chained hash table over their keys.
pub struct JoinTable {
    batch: RecordBatch,
    keys: BuildKeys,
    /// First build row of each distinct key (by hash, then equal keys).
    heads: HashTable<u32>,
    /// Next build row with the same key, or `NO_ROW`.
    next: Vec<u32>,
    /// Whether any build row has a NULL key (NOT IN then returns nothing).
    has_null_key: bool,
    /// For full joins: build rows that found a match.
    matched: Vec<bool>,
    /// Rows of the whole build side, when this table holds one spill partition of it
    /// (NOT IN needs to know whether the whole side was empty).
    total_rows: usize,
}

impl JoinTable {
    /// Builds the table from every batch of the build side.
    pub fn build(
        schema: SchemaRef,
        batches: &[RecordBatch],
        keys: &[Arc<dyn PhysicalExpr>],
    ) -> TaskResult<Self> {
        // Probe batches take from this batch many times: one buffer per string column.
        let batch = compact_views(&concat_batches(&schema, batches)?, Compact::ToOneBuffer)?;
        let key_columns = evaluate(keys, &batch)?;
        let valid = all_valid(&key_columns, batch.num_rows());
        let keys = match key_columns.as_slice() {
            [single] if single.data_type() == &DataType::Int64 => {
                BuildKeys::Int64(single.as_primitive::<Int64Type>().clone())
            }
            _ => {
                let fields = key_columns
                    .iter()
                    .map(|c| SortField::new(c.data_type().clone()))
                    .collect();
                let converter = RowConverter::new(fields)?;
                let rows = converter.convert_columns(&key_columns)?;
                BuildKeys::Encoded { converter, rows }
            }
        };
        let mut table = JoinTable {
            heads: HashTable::with_capacity(batch.num_rows()),
            next: vec![NO_ROW; batch.num_rows()],
            batch,
            keys,
            has_null_key: false,
            matched: Vec::new(),
            total_rows: 0,
        };
        table.total_rows = table.batch.num_rows();
        match &table.keys {
            BuildKeys::Int64(values) => {
                let values = values.values();
                table.has_null_key = insert_chains(
                    &mut table.heads,
                    &mut table.next,
                    valid.as_deref(),
                    |row| hash_u64(values[row] as u64),
                    |a, b| values[a] == values[b],
                );
            }
            BuildKeys::Encoded { rows, .. } => {
                table.has_null_key = insert_chains(
                    &mut table.heads,
                    &mut table.next,
                    valid.as_deref(),
                    |row| stable_hash(rows.row(row).as_ref()),
                    |a, b| rows.row(a) == rows.row(b),
                );
            }
        }
        Ok(table)
    }

    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Makes this table (one partition of a spilled build side) answer NOT IN for
    /// the whole side: whether any of its keys was NULL, and how many rows it had.
    pub fn with_whole_side(mut self, has_null_key: bool, total_rows: usize) -> Self {
        self.has_null_key |= has_null_key;
        self.total_rows = total_rows;
        self
    }

    /// What building a table over `rows` rows of `batch_bytes` needs beyond the
    /// batches themselves: their concatenated copy, the keys, and the chains.
    pub fn build_overhead(batch_bytes: usize, rows: usize) -> usize {
        batch_bytes + rows * 32
    }

    pub fn memory_bytes(&self) -> usize {
        let keys = match &self.keys {
            BuildKeys::Int64(values) => values.get_array_memory_size(),
            BuildKeys::Encoded { rows, .. } => rows.size(),
        };
        batch_bytes(&self.batch) + keys + self.heads.capacity() * 4 + self.next.len() * 4
    }

    /// (probe row, build row) pairs with equal, non-null keys.
    fn matches(
        &self,
        probe_keys: &[ArrayRef],
        num_rows: usize,
    ) -> TaskResult<(Vec<u32>, Vec<u32>)> {
        let valid = all_valid(probe_keys, num_rows);
        let mismatch = |error: String| {
            TaskError::internal(format!(
                "join keys of different types on the two sides: {error}"
            ))
        };
        let mut pairs = (Vec::new(), Vec::new());
        match &self.keys {
            BuildKeys::Int64(build) => {
                let [probe] = probe_keys else {
                    return Err(mismatch(format!("{} probe keys for 1", probe_keys.len())));
                };
                let probe = probe
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| mismatch(format!("{} probes Int64", probe.data_type())))?
                    .values();
                let build = build.values();
                self.probe_chains(
                    valid.as_deref(),
                    num_rows,
                    |row| hash_u64(probe[row] as u64),
                    |row, head| probe[row] == build[head],
                    &mut pairs,
                );
            }
            BuildKeys::Encoded { converter, rows } => {
                let probe = converter
                    .convert_columns(probe_keys)
                    .map_err(|e| mismatch(e.to_string()))?;
                self.probe_chains(
                    valid.as_deref(),
                    num_rows,
                    |row| stable_hash(probe.row(row).as_ref()),
                    |row, head| probe.row(row) == rows.row(head),
                    &mut pairs,
                );
            }
        }
        Ok(pairs)
    }

    /// Appends, for every valid probe row, one pair per build row with an equal key.
    fn probe_chains(
        &self,
        valid: Option<&[bool]>,
        num_rows: usize,
        hash_of: impl Fn(usize) -> u64,
        equal: impl Fn(usize, usize) -> bool,
        (probe, build): &mut (Vec<u32>, Vec<u32>),
    ) {
        for row in 0..num_rows {
            if !valid.is_none_or(|v| v[row]) {
                continue;
            }
            let head = self
                .heads
                .find(hash_of(row), |&head| equal(row, head as usize));
            let mut build_idx = head.copied().unwrap_or(NO_ROW);
            while build_idx != NO_ROW {
                probe.push(row as u32);
                build.push(build_idx);
                build_idx = self.next[build_idx as usize];
            }
        }
    }
}

/// Links every valid build row into the chain of its key, keeping rows in input
/// order along each chain. Returns whether some row had a NULL key.
fn insert_chains(
    heads: &mut HashTable<u32>,
    next: &mut [u32],
    valid: Option<&[bool]>,
    hash_of: impl Fn(usize) -> u64,
    equal: impl Fn(usize, usize) -> bool,
) -> bool {
    let mut has_null_key = false;
    for row in (0..next.len()).rev() {
        if !valid.is_none_or(|v| v[row]) {
            has_null_key = true;
            continue;
        }
        let hash = hash_of(row);
        match heads.find_mut(hash, |&head| equal(row, head as usize)) {
            Some(head) => {
                next[row] = *head;
                *head = row as u32;
            }
            None => {
                heads.insert_unique(hash, row as u32, |&head| hash_of(head as usize));
            }
        }
    }
    has_null_key
}

/// Per-row validity across all key columns; `None` when no key has nulls.
fn all_valid(columns: &[ArrayRef], num_rows: usize) -> Option<Vec<bool>> {
    if columns.iter().all(|c| c.null_count() == 0) {
        return None;
    }
    Some(
        (0..num_rows)
            .map(|row| columns.iter().all(|c| c.is_valid(row)))
            .collect(),
    )
}

/// Probes batches against a built [`JoinTable`] with the join's semantics.
pub struct HashJoinProbe {
    table: JoinTable,
    probe_keys: Vec<Arc<dyn PhysicalExpr>>,
    filter: Option<Arc<dyn PhysicalExpr>>,
    kind: JoinKind,
    /// The probe side is the join's left input (false for joins built left).
    probe_is_left: bool,
    /// A semi or anti join built on its left: outputs build rows after the probe side.
    outputs_build_rows: bool,
    /// [`HashJoinNode::outputs_unmatched_build_rows`]: after the probe side.
    unmatched_build_out: bool,
    /// [`HashJoinNode::outputs_unmatched_probe_rows`].
    unmatched_probe_out: bool,
    null_aware: bool,
    schema: SchemaRef,
}

impl HashJoinProbe {
    pub fn new(node: &HashJoinNode, table: JoinTable) -> Self {
        let probe_is_left = !node.build_left;
        let probe_keys = node
            .on
            .iter()
            .map(|(l, r)| Arc::clone(if probe_is_left { l } else { r }))
            .collect();
        let mut table = table;
        if node.outputs_unmatched_build_rows() || node.outputs_build_rows_by_match() {
            table.matched = vec![false; table.num_rows()];
        }
        HashJoinProbe {
            table,
            probe_keys,
            filter: node.filter.clone(),
            kind: node.kind,
            probe_is_left,
            outputs_build_rows: node.outputs_build_rows_by_match(),
            unmatched_build_out: node.outputs_unmatched_build_rows(),
            unmatched_probe_out: node.outputs_unmatched_probe_rows(),
            null_aware: node.null_aware,
            schema: Arc::clone(&node.schema),
        }
    }

    /// Joins one probe batch; returns the output rows it produced.
    pub fn probe(&mut self, batch: &RecordBatch) -> TaskResult<RecordBatch> {
        if self.null_aware && self.table.has_null_key {
            // x NOT IN (.. NULL ..) is never true.
            return Ok(RecordBatch::new_empty(Arc::clone(&self.schema)));
        }
        let (keys, probe_idx, build_idx) = self.matching_pairs(batch)?;
        if self.outputs_build_rows {
            self.mark_build_matches(&build_idx);
            return Ok(RecordBatch::new_empty(Arc::clone(&self.schema)));
        }
        if self.unmatched_build_out {
            self.mark_build_matches(&build_idx);
        }
        let pairs_only = match self.kind {
            JoinKind::Inner => true,
            JoinKind::Left | JoinKind::Full => !self.unmatched_probe_out,
            JoinKind::LeftSemi | JoinKind::LeftAnti => false,
        };
        if pairs_only {
            return self.combine(
                batch,
                &UInt32Array::from(probe_idx),
                &UInt32Array::from(build_idx),
                false,
            );
        }
        match self.kind {
            // Inner joins output pairs only (above); these keep unmatched probe rows.
            JoinKind::Inner | JoinKind::Left | JoinKind::Full => {
                let mut matched = vec![false; batch.num_rows()];
                for &p in &probe_idx {
                    matched[p as usize] = true;
                }
                let mut probe_all: Vec<Option<u32>> = probe_idx.into_iter().map(Some).collect();
                let mut build_all: Vec<Option<u32>> = build_idx.into_iter().map(Some).collect();
                for (row, was_matched) in matched.iter().enumerate() {
                    if !was_matched {
                        probe_all.push(Some(row as u32));
                        build_all.push(None);
                    }
                }
                self.combine(
                    batch,
                    &UInt32Array::from(probe_all),
                    &UInt32Array::from(build_all),
                    false,
                )
            }
            JoinKind::LeftSemi | JoinKind::LeftAnti => {
                let mut matched = vec![false; batch.num_rows()];
                for &p in &probe_idx {
                    matched[p as usize] = true;
                }
                if self.null_aware && self.kind == JoinKind::LeftAnti {
                    // NULL NOT IN (non-empty set) is unknown, so the row is dropped.
                    if let Some(valid) = all_valid(&keys, batch.num_rows()) {
                        if self.table.total_rows > 0 {
                            for (row, is_valid) in valid.iter().enumerate() {
                                matched[row] |= !is_valid;
                            }
                        }
                    }
                }
                let want = self.kind == JoinKind::LeftSemi;
                let mask: BooleanArray = matched.iter().map(|&m| Some(m == want)).collect();
                Ok(filter_record_batch(batch, &mask)?)
            }
        }
    }

    /// Pairs of (probe row, build row) with equal keys that pass the join filter; also
    /// the probe keys.
    fn matching_pairs(
        &self,
        batch: &RecordBatch,
    ) -> TaskResult<(Vec<ArrayRef>, Vec<u32>, Vec<u32>)> {
        let keys = evaluate(&self.probe_keys, batch)?;
        let (mut probe_idx, mut build_idx) = self.table.matches(&keys, batch.num_rows())?;
        if let Some(filter) = &self.filter {
            let joined = self.combine(
                batch,
                &UInt32Array::from(probe_idx.clone()),
                &UInt32Array::from(build_idx.clone()),
                true,
            )?;
            let mask = evaluate_mask(filter, &joined)?;
            let keep = |values: Vec<u32>| {
                values
                    .into_iter()
                    .zip(mask.iter())
                    .filter(|(_, m)| *m == Some(true))
                    .map(|(v, _)| v)
                    .collect::<Vec<_>>()
            };
            probe_idx = keep(probe_idx);
            build_idx = keep(build_idx);
        }
        Ok((keys, probe_idx, build_idx))
    }

    /// For a build side joined in chunks: joins `batch` with this table (one chunk)
    /// only. Returns the joined pairs (inner, left and full joins) and which probe rows
    /// matched; [`HashJoinProbe::probe_rest`] adds the rest once every chunk was seen.
    ///
    /// # Errors
    /// Key or filter evaluation errors.
    pub fn probe_chunk(
        &mut self,
        batch: &RecordBatch,
    ) -> TaskResult<(Option<RecordBatch>, Vec<bool>)> {
        let (keys, probe_idx, build_idx) = self.matching_pairs(batch)?;
        let mut matched = vec![false; batch.num_rows()];
        for &p in &probe_idx {
            matched[p as usize] = true;
        }
        if self.null_aware && self.kind == JoinKind::LeftAnti && self.table.total_rows > 0 {
            // NULL NOT IN (non-empty set) is unknown: such rows never come out.
            if let Some(valid) = all_valid(&keys, batch.num_rows()) {
                for (row, is_valid) in valid.iter().enumerate() {
                    matched[row] |= !is_valid;
                }
            }
        }
        if self.unmatched_build_out || self.outputs_build_rows {
            self.mark_build_matches(&build_idx);
        }
        let pairs = match self.kind {
            JoinKind::Inner | JoinKind::Left | JoinKind::Full => Some(self.combine(
                batch,
                &UInt32Array::from(probe_idx),
                &UInt32Array::from(build_idx),
                false,
            )?),
            JoinKind::LeftSemi | JoinKind::LeftAnti => None,
        };
        Ok((pairs, matched))
    }

    /// After every chunk: the probe rows of `batch` a left, full, semi or anti join
    /// outputs, given which matched some chunk.
    ///
    /// # Errors
    /// Arrow errors building the output.
    pub fn probe_rest(
        &self,
        batch: &RecordBatch,
        matched: &[bool],
    ) -> TaskResult<Option<RecordBatch>> {
        if self.null_aware && self.table.has_null_key
            || self.outputs_build_rows
            || self.kind == JoinKind::Left && !self.unmatched_probe_out
        {
            return Ok(None);
        }
        let keep =
            |want: bool| -> BooleanArray { matched.iter().map(|&m| Some(m == want)).collect() };
        Ok(match self.kind {
            JoinKind::Inner => None,
            JoinKind::LeftSemi => Some(filter_record_batch(batch, &keep(true))?),
            JoinKind::LeftAnti => Some(filter_record_batch(batch, &keep(false))?),
            JoinKind::Left | JoinKind::Full => {
                let unmatched: Vec<Option<u32>> = matched
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| !**m)
                    .map(|(row, _)| Some(row as u32))
                    .collect();
                let nulls = UInt32Array::from(vec![None::<u32>; unmatched.len()]);
                Some(self.combine(batch, &UInt32Array::from(unmatched), &nulls, false)?)
            }
        })
    }

    fn mark_build_matches(&mut self, build_idx: &[u32]) {
        for &b in build_idx {
            self.table.matched[b as usize] = true;
        }
    }

    /// After the last probe batch: for full joins, build rows that never matched, with
    /// NULL probe-side columns; for semi and anti joins built on the left, the build
    /// rows that matched (semi) or did not (anti).
    pub fn finish(&mut self) -> TaskResult<Option<RecordBatch>> {
        if self.outputs_build_rows {
            let want = self.kind == JoinKind::LeftSemi;
            let mask: BooleanArray = self
                .table
                .matched
                .iter()
                .map(|&m| Some(m == want))
                .collect();
            let rows = filter_record_batch(&self.table.batch, &mask)?;
            let rows = rows.with_schema(Arc::clone(&self.schema))?;
            return Ok((rows.num_rows() > 0).then_some(rows));
        }
        if !self.unmatched_build_out {
            return Ok(None);
        }
        let unmatched: Vec<Option<u32>> = self
            .table
            .matched
            .iter()
            .enumerate()
            .filter(|(_, m)| !**m)
            .map(|(row, _)| Some(row as u32))
            .collect();
        if unmatched.is_empty() {
            return Ok(None);
        }
        let probe_nulls = UInt32Array::from(vec![None::<u32>; unmatched.len()]);
        let empty_probe = RecordBatch::new_empty(self.probe_schema());
        let batch = self.combine(
            &empty_probe,
            &probe_nulls,
            &UInt32Array::from(unmatched),
            false,
        )?;
        Ok(Some(batch))
    }

    fn probe_schema(&self) -> SchemaRef {
        let build_width = self.table.batch.num_columns();
        let probe_width = self.schema.fields().len() - build_width;
        let range = if self.probe_is_left {
            0..probe_width
        } else {
            build_width..build_width + probe_width
        };
        Arc::new(arrow::datatypes::Schema::new(
            self.schema.fields()[range].to_vec(),
        ))
    }

    /// Takes the indexed rows of both sides into one (left ++ right) batch. With
    /// `for_filter`, the output schema is built from the arrays themselves, since the
    /// join's own schema may have only the left side's columns.
    fn combine(
        &self,
        probe: &RecordBatch,
        probe_idx: &UInt32Array,
        build_idx: &UInt32Array,
        for_filter: bool,
    ) -> TaskResult<RecordBatch> {
        let probe_columns = take_all(probe.columns(), probe_idx)?;
        let build_columns = take_all(self.table.batch.columns(), build_idx)?;
        let (left, right) = if self.probe_is_left {
            (probe_columns, build_columns)
        } else {
            (build_columns, probe_columns)
        };
        let columns: Vec<ArrayRef> = left.into_iter().chain(right).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(probe_idx.len()));
        if for_filter {
            let (left_schema, right_schema) = if self.probe_is_left {
                (probe.schema(), self.table.batch.schema())
            } else {
                (self.table.batch.schema(), probe.schema())
            };
            let fields: Vec<_> = left_schema
                .fields()
                .iter()
                .chain(right_schema.fields())
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect();
            let schema = Arc::new(arrow::datatypes::Schema::new(fields));
            return Ok(RecordBatch::try_new_with_options(
                schema, columns, &options,
            )?);
        }
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &options,
        )?)
    }
}

fn take_all(columns: &[ArrayRef], indices: &UInt32Array) -> TaskResult<Vec<ArrayRef>> {
    columns
        .iter()
        .map(|c| Ok(take(c.as_ref(), indices, None)?))
        .collect()
}
