//! Goal: window functions give PostgreSQL's answers on TPC-H data spread over
//! partitions, EXPLAIN says where their rows meet, and what is not supported or not
//! valid is refused by name.

use percore_engine::error::ErrorCode;
use percore_engine::session::{Cluster, ClusterConfig};

use crate::common::rows;

fn explain(cluster: &Cluster, sql: &str) -> String {
    rows(cluster, &format!("explain {sql}"))
        .into_iter()
        .map(|row| row.join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn window_functions_answer_like_postgresql() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).expect("cluster starts");
    // Nations per region in name order, with their region's count and running sum.
    let ranked = rows(
        &cluster,
        "select n_regionkey, n_name, row_number() over w, count(*) over (partition by n_regionkey), \
         sum(n_nationkey) over w, lag(n_name) over w, first_value(n_name) over w \
         from nation where n_regionkey < 2 window w as (partition by n_regionkey order by n_name) \
         order by 1, 3",
    );
    let expected = [
        ["0", "ALGERIA", "1", "5", "0", "", "ALGERIA"],
        ["0", "ETHIOPIA", "2", "5", "5", "ALGERIA", "ALGERIA"],
        ["0", "KENYA", "3", "5", "19", "ETHIOPIA", "ALGERIA"],
        ["0", "MOROCCO", "4", "5", "34", "KENYA", "ALGERIA"],
        ["0", "MOZAMBIQUE", "5", "5", "50", "MOROCCO", "ALGERIA"],
        ["1", "ARGENTINA", "1", "5", "1", "", "ARGENTINA"],
        ["1", "BRAZIL", "2", "5", "3", "ARGENTINA", "ARGENTINA"],
        ["1", "CANADA", "3", "5", "6", "BRAZIL", "ARGENTINA"],
        ["1", "PERU", "4", "5", "23", "CANADA", "ARGENTINA"],
        ["1", "UNITED STATES", "5", "5", "47", "PERU", "ARGENTINA"],
    ];
    assert_eq!(ranked, expected.map(|r| r.map(String::from).to_vec()));
    // Ties share a rank; the next rank skips (rank) or not (dense_rank).
    let ties = rows(
        &cluster,
        "select n_regionkey, rank() over (order by n_regionkey), \
         dense_rank() over (order by n_regionkey) from nation \
         where n_nationkey in (0, 5, 1, 2) order by 1",
    );
    assert_eq!(
        ties,
        [
            ["0", "1", "1"],
            ["0", "1", "1"],
            ["1", "3", "2"],
            ["1", "3", "2"]
        ]
        .map(|r| r.map(String::from).to_vec())
    );
    // The largest order of each of the first customers, by QUALIFY and by a subquery.
    let qualify = rows(
        &cluster,
        "select o_custkey, o_orderkey from orders where o_custkey < 20 \
         qualify row_number() over (partition by o_custkey order by o_totalprice desc) = 1 \
         order by 1",
    );
    let reference = rows(
        &cluster,
        "select o_custkey, o_orderkey from orders o where o_custkey < 20 and o_totalprice = \
         (select max(o_totalprice) from orders i where i.o_custkey = o.o_custkey) order by 1",
    );
    assert!(!qualify.is_empty());
    assert_eq!(qualify, reference);
    // Every lineitem numbered within its order, whatever core holds the order.
    let numbered = rows(
        &cluster,
        "select count(*), sum(n), max(n) from (select row_number() over \
         (partition by l_orderkey order by l_linenumber) n from lineitem)",
    );
    let direct = rows(
        &cluster,
        "select count(*), sum(l_linenumber), max(l_linenumber) from lineitem",
    );
    assert_eq!(numbered, direct);
}

#[test]
fn explain_says_where_window_partitions_meet() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).expect("cluster starts");
    let hashed = explain(
        &cluster,
        "select o_custkey, sum(o_totalprice) over (partition by o_custkey) from orders",
    );
    assert!(
        hashed.contains("hash(o_custkey@0)")
            && hashed.contains("not partitioned on the PARTITION BY keys"),
        "{hashed}"
    );
    let co_located = explain(
        &cluster,
        "select l_orderkey, row_number() over (partition by l_orderkey order by l_linenumber) \
         from lineitem",
    );
    assert!(
        co_located.contains("window partitions are co-located"),
        "{co_located}"
    );
    let gathered = explain(
        &cluster,
        "select o_orderkey, rank() over (order by o_totalprice) from orders",
    );
    assert!(
        gathered.contains("has no PARTITION BY: one partition, evaluated on one core"),
        "{gathered}"
    );
}

#[test]
fn unsupported_and_invalid_windows_are_refused_by_name() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).expect("cluster starts");
    let error = cluster
        .sql("select count(distinct n_regionkey) over (partition by n_name) from nation")
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    assert!(error.message.contains("DISTINCT"), "{error}");
    let error = cluster
        .sql("select sum(n_nationkey) over (order by n_name rows between current row and 1 preceding) from nation")
        .unwrap_err();
    assert!(error.message.contains("frame"), "{error}");
}

