//! Kernel benchmarks: the synchronous operators a task runs, on in-memory batches, one
//! core, no exchanges. `cargo bench -p percore-engine --bench operators` (add
//! `-- --quick` for a short run). Each kernel is built from a real plan of a SQL query,
//! so it runs exactly what queries run.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringViewArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use percore_engine::catalog::{Catalog, Table};
use percore_engine::exec::ExecConfig;
use percore_engine::operators::aggregate::HashAggregator;
use percore_engine::operators::conjunction::Conjunction;
use percore_engine::operators::evaluate;
use percore_engine::operators::join::{HashJoinProbe, JoinTable, ProbeMode};
use percore_engine::operators::sort::Sorter;
use percore_engine::plan::node::{AggregateNode, HashJoinNode};
use percore_engine::plan::Node;
use percore_engine::session::{Cluster, ClusterConfig};

const ROWS: usize = 1 << 20;
const BATCH_ROWS: usize = 8192;
const FLAGS: [&str; 4] = ["A", "N", "R", "O"];

/// Rows `(k BIGINT, v BIGINT, flag VARCHAR, note VARCHAR)`: `k` is `key(i)` for row
/// `i`, `flag` one of four short values, `note` a 20-40 byte string.
fn batches(rows: usize, key: impl Fn(i64) -> i64) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
        Field::new("flag", DataType::Utf8View, false),
        Field::new("note", DataType::Utf8View, false),
    ]));
    (0..rows)
        .step_by(BATCH_ROWS)
        .map(|start| {
            let range = start as i64..(start + BATCH_ROWS).min(rows) as i64;
            let keys = Int64Array::from_iter_values(range.clone().map(&key));
            let values = Int64Array::from_iter_values(range.clone().map(|i| i % 100));
            let flags =
                StringViewArray::from_iter_values(range.clone().map(|i| FLAGS[i as usize % 4]));
            let notes = StringViewArray::from_iter_values(
                range.map(|i| format!("note {i} {}", "x".repeat(15 + (i % 20) as usize))),
            );
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(keys),
                    Arc::new(values),
                    Arc::new(flags),
                    Arc::new(notes),
                ],
            )
            .expect("columns match")
        })
        .collect()
}

struct Kernels {
    cluster: Cluster,
    facts: Vec<RecordBatch>,
    dimension: Vec<RecordBatch>,
}

impl Kernels {
    fn new() -> Self {
        // 200k distinct keys spread over the fact rows; the dimension has each once.
        let facts = batches(ROWS, |i| (i.wrapping_mul(0x9E37_79B9) & i64::MAX) % 200_000);
        let dimension = batches(200_000, |i| i);
        let catalog = Catalog::new(1);
        let table = |name: &str, batches: &[RecordBatch]| {
            Table::unkeyed(name, batches[0].schema(), vec![batches.to_vec()])
        };
        let cluster =
            Cluster::start(Arc::new(catalog), ClusterConfig::new(1)).expect("cluster starts");
        cluster.register_table(table("facts", &facts)).unwrap();
        cluster.register_table(table("dim", &dimension)).unwrap();
        Kernels {
            cluster,
            facts,
            dimension,
        }
    }

    /// The first node of the one-core plan of `sql` that `pick` accepts.
    fn node<T>(&self, sql: &str, pick: impl Fn(&Node) -> Option<T>) -> T {
        let (plan, _) = self.cluster.plan(sql).expect("plans");
        let mut pending: Vec<&Node> = plan.stages.iter().map(|s| &s.root).collect();
        while let Some(node) = pending.pop() {
            if let Some(found) = pick(node) {
                return found;
            }
            pending.extend(node.children());
        }
        panic!("no such node in the plan of {sql}");
    }

    fn aggregate(&self, sql: &str) -> AggregateNode {
        self.node(sql, |n| match n {
            Node::Aggregate(a) => Some(a.clone()),
            _ => None,
        })
    }
}

/// `batches` with the columns `schema` names, in its order (what a scan would give).
fn shaped(batches: &[RecordBatch], schema: &SchemaRef) -> Vec<RecordBatch> {
    batches
        .iter()
        .map(|batch| {
            let columns: Vec<usize> = schema
                .fields()
                .iter()
                .map(|f| batch.schema().index_of(f.name()).expect("column exists"))
                .collect();
            let projected = batch.project(&columns).expect("projects");
            projected
                .with_schema(Arc::clone(schema))
                .expect("same types")
        })
        .collect()
}

fn aggregation(c: &mut Criterion, kernels: &Kernels) {
    let mut group = c.benchmark_group("aggregate");
    group.throughput(Throughput::Elements(ROWS as u64));
    for (name, sql) in [
        (
            "int64_key_200k_groups",
            "select k, sum(v), count(*) from facts group by k",
        ),
        (
            "string_and_int_keys_16_groups",
            "select flag, v % 4, sum(v), count(*) from facts group by flag, v % 4",
        ),
        (
            // Strings past a view's 12 bytes (types, names): 16 groups of 4 keys.
            "long_string_keys_16_groups",
            "select 'a long category named ' || flag, flag, v % 4, k % 1, count(*) \
             from facts group by 1, 2, 3, 4",
        ),
        (
            "long_string_key_1m_groups",
            "select note, count(*) from facts group by note",
        ),
    ] {
        let node = kernels.aggregate(sql);
        let input = shaped(&kernels.facts, &node.input.schema());
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut aggregator = HashAggregator::try_new(&node, BATCH_ROWS).unwrap();
                for batch in &input {
                    aggregator.push(batch).unwrap();
                }
                aggregator.finish().unwrap()
            })
        });
    }
    group.finish();
}

