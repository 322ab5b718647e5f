//! Row groups and pages skipped by their statistics. A pushed-down conjunct `column
//! op literal` (`=`, `<`, `<=`, `>`, `>=`, either side) that no value between a row
//! group's minimum and maximum of the column can satisfy rules the whole row group
//! out before any of its bytes are read. Within a row group that is read, the page
//! index (per-page min/max, written by most writers, `percore gen` among them) rules
//! out runs of rows the same way, so their pages are never decoded. A hash join's
//! build keys, once published for the scan under its probe side, rule out row
//! groups and pages whose range of the probe key holds none of them. Anything else
//! (other expressions, missing or unreadable statistics, types that do not compare)
//! keeps the rows.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Scalar};
use arrow::compute::kernels::cmp::{gt, gt_eq, lt, lt_eq};
use arrow::datatypes::Schema;
use datafusion_expr::Operator;
use datafusion_physical_expr::expressions::{BinaryExpr, Column, Literal};
use datafusion_physical_expr::{split_conjunction, PhysicalExpr};
use parquet::arrow::arrow_reader::RowSelection;

use crate::catalog::parquet_table::ParquetFile;
use crate::operators::runtime_filter::RuntimeFilter;

/// Per `[mins[i], maxes[i]]` pair: whether some value in it may pass (NULL where
/// unknown); `None` when the bounds cannot be tested.
type BoundsTest<'a> = Box<dyn Fn(&ArrayRef, &ArrayRef) -> Option<BooleanArray> + 'a>;

/// A test of one read column's statistics.
pub struct RangeTest<'a> {
    /// The column's index among the scan's read columns.
    column: usize,
    test: BoundsTest<'a>,
}

/// The tests of the conjuncts of `filters` that compare a column with a literal.
pub fn filter_tests(filters: &[Arc<dyn PhysicalExpr>]) -> Vec<RangeTest<'_>> {
    filters
        .iter()
        .flat_map(|f| split_conjunction(f))
        .filter_map(column_against_literal)
        .map(|(column, op, literal)| RangeTest {
            column: column.index(),
            test: Box::new(move |mins, maxes| satisfiable(mins, maxes, op, literal)),
        })
        .collect()
}

/// The tests of the runtime filters whose joins published their build keys: a
/// range holding none of them holds no row the join keeps. Inventory-like tables
/// written in date order are mostly skipped by a join to a year's dates.
pub fn join_key_tests(filters: &[RuntimeFilter]) -> Vec<RangeTest<'_>> {
    filters
        .iter()
        .filter_map(|filter| {
            let keys = filter.slot.keys()?;
            Some(RangeTest {
                column: filter.column,
                test: Box::new(move |mins, maxes| keys.within_ranges(mins, maxes)),
            })
        })
        .collect()
}

/// For each of `row_groups` of `file`: whether it may hold rows passing `tests`
/// (of columns of `read_schema`, the scan's read columns).
pub fn may_match(
    file: &ParquetFile,
    row_groups: &[usize],
    tests: &[RangeTest],
    read_schema: &Schema,
) -> Vec<bool> {
    let mut keep = vec![true; row_groups.len()];
    for test in tests {
        let Some(possible) = possible(file, row_groups, read_schema, test) else {
            continue;
        };
        for (keep, possible) in keep.iter_mut().zip(possible.iter()) {
            // NULL (no statistics) keeps the row group.
            *keep &= possible != Some(false);
        }
    }
    keep
}

/// `column op literal`, with the operator turned around when the literal is left.
fn column_against_literal(expr: &Arc<dyn PhysicalExpr>) -> Option<(&Column, Operator, &Literal)> {
    let binary = expr.downcast_ref::<BinaryExpr>()?;
    let (left, right) = (binary.left(), binary.right());
    if let (Some(column), Some(literal)) = (
        left.downcast_ref::<Column>(),
        right.downcast_ref::<Literal>(),
    ) {
        return Some((column, *binary.op(), literal));
    }
    let column = right.downcast_ref::<Column>()?;
    let literal = left.downcast_ref::<Literal>()?;
    let swapped = match binary.op() {
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        Operator::Eq => Operator::Eq,
        _ => return None,
    };
    Some((column, swapped, literal))
}

