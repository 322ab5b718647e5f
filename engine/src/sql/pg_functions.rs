//! The functions PostgreSQL tools call on the system catalog, answered as a
//! read-only single-database engine can: every table is visible and owned by
//! `percore`, nothing has a comment or a default expression, the encoding is UTF8.
//! They are also found under their `pg_catalog.` name (see
//! [`super::provider::FunctionRegistry`]).

use std::sync::Arc;

use arrow::array::{Array, Int64Array, StringArray};
use arrow::datatypes::DataType;
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use crate::catalog::pg_types::format_type;
use crate::catalog::system::{DATABASE, OWNER, PUBLIC};

/// What a catalog function answers.
#[derive(Debug, PartialEq, Eq, Hash, Clone)]
enum Answer {
    /// The same value for any arguments (`NULL` as `Text(None)`).
    Text(Option<String>),
    Bool(bool),
    /// `format_type(type_oid, typmod)`.
    FormatType,
    /// A size in bytes Percore does not measure through SQL: `NULL` (bigint).
    UnknownSize,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CatalogFunction {
    name: &'static str,
    signature: Signature,
    answer: Answer,
}

impl ScalarUDFImpl for CatalogFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.answer {
            Answer::Bool(_) => DataType::Boolean,
            Answer::UnknownSize => DataType::Int64,
            Answer::Text(_) | Answer::FormatType => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(match &self.answer {
            Answer::Text(text) => ColumnarValue::Scalar(ScalarValue::Utf8(text.clone())),
            Answer::Bool(flag) => ColumnarValue::Scalar(ScalarValue::Boolean(Some(*flag))),
            Answer::UnknownSize => ColumnarValue::Scalar(ScalarValue::Int64(None)),
            Answer::FormatType => {
                let rows = args.number_rows;
                let arrays = ColumnarValue::values_to_arrays(&args.args)?;
                let as_ints = |index: usize| -> Result<Option<Int64Array>> {
                    arrays
                        .get(index)
                        .map(|array| {
                            let cast = arrow::compute::cast(array, &DataType::Int64)?;
                            Ok(cast
                                .as_any()
                                .downcast_ref::<Int64Array>()
                                .expect("cast to Int64")
                                .clone())
                        })
                        .transpose()
                };
                let oids = as_ints(0)?;
                let modifiers = as_ints(1)?;
                let names: StringArray = (0..rows)
                    .map(|row| {
                        let oid = oids.as_ref().filter(|a| a.is_valid(row))?.value(row);
                        let modifier = modifiers
                            .as_ref()
                            .filter(|a| a.is_valid(row))
                            .map_or(-1, |a| a.value(row));
                        let oid = u32::try_from(oid).ok()?;
                        let modifier = i32::try_from(modifier).unwrap_or(-1);
                        Some(format_type(oid, modifier).unwrap_or_else(|| "???".to_string()))
                    })
                    .collect();
                ColumnarValue::Array(Arc::new(names))
            }
        })
    }
}

fn function(name: &'static str, arities: &[usize], answer: Answer) -> Arc<ScalarUDF> {
    let signatures = arities
        .iter()
        .map(|&arity| {
            if arity == 0 {
                TypeSignature::Nullary
            } else {
                TypeSignature::Any(arity)
            }
        })
        .collect();
    Arc::new(ScalarUDF::from(CatalogFunction {
        name,
        signature: Signature::one_of(signatures, Volatility::Stable),
        answer,
    }))
}

fn text(value: &str) -> Answer {
    Answer::Text(Some(value.to_string()))
}

/// Every catalog function.
pub fn catalog_functions() -> Vec<Arc<ScalarUDF>> {
    let version = format!(
        "PostgreSQL 15.0 (Percore {}) on {}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    );
    vec![
        function("pg_table_is_visible", &[1], Answer::Bool(true)),
        function("pg_type_is_visible", &[1], Answer::Bool(true)),
        function("has_table_privilege", &[2, 3], Answer::Bool(true)),
        function("has_schema_privilege", &[2, 3], Answer::Bool(true)),
        function("has_database_privilege", &[2, 3], Answer::Bool(true)),
        function("pg_get_userbyid", &[1], text(OWNER)),
        function("pg_encoding_to_char", &[1], text("UTF8")),
        function("current_schema", &[0], text(PUBLIC)),
        function("current_database", &[0], text(DATABASE)),
        function("version", &[0], Answer::Text(Some(version))),
        function("obj_description", &[1, 2], Answer::Text(None)),
        function("col_description", &[2], Answer::Text(None)),
        function("shobj_description", &[2], Answer::Text(None)),
        function("pg_get_expr", &[2, 3], Answer::Text(None)),
        function("pg_get_indexdef", &[1, 3], Answer::Text(None)),
        function("pg_get_constraintdef", &[1, 2], Answer::Text(None)),
        function("pg_get_viewdef", &[1, 2], Answer::Text(None)),
        function("pg_tablespace_location", &[1], Answer::Text(None)),
        function("pg_get_statisticsobjdef_columns", &[1], Answer::Text(None)),
        // No table is published: Percore has no logical replication.
        function("pg_relation_is_publishable", &[1], Answer::Bool(false)),
        function("format_type", &[2], Answer::FormatType),
        // No user-defined functions: `\\df` lists none (its query skips pg_catalog).
        function("pg_function_is_visible", &[1], Answer::Bool(true)),
        function("pg_get_function_result", &[1], Answer::Text(None)),
        function("pg_get_function_arguments", &[1], Answer::Text(None)),
        // Table data lives in partitions on every node; no node knows the total, so
        // sizes are unknown (NULL), and psql's `\\dt+` shows none.
        function("pg_table_size", &[1], Answer::UnknownSize),
        function("pg_relation_size", &[1, 2], Answer::UnknownSize),
        function("pg_total_relation_size", &[1], Answer::UnknownSize),
        function("pg_indexes_size", &[1], Answer::UnknownSize),
        function("pg_database_size", &[1], Answer::UnknownSize),
    ]
}
