//! `ORDER BY name`, where PostgreSQL looks among the output columns first: in
//! `select n_nationkey::text from nation order by n_nationkey` the name is the text
//! column (a cast is named after its operand), so `10` sorts before `2`. DataFusion
//! names such a column after the whole expression and sorts by the input column
//! instead. A bare name that PostgreSQL would read as exactly one unaliased output
//! expression other than the column itself becomes that column's ordinal. Aliases
//! DataFusion already resolves first; set operations sort by output columns only.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, OrderByKind, Query, SelectItem, SetExpr, Statement, Value, VisitMut, VisitorMut,
};

use super::output_names::column_name;

/// Rewrites the statement in place.
pub fn resolved(statement: &mut Statement) {
    let _ = statement.visit(&mut OutputNames);
}

struct OutputNames;

impl VisitorMut for OutputNames {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_ref() else {
            return ControlFlow::Continue(());
        };
        let Some(OrderByKind::Expressions(sorts)) =
            query.order_by.as_mut().map(|order_by| &mut order_by.kind)
        else {
            return ControlFlow::Continue(());
        };
        for sort in sorts {
            if let Some(ordinal) = output_ordinal(&sort.expr, &select.projection) {
                sort.expr = Expr::value(Value::Number(ordinal.to_string(), false));
            }
        }
        ControlFlow::Continue(())
    }
}

/// The 1-based position of the one output column a bare `name` denotes, when that
/// column is an unaliased expression DataFusion would not find under the name.
fn output_ordinal(sorted: &Expr, projection: &[SelectItem]) -> Option<usize> {
    if !matches!(sorted, Expr::Identifier(_)) {
        return None;
    }
    let name = column_name(sorted);
    let mut named = projection
        .iter()
        .enumerate()
        .filter_map(|(index, item)| match item {
            SelectItem::UnnamedExpr(expr) => (column_name(expr) == name).then_some((index, expr)),
            SelectItem::ExprWithAlias { alias, .. } => {
                (column_name(&Expr::Identifier(alias.clone())) == name).then_some((index, sorted))
            }
            // A `*` may hold a column of the name: left to the planner.
            _ => Some((index, sorted)),
        });
    let (index, expr) = named.next()?;
    if named.next().is_some() || matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
        return None;
    }
    Some(index + 1)
}

#[cfg(test)]
mod tests {
    fn rewritten(sql: &str) -> String {
        crate::sql::rewritten_sql(sql, super::resolved)
    }

    #[test]
    fn a_name_denoting_an_unaliased_expression_becomes_its_ordinal() {
        assert_eq!(
            rewritten("SELECT n_name, n_nationkey::TEXT FROM nation ORDER BY n_nationkey"),
            "SELECT n_name, n_nationkey::TEXT FROM nation ORDER BY 2"
        );
        assert_eq!(
            rewritten("SELECT upper(n_name) FROM nation ORDER BY upper DESC"),
            "SELECT upper(n_name) FROM nation ORDER BY 1 DESC"
        );
    }

    #[test]
    fn columns_aliases_stars_and_ambiguous_names_are_left_alone() {
        for sql in [
            "SELECT n_nationkey FROM nation ORDER BY n_nationkey",
            "SELECT n.n_nationkey, n_name FROM nation AS n ORDER BY n_nationkey",
            "SELECT n_name AS k, n_nationkey::TEXT AS k2 FROM nation ORDER BY n_nationkey",
            "SELECT *, n_nationkey::TEXT FROM nation ORDER BY n_nationkey",
            "SELECT n_nationkey, n_nationkey::TEXT FROM nation ORDER BY n_nationkey",
            "SELECT n_nationkey::TEXT FROM nation ORDER BY nation.n_nationkey",
            "SELECT n_nationkey::TEXT FROM nation ORDER BY n_nationkey + 1",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