fn hash_join(c: &mut Criterion, kernels: &Kernels) {
    let sql = "select f.v, d.note from facts f join dim d on f.k = d.k";
    let node: HashJoinNode = kernels.node(sql, |n| match n {
        Node::HashJoin(j) => Some(j.clone()),
        _ => None,
    });
    let (build_node, probe_node) = if node.build_left {
        (&node.left, &node.right)
    } else {
        (&node.right, &node.left)
    };
    let build_is_dim = build_node
        .schema()
        .fields()
        .iter()
        .any(|f| f.name() == "note");
    let (build_rows, probe_rows) = if build_is_dim {
        (&kernels.dimension, &kernels.facts)
    } else {
        (&kernels.facts, &kernels.dimension)
    };
    let build = shaped(build_rows, &build_node.schema());
    let probe = shaped(probe_rows, &probe_node.schema());
    let build_keys: Vec<_> = node
        .on
        .iter()
        .map(|(l, r)| Arc::clone(if node.build_left { l } else { r }))
        .collect();
    let build_total: usize = build.iter().map(RecordBatch::num_rows).sum();
    let probe_total: usize = probe.iter().map(RecordBatch::num_rows).sum();

    let mut group = c.benchmark_group("hash_join");
    group.throughput(Throughput::Elements(build_total as u64));
    group.bench_function("build", |b| {
        b.iter(|| JoinTable::build(build_node.schema(), &build, &build_keys, false).unwrap())
    });
    group.throughput(Throughput::Elements(probe_total as u64));
    group.bench_function("probe", |b| {
        b.iter_batched(
            || JoinTable::build(build_node.schema(), &build, &build_keys, false).unwrap(),
            |table| {
                let limit = ExecConfig::default().output_limit();
                let mut prober = HashJoinProbe::new(&node, table, limit, ProbeMode::Whole);
                let mut rows = 0;
                for batch in &probe {
                    prober.push(batch.clone()).unwrap();
                    while let Some(output) = prober.next_output().unwrap() {
                        rows += output.num_rows();
                    }
                }
                rows
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn sort(c: &mut Criterion, kernels: &Kernels) {
    let sql = "select k, v, note from facts order by k, v desc";
    let (exprs, input_schema) = kernels.node(sql, |n| match n {
        Node::Sort { exprs, input, .. } => Some((exprs.clone(), input.schema())),
        _ => None,
    });
    let input = shaped(&kernels.facts, &input_schema);
    let mut group = c.benchmark_group("sort");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("int64_then_int64_desc", |b| {
        b.iter(|| {
            let mut sorter =
                Sorter::new(exprs.clone(), None, Arc::clone(&input_schema), BATCH_ROWS);
            for batch in &input {
                let keyed = sorter.encode(batch.clone()).unwrap();
                sorter.push(keyed).unwrap();
            }
            sorter.take_sorted().unwrap().rows()
        })
    });
    group.finish();
}

fn filter_project(c: &mut Criterion, kernels: &Kernels) {
    let (exprs, project_input) = kernels.node("select k * 2 + v, note from facts", |n| match n {
        Node::Project { exprs, input, .. } => Some((exprs.clone(), input.schema())),
        _ => None,
    });
    let mut group = c.benchmark_group("filter_project");
    group.throughput(Throughput::Elements(ROWS as u64));
    for (name, sql) in [
        ("filter_v_lt_30", "select v from facts where v < 30"),
        // 10% of keys, then a tenth of those values, then a quarter of the flags:
        // the later predicates see the rows the earlier ones kept.
        (
            "filter_k_v_flag_0.25pct",
            "select note from facts where k < 20000 and v between 10 and 19 and flag = 'A'",
        ),
    ] {
        let scan = kernels.node(sql, |n| match n {
            Node::Scan(scan) => Some(scan.clone()),
            _ => None,
        });
        let filters = Conjunction::new(&scan.filters).expect("conjuncts");
        let read: Vec<RecordBatch> = kernels
            .facts
            .iter()
            .map(|batch| batch.project(&scan.read_columns).expect("projects"))
            .collect();
        group.bench_function(name, |b| {
            b.iter(|| {
                let rows: usize = read
                    .iter()
                    .map(|batch| filters.filter(batch).unwrap().num_rows())
                    .sum();
                rows
            })
        });
    }
    let projected_input = shaped(&kernels.facts, &project_input);
    group.bench_function("project_k_times_2_plus_v", |b| {
        b.iter(|| {
            for batch in &projected_input {
                evaluate(&exprs, batch).unwrap();
            }
        })
    });
    group.finish();
}

fn kernels(c: &mut Criterion) {
    let kernels = Kernels::new();
    aggregation(c, &kernels);
    hash_join(c, &kernels);
    sort(c, &kernels);
    filter_project(c, &kernels);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = kernels
}
criterion_main!(benches);
