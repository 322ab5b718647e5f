//! `~x`, PostgreSQL's bitwise NOT, which DataFusion does not plan: a call of
//! `bitwise_not`, defined for integers only (`~5.5` is an error, as in PostgreSQL,
//! not a rounded integer) and of the operand's own type.

use std::sync::Arc;

use arrow::array::{AsArray, PrimitiveArray};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Int16Type, Int32Type, Int64Type, Int8Type};
use datafusion_common::{exec_err, Result};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use sqlparser::ast::{Expr, UnaryOperator, Value};

use super::call_values::Arguments;
use super::pg_compat::function_call;

const NAME: &str = "bitwise_not";

/// `~x` as `bitwise_not(x)`, in place.
pub fn as_call(expr: &mut Expr) {
    if let Expr::UnaryOp {
        op: UnaryOperator::BitwiseNot,
        expr: operand,
    } = expr
    {
        let operand = std::mem::replace(operand.as_mut(), Expr::value(Value::Null));
        *expr = function_call(NAME, vec![operand]);
    }
}

/// The function, for the registry.
pub fn function() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(BitwiseNot {
        signature: Signature::uniform(
            1,
            vec![
                DataType::Int8,
                DataType::Int16,
                DataType::Int32,
                DataType::Int64,
            ],
            Volatility::Immutable,
        ),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct BitwiseNot {
    signature: Signature,
}

impl ScalarUDFImpl for BitwiseNot {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [integer] if integer.is_signed_integer() => Ok(integer.clone()),
            _ => exec_err!("~ takes an integer, not {args:?}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arguments = Arguments::of(&args.args)?;
        let [operand] = arguments.arrays.as_slice() else {
            return exec_err!("~ takes one operand");
        };
        let inverted: arrow::array::ArrayRef = match operand.data_type() {
            DataType::Int8 => Arc::new(inverted::<Int8Type>(operand.as_primitive())),
            DataType::Int16 => Arc::new(inverted::<Int16Type>(operand.as_primitive())),
            DataType::Int32 => Arc::new(inverted::<Int32Type>(operand.as_primitive())),
            DataType::Int64 => Arc::new(inverted::<Int64Type>(operand.as_primitive())),
            other => return exec_err!("~ takes an integer, not {other}"),
        };
        arguments.answer(inverted)
    }
}

fn inverted<T>(values: &PrimitiveArray<T>) -> PrimitiveArray<T>
where
    T: ArrowPrimitiveType,
    T::Native: std::ops::Not<Output = T::Native>,
{
    values.unary(|value| !value)
}