/// A window partition far larger than the budget: with frames that end at or near
/// the current row it is evaluated as its rows arrive and answers as it does with
/// memory to spare; a frame that reaches the partition's end needs the whole
/// partition and is refused by name.
#[test]
fn window_partitions_larger_than_the_budget_stream_where_the_frame_allows() {
    let roomy = Cluster::start_tpch(0.01, ClusterConfig::new(2)).expect("cluster starts");
    let tight = ClusterConfig::new(2).with_memory_per_core(256 << 10);
    let tight = Cluster::start_tpch(0.01, tight).expect("cluster starts");
    let queries = [
        // One partition of all 60K lineitems, gathered to one core.
        "select l_orderkey, l_linenumber, row_number() over w, rank() over o, \
         dense_rank() over o, lag(l_quantity, 2) over w, lead(l_comment) over w, \
         first_value(l_quantity) over w, sum(l_quantity) over w, \
         avg(l_extendedprice) over (order by l_orderkey, l_linenumber \
                                    rows between 3 preceding and 2 following), \
         min(l_quantity) over (order by l_orderkey range between 5 preceding and current row), \
         nth_value(l_comment, 3) over w \
         from lineitem window w as (order by l_orderkey, l_linenumber), o as (order by l_orderkey) \
         order by l_orderkey, l_linenumber",
        // Three partitions of ~20K rows, hash-exchanged over both cores.
        "select l_returnflag, l_orderkey, l_linenumber, \
         row_number() over (partition by l_returnflag order by l_orderkey, l_linenumber), \
         sum(l_quantity) over (partition by l_returnflag order by l_orderkey \
                               groups between 2 preceding and 1 following), \
         count(*) over (partition by l_returnflag order by l_orderkey) \
         from lineitem order by 1, 2, 3",
    ];
    for sql in queries {
        let expected = rows(&roomy, sql);
        assert_eq!(expected.len(), 60175, "{sql}");
        let actual = rows(&tight, sql);
        assert!(actual == expected, "{sql}: answers differ under the budget");
    }
    let error = tight
        .sql("select l_comment, count(*) over (partition by l_returnflag) from lineitem")
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::ResourcesExhausted, "{error}");
    assert!(error.message.contains("needs all of its rows"), "{error}");
}

/// `DISTINCT ON (keys)` keeps each key's first row in the query's order (any row
/// of the key without one), through a window partitioned on the keys.
#[test]
fn distinct_on_keeps_each_keys_first_row() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).expect("cluster starts");
    let firsts = rows(
        &cluster,
        "select distinct on (n_regionkey) n_name, n_regionkey from nation \
         order by n_regionkey, n_name desc",
    );
    let expected = [
        ["MOZAMBIQUE", "0"],
        ["UNITED STATES", "1"],
        ["VIETNAM", "2"],
        ["UNITED KINGDOM", "3"],
        ["SAUDI ARABIA", "4"],
    ];
    assert_eq!(firsts, expected.map(|r| r.map(String::from).to_vec()));
    // Each customer's largest order, against the same answer by aggregation.
    let largest = rows(
        &cluster,
        "select distinct on (o_custkey) o_custkey, o_totalprice from orders \
         order by o_custkey, o_totalprice desc, o_orderkey",
    );
    let by_max = rows(
        &cluster,
        "select o_custkey, max(o_totalprice) from orders group by 1 order by 1",
    );
    assert_eq!(largest, by_max);
    let unordered = rows(
        &cluster,
        "select count(*) from (select distinct on (o_custkey) o_custkey, o_orderkey from orders)",
    );
    assert_eq!(unordered, [["1000"]]);
}

/// `ORDER BY 3` naming a window function over aggregates sorts by it (DataFusion's
/// planner refused it as "must appear in the GROUP BY clause").
#[test]
fn an_ordinal_may_name_a_window_function_over_aggregates() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).expect("cluster starts");
    let by_ordinal = rows(
        &cluster,
        "select n_regionkey, sum(n_nationkey), rank() over (order by sum(n_nationkey) desc) \
         from nation group by 1 order by 3",
    );
    let expected = [
        ["3", "77", "1"],
        ["2", "68", "2"],
        ["4", "58", "3"],
        ["0", "50", "4"],
        ["1", "47", "5"],
    ];
    assert_eq!(by_ordinal, expected.map(|r| r.map(String::from).to_vec()));
    let spelled_out = rows(
        &cluster,
        "select n_regionkey, sum(n_nationkey), rank() over (order by sum(n_nationkey) desc) \
         from nation group by 1 order by rank() over (order by sum(n_nationkey) desc)",
    );
    assert_eq!(by_ordinal, spelled_out);
}

/// Ranks and row numbers are `bigint`, as in PostgreSQL (they were unsigned, which
/// went to clients as `numeric`), and still compare with the literals that read them.
#[test]
fn row_counting_windows_are_bigint() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).expect("cluster starts");
    let batches = cluster
        .sql(
            "select row_number() over (order by n_nationkey) rn, \
             rank() over (order by n_regionkey) r, \
             dense_rank() over (order by n_regionkey) d, \
             ntile(4) over (order by n_nationkey) t, \
             percent_rank() over (order by n_nationkey) p from nation",
        )
        .unwrap();
    let schema = batches[0].schema();
    let types: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().to_string())
        .collect();
    assert_eq!(types, ["Int64", "Int64", "Int64", "Int64", "Float64"]);
    assert_eq!(
        rows(
            &cluster,
            "select n_name from (select n_name, row_number() over (order by n_nationkey) rn \
             from nation) s where rn = 2"
        ),
        [["ARGENTINA"]]
    );
}

#[test]
fn windows_in_correlated_subqueries_number_each_outer_rows_rows_apart() {
    let cluster = Cluster::start_tpch(0.01, ClusterConfig::new(2)).expect("cluster starts");
    // Each nation's suppliers numbered on their own: the highest number is their
    // count (DataFusion alone numbers every nation's suppliers together).
    let numbered = rows(
        &cluster,
        "select n_nationkey, (select max(rn) from (select row_number() over \
         (order by s_acctbal) rn from supplier where s_nationkey = n.n_nationkey) s) \
         from nation n order by 1",
    );
    let counted = rows(
        &cluster,
        "select n_nationkey, (select count(*) from supplier where s_nationkey = n.n_nationkey) \
         from nation n order by 1",
    );
    assert_eq!(numbered.len(), 25);
    assert_eq!(numbered, counted);
}
