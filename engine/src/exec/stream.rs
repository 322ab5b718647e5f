//! Pull-based glue between operator kernels. Each plan node becomes a stream whose
//! `next` returns the node's next batch; only exchange reads really wait, everything
//! else is a synchronous kernel call. Blocking nodes (aggregation, join build, sort)
//! drain their input on the first call, yielding to the executor between batches.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion_physical_expr::PhysicalExpr;
use futures_lite::FutureExt;

use super::aggregate::AggregateStream;
use super::csv_scan::CsvScanStream;
use super::exchange::{ExchangeStream, TaskInputs};
use super::join::HashJoinStream;
use super::nested_loop::NestedLoopStream;
use super::parquet_scan::ParquetScanStream;
use super::query::QueryState;
use super::runtime_filters::PendingFilters;
use super::series_scan::SeriesScanStream;
use super::sort::SortStream;
use super::stats::TaskCounters;
use super::unnest::UnnestStream;
use super::window::WindowStream;
use super::ExecConfig;
use crate::catalog::stored_rows::StoredRows;
use crate::error::{TaskError, TaskLocation, TaskResult};
use crate::memory::spill::SpillReader;
use crate::operators::conjunction::Conjunction;
use crate::operators::runtime_filter::RuntimeFilter;
use crate::operators::sort::Sorter;
use crate::operators::{batch_with_rows, evaluate, split_batch};
use crate::plan::explain::describe;
use crate::plan::node::{Node, ScanNode};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A source of batches for the operator above it.
pub(crate) trait BatchStream {
    /// The next batch, or `None` when the input is exhausted.
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>>;
}

pub(crate) struct StreamContext {
    pub query: Arc<QueryState>,
    pub config: ExecConfig,
    pub location: TaskLocation,
    pub counters: Rc<TaskCounters>,
    /// Joins' runtime filters for scans whose streams are not built yet.
    pub runtime_filters: PendingFilters,
}

pub(crate) type Stream = Box<dyn BatchStream>;

/// Builds the stream tree for one task from a stage's operator tree. Each
/// operator's errors name it, so a user learns which one failed (and on which node).
pub(crate) fn build_stream(
    node: &Node,
    inputs: &mut TaskInputs,
    context: &StreamContext,
) -> TaskResult<Stream> {
    let operator = operator_name(node);
    let inner = build_operator(node, inputs, context)
        .map_err(|error| error.in_operator(|| operator.clone()))?;
    Ok(Box::new(NamedStream { inner, operator }))
}

/// How an error names an operator: its EXPLAIN line, cut short.
fn operator_name(node: &Node) -> String {
    const MOST: usize = 200;
    let mut line = describe(node);
    if line.len() > MOST {
        let mut end = MOST;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push_str("...");
    }
    line
}

/// An operator's stream whose errors, and panics, carry the operator's name.
struct NamedStream {
    inner: Stream,
    operator: String,
}

impl BatchStream for NamedStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            let outcome = AssertUnwindSafe(self.inner.next()).catch_unwind().await;
            outcome
                .unwrap_or_else(|panic| {
                    Err(TaskError::internal(format!(
                        "operator panicked: {}",
                        crate::error::panic_message(panic.as_ref())
                    )))
                })
                .map_err(|error| error.in_operator(|| self.operator.clone()))
        })
    }
}

