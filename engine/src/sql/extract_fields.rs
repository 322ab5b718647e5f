//! `EXTRACT(CENTURY | MILLENNIUM | DECADE FROM x)` and `date_part('century', x)`,
//! which DataFusion refuses at run time ("Date part 'CENTURY' not supported"):
//! PostgreSQL's definitions over the year, written as SQL (there is no year 0, so
//! the 20th century is 1901-2000 and year -1 is in century -1).

use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions_mut, DateTimeField, Expr, ExtractSyntax, FunctionArg, FunctionArgExpr,
    FunctionArguments, Statement, Value,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

/// Placeholder for the year in the definitions below.
const YEAR: &str = "__year";

/// Each field as PostgreSQL computes it from the year `__year`.
const DEFINITIONS: [(&str, &str); 3] = [
    (
        "century",
        "CASE WHEN __year > 0 THEN (__year + 99) / 100 ELSE -((99 - (__year - 1)) / 100) END",
    ),
    (
        "millennium",
        "CASE WHEN __year > 0 THEN (__year + 999) / 1000 \
         ELSE -((999 - (__year - 1)) / 1000) END",
    ),
    (
        "decade",
        "CASE WHEN __year >= 0 THEN __year / 10 ELSE -((8 - (__year - 1)) / 10) END",
    ),
];

/// Rewrites the statement in place.
pub fn from_years(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Some((field, source)) = year_based_field(expr) {
            *expr = defined(field, source);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The field's name and the value it is taken from, for the fields defined here.
fn year_based_field(expr: &Expr) -> Option<(&'static str, Expr)> {
    let (name, source) = match expr {
        Expr::Extract { field, expr, .. } => {
            let name = match field {
                DateTimeField::Century => "century",
                DateTimeField::Millennium | DateTimeField::Millenium => "millennium",
                DateTimeField::Decade => "decade",
                _ => return None,
            };
            (name.to_string(), expr.as_ref().clone())
        }
        Expr::Function(function)
            if function.over.is_none()
                && matches!(
                    function.name.to_string().to_ascii_lowercase().as_str(),
                    "date_part" | "datepart" | "pg_catalog.date_part"
                ) =>
        {
            let FunctionArguments::List(list) = &function.args else {
                return None;
            };
            let [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(part))), FunctionArg::Unnamed(FunctionArgExpr::Expr(source))] =
                list.args.as_slice()
            else {
                return None;
            };
            let Value::SingleQuotedString(part) = &part.value else {
                return None;
            };
            (part.to_ascii_lowercase(), source.clone())
        }
        _ => return None,
    };
    DEFINITIONS
        .iter()
        .find(|(field, _)| *field == name || (name == "millenium" && *field == "millennium"))
        .map(|(field, _)| (*field, source))
}

fn defined(field: &str, source: Expr) -> Expr {
    let (_, definition) = DEFINITIONS
        .iter()
        .find(|(name, _)| *name == field)
        .expect("only defined fields are rewritten");
    let mut expr = Parser::new(&GenericDialect {})
        .try_with_sql(definition)
        .and_then(|mut parser| parser.parse_expr())
        .expect("the definitions parse");
    let year = Expr::Extract {
        field: DateTimeField::Year,
        syntax: ExtractSyntax::From,
        expr: Box::new(source),
    };
    let _ = visit_expressions_mut(&mut expr, |e| {
        if matches!(e, Expr::Identifier(ident) if ident.value == YEAR) {
            *e = Expr::Nested(Box::new(year.clone()));
        }
        ControlFlow::<()>::Continue(())
    });
    Expr::Nested(Box::new(expr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_definition_parses() {
        for (field, _) in DEFINITIONS {
            let expr = defined(field, Expr::Identifier("d".into()));
            assert!(!expr.to_string().contains(YEAR), "{expr}");
        }
    }
}
