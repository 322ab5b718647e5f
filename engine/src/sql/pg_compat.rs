//! What PostgreSQL tools write that means nothing different here, rewritten before
//! planning: `mod(a, b)` is `a % b`; `div(a, b)` is `(a - a % b) / b` as a numeric;
//! `a ^ b` is exponentiation (the generic parser reads it as XOR, which would
//! answer `2 ^ 10` with 8); `~x` is `bitwise_not(x)` (see `bitwise_not`);
//! `OPERATOR(pg_catalog.~)` is `~`; `COLLATE
//! pg_catalog.default` changes no comparison Percore makes (strings compare by
//! bytes); casts to the object identifier types (`oid`, `regclass`, `regtype`,
//! ...) are casts to BIGINT, the type of the system catalog's OID columns. A scalar
//! subquery over system tables alone (psql looks up a column's default or
//! collation that way) has its one value wrapped in `max()`: the planner
//! decorrelates only aggregated subqueries, and such lookups find at most one row
//! (PostgreSQL would fail on more; user queries keep that check, as they are not
//! rewritten). `NULL || NULL` is a NULL text, as PostgreSQL takes an untyped NULL
//! operand of `||` (DataFusion found no string type for two NULLs).

use std::ops::ControlFlow;

use sqlparser::ast::{
    ArrayElemTypeDef, BinaryOperator, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, GroupByExpr, Ident, ObjectName, Query, SelectItem,
    SetExpr, Statement, TableFactor, UnaryOperator,
};

use crate::catalog::system::is_system_schema;