fn build_operator(
    node: &Node,
    inputs: &mut TaskInputs,
    context: &StreamContext,
) -> TaskResult<Stream> {
    let batch_rows = context.config.batch_rows;
    Ok(match node {
        Node::Scan(scan) => match (&scan.table.series, &scan.table.parquet, &scan.table.csv) {
            (Some(series), _, _) => Box::new(SeriesScanStream::new(scan, series, context)?),
            (None, Some(source), _) => Box::new(ParquetScanStream::new(
                scan,
                source,
                &describe(node),
                context,
            )?),
            (None, None, Some(source)) => Box::new(CsvScanStream::new(scan, source, context)?),
            (None, None, None) => Box::new(ScanStream::new(scan, context)?),
        },
        Node::Values { batches, .. } => Box::new(Buffered(
            batches
                .iter()
                .flat_map(|batch| split_batch(batch.clone(), batch_rows))
                .collect(),
        )),
        Node::Filter { input, predicate } => {
            let conjunction = Conjunction::new(std::slice::from_ref(predicate))?;
            Box::new(MapStream {
                input: build_stream(input, inputs, context)?,
                map: Box::new(move |batch| conjunction.filter(&batch)),
            })
        }
        Node::Project {
            input,
            exprs,
            schema,
        } => {
            let (exprs, schema) = (exprs.clone(), Arc::clone(schema));
            Box::new(MapStream {
                input: build_stream(input, inputs, context)?,
                map: Box::new(move |batch| project(&exprs, &schema, &batch)),
            })
        }
        Node::Expand {
            input,
            projections,
            schema,
        } => Box::new(ExpandStream {
            input: build_stream(input, inputs, context)?,
            projections: projections.clone(),
            schema: Arc::clone(schema),
            current: None,
        }),
        Node::Unnest(unnest) => Box::new(UnnestStream::new(
            build_stream(&unnest.input, inputs, context)?,
            unnest,
            batch_rows,
        )),
        Node::Window(window) => Box::new(WindowStream::new(
            build_stream(&window.input, inputs, context)?,
            window,
            &describe(node),
            context,
        )),
        Node::Aggregate(aggregate) => Box::new(AggregateStream::new(
            build_stream(&aggregate.input, inputs, context)?,
            aggregate,
            &describe(node),
            context,
        )?),
        Node::Sort {
            input,
            exprs,
            fetch,
        } => Box::new(SortStream::new(
            build_stream(input, inputs, context)?,
            Sorter::new(exprs.clone(), *fetch, input.schema(), batch_rows),
            &describe(node),
            context,
        )),
        Node::HashJoin(join) => {
            Box::new(HashJoinStream::new(join, &describe(node), inputs, context)?)
        }
        Node::NestedLoopJoin(join) => Box::new(NestedLoopStream::new(
            join,
            &describe(node),
            inputs,
            context,
        )?),
        Node::Limit { input, skip, fetch } => Box::new(LimitStream {
            input: Some(build_stream(input, inputs, context)?),
            skip: *skip,
            remaining: fetch.unwrap_or(usize::MAX),
        }),
        Node::Union {
            inputs: children,
            schema,
        } => {
            let children = children
                .iter()
                .map(|child| build_stream(child, inputs, context))
                .collect::<TaskResult<VecDeque<_>>>()?;
            Box::new(UnionStream {
                children,
                schema: Arc::clone(schema),
            })
        }
        Node::ExchangeRead { exchange, .. } => {
            let position = inputs
                .iter()
                .position(|(id, _)| id == exchange)
                .ok_or_else(|| {
                    TaskError::internal(format!("no receiver for exchange #{}", exchange.0))
                })?;
            let (_, input) = inputs.swap_remove(position);
            Box::new(ExchangeStream::new(input, Rc::clone(&context.counters)))
        }
    })
}

/// Emits each input batch once per projection, one output batch at a time: the
/// input batch is kept and projected again on each call.
struct ExpandStream {
    input: Stream,
    projections: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    schema: SchemaRef,
    /// The input batch being expanded and the projection it goes through next.
    current: Option<(RecordBatch, usize)>,
}

impl BatchStream for ExpandStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            loop {
                if let Some((batch, projection)) = self.current.as_mut() {
                    if let Some(exprs) = self.projections.get(*projection) {
                        *projection += 1;
                        return Ok(Some(project(exprs, &self.schema, batch)?));
                    }
                    self.current = None;
                }
                let Some(batch) = self.input.next().await? else {
                    return Ok(None);
                };
                if batch.num_rows() > 0 {
                    self.current = Some((batch, 0));
                }
            }
        })
    }
}

