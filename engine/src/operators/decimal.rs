//! Decimal `+`, `-` and `*` in 64-bit integers. Arrow computes Decimal128 arithmetic
//! in checked 128-bit integers, rescaling with two more checked multiplications per
//! row: TPC-H's `l_extendedprice * (1 - l_discount)` spent more time there than in
//! scanning. Money columns hold values far below 2^63, so when the operands' largest
//! magnitudes (one pass over each batch) show that no result can overflow 64 bits,
//! the rows are computed as plain `i64` and widened; otherwise Arrow's kernel runs.
//! Either way the values are the same: the scaled integers, exactly.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Decimal128Array};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Decimal128Type, Schema};
use arrow::record_batch::RecordBatch;
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::{ColumnarValue, Operator};
use datafusion_physical_expr::expressions::BinaryExpr;
use datafusion_physical_expr::PhysicalExpr;

use super::checked_integer::CheckedIntegerArithmetic;
use super::decimal_divide::DecimalDivide;

/// Replaces every decimal `+`, `-` and `*` in `expr` with [`DecimalArithmetic`],
/// every decimal `/` with the rounding [`DecimalDivide`], every integer `+`,
/// `-` and `*` with the overflow-checking [`CheckedIntegerArithmetic`], and every
/// LIKE of several literal parts with [`super::like_parts::LikeParts`].
///
/// # Errors
/// When a subexpression's type cannot be derived from `schema`.
pub fn with_own_kernels(
    expr: Arc<dyn PhysicalExpr>,
    schema: &Schema,
) -> Result<Arc<dyn PhysicalExpr>> {
    expr.transform_up(|node| {
        if let Some(like) = super::like_parts::LikeParts::try_new(&node) {
            return Ok(Transformed::yes(Arc::new(like) as Arc<dyn PhysicalExpr>));
        }
        if let Some(divide) = DecimalDivide::try_new(&node, schema)? {
            return Ok(Transformed::yes(Arc::new(divide) as Arc<dyn PhysicalExpr>));
        }
        if let Some(checked) = CheckedIntegerArithmetic::try_new(&node, schema)? {
            return Ok(Transformed::yes(Arc::new(checked) as Arc<dyn PhysicalExpr>));
        }
        Ok(match DecimalArithmetic::try_new(&node, schema)? {
            Some(fast) => Transformed::yes(Arc::new(fast) as Arc<dyn PhysicalExpr>),
            None => Transformed::no(node),
        })
    })
    .map(|transformed| transformed.data)
}

/// For an expression standing in for a binary one (kept as `replaced`, which gives
/// its type, name and equality): the two new children, and `replaced` over them.
pub(super) type Rebuilt = (
    Arc<dyn PhysicalExpr>,
    Arc<dyn PhysicalExpr>,
    Arc<dyn PhysicalExpr>,
);

pub(super) fn rebuilt(
    replaced: &Arc<dyn PhysicalExpr>,
    children: Vec<Arc<dyn PhysicalExpr>>,
) -> Result<Rebuilt> {
    let [left, right]: [Arc<dyn PhysicalExpr>; 2] = children.try_into().map_err(|_| {
        datafusion_common::DataFusionError::Internal(format!("{replaced} has two children"))
    })?;
    let replaced =
        Arc::clone(replaced).with_new_children(vec![Arc::clone(&left), Arc::clone(&right)])?;
    Ok((left, right, replaced))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum DecimalOp {
    Add,
    Subtract,
    Multiply,
}

/// `left op right` over Decimal128 operands, in `i64` when the values allow.
#[derive(Debug, Eq)]
pub struct DecimalArithmetic {
    op: DecimalOp,
    left: Arc<dyn PhysicalExpr>,
    right: Arc<dyn PhysicalExpr>,
    /// What each side is multiplied by to reach the result's scale (1 for `*`).
    left_factor: i64,
    right_factor: i64,
    precision: u8,
    scale: i8,
    /// Arrow's kernel, for batches whose values could overflow 64 bits.
    exact: Arc<dyn PhysicalExpr>,
}

// Everything else follows from the expression it stands for.
impl PartialEq for DecimalArithmetic {
    fn eq(&self, other: &Self) -> bool {
        self.exact.eq(&other.exact)
    }
}

impl Hash for DecimalArithmetic {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.exact.hash(state);
    }
}