/// Rewrites the statement in place.
pub fn normalize(statement: &mut Statement) {
    let _ = sqlparser::ast::visit_expressions_mut(statement, |expr| {
        match expr {
            // `#` (see `parse::sharp_as_xor`); `^` is a power, below.
            Expr::BinaryOp {
                op: op @ BinaryOperator::Xor,
                ..
            } => *op = BinaryOperator::BitwiseXor,
            Expr::BinaryOp {
                op: BinaryOperator::BitwiseXor | BinaryOperator::PGExp,
                left,
                right,
            } => {
                let null = || Expr::value(sqlparser::ast::Value::Null);
                let base = std::mem::replace(left.as_mut(), null());
                let exponent = std::mem::replace(right.as_mut(), null());
                *expr = function_call("power", vec![base, exponent]);
            }
            Expr::BinaryOp { op, left, right } => {
                if let BinaryOperator::PGCustomBinaryOperator(path) = op {
                    if let Some(plain) = plain_operator(path) {
                        *op = plain;
                    }
                }
                if *op == BinaryOperator::StringConcat && is_null(left) && is_null(right) {
                    text_null(left);
                }
            }
            Expr::UnaryOp {
                op: UnaryOperator::BitwiseNot,
                ..
            } => super::bitwise_not::as_call(expr),
            // DataFusion reads `- interval '1 day -3 hours'` as the literal
            // '-1 day -3 hours' (-27 hours); PostgreSQL negates the value (-21 hours).
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr: inner,
            } if matches!(inner.as_ref(), Expr::Interval(_)) => {
                let interval =
                    std::mem::replace(inner.as_mut(), Expr::value(sqlparser::ast::Value::Null));
                *inner.as_mut() = Expr::Nested(Box::new(interval));
            }
            Expr::SimilarTo { .. } => super::similar_to::as_regex_match(expr),
            Expr::Collate { expr: inner, .. } => {
                let inner =
                    std::mem::replace(inner.as_mut(), Expr::value(sqlparser::ast::Value::Null));
                *expr = inner;
            }
            Expr::Function(function) => {
                if let Some([dividend, divisor]) = two_arguments("mod", function) {
                    *expr = binary(dividend, BinaryOperator::Modulo, divisor);
                } else if let Some([dividend, divisor]) = two_arguments("div", function) {
                    *expr = whole_quotient(dividend, divisor);
                } else if let Some([array, dimension]) = two_arguments("array_upper", function) {
                    *expr = array_bound(array, dimension, None);
                } else if let Some([array, dimension]) = two_arguments("array_lower", function) {
                    *expr = array_bound(array, dimension, Some(1));
                }
            }
            Expr::Subquery(query) => aggregate_system_lookup(query),
            Expr::Interval(_) => super::interval_text::normalized(expr),
            Expr::Cast { .. } => {
                super::string_lengths::truncated(expr);
                super::interval_text::normalized(expr);
                if let Expr::Cast { data_type, .. } = expr {
                    plain_cast_type(data_type);
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The literal NULL, parenthesized or not.
fn is_null(expr: &Expr) -> bool {
    match expr {
        Expr::Nested(inner) => is_null(inner),
        Expr::Value(value) => value.value == sqlparser::ast::Value::Null,
        _ => false,
    }
}

/// `operand` (a NULL) as `CAST(NULL AS TEXT)`.
fn text_null(operand: &mut Expr) {
    let null = std::mem::replace(operand, Expr::value(sqlparser::ast::Value::Null));
    *operand = Expr::Cast {
        kind: sqlparser::ast::CastKind::Cast,
        expr: Box::new(null),
        data_type: DataType::Text,
        array: false,
        format: None,
    };
}

/// Wraps the one projected value of a plain `SELECT` over system tables in `max()`.
fn aggregate_system_lookup(query: &mut Query) {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let plain = select.having.is_none()
        && matches!(&select.group_by, GroupByExpr::Expressions(keys, _) if keys.is_empty())
        && select.distinct.is_none()
        && !select.from.is_empty();
    let system_only = select.from.iter().all(|from| {
        std::iter::once(&from.relation)
            .chain(from.joins.iter().map(|join| &join.relation))
            .all(|relation| match relation {
                TableFactor::Table { name, .. } => {
                    name.0
                        .first()
                        .is_some_and(|schema| is_system_schema(&schema.to_string()))
                        && name.0.len() > 1
                }
                _ => false,
            })
    });
    if !plain || !system_only {
        return;
    }
    if let [SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }] =
        select.projection.as_mut_slice()
    {
        let inner = std::mem::replace(value, Expr::value(sqlparser::ast::Value::Null));
        *value = function_call("max", vec![inner]);
    }
}

/// A `pg_catalog.` type (or an array of one) as the type it stands for.
fn plain_cast_type(data_type: &mut DataType) {
    match data_type {
        DataType::Custom(name, modifiers) if modifiers.is_empty() => {
            if let Some(plain) = plain_type(name) {
                *data_type = plain;
            }
        }
        DataType::Array(
            ArrayElemTypeDef::SquareBracket(element, _) | ArrayElemTypeDef::AngleBracket(element),
        ) => plain_cast_type(element),
        _ => {}
    }
}

/// PostgreSQL's `array_upper(a, d)` and `array_lower(a, d)` for arrays indexed from
/// 1 (every array Percore makes): the length, or 1, and NULL where the dimension
/// is empty or absent.
fn array_bound(array: Expr, dimension: Expr, lower: Option<i64>) -> Expr {
    let length = function_call("array_length", vec![array, dimension]);
    let number = |n: i64| Expr::value(sqlparser::ast::Value::Number(n.to_string(), false));
    let present = function_call("nullif", vec![length, number(0)]);
    // The lower bound is `length * 0 + 1`: 1, or NULL with the length.
    let bound = match lower {
        None => present,
        Some(first) => binary(
            binary(present, BinaryOperator::Multiply, number(0)),
            BinaryOperator::Plus,
            number(first),
        ),
    };
    Expr::Cast {
        kind: sqlparser::ast::CastKind::Cast,
        expr: Box::new(bound),
        data_type: DataType::Integer(None),
        array: false,
        format: None,
    }
}

/// `name(args)`.
/// The two arguments of `mod(a, b)` (PostgreSQL's function for `a % b`).
fn two_arguments(name: &str, function: &Function) -> Option<[Expr; 2]> {
    let named = match function.name.0.as_slice() {
        [schema, last] => schema
            .as_ident()
            .is_some_and(|ident| ident.value.eq_ignore_ascii_case("pg_catalog"))
            .then_some(last),
        [last] => Some(last),
        _ => None,
    }
    .and_then(|last| last.as_ident())
    .is_some_and(|ident| ident.value.eq_ignore_ascii_case(name));
    if !named || function.over.is_some() || function.filter.is_some() {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(a)), FunctionArg::Unnamed(FunctionArgExpr::Expr(b))] => {
            Some([a.clone(), b.clone()])
        }
        _ => None,
    }
}

fn binary(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::Nested(Box::new(Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    }))
}

/// PostgreSQL's `div(a, b)`: the quotient truncated toward zero, as a numeric:
/// `(a - a % b) / b`, exact for integers and decimals alike (the remainder takes
/// the dividend's sign, so the difference is a multiple of `b`).
fn whole_quotient(dividend: Expr, divisor: Expr) -> Expr {
    let multiple = binary(
        dividend.clone(),
        BinaryOperator::Minus,
        binary(dividend, BinaryOperator::Modulo, divisor.clone()),
    );
    Expr::Cast {
        kind: sqlparser::ast::CastKind::Cast,
        expr: Box::new(binary(multiple, BinaryOperator::Divide, divisor)),
        data_type: DataType::Decimal(sqlparser::ast::ExactNumberInfo::PrecisionAndScale(38, 0)),
        array: false,
        format: None,
    }
}

/// A call of the function `name` on `args`.
pub(super) fn function_call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|arg| FunctionArg::Unnamed(FunctionArgExpr::Expr(arg)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// `OPERATOR(pg_catalog.op)` (or `OPERATOR(op)`) as the plain operator, for the
/// operators the planner knows.
fn plain_operator(path: &[String]) -> Option<BinaryOperator> {
    let (operator, schema) = path.split_last()?;
    if !schema
        .iter()
        .all(|part| part.eq_ignore_ascii_case("pg_catalog"))
    {
        return None;
    }
    Some(match operator.as_str() {
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "=" => BinaryOperator::Eq,
        "<>" | "!=" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        "<=" => BinaryOperator::LtEq,
        ">" => BinaryOperator::Gt,
        ">=" => BinaryOperator::GtEq,
        "~~" => BinaryOperator::PGLikeMatch,
        "!~~" => BinaryOperator::PGNotLikeMatch,
        "~~*" => BinaryOperator::PGILikeMatch,
        "||" => BinaryOperator::StringConcat,
        _ => return None,
    })
}

/// The type a `pg_catalog.`-qualified type name (or one of PostgreSQL's internal
/// names, like `name` or `oid`) stands for: object identifiers are BIGINT.
fn plain_type(name: &ObjectName) -> Option<DataType> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| part.to_string().to_ascii_lowercase())
        .collect();
    let (last, schema) = parts.split_last()?;
    if !schema.iter().all(|part| part == "pg_catalog") {
        return None;
    }
    Some(match last.as_str() {
        "oid" | "regclass" | "regtype" | "regproc" | "regprocedure" | "regnamespace"
        | "regrole" | "int8" | "bigint" => DataType::BigInt(None),
        "text" | "name" | "varchar" | "char" | "bpchar" => DataType::Text,
        "int2" | "smallint" => DataType::SmallInt(None),
        "int4" | "integer" | "int" => DataType::Integer(None),
        "bool" | "boolean" => DataType::Boolean,
        "float4" | "real" => DataType::Real,
        "float8" => DataType::DoublePrecision,
        "numeric" => DataType::Numeric(sqlparser::ast::ExactNumberInfo::None),
        "date" => DataType::Date,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    use super::*;

    fn normalized(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        normalize(&mut statement);
        statement.to_string()
    }

    #[test]
    fn psql_spellings_become_plain_sql() {
        assert_eq!(
            normalized(
                "SELECT 1 FROM t WHERE c.relname OPERATOR(pg_catalog.~) '^(x)$' \
                 COLLATE pg_catalog.default AND c.oid::pg_catalog.regclass = 1"
            ),
            "SELECT 1 FROM t WHERE c.relname ~ '^(x)$' AND c.oid::BIGINT = 1"
        );
        // Others are left for the planner to refuse by name.
        assert!(normalized("SELECT a OPERATOR(myschema.+) b").contains("OPERATOR"));
    }

    #[test]
    fn concatenated_nulls_are_text() {
        assert_eq!(
            normalized("SELECT (NULL || NULL) || NULL, 'a' || NULL"),
            "SELECT (CAST(NULL AS TEXT) || NULL) || NULL, 'a' || NULL"
        );
    }
}