/// Per row group: whether some value in its [min, max] of the column may pass `test`.
fn possible(
    file: &ParquetFile,
    row_groups: &[usize],
    read_schema: &Schema,
    test: &RangeTest,
) -> Option<BooleanArray> {
    let name = read_schema.fields().get(test.column)?.name();
    let metadata = file.metadata.metadata();
    let converter = file.statistics(name)?;
    let groups = row_groups.iter().map(|&g| metadata.row_group(g));
    let mins = converter.row_group_mins(groups.clone()).ok()?;
    let maxes = converter.row_group_maxes(groups).ok()?;
    (test.test)(&mins, &maxes)
}

/// The rows of row group `group` of `file` that its page index does not rule out
/// for `tests`, or `None` when it rules out none (or the file has no page index).
pub fn page_selection(
    file: &ParquetFile,
    group: usize,
    tests: &[RangeTest],
    read_schema: &Schema,
) -> Option<RowSelection> {
    let rows = usize::try_from(file.metadata.metadata().row_group(group).num_rows()).ok()?;
    let mut selection: Option<RowSelection> = None;
    for test in tests {
        let Some(pages) = possible_pages(file, group, read_schema, test) else {
            continue;
        };
        if pages.iter().all(|(_, possible)| *possible) {
            continue;
        }
        let kept = pages
            .into_iter()
            .filter(|(_, possible)| *possible)
            .map(|(rows, _)| rows);
        let kept = RowSelection::from_consecutive_ranges(kept, rows);
        selection = Some(match selection {
            Some(before) => before.intersection(&kept),
            None => kept,
        });
    }
    selection
}

/// Per data page of the tested column in row group `group`: its rows, and whether
/// some value in its [min, max] may pass `test` (a page without statistics may).
fn possible_pages(
    file: &ParquetFile,
    group: usize,
    read_schema: &Schema,
    test: &RangeTest,
) -> Option<Vec<(Range<usize>, bool)>> {
    let name = read_schema.fields().get(test.column)?.name();
    let metadata = file.metadata.metadata();
    let (column_index, offset_index) = (metadata.column_index()?, metadata.offset_index()?);
    let converter = file.statistics(name)?;
    let groups = [group];
    let mins = converter
        .data_page_mins(column_index, offset_index, &groups)
        .ok()?;
    let maxes = converter
        .data_page_maxes(column_index, offset_index, &groups)
        .ok()?;
    let counts = converter
        .data_page_row_counts(offset_index, metadata.row_groups(), &groups)
        .ok()??;
    let possible = (test.test)(&mins, &maxes)?;
    if possible.len() != counts.len() || counts.null_count() > 0 {
        return None;
    }
    let mut start = 0;
    let mut pages = Vec::with_capacity(counts.len());
    for (count, possible) in counts.values().iter().zip(possible.iter()) {
        let end = start + usize::try_from(*count).ok()?;
        pages.push((start..end, possible != Some(false)));
        start = end;
    }
    Some(pages)
}

/// Per [min, max] pair: whether some value in it can satisfy `column op literal`
/// (NULL where a bound is unknown).
fn satisfiable(
    mins: &ArrayRef,
    maxes: &ArrayRef,
    op: Operator,
    literal: &Literal,
) -> Option<BooleanArray> {
    let value = literal.value().to_array_of_size(1).ok()?;
    let value = if value.data_type() == mins.data_type() {
        value
    } else {
        arrow::compute::cast(&value, mins.data_type()).ok()?
    };
    let value = Scalar::new(value);
    let compare = |f: fn(
        &dyn arrow::array::Datum,
        &dyn arrow::array::Datum,
    ) -> Result<BooleanArray, arrow::error::ArrowError>,
                   bound: &ArrayRef| f(bound, &value).ok();
    match op {
        Operator::Eq => {
            let low = compare(lt_eq, mins)?;
            let high = compare(gt_eq, maxes)?;
            arrow::compute::and(&low, &high).ok()
        }
        Operator::Lt => compare(lt, mins),
        Operator::LtEq => compare(lt_eq, mins),
        Operator::Gt => compare(gt, maxes),
        Operator::GtEq => compare(gt_eq, maxes),
        _ => None,
    }
}