impl DecimalArithmetic {
    fn try_new(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Result<Option<Self>> {
        let Some(binary) = expr.downcast_ref::<BinaryExpr>() else {
            return Ok(None);
        };
        let op = match binary.op() {
            Operator::Plus => DecimalOp::Add,
            Operator::Minus => DecimalOp::Subtract,
            Operator::Multiply => DecimalOp::Multiply,
            _ => return Ok(None),
        };
        let types = (
            binary.left().data_type(schema)?,
            binary.right().data_type(schema)?,
            expr.data_type(schema)?,
        );
        let (
            DataType::Decimal128(_, left_scale),
            DataType::Decimal128(_, right_scale),
            DataType::Decimal128(precision, scale),
        ) = types
        else {
            return Ok(None);
        };
        let factor = |from: i8| -> Option<i64> {
            let up = u32::try_from(i32::from(scale) - i32::from(from)).ok()?;
            10i64.checked_pow(up)
        };
        let (left_factor, right_factor) = match op {
            DecimalOp::Multiply
                if i32::from(left_scale) + i32::from(right_scale) == i32::from(scale) =>
            {
                (1, 1)
            }
            DecimalOp::Multiply => return Ok(None),
            DecimalOp::Add | DecimalOp::Subtract => {
                match (factor(left_scale), factor(right_scale)) {
                    (Some(left), Some(right)) => (left, right),
                    _ => return Ok(None),
                }
            }
        };
        Ok(Some(DecimalArithmetic {
            op,
            left: Arc::clone(binary.left()),
            right: Arc::clone(binary.right()),
            left_factor,
            right_factor,
            precision,
            scale,
            exact: Arc::clone(expr),
        }))
    }

    /// Whether every result fits 64 bits given the operands' largest magnitudes.
    fn fits_i64(&self, left_max: u128, right_max: u128) -> bool {
        let limit = i64::MAX as u128;
        let bound = match self.op {
            DecimalOp::Multiply => left_max.checked_mul(right_max),
            DecimalOp::Add | DecimalOp::Subtract => left_max
                .checked_mul(self.left_factor as u128)
                .zip(right_max.checked_mul(self.right_factor as u128))
                .and_then(|(l, r)| l.checked_add(r)),
        };
        left_max <= limit && right_max <= limit && bound.is_some_and(|b| b <= limit)
    }

    fn combine(&self, left: i64, right: i64) -> i64 {
        // Cannot overflow: `fits_i64` bounded every result first. Wrapping keeps
        // values under NULL slots (never read) from panicking in debug builds.
        match self.op {
            DecimalOp::Multiply => left.wrapping_mul(right),
            DecimalOp::Add => left
                .wrapping_mul(self.left_factor)
                .wrapping_add(right.wrapping_mul(self.right_factor)),
            DecimalOp::Subtract => left
                .wrapping_mul(self.left_factor)
                .wrapping_sub(right.wrapping_mul(self.right_factor)),
        }
    }

    fn output(&self, values: Vec<i128>, nulls: Option<NullBuffer>) -> Result<ColumnarValue> {
        let array = Decimal128Array::new(ScalarBuffer::from(values), nulls)
            .with_precision_and_scale(self.precision, self.scale)?;
        Ok(ColumnarValue::Array(Arc::new(array) as ArrayRef))
    }
}

/// A side of the operation: a column of values or one non-null constant.
enum Operand {
    Array(Decimal128Array),
    Scalar(i128),
}

impl Operand {
    fn of(value: ColumnarValue) -> Option<Operand> {
        match value {
            ColumnarValue::Array(array) => Some(Operand::Array(
                array.as_primitive_opt::<Decimal128Type>()?.clone(),
            )),
            ColumnarValue::Scalar(ScalarValue::Decimal128(Some(value), _, _)) => {
                Some(Operand::Scalar(value))
            }
            ColumnarValue::Scalar(_) => None,
        }
    }

    fn max_magnitude(&self) -> u128 {
        match self {
            Operand::Array(array) => array
                .values()
                .iter()
                .fold(0u128, |max, v| max.max(v.unsigned_abs())),
            Operand::Scalar(value) => value.unsigned_abs(),
        }
    }
}

impl PhysicalExpr for DecimalArithmetic {
    fn data_type(&self, _schema: &Schema) -> Result<DataType> {
        Ok(DataType::Decimal128(self.precision, self.scale))
    }

