//! Integer `+`, `-` and `*` that fail on overflow. DataFusion's binary expression
//! wraps around, so `bigint_column + 1` at the largest bigint answered the smallest
//! one; PostgreSQL fails the statement ("bigint out of range", 22003). Arrow's
//! checked kernels do the same, and an overflow fails the query with 22003.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{ArrayRef, Datum};
use arrow::compute::kernels::numeric;
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::{ColumnarValue, Operator};
use datafusion_physical_expr::expressions::BinaryExpr;
use datafusion_physical_expr::PhysicalExpr;

/// `left op right` over integers of one type, failing on overflow.
#[derive(Debug, Eq)]
pub struct CheckedIntegerArithmetic {
    op: Operator,
    left: Arc<dyn PhysicalExpr>,
    right: Arc<dyn PhysicalExpr>,
    /// DataFusion's wrapping expression, for its type, name and equality.
    wrapping: Arc<dyn PhysicalExpr>,
}

impl PartialEq for CheckedIntegerArithmetic {
    fn eq(&self, other: &Self) -> bool {
        self.wrapping.eq(&other.wrapping)
    }
}

impl Hash for CheckedIntegerArithmetic {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.wrapping.hash(state);
    }
}

impl CheckedIntegerArithmetic {
    /// `expr` checked, when it is integer `+`, `-` or `*`.
    pub fn try_new(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Result<Option<Self>> {
        let Some(binary) = expr.downcast_ref::<BinaryExpr>() else {
            return Ok(None);
        };
        if !matches!(
            binary.op(),
            Operator::Plus | Operator::Minus | Operator::Multiply
        ) {
            return Ok(None);
        }
        let left = binary.left().data_type(schema)?;
        let right = binary.right().data_type(schema)?;
        if !left.is_integer() || left != right {
            return Ok(None);
        }
        Ok(Some(CheckedIntegerArithmetic {
            op: *binary.op(),
            left: Arc::clone(binary.left()),
            right: Arc::clone(binary.right()),
            wrapping: Arc::clone(expr),
        }))
    }
}

/// A side as Arrow's kernels take it: a column, or one value.
fn datum(value: ColumnarValue) -> Result<Box<dyn Datum>> {
    Ok(match value {
        ColumnarValue::Array(array) => Box::new(array),
        ColumnarValue::Scalar(scalar) => Box::new(scalar.to_scalar()?),
    })
}

impl PhysicalExpr for CheckedIntegerArithmetic {
    fn data_type(&self, schema: &Schema) -> Result<DataType> {
        self.wrapping.data_type(schema)
    }

    fn nullable(&self, schema: &Schema) -> Result<bool> {
        self.wrapping.nullable(schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let left = self.left.evaluate(batch)?;
        let right = self.right.evaluate(batch)?;
        let scalar = matches!(
            (&left, &right),
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
        );
        let (left, right) = (datum(left)?, datum(right)?);
        let result: ArrayRef = match self.op {
            Operator::Plus => numeric::add(left.as_ref(), right.as_ref())?,
            Operator::Minus => numeric::sub(left.as_ref(), right.as_ref())?,
            _ => numeric::mul(left.as_ref(), right.as_ref())?,
        };
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)
        } else {
            ColumnarValue::Array(result)
        })
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.left, &self.right]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let (left, right, wrapping) = super::decimal::rebuilt(&self.wrapping, children)?;
        Ok(Arc::new(CheckedIntegerArithmetic {
            op: self.op,
            left,
            right,
            wrapping,
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.wrapping.fmt_sql(f)
    }
}

impl fmt::Display for CheckedIntegerArithmetic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.wrapping, f)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, Int32Array, Int64Array};
    use arrow::datatypes::Field;
    use datafusion_physical_expr::expressions::{col, lit};

    use super::*;

    fn checked(
        batch: &RecordBatch,
        left: Arc<dyn PhysicalExpr>,
        op: Operator,
        right: Arc<dyn PhysicalExpr>,
    ) -> Result<ArrayRef> {
        let wrapping: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(left, op, right));
        let expr = CheckedIntegerArithmetic::try_new(&wrapping, &batch.schema())?
            .expect("integer arithmetic is checked");
        expr.evaluate(batch)?.into_array(batch.num_rows())
    }

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Int32, true),
        ]));
        let a = Int64Array::from(vec![Some(i64::MAX - 1), None, Some(-5)]);
        let b = Int32Array::from(vec![Some(i32::MAX), Some(7), None]);
        RecordBatch::try_new(schema, vec![Arc::new(a), Arc::new(b)]).unwrap()
    }

    #[test]
    fn results_in_range_are_the_wrapping_ones() {
        let batch = batch();
        let sum = checked(
            &batch,
            col("a", &batch.schema()).unwrap(),
            Operator::Plus,
            lit(1i64),
        )
        .unwrap();
        let sum = sum.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(
            sum.iter().collect::<Vec<_>>(),
            [Some(i64::MAX), None, Some(-4)]
        );
    }

    #[test]
    fn overflow_fails_instead_of_wrapping() {
        let batch = batch();
        let a = || col("a", &batch.schema()).unwrap();
        let b = || col("b", &batch.schema()).unwrap();
        for (left, op, right) in [
            (a(), Operator::Plus, lit(2i64)),
            (lit(i64::MIN), Operator::Minus, a()),
            (a(), Operator::Multiply, lit(2i64)),
            (b(), Operator::Multiply, b()),
            (b(), Operator::Plus, lit(1i32)),
        ] {
            let error = checked(&batch, left, op, right).unwrap_err();
            assert!(error.to_string().contains("Overflow"), "{error}");
        }
    }

    #[test]
    fn other_types_and_operators_are_left_alone() {
        let schema = batch().schema();
        let divide: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
            col("a", &schema).unwrap(),
            Operator::Divide,
            lit(2i64),
        ));
        assert!(CheckedIntegerArithmetic::try_new(&divide, &schema)
            .unwrap()
            .is_none());
        let float: Arc<dyn PhysicalExpr> =
            Arc::new(BinaryExpr::new(lit(1.5f64), Operator::Plus, lit(2.5f64)));
        assert!(CheckedIntegerArithmetic::try_new(&float, &schema)
            .unwrap()
            .is_none());
    }
}
