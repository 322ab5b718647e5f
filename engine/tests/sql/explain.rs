//! Goal: EXPLAIN shows the distributed plan, and the planner avoids the exchanges it
//! should: co-partitioned joins and aggregations, broadcast of small sides, partial
//! aggregation and top-k below exchanges.

use arrow::array::{Array, StringArray};
use percore_engine::session::{Cluster, ClusterConfig};

fn explain(cluster: &Cluster, sql: &str) -> String {
    let batches = cluster
        .sql(&format!("explain {sql}"))
        .expect("explain runs");
    let mut text = String::new();
    for batch in batches {
        let lines = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        for i in 0..lines.len() {
            text.push_str(lines.value(i));
            text.push('\n');
        }
    }
    text
}

fn tpch_query(number: usize) -> String {
    let path = format!(
        "{}/../bench/tpch/queries/q{number:02}.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn lineitem_orders_join_and_order_key_aggregation_need_no_shuffle() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).unwrap();
    let plan = explain(&cluster, &tpch_query(3));
    assert!(!plan.contains(" hash("), "{plan}");
    assert!(
        plan.contains("inputs already co-partitioned (orderkey ranges"),
        "{plan}"
    );
    assert!(plan.contains("groups are co-located"), "{plan}");
    // The small customer side is broadcast, and top-k runs below the gather.
    assert!(plan.contains("broadcast"), "{plan}");
    assert_eq!(plan.matches("] top 10").count(), 2, "{plan}");
}

#[test]
fn global_aggregation_is_partial_before_the_gather() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).unwrap();
    let plan = explain(&cluster, "select sum(l_quantity) from lineitem");
    let partial = plan.find("Aggregate(Partial)").expect("partial aggregate");
    let gather = plan.find("gather to stage").expect("a gather");
    // Stages print final-first: the gathering stage's source holds the partial step.
    assert!(gather < partial, "{plan}");
    assert!(plan.contains("Aggregate(Final)"), "{plan}");
}

#[test]
fn join_on_non_partition_keys_hashes_both_large_sides() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).unwrap();
    let plan = explain(
        &cluster,
        "select count(*) from lineitem l1, lineitem l2 where l1.l_partkey = l2.l_suppkey",
    );
    assert_eq!(plan.matches(" hash(").count(), 2, "{plan}");
    assert!(
        plan.contains("not partitioned on them; hashing moves fewer rows than a broadcast"),
        "{plan}"
    );
}

#[test]
fn a_side_already_hashed_on_the_join_keys_stays_put_instead_of_being_broadcast() {
    // The per-(part, supplier) sums leave their aggregation hashed on the join keys;
    // partsupp moves to them rather than being sent whole to every partition.
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).unwrap();
    let plan = explain(
        &cluster,
        "select count(*) from partsupp, (select l_partkey, l_suppkey, sum(l_quantity) q \
         from lineitem group by l_partkey, l_suppkey) t \
         where ps_partkey = t.l_partkey and ps_suppkey = t.l_suppkey and ps_availqty > t.q",
    );
    assert!(!plan.contains("broadcast to stage"), "{plan}");
    assert!(plan.contains("hash(ps_partkey@0, ps_suppkey@1)"), "{plan}");
}

#[test]
fn grouped_subqueries_are_reduced_to_the_keys_of_a_filtered_outer_table() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).unwrap();
    // Q20: lineitem is cut to the (part, supplier) pairs of forest parts before the sums.
    let plan = explain(&cluster, &tpch_query(20));
    assert!(
        plan.contains("HashJoin(LeftSemi) on [l_partkey@0 = __semi_join_key_0@0, l_suppkey@1 = __semi_join_key_1@1]"),
        "{plan}"
    );
    // Q17's outer side reads lineitem itself; its keys come from the filtered parts,
    // so lineitem is cut to those parts before the averages.
    let plan = explain(&cluster, &tpch_query(17));
    assert!(
        plan.contains("HashJoin(LeftSemi) on [l_partkey@0 = __semi_join_key_0@0]"),
        "{plan}"
    );
    // Lineitem is read for the outer side and for the averages, not a third time for
    // the keys.
    assert_eq!(plan.matches("Scan lineitem").count(), 2, "{plan}");
}

#[test]
fn an_in_subquery_over_an_aggregate_filters_its_table_before_the_joins() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).unwrap();
    // Q18: the 57 big orders are picked from orders itself, not from the join of all
    // of customer, orders and lineitem.
    let plan = explain(&cluster, &tpch_query(18));
    let semi = plan.find("HashJoin(LeftSemi)").expect("a semi join");
    let next_line = plan[semi..].lines().nth(1).unwrap();
    assert!(next_line.trim_start().starts_with("Scan orders"), "{plan}");
    // Q21's EXISTS reads all of lineitem: it stays above the joins that cut it down.
    let plan = explain(&cluster, &tpch_query(21));
    let semi = plan.find("HashJoin(LeftSemi)").expect("a semi join");
    let next_line = plan[semi..].lines().nth(1).unwrap();
    assert!(!next_line.contains("Scan lineitem"), "{plan}");
}

#[test]
fn one_core_plans_have_no_exchanges() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(1)).unwrap();
    for number in [3, 9, 18, 21] {
        let plan = explain(&cluster, &tpch_query(number));
        assert!(plan.contains("1 stages, 0 exchanges"), "Q{number}: {plan}");
    }
}

#[test]
fn explain_analyze_reports_rows_and_exchanges_of_the_run() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).unwrap();
    let sql = "select o_orderpriority, count(*) from orders group by o_orderpriority";
    let expected_rows: usize = cluster.sql(sql).unwrap().iter().map(|b| b.num_rows()).sum();
    let text = explain(&cluster, &format!("analyze {sql}"));
    assert!(
        text.starts_with(&format!(
            "Executed on 1 node(s) x 2 core(s): {expected_rows} rows"
        )),
        "{text}"
    );
    // Every order passes the partial aggregation stage; its groups are hashed to the
    // final aggregation, all within this one node.
    let scan_stage = text
        .lines()
        .find(|line| line.starts_with("Stage 0:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(scan_stage.contains("2 task(s)"), "{scan_stage}");
    let exchange = text
        .lines()
        .find(|line| line.contains("exchange #0 hash"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(exchange.contains(" 0 rows between nodes"), "{exchange}");
    assert!(!exchange.contains(": 0 rows within nodes"), "{exchange}");
    assert!(text.contains("Distributed plan:"), "{text}");
}
