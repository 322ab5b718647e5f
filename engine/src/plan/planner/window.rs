//! Window planning. Functions with the same `PARTITION BY` and `ORDER BY` share one
//! window operator; each operator needs every row of a window partition in one task:
//! the input is hash-exchanged on the partition keys unless it is partitioned on
//! (some of) them already, or gathered to one task when there are no partition keys
//! (said in EXPLAIN), then sorted by partition and order keys (a spilling sort).

use std::sync::Arc;

use arrow::compute::SortOptions;
use arrow::datatypes::Schema;
use datafusion_common::DFSchema;
use datafusion_expr::expr::{WindowFunction, WindowFunctionParams};
use datafusion_expr::logical_plan::Window;
use datafusion_expr::{Expr, SortExpr, WindowFrame, WindowFunctionDefinition};
use datafusion_physical_expr::aggregate::AggregateExprBuilder;
use datafusion_physical_expr::expressions::Column;
use datafusion_physical_expr::window::{
    PlainAggregateWindowExpr, SlidingAggregateWindowExpr, StandardWindowExpr, WindowExpr,
};
use datafusion_physical_expr::{PhysicalExpr, PhysicalSortExpr};

use super::{arrow_schema, Planned, Planner};
use crate::error::{QueryError, QueryResult};
use crate::operators::window::WindowFunctionExpr;
use crate::plan::node::{Node, WindowNode};

/// Window functions of one `OVER` shape: their positions among the logical node's
/// expressions.
struct WindowGroup<'a> {
    partition_by: &'a [Expr],
    order_by: &'a [SortExpr],
    members: Vec<usize>,
}

