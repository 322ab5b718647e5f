//! `ARRAY[a, b]` as `make_array(a, b)`. DataFusion's planner plans the elements of
//! an array constructor without the query's outer scope, so `ARRAY[n.n_nationkey]`
//! inside a subquery or a LATERAL select list (and `unnest(array[t.x, t.y])` in a
//! FROM list, which becomes one) fails with "No field named"; the function call is
//! planned with it and builds the same array. Runs after the rewrites that read
//! written-out arrays element by element (`array_comparisons`).

use sqlparser::ast::{Expr, Statement};

use super::pg_compat::function_call;

/// Rewrites the statement in place.
pub fn as_calls(statement: &mut Statement) {
    let _ = sqlparser::ast::visit_expressions_mut(statement, |expr| {
        if let Expr::Array(array) = expr {
            // `ARRAY[]` keeps the constructor: it has no element to read a column,
            // and a cast around it gives its type.
            if !array.elem.is_empty() {
                let elements = std::mem::take(&mut array.elem);
                *expr = function_call("make_array", elements);
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}
