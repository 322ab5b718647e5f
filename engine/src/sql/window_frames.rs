//! A window ordered by a time of day, an interval or bytes runs. A window with ORDER
//! BY has the frame `RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW` unless it says
//! otherwise, and DataFusion's analyzer types a RANGE frame by its first ORDER BY key,
//! failing with an internal error for the types it cannot add an offset to (`rank()
//! OVER (ORDER BY t)` for a TIME `t` did). A RANGE frame bounded only by UNBOUNDED and
//! CURRENT ROW adds no offset and spans exactly the rows its GROUPS twin does (every
//! peer of the current row, or all rows), so such frames become GROUPS frames there.
//! RANGE frames with an offset keep their units, and their error.

use arrow::datatypes::DataType;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result};
use datafusion_expr::expr::WindowFunction;
use datafusion_expr::type_coercion::is_datetime;
use datafusion_expr::{
    Expr, ExprSchemable, LogicalPlan, WindowFrame, WindowFrameBound, WindowFrameUnits,
};

use super::expr_rewrite::map_keeping_names;

/// Rewrites the frames of every window of `plan` (before the analyzer) whose first
/// ORDER BY key has a type a RANGE offset cannot apply to.
pub fn as_peer_groups(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| match node {
        window @ LogicalPlan::Window(_) => map_keeping_names(window, peer_groups),
        other => Ok(Transformed::no(other)),
    })
    .map(|transformed| transformed.data)
}

fn peer_groups(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::WindowFunction(mut function) = expr else {
        return Ok(Transformed::no(expr));
    };
    let WindowFunction { params, .. } = function.as_mut();
    let frame = &mut params.window_frame;
    let unordered_range = params
        .order_by
        .first()
        .and_then(|key| key.expr.get_type(schema).ok())
        .is_some_and(|key_type| !ranges_over(&key_type));
    let changed = frame.units == WindowFrameUnits::Range && unordered_range && !has_offset(frame);
    if changed {
        frame.units = WindowFrameUnits::Groups;
    }
    Ok(Transformed::new_transformed(
        Expr::WindowFunction(function),
        changed,
    ))
}

/// Whether a bound of `frame` is an offset from the current row (not UNBOUNDED or
/// CURRENT ROW).
pub(super) fn has_offset(frame: &WindowFrame) -> bool {
    let offset = |bound: &WindowFrameBound| match bound {
        WindowFrameBound::Preceding(value) | WindowFrameBound::Following(value) => !value.is_null(),
        WindowFrameBound::CurrentRow => false,
    };
    offset(&frame.start_bound) || offset(&frame.end_bound)
}

/// The ORDER BY types DataFusion types a RANGE frame for (its
/// `extract_window_frame_target_type`).
fn ranges_over(key_type: &DataType) -> bool {
    match key_type {
        DataType::Dictionary(_, value) => ranges_over(value),
        other => {
            other.is_numeric()
                || other.is_null()
                || is_datetime(other)
                || matches!(
                    other,
                    DataType::Utf8
                        | DataType::LargeUtf8
                        | DataType::Utf8View
                        | DataType::List(_)
                        | DataType::LargeList(_)
                        | DataType::FixedSizeList(..)
                        | DataType::Boolean
                )
        }
    }
}