    fn nullable(&self, schema: &Schema) -> Result<bool> {
        self.exact.nullable(schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let left = Operand::of(self.left.evaluate(batch)?);
        let right = Operand::of(self.right.evaluate(batch)?);
        let (Some(left), Some(right)) = (left, right) else {
            return self.exact.evaluate(batch);
        };
        if !self.fits_i64(left.max_magnitude(), right.max_magnitude()) {
            return self.exact.evaluate(batch);
        }
        let at = |values: &ScalarBuffer<i128>, row: usize| values[row] as i64;
        match (&left, &right) {
            (Operand::Array(l), Operand::Array(r)) => {
                let (lv, rv) = (l.values(), r.values());
                let values = (0..l.len())
                    .map(|row| i128::from(self.combine(at(lv, row), at(rv, row))))
                    .collect();
                self.output(values, NullBuffer::union(l.nulls(), r.nulls()))
            }
            (Operand::Array(l), Operand::Scalar(r)) => {
                let r = *r as i64;
                let values = l
                    .values()
                    .iter()
                    .map(|&v| i128::from(self.combine(v as i64, r)))
                    .collect();
                self.output(values, l.nulls().cloned())
            }
            (Operand::Scalar(l), Operand::Array(r)) => {
                let l = *l as i64;
                let values = r
                    .values()
                    .iter()
                    .map(|&v| i128::from(self.combine(l, v as i64)))
                    .collect();
                self.output(values, r.nulls().cloned())
            }
            (Operand::Scalar(_), Operand::Scalar(_)) => self.exact.evaluate(batch),
        }
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.left, &self.right]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let (left, right, exact) = rebuilt(&self.exact, children)?;
        Ok(Arc::new(DecimalArithmetic {
            op: self.op,
            left,
            right,
            left_factor: self.left_factor,
            right_factor: self.right_factor,
            precision: self.precision,
            scale: self.scale,
            exact,
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.exact.fmt_sql(f)
    }
}

impl fmt::Display for DecimalArithmetic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.exact, f)
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::Field;
    use datafusion_physical_expr::expressions::{col, lit};

    use super::*;

    fn batch(left: Vec<Option<i128>>, right: Vec<Option<i128>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Decimal128(15, 2), true),
            Field::new("b", DataType::Decimal128(12, 4), true),
        ]));
        let a = Decimal128Array::from(left)
            .with_precision_and_scale(15, 2)
            .unwrap();
        let b = Decimal128Array::from(right)
            .with_precision_and_scale(12, 4)
            .unwrap();
        RecordBatch::try_new(schema, vec![Arc::new(a), Arc::new(b)]).unwrap()
    }

    /// Evaluates `left op right` with Arrow's kernel and with the fast one.
    fn both(
        batch: &RecordBatch,
        left: Arc<dyn PhysicalExpr>,
        op: Operator,
        right: Arc<dyn PhysicalExpr>,
    ) -> (ArrayRef, ArrayRef) {
        let exact: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(left, op, right));
        let fast = with_own_kernels(Arc::clone(&exact), &batch.schema()).unwrap();
        assert!(fast.downcast_ref::<DecimalArithmetic>().is_some(), "{fast}");
        let run = |expr: &Arc<dyn PhysicalExpr>| {
            expr.evaluate(batch)
                .unwrap()
                .into_array(batch.num_rows())
                .unwrap()
        };
        (run(&exact), run(&fast))
    }

    #[test]
    fn matches_arrow_on_columns_constants_and_nulls() {
        let batch = batch(
            vec![Some(12_345), None, Some(-999_999_999), Some(0), Some(1)],
            vec![
                Some(5_0000),
                Some(1),
                None,
                Some(-3_1415),
                Some(9_9999_9999),
            ],
        );
        let a = || col("a", &batch.schema()).unwrap();
        let b = || col("b", &batch.schema()).unwrap();
        let one = || lit(ScalarValue::Decimal128(Some(1), 20, 0));
        for op in [Operator::Plus, Operator::Minus, Operator::Multiply] {
            let cases = [(a(), b()), (b(), a()), (one(), b()), (a(), one())];
            for (left, right) in cases {
                let (exact, fast) = both(&batch, left, op, right);
                assert_eq!(exact.data_type(), fast.data_type());
                assert_eq!(exact.as_ref(), fast.as_ref(), "{op}");
            }
        }
    }

    #[test]
    fn values_beyond_64_bits_take_arrows_path() {
        let big = 10i128.pow(14);
        let batch = batch(vec![Some(big), Some(2)], vec![Some(big), Some(3)]);
        let schema = batch.schema();
        let (exact, fast) = both(
            &batch,
            col("a", &schema).unwrap(),
            Operator::Multiply,
            col("b", &schema).unwrap(),
        );
        assert_eq!(exact.as_ref(), fast.as_ref());
        assert_eq!(fast.as_primitive::<Decimal128Type>().value(0), big * big);
    }
}
