//! Row groups and pages skipped by their statistics. A pushed-down conjunct `column
//! op literal` (`=`, `<`, `<=`, `>`, `>=`, either side) that no value between a row
//! group's minimum and maximum of the column can satisfy rules the whole row group
//! out before any of its bytes are read. Within a row group that is read, the page
//! index (per-page min/max, written by most writers, `percore gen` among them) rules
//! out runs of rows the same way, so their pages are never decoded. Anything else
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

/// For each of `row_groups` of `file`: whether it may hold rows passing `filters`
/// (expressions over `read_schema`, the scan's read columns).
pub fn may_match(
    file: &ParquetFile,
    row_groups: &[usize],
    filters: &[Arc<dyn PhysicalExpr>],
    read_schema: &Schema,
) -> Vec<bool> {
    let mut keep = vec![true; row_groups.len()];
    for conjunct in filters.iter().flat_map(|f| split_conjunction(f)) {
        let Some((column, op, literal)) = column_against_literal(conjunct) else {
            continue;
        };
        let Some(possible) = possible(file, row_groups, read_schema, column, op, literal) else {
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

/// Per row group: whether some value in [min, max] can satisfy `column op literal`.
fn possible(
    file: &ParquetFile,
    row_groups: &[usize],
    read_schema: &Schema,
    column: &Column,
    op: Operator,
    literal: &Literal,
) -> Option<BooleanArray> {
    let name = read_schema.fields().get(column.index())?.name();
    let metadata = file.metadata.metadata();
    let converter = file.statistics(name)?;
    let groups = row_groups.iter().map(|&g| metadata.row_group(g));
    let mins = converter.row_group_mins(groups.clone()).ok()?;
    let maxes = converter.row_group_maxes(groups).ok()?;
    satisfiable(&mins, &maxes, op, literal)
}

/// The rows of row group `group` of `file` that its page index does not rule out
/// for `filters`, or `None` when it rules out none (or the file has no page index).
pub fn page_selection(
    file: &ParquetFile,
    group: usize,
    filters: &[Arc<dyn PhysicalExpr>],
    read_schema: &Schema,
) -> Option<RowSelection> {
    let rows = usize::try_from(file.metadata.metadata().row_group(group).num_rows()).ok()?;
    let mut selection: Option<RowSelection> = None;
    for conjunct in filters.iter().flat_map(|f| split_conjunction(f)) {
        let Some((column, op, literal)) = column_against_literal(conjunct) else {
            continue;
        };
        let Some(pages) = possible_pages(file, group, read_schema, column, op, literal) else {
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

/// Per data page of `column` in row group `group`: its rows, and whether some value
/// in its [min, max] can satisfy `column op literal` (a page without statistics can).
fn possible_pages(
    file: &ParquetFile,
    group: usize,
    read_schema: &Schema,
    column: &Column,
    op: Operator,
    literal: &Literal,
) -> Option<Vec<(Range<usize>, bool)>> {
    let name = read_schema.fields().get(column.index())?.name();
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
    let possible = satisfiable(&mins, &maxes, op, literal)?;
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