impl Planner<'_> {
    pub(super) fn plan_window(&mut self, window: &Window) -> QueryResult<Planned> {
        let mut planned = self.plan(&window.input)?;
        let input_schema = window.input.schema();
        let input_width = input_schema.fields().len();
        let output_schema = arrow_schema(&window.schema);
        let mut groups: Vec<WindowGroup> = Vec::new();
        for (position, expr) in window.window_expr.iter().enumerate() {
            let params = &window_function(expr)?.params;
            match groups.iter_mut().find(|g| {
                g.partition_by == params.partition_by.as_slice()
                    && g.order_by == params.order_by.as_slice()
            }) {
                Some(group) => group.members.push(position),
                None => groups.push(WindowGroup {
                    partition_by: &params.partition_by,
                    order_by: &params.order_by,
                    members: vec![position],
                }),
            }
        }
        // Each operator appends its functions' columns; input columns keep their
        // positions, so expressions over the input stay valid above every operator.
        let mut appended: Vec<usize> = Vec::new();
        for group in &groups {
            let mut fields: Vec<_> = planned.node.schema().fields().iter().cloned().collect();
            let mut exprs = Vec::with_capacity(group.members.len());
            for &position in &group.members {
                let field = output_schema.field(input_width + position);
                fields.push(Arc::new(field.clone()));
                exprs.push(self.window_expr(
                    &window.window_expr[position],
                    input_schema,
                    field.name(),
                )?);
            }
            appended.extend(&group.members);
            let partition_by = self.physical_exprs(group.partition_by, input_schema)?;
            let order_by = self.physical_sort_exprs(group.order_by, input_schema)?;
            planned = self.place_window_partitions(planned, &partition_by, &exprs)?;
            let mut sort: Vec<PhysicalSortExpr> = partition_by
                .iter()
                .map(|key| PhysicalSortExpr::new(Arc::clone(key), SortOptions::default()))
                .collect();
            sort.extend(order_by);
            // `OVER ()`: one partition in any order, nothing to sort.
            let sorted = if sort.is_empty() {
                planned.node
            } else {
                Node::Sort {
                    input: Box::new(planned.node),
                    exprs: sort,
                    fetch: None,
                }
            };
            planned.node = Node::Window(WindowNode {
                input: Box::new(sorted),
                partition_by,
                exprs,
                schema: Arc::new(Schema::new(fields)),
            });
        }
        if appended.iter().copied().eq(0..window.window_expr.len()) {
            return Ok(planned);
        }
        // Operators appended the functions in another order than the query's.
        let mut exprs: Vec<Arc<dyn PhysicalExpr>> = (0..input_width)
            .map(|i| Arc::new(Column::new(input_schema.field(i).name(), i)) as _)
            .collect();
        for position in 0..window.window_expr.len() {
            let at = input_width
                + appended
                    .iter()
                    .position(|&p| p == position)
                    .expect("planned");
            let name = output_schema.field(input_width + position).name();
            exprs.push(Arc::new(Column::new(name, at)));
        }
        planned.node = Node::Project {
            input: Box::new(planned.node),
            exprs,
            schema: output_schema,
        };
        Ok(planned)
    }

    /// Brings every row of a window partition into one task.
    fn place_window_partitions(
        &mut self,
        input: Planned,
        partition_by: &[Arc<dyn PhysicalExpr>],
        exprs: &[Arc<dyn WindowExpr>],
    ) -> QueryResult<Planned> {
        let names = exprs
            .iter()
            .map(|e| e.name().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        if !input.dist.is_partitioned() {
            return Ok(input);
        }
        if partition_by.is_empty() {
            let reason = format!(
                "window [{names}] has no PARTITION BY: one partition, evaluated on one core"
            );
            return Ok(self.gather(input, reason));
        }
        let key_columns: Vec<Option<usize>> = partition_by
            .iter()
            .map(|key| key.downcast_ref::<Column>().map(Column::index))
            .collect();
        if input.dist.partitioned_within(&key_columns) {
            self.avoided(
                format!("window [{names}]"),
                format!(
                    "window partitions are co-located: input partitioned on {}",
                    input.dist.describe()
                ),
            );
            return Ok(input);
        }
        let reason = format!("window [{names}]: input not partitioned on the PARTITION BY keys");
        Ok(self.hash_partition(input, partition_by.to_vec(), reason))
    }

    /// The physical window expression for one logical window function.
    fn window_expr(
        &self,
        expr: &Expr,
        input_schema: &DFSchema,
        name: &str,
    ) -> QueryResult<Arc<dyn WindowExpr>> {
        let WindowFunction { fun, params } = window_function(expr)?;
        let WindowFunctionParams {
            args,
            partition_by,
            order_by,
            window_frame,
            filter,
            null_treatment,
            distinct,
        } = params;
        if *distinct {
            return Err(QueryError::unsupported(format!(
                "DISTINCT in window function {name}"
            )));
        }
        check_frame(window_frame, name)?;
        let arrow_input: &Schema = input_schema.as_arrow();
        let args = self.physical_exprs(args, input_schema)?;
        let partition_by = self.physical_exprs(partition_by, input_schema)?;
        let order_by = self.physical_sort_exprs(order_by, input_schema)?;
        let frame = Arc::new(window_frame.clone());
        let ignore_nulls = matches!(
            null_treatment,
            Some(datafusion_expr::expr::NullTreatment::IgnoreNulls)
        );
        Ok(match fun {
            WindowFunctionDefinition::AggregateUDF(function) => {
                let filter = filter
                    .as_ref()
                    .map(|f| self.physical_expr(f, input_schema))
                    .transpose()?;
                let aggregate = Arc::new(
                    AggregateExprBuilder::new(Arc::clone(function), args)
                        .schema(Arc::new(arrow_input.clone()))
                        .alias(name)
                        .with_ignore_nulls(ignore_nulls)
                        .build()?,
                );
                if frame.start_bound.is_unbounded() {
                    Arc::new(PlainAggregateWindowExpr::new(
                        aggregate,
                        &partition_by,
                        &order_by,
                        frame,
                        filter,
                    ))
                } else {
                    Arc::new(SlidingAggregateWindowExpr::new(
                        aggregate,
                        &partition_by,
                        &order_by,
                        frame,
                        filter,
                    ))
                }
            }
            WindowFunctionDefinition::WindowUDF(function) => {
                if filter.is_some() {
                    return Err(QueryError::unsupported(format!(
                        "FILTER on window function {name} (only on aggregates)"
                    )));
                }
                let input_fields = args
                    .iter()
                    .map(|arg| arg.return_field(arrow_input))
                    .collect::<Result<Vec<_>, _>>()?;
                let function = WindowFunctionExpr::new(
                    Arc::clone(function),
                    args,
                    input_fields,
                    name.to_string(),
                    ignore_nulls,
                );
                Arc::new(StandardWindowExpr::new(
                    Arc::new(function),
                    &partition_by,
                    &order_by,
                    frame,
                ))
            }
        })
    }
}

/// The window function under `expr`'s aliases.
fn window_function(expr: &Expr) -> QueryResult<&WindowFunction> {
    match expr {
        Expr::WindowFunction(function) => Ok(function),
        Expr::Alias(alias) => window_function(&alias.expr),
        other => Err(QueryError::internal(format!(
            "window operator over a non-window expression {other}"
        ))),
    }
}

/// A frame that starts after it ends has no rows; PostgreSQL refuses it.
fn check_frame(frame: &WindowFrame, name: &str) -> QueryResult<()> {
    use datafusion_expr::WindowFrameBound::{CurrentRow, Following, Preceding};
    let position = |bound: &datafusion_expr::WindowFrameBound| match bound {
        Preceding(value) if value.is_null() => None,
        Following(value) if value.is_null() => None,
        Preceding(_) => Some(-1),
        CurrentRow => Some(0),
        Following(_) => Some(1),
    };
    let invalid = matches!(
        (position(&frame.start_bound), position(&frame.end_bound)),
        (Some(start), Some(end)) if start > end
    ) || matches!(frame.start_bound, Following(ref v) if v.is_null())
        || matches!(frame.end_bound, Preceding(ref v) if v.is_null());
    if invalid {
        return Err(QueryError::new(
            crate::error::ErrorCode::Syntax,
            format!("invalid window frame of {name}: it starts after it ends ({frame})"),
        ));
    }
    Ok(())
}
