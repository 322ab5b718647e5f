//! What our scalar functions share around their kernels: their arguments as arrays
//! of one length, and the answer as a scalar when every argument was one (a constant
//! call answers one value, which the planner folds; an array of one row where rows
//! are expected would be a length mismatch).

use arrow::array::ArrayRef;
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::ColumnarValue;

/// A call's arguments as arrays.
pub struct Arguments {
    pub arrays: Vec<ArrayRef>,
    all_scalars: bool,
}

impl Arguments {
    pub fn of(args: &[ColumnarValue]) -> Result<Self> {
        Ok(Arguments {
            arrays: ColumnarValue::values_to_arrays(args)?,
            all_scalars: args
                .iter()
                .all(|argument| matches!(argument, ColumnarValue::Scalar(_))),
        })
    }

    /// `result`, computed from the arrays, as the call's value.
    pub fn answer(&self, result: ArrayRef) -> Result<ColumnarValue> {
        if self.all_scalars {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                result.as_ref(),
                0,
            )?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}
