//! DataFusion's SQL planner asks a `ContextProvider` for tables and functions; this one
//! answers from our catalog and DataFusion's default function registries.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion_common::config::ConfigOptions;
use datafusion_common::{plan_err, DFSchema, Result, ScalarValue, TableReference};
use datafusion_expr::execution_props::ExecutionProps;
use datafusion_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion_expr::planner::ExprPlanner;
use datafusion_expr::ColumnarValue;
use datafusion_expr::{
    AggregateUDF, HigherOrderUDF, ScalarUDF, TableProviderFilterPushDown, TableSource, WindowUDF,
};
use datafusion_physical_expr::create_physical_expr;
use datafusion_sql::planner::ContextProvider;

use crate::catalog::{series_table, Catalog, Table};

/// A table as the SQL planner sees it. Filters are `Exact`: the scan applies them all.
#[derive(Debug)]
pub struct CatalogTableSource {
    pub table: Arc<Table>,
}

impl TableSource for CatalogTableSource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.table.schema)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&datafusion_expr::Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Exact; filters.len()])
    }
}

/// The function registries, built once per process.
#[derive(Clone)]
pub struct FunctionRegistry {
    scalars: HashMap<String, Arc<ScalarUDF>>,
    aggregates: HashMap<String, Arc<AggregateUDF>>,
    windows: HashMap<String, Arc<WindowUDF>>,
    expr_planners: Vec<Arc<dyn ExprPlanner>>,
}

impl FunctionRegistry {
    /// Whether `name` (in lower case) is an aggregate function's.
    pub fn is_aggregate(&self, name: &str) -> bool {
        self.aggregates.contains_key(without_pg_catalog(name))
    }

    /// Whether a call in a statement names an aggregate function.
    pub fn is_aggregate_call(&self, function: &sqlparser::ast::Function) -> bool {
        self.is_aggregate(&function.name.to_string().to_ascii_lowercase())
    }

    pub fn new() -> Self {
        let mut scalars = HashMap::new();
        let defaults = datafusion_functions::all_default_functions()
            .into_iter()
            .chain(datafusion_functions_nested::all_default_nested_functions());
        for udf in defaults {
            for alias in udf.aliases() {
                scalars.insert(alias.clone(), Arc::clone(&udf));
            }
            scalars.insert(udf.name().to_string(), udf);
        }
        let mut aggregates = HashMap::new();
        for udaf in datafusion_functions_aggregate::all_default_aggregate_functions() {
            for alias in udaf.aliases() {
                aggregates.insert(alias.clone(), Arc::clone(&udaf));
            }
            aggregates.insert(udaf.name().to_string(), udaf);
        }
        let average = super::interval_averages::function();
        for name in average
            .aliases()
            .iter()
            .chain([&average.name().to_string()])
        {
            aggregates.insert(name.clone(), Arc::clone(&average));
        }
        for udaf in super::ordered_set_aggregates::ordered_set_aggregates() {
            aggregates.insert(udaf.name().to_string(), udaf);
        }
        let mut windows = HashMap::new();
        for udwf in datafusion_functions_window::all_default_window_functions() {
            for alias in udwf.aliases() {
                windows.insert(alias.clone(), Arc::clone(&udwf));
            }
            windows.insert(udwf.name().to_string(), udwf);
        }
        let expr_planners: Vec<Arc<dyn ExprPlanner>> = vec![
            Arc::new(datafusion_functions::core::planner::CoreFunctionPlanner::default()),
            Arc::new(datafusion_functions::unicode::planner::UnicodeFunctionPlanner),
            Arc::new(datafusion_functions::datetime::planner::DatetimeFunctionPlanner),
            Arc::new(datafusion_functions_aggregate::planner::AggregateFunctionPlanner),
            Arc::new(datafusion_functions_window::planner::WindowFunctionPlanner),
            Arc::new(super::array_literals::ArrayTextPlanner),
            Arc::new(super::interval_scaling::IntervalScalingPlanner),
            Arc::new(super::timestamp_differences::TimestampDifferencePlanner),
            // ARRAY[..] literals, `a[i]` subscripts and `||` over arrays.
            Arc::new(datafusion_functions_nested::planner::NestedFunctionPlanner),
            Arc::new(datafusion_functions_nested::planner::FieldAccessPlanner),
        ];
        // PostgreSQL's names for functions DataFusion spells otherwise.
        for (postgres, ours) in [("sign", "signum"), ("ceiling", "ceil")] {
            if let Some(udf) = scalars.get(ours).cloned() {
                scalars.entry(postgres.to_string()).or_insert(udf);
            }
        }
        for (postgres, ours) in [("variance", "var_samp"), ("every", "bool_and")] {
            if let Some(udaf) = aggregates.get(ours).cloned() {
                aggregates.entry(postgres.to_string()).or_insert(udaf);
            }
        }
        let mut registry = FunctionRegistry {
            scalars,
            aggregates,
            windows,
            expr_planners,
        };
        for udf in super::pg_functions::catalog_functions() {
            registry.register_scalar(udf);
        }
        for udf in super::bytea_lengths::functions(&registry.scalars) {
            registry.register_scalar(udf);
        }
        registry.register_scalar(super::cast_names::mark_function());
        registry.register_scalar(super::pg_to_char::to_char());
        registry.register_scalar(super::bitwise_not::function());
        registry.register_scalar(super::width_bucket::function());
        registry.register_scalar(super::numeric_typmods::function());
        registry.register_scalar(super::age::function());
        registry.register_scalar(super::make_timestamp::function());
        registry.register_scalar(super::similar_to::function());
        registry.register_scalar(super::timestamp_differences::function());
        registry.register_scalar(super::text_casts::function());
        registry.register_scalar(super::bytea_text::function());
        registry.register_scalar(super::size_pretty::function());
        registry.register_scalar(super::float_zeros::function());
        for udf in super::interval_scaling::functions() {
            registry.register_scalar(udf);
        }
        registry
    }
}

