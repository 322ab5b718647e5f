//! A text literal compared with an array is PostgreSQL's text form of an array of
//! the other side's element type: `polroles = '{0}'` compares with the one-element
//! array of OID 0 (PostgreSQL types an untyped literal by the other operand).
//! DataFusion would look for a common type of a list and a string and find none, so
//! the literal becomes a list literal as the comparison is planned (an expression
//! planner, so that even a comparison typed while planning sees it). Text that is
//! not an array, or whose elements do not convert, fails as PostgreSQL's input does.

use std::sync::Arc;

use arrow::array::{ArrayRef, ListArray, StringArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, FieldRef};
use datafusion_common::{plan_datafusion_err, DFSchema, Result, ScalarValue};
use datafusion_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion_expr::{Expr, ExprSchemable};
use sqlparser::ast::BinaryOperator;

use super::array_comparisons::parse_array_text;

/// Plans `array op 'text'` and `'text' op array` for the comparison operators.
#[derive(Debug)]
pub struct ArrayTextPlanner;

impl ExprPlanner for ArrayTextPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let RawBinaryExpr { op, left, right } = expr;
        let compares = matches!(
            op,
            BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq
        );
        let element = |side: &Expr| match side.get_type(schema) {
            Ok(DataType::List(element)) if compares => Some(element),
            _ => None,
        };
        let (left, right) = match (element(&left), element(&right)) {
            (Some(field), None) if text_literal(&right).is_some() => {
                let list = list_literal(text_literal(&right).unwrap_or_default(), &field)?;
                (left, list)
            }
            (None, Some(field)) if text_literal(&left).is_some() => {
                let list = list_literal(text_literal(&left).unwrap_or_default(), &field)?;
                (list, right)
            }
            _ => return Ok(PlannerResult::Original(RawBinaryExpr { op, left, right })),
        };
        Ok(PlannerResult::Original(RawBinaryExpr { op, left, right }))
    }
}

fn text_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(text))
            | ScalarValue::Utf8View(Some(text))
            | ScalarValue::LargeUtf8(Some(text)),
            _,
        ) => Some(text),
        _ => None,
    }
}

/// `text` read as an array of `element`s.
fn list_literal(text: &str, element: &FieldRef) -> Result<Expr> {
    let items = parse_array_text(text)
        .ok_or_else(|| plan_datafusion_err!("malformed array literal: \"{text}\""))?;
    let count = items.len();
    let texts: ArrayRef = Arc::new(StringArray::from(items));
    let strict = arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    let values = arrow::compute::cast_with_options(&texts, element.data_type(), &strict)?;
    let list = ListArray::try_new(
        Arc::clone(element),
        OffsetBuffer::from_lengths([count]),
        values,
        None,
    )?;
    Ok(Expr::Literal(ScalarValue::List(Arc::new(list)), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use arrow::datatypes::Field;

    fn element() -> FieldRef {
        Arc::new(Field::new("item", DataType::Int64, true))
    }

    #[test]
    fn text_becomes_a_list_of_the_element_type() {
        let Expr::Literal(ScalarValue::List(list), _) =
            list_literal("{1, NULL}", &element()).unwrap()
        else {
            panic!("not a list literal");
        };
        let values = list.value(0);
        assert_eq!(values.data_type(), &DataType::Int64);
        assert_eq!(values.len(), 2);
        assert!(values.is_null(1));
    }

    #[test]
    fn text_that_is_no_array_of_that_type_fails() {
        assert!(list_literal("1,2", &element()).is_err());
        assert!(list_literal("{x}", &element()).is_err());
    }
}