/// Evaluates `exprs` over `batch` into a batch of `schema` with as many rows.
fn project(
    exprs: &[Arc<dyn PhysicalExpr>],
    schema: &SchemaRef,
    batch: &RecordBatch,
) -> TaskResult<RecordBatch> {
    batch_with_rows(schema, evaluate(exprs, batch)?, batch.num_rows())
}

struct ScanStream {
    batches: Vec<RecordBatch>,
    /// A loaded table's rows on disk, read once `batches` are done.
    on_disk: VecDeque<StoredRows>,
    reader: Option<SpillReader>,
    next_batch: usize,
    offset: usize,
    node: ScanNode,
    filters: Conjunction,
    batch_rows: usize,
    query: Arc<QueryState>,
}

impl ScanStream {
    fn new(node: &ScanNode, context: &StreamContext) -> TaskResult<Self> {
        let partition = context.location.partition;
        let on_disk = node
            .table
            .stored
            .as_ref()
            .map(|stored| stored.on_disk(partition).iter().cloned().collect())
            .unwrap_or_default();
        Ok(ScanStream {
            batches: node.table.partitions[partition].clone(),
            on_disk,
            reader: None,
            next_batch: 0,
            offset: 0,
            node: node.clone(),
            filters: scan_filters(node, context)?,
            batch_rows: context.config.batch_rows.max(1),
            query: Arc::clone(&context.query),
        })
    }

    fn next_slice(&mut self) -> Option<RecordBatch> {
        loop {
            let batch = self.batches.get(self.next_batch)?;
            if self.offset >= batch.num_rows() {
                self.next_batch += 1;
                self.offset = 0;
                continue;
            }
            let length = self.batch_rows.min(batch.num_rows() - self.offset);
            let slice = batch.slice(self.offset, length);
            self.offset += length;
            return Some(slice);
        }
    }

    fn process(&self, batch: RecordBatch) -> TaskResult<RecordBatch> {
        filter_and_project(
            &self.node,
            &self.filters,
            batch.project(&self.node.read_columns)?,
        )
    }

    /// Replaces the finished batches with the next one read from disk; `false` when
    /// there is none.
    async fn read_from_disk(&mut self) -> TaskResult<bool> {
        loop {
            if let Some(reader) = &mut self.reader {
                if let Some(batch) = reader.next().await? {
                    self.batches = vec![batch];
                    self.next_batch = 0;
                    self.offset = 0;
                    return Ok(true);
                }
                self.reader = None;
            }
            let Some(stored) = self.on_disk.pop_front() else {
                return Ok(false);
            };
            self.reader = Some(stored.reader().await?);
        }
    }
}

/// The columns a file scan decodes: its read columns in table order, as file
/// readers return them, and where each read column stands among them.
pub(crate) struct DecodedColumns {
    pub columns: Vec<usize>,
    positions: Vec<usize>,
    filters: Conjunction,
    /// The runtime filters alone, for rows that passed the pushed-down filters.
    runtime_filters: Conjunction,
    /// The same filters, whose build keys also rule out row groups and pages.
    pub join_keys: Vec<RuntimeFilter>,
}

impl DecodedColumns {
    pub fn of(node: &ScanNode, context: &StreamContext) -> TaskResult<Self> {
        let mut columns = node.read_columns.clone();
        columns.sort_unstable();
        columns.dedup();
        let positions = node
            .read_columns
            .iter()
            .map(|c| {
                columns
                    .binary_search(c)
                    .expect("every read column is decoded")
            })
            .collect();
        let runtime = context.runtime_filters.take_for(node);
        Ok(DecodedColumns {
            columns,
            positions,
            filters: Conjunction::new(&node.filters)?.with_runtime_filters(runtime.clone()),
            runtime_filters: Conjunction::new(&[])?.with_runtime_filters(runtime.clone()),
            join_keys: runtime,
        })
    }

    /// A decoded batch through the scan: its read columns in the scan's order, the
    /// pushed-down filters, the output columns.
    pub fn scan(&self, node: &ScanNode, decoded: RecordBatch) -> TaskResult<RecordBatch> {
        filter_and_project(node, &self.filters, decoded.project(&self.positions)?)
    }

