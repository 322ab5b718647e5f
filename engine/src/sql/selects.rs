//! The SELECTs of a query body, for the rewrites that change each SELECT of a query
//! on its own (its SELECT list, its WHERE clause).

use std::ops::ControlFlow;

use sqlparser::ast::{Query, Select, SetExpr, Statement, VisitMut, VisitorMut};

/// Calls `rewrite` on every SELECT of every query in `statement`, nested ones
/// first.
pub fn every_select(statement: &mut Statement, rewrite: impl FnMut(&mut Select)) {
    let _ = statement.visit(&mut EveryQuery(rewrite));
}

struct EveryQuery<F>(F);

impl<F: FnMut(&mut Select)> VisitorMut for EveryQuery<F> {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        each_select(query.body.as_mut(), &mut self.0);
        ControlFlow::Continue(())
    }
}

/// Calls `rewrite` on every SELECT of `body`: both sides of set operations, and
/// parenthesized bodies; not the SELECTs of subqueries inside them.
fn each_select(body: &mut SetExpr, mut rewrite: impl FnMut(&mut Select)) {
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
