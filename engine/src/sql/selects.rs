//! The SELECTs of a query body, for the rewrites that change each SELECT of a query
//! on its own (its SELECT list, its WHERE clause).

use sqlparser::ast::{Select, SetExpr};

/// Calls `rewrite` on every SELECT of `body`: both sides of set operations, and
/// parenthesized bodies; not the SELECTs of subqueries inside them.
pub fn each_select(body: &mut SetExpr, mut rewrite: impl FnMut(&mut Select)) {
    let mut bodies = vec![body];
    while let Some(body) = bodies.pop() {
        match body {
            SetExpr::Select(select) => rewrite(select),
            SetExpr::SetOperation { left, right, .. } => {
                bodies.push(left.as_mut());
                bodies.push(right.as_mut());
            }
            SetExpr::Query(inner) => bodies.push(inner.body.as_mut()),
            _ => {}
        }
    }
}