    /// A batch of read columns whose rows passed the pushed-down filters through the
    /// runtime filters, then the scan's output columns.
    pub fn scan_passed(&self, node: &ScanNode, read: RecordBatch) -> TaskResult<RecordBatch> {
        filter_and_project(node, &self.runtime_filters, read)
    }
}

/// A scan's pushed-down filters and the runtime filters joins above it offered.
pub(crate) fn scan_filters(node: &ScanNode, context: &StreamContext) -> TaskResult<Conjunction> {
    let runtime = context.runtime_filters.take_for(node);
    Ok(Conjunction::new(&node.filters)?.with_runtime_filters(runtime))
}

/// A scan's pushed-down `filters` over a batch of its read columns, then its output
/// columns under its schema.
pub(crate) fn filter_and_project(
    node: &ScanNode,
    filters: &Conjunction,
    batch: RecordBatch,
) -> TaskResult<RecordBatch> {
    let selection = filters.select(&batch)?;
    // Only the output columns are copied: a column read for a filter alone is not.
    selection.apply(&output_columns(node, batch)?)
}

/// A batch of a scan's read columns as its output columns, under its schema.
pub(crate) fn output_columns(node: &ScanNode, batch: RecordBatch) -> TaskResult<RecordBatch> {
    let batch = batch.project(&node.output_columns)?;
    Ok(batch.with_schema(Arc::clone(&node.schema))?)
}

impl BatchStream for ScanStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            loop {
                while let Some(slice) = self.next_slice() {
                    self.query.check_cancelled()?;
                    let batch = self.process(slice)?;
                    if batch.num_rows() > 0 {
                        return Ok(Some(batch));
                    }
                    glommio::yield_if_needed().await;
                }
                if !self.read_from_disk().await? {
                    return Ok(None);
                }
            }
        })
    }
}

struct Buffered(VecDeque<RecordBatch>);

impl BatchStream for Buffered {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move { Ok(self.0.pop_front()) })
    }
}

type BatchMap = Box<dyn FnMut(RecordBatch) -> TaskResult<RecordBatch>>;

/// A one-batch-in, one-batch-out operator (filter, projection).
struct MapStream {
    input: Stream,
    map: BatchMap,
}

impl BatchStream for MapStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            while let Some(batch) = self.input.next().await? {
                let batch = (self.map)(batch)?;
                if batch.num_rows() > 0 {
                    return Ok(Some(batch));
                }
            }
            Ok(None)
        })
    }
}

struct LimitStream {
    input: Option<Stream>,
    skip: usize,
    remaining: usize,
}

impl BatchStream for LimitStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            while self.remaining > 0 {
                let Some(input) = self.input.as_mut() else {
                    return Ok(None);
                };
                let Some(mut batch) = input.next().await? else {
                    break;
                };
                if self.skip >= batch.num_rows() {
                    self.skip -= batch.num_rows();
                    continue;
                }
                batch = batch.slice(self.skip, batch.num_rows() - self.skip);
                self.skip = 0;
                let take = batch.num_rows().min(self.remaining);
                self.remaining -= take;
                return Ok(Some(batch.slice(0, take)));
            }
            // Enough rows: drop the input so its producers stop.
            self.input = None;
            Ok(None)
        })
    }
}

/// Concatenates its inputs; their column names may differ, so each batch is put
/// under the union's schema.
struct UnionStream {
    children: VecDeque<Stream>,
    schema: arrow::datatypes::SchemaRef,
}

impl BatchStream for UnionStream {
    fn next(&mut self) -> BoxFuture<'_, TaskResult<Option<RecordBatch>>> {
        Box::pin(async move {
            while let Some(child) = self.children.front_mut() {
                if let Some(batch) = child.next().await? {
                    let columns = batch.columns().to_vec();
                    return Ok(Some(batch_with_rows(
                        &self.schema,
                        columns,
                        batch.num_rows(),
                    )?));
                }
                self.children.pop_front();
            }
            Ok(None)
        })
    }
}