impl FunctionRegistry {
    /// Adds a scalar function, replacing one of the same name.
    pub fn register_scalar(&mut self, udf: Arc<ScalarUDF>) {
        for alias in udf.aliases() {
            self.scalars.insert(alias.clone(), Arc::clone(&udf));
        }
        self.scalars.insert(udf.name().to_string(), udf);
    }
}

impl Default for FunctionRegistry {
    fn default() -> Self {
        Self::new()
    }
}

/// A function's name without the `pg_catalog.` tools put in front of built-ins.
fn without_pg_catalog(name: &str) -> &str {
    match name.split_once('.') {
        Some((schema, rest)) if schema.eq_ignore_ascii_case("pg_catalog") => rest,
        _ => name,
    }
}

/// Resolves names for one statement against a catalog snapshot.
pub struct PlanningContext<'a> {
    pub catalog: &'a Catalog,
    pub functions: &'a FunctionRegistry,
    pub options: ConfigOptions,
}

impl ContextProvider for PlanningContext<'_> {
    fn get_table_source(&self, name: TableReference) -> Result<Arc<dyn TableSource>> {
        match self.catalog.resolve(&name) {
            Some(table) => Ok(Arc::new(CatalogTableSource {
                table: Arc::clone(table),
            })),
            None => plan_err!("table '{name}' not found"),
        }
    }

    fn get_table_function_source(
        &self,
        name: &str,
        args: Vec<datafusion_expr::Expr>,
    ) -> Result<Arc<dyn TableSource>> {
        if without_pg_catalog(name) != series_table::NAME {
            return plan_err!(
                "table function '{name}' not found; generate_series is the one there is"
            );
        }
        let args = args
            .iter()
            .map(constant_value)
            .collect::<Result<Vec<_>>>()?;
        let table = series_table::series_table(&args, self.catalog.partition_count())?;
        Ok(Arc::new(CatalogTableSource {
            table: Arc::new(table),
        }))
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.functions
            .scalars
            .get(without_pg_catalog(name))
            .cloned()
    }

    fn get_higher_order_meta(&self, _name: &str) -> Option<Arc<HigherOrderUDF>> {
        None
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.functions
            .aggregates
            .get(without_pg_catalog(name))
            .cloned()
    }

    fn get_window_meta(&self, name: &str) -> Option<Arc<WindowUDF>> {
        self.functions.windows.get(name).cloned()
    }

    fn get_variable_type(&self, _variable_names: &[String]) -> Option<DataType> {
        None
    }

    fn options(&self) -> &ConfigOptions {
        &self.options
    }

    fn udf_names(&self) -> Vec<String> {
        sorted_keys(&self.functions.scalars)
    }

    fn higher_order_function_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn udaf_names(&self) -> Vec<String> {
        sorted_keys(&self.functions.aggregates)
    }

    fn udwf_names(&self) -> Vec<String> {
        sorted_keys(&self.functions.windows)
    }

    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        &self.functions.expr_planners
    }
}

/// The value of a table function's argument, which must not read any column.
fn constant_value(expr: &datafusion_expr::Expr) -> Result<ScalarValue> {
    if !expr.column_refs().is_empty() {
        return plan_err!("table function arguments must be constants, not {expr}");
    }
    let schema = DFSchema::empty();
    let physical = create_physical_expr(
        expr,
        &schema,
        &ExecutionProps::new(),
        &PhysicalPlanningContext::default(),
    )?;
    let one_row = RecordBatch::try_new_with_options(
        Arc::new(arrow::datatypes::Schema::empty()),
        Vec::new(),
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    match physical.evaluate(&one_row)? {
        ColumnarValue::Scalar(value) => Ok(value),
        ColumnarValue::Array(array) => ScalarValue::try_from_array(&array, 0),
    }
}

fn sorted_keys<V>(map: &HashMap<String, V>) -> Vec<String> {
    let mut keys: Vec<String> = map.keys().cloned().collect();
    keys.sort();
    keys
}
