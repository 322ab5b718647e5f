//! `length`, `octet_length` and `bit_length` of bytea count its bytes, as in
//! PostgreSQL. DataFusion's take only text, so the analyzer cast a bytea to text
//! first (`length('\x6162'::bytea)` counted the six characters of `\x6162`, not two
//! bytes) or refused it. Each is wrapped: bytea arguments are counted here, every
//! other goes to DataFusion's function unchanged.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int32Array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion_common::{exec_err, Result};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use super::call_values::Arguments;

/// The wrapped functions, for the registry; `functions` is DataFusion's.
pub fn functions(
    functions: &std::collections::HashMap<String, Arc<ScalarUDF>>,
) -> Vec<Arc<ScalarUDF>> {
    [
        ("character_length", 1),
        ("octet_length", 1),
        ("bit_length", 8),
    ]
    .into_iter()
    .filter_map(|(name, bits_per_byte)| {
        let inner = Arc::clone(functions.get(name)?);
        let mut accepted: Vec<TypeSignature> = BYTES
            .iter()
            .map(|bytes| TypeSignature::Exact(vec![bytes.clone()]))
            .collect();
        accepted.push(inner.signature().type_signature.clone());
        Some(Arc::new(ScalarUDF::from(ByteLength {
            signature: Signature::one_of(accepted, Volatility::Immutable),
            inner,
            bits_per_byte,
        })))
    })
    .collect()
}

const BYTES: [DataType; 3] = [
    DataType::Binary,
    DataType::LargeBinary,
    DataType::BinaryView,
];

#[derive(Debug, PartialEq, Eq, Hash)]
struct ByteLength {
    signature: Signature,
    inner: Arc<ScalarUDF>,
    bits_per_byte: i32,
}

impl ScalarUDFImpl for ByteLength {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [bytes] if BYTES.contains(bytes) => Ok(DataType::Int32),
            _ => self.inner.return_type(args),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let is_bytes =
            matches!(args.args.as_slice(), [value] if BYTES.contains(&value.data_type()));
        if !is_bytes {
            return self.inner.invoke_with_args(args);
        }
        let arguments = Arguments::of(&args.args)?;
        let [values] = arguments.arrays.as_slice() else {
            return exec_err!("{} takes one value", self.name());
        };
        arguments.answer(self.lengths(values)?)
    }
}

impl ByteLength {
    fn lengths(&self, values: &ArrayRef) -> Result<ArrayRef> {
        let bytes = cast(values, &DataType::LargeBinary)?;
        let bytes = bytes
            .as_any()
            .downcast_ref::<arrow::array::LargeBinaryArray>()
            .expect("cast to LargeBinary");
        let lengths: Int32Array = (0..bytes.len())
            .map(|row| {
                (!bytes.is_null(row)).then(|| {
                    i32::try_from(bytes.value(row).len()).unwrap_or(i32::MAX) * self.bits_per_byte
                })
            })
            .collect();
        Ok(Arc::new(lengths))
    }
}
