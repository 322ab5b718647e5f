//! Goal: bad SQL and failing expressions give a clear, typed error, and the cluster
//! keeps answering afterwards.

use percore_engine::error::{ErrorCode, QueryError};
use percore_engine::session::{Cluster, ClusterConfig};

use crate::common;

use common::{cluster, rows};

fn error_of(cluster: &Cluster, sql: &str) -> QueryError {
    match cluster.sql(sql) {
        Ok(batches) => panic!("{sql} should fail, returned {} batches", batches.len()),
        Err(error) => error,
    }
}

fn assert_alive(cluster: &Cluster) {
    let batches = cluster
        .sql("select count(*) from nation")
        .expect("cluster still answers");
    let count = arrow::util::display::array_value_to_string(batches[0].column(0), 0).unwrap();
    assert_eq!(count, "25");
}

#[test]
fn syntax_error_is_reported_as_such() {
    let cluster = cluster();
    let error = error_of(&cluster, "selec * from nation");
    assert_eq!(error.code, ErrorCode::Syntax, "{error}");
    assert_alive(&cluster);
}

#[test]
fn unknown_table_and_column_are_named() {
    let cluster = cluster();
    let error = error_of(&cluster, "select * from no_such_table");
    assert_eq!(error.code, ErrorCode::Semantic, "{error}");
    assert!(error.message.contains("no_such_table"), "{error}");
    let error = error_of(&cluster, "select no_such_column from nation");
    assert_eq!(error.code, ErrorCode::Semantic, "{error}");
    assert!(error.message.contains("no_such_column"), "{error}");
    assert_alive(&cluster);
}

#[test]
fn unsupported_features_name_what_is_missing() {
    let cluster = cluster();
    let sql = "select n_name, sum(distinct n_regionkey) over (order by n_name) from nation";
    let error = error_of(&cluster, sql);
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    assert!(
        error.message.contains("DISTINCT in window function"),
        "{error}"
    );
    let error = error_of(&cluster, "insert into nation values (1, 'x', 1, 'y')");
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    let sql = "select count(distinct n_name, n_regionkey) from nation";
    let error = error_of(&cluster, sql);
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    assert!(
        error.message.contains("DISTINCT over several arguments"),
        "{error}"
    );
    // Correlated through an inequality under a LIMIT, a subquery in a SELECT list
    // stays a subquery, which the engine cannot run: it says so, not "Physical plan
    // does not support logical expression ScalarSubquery".
    let sql =
        "select o_orderkey, (select l_linenumber from lineitem where l_orderkey = o_orderkey \
               and l_linenumber > o_shippriority + 3 limit 1) from orders";
    let error = error_of(&cluster, sql);
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    assert!(
        error
            .message
            .contains("scalar subquery that could not be decorrelated"),
        "{error}"
    );
    // A subquery correlated with the query two levels out: it failed with "No field
    // named n.n_nationkey", as if the query were wrong.
    for sql in [
        "select count(*) from nation n where exists (select 1 from region r \
         where r.r_regionkey = n.n_regionkey and exists (select 1 from supplier s \
         where s.s_nationkey = n.n_nationkey))",
        "select n_name, (select count(*) from region r where r.r_regionkey = n.n_regionkey \
         and (select count(*) from supplier s where s.s_nationkey = n.n_nationkey) > 3) \
         from nation n",
    ] {
        let error = error_of(&cluster, sql);
        assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
        assert!(error.message.contains("n.n_nationkey"), "{error}");
    }
    // A LATERAL subquery that cannot be turned into a join (the outer row read inside
    // a UNION) is named as such, not "logical operator Subquery".
    let error = error_of(
        &cluster,
        "select n_name, y.s from nation n cross join lateral (select s_name as s from \
         supplier where s_nationkey = n.n_nationkey union all select n.n_name) y",
    );
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    assert!(error.message.contains("LATERAL subquery"), "{error}");
    // One level out from each subquery runs.
    let batches = cluster
        .sql(
            "select count(*) from nation n where exists (select 1 from region r \
             where r.r_regionkey = n.n_regionkey and exists (select 1 from supplier s \
             where s.s_nationkey = r.r_regionkey))",
        )
        .unwrap();
    assert_eq!(batches[0].num_rows(), 1);
    assert_alive(&cluster);
}

#[test]
fn division_by_zero_fails_the_query_not_the_process() {
    let cluster = cluster();
    // Evaluated on data in every partition, not folded at planning time.
    let sql = "select l_orderkey / (l_linenumber - l_linenumber) from lineitem";
    let error = error_of(&cluster, sql);
    assert_eq!(error.code, ErrorCode::DivisionByZero, "{error}");
    // PostgreSQL's words, which drivers and users search for.
    assert!(error.message.starts_with("division by zero"), "{error}");
    for constant in ["select 1 / 0", "select 5 % 0", "select 1.0 / 0"] {
        let error = error_of(&cluster, constant);
        assert_eq!(error.code, ErrorCode::DivisionByZero, "{constant}: {error}");
        assert!(error.message.starts_with("division by zero"), "{error}");
    }
    assert_alive(&cluster);
}

/// A condition of a WHERE that can fail sees only the rows the others kept: those
/// that cannot fail (comparisons of columns and literals) first, wherever written,
/// then the others in the order written, as PostgreSQL orders conditions of equal
/// cost. A guard against a zero divisor so guards, in either place.
#[test]
fn a_condition_that_can_fail_sees_only_the_rows_the_others_kept() {
    let cluster = cluster();
    let count = |condition: &str| {
        let sql = format!("select count(*) from nation where {condition}");
        rows(&cluster, &sql)[0][0].clone()
    };
    let division = "100 / n_nationkey > 10";
    // Keys 1 to 9 pass; key 0 would divide by zero.
    assert_eq!(count(&format!("n_nationkey <> 0 and {division}")), "9");
    assert_eq!(count(&format!("{division} and n_nationkey <> 0")), "9");
    assert_eq!(count(&format!("n_nationkey + 0 <> 0 and {division}")), "9");
    // Both can fail: the division, written first, sees key 0.
    let sql = format!("select count(*) from nation where {division} and n_nationkey + 0 <> 0");
    let error = error_of(&cluster, &sql);
    assert_eq!(error.code, ErrorCode::DivisionByZero, "{sql}: {error}");
    assert_alive(&cluster);
}

/// The optimizer may not answer for an expression whose value it drops: PostgreSQL
/// evaluates it and fails, and so must we (these were answered 0, 25 or true).
#[test]
fn a_failing_operand_fails_even_where_its_value_is_not_needed() {
    let cluster = cluster();
    let where_clauses = [
        "n_nationkey / 0 is null",
        "n_nationkey / 0 is not null",
        "(n_nationkey % 0 = 1) is unknown",
        "n_nationkey / 0 * 0 = 0",
        "0 * (n_nationkey / 0) = 0",
        "n_nationkey / 0 = n_nationkey / 0",
        "n_nationkey / 0 % 1 = 0",
        "cast(n_nationkey / 0 as text) like '%'",
        "not (n_nationkey / 0 > 1) or n_nationkey / 0 > 1",
    ];
    for condition in where_clauses {
        let sql = format!("select count(*) from nation where {condition}");
        let error = error_of(&cluster, &sql);
        assert_eq!(error.code, ErrorCode::DivisionByZero, "{sql}: {error}");
    }
    let error = error_of(&cluster, "select (1 / 0) is null");
    assert_eq!(error.code, ErrorCode::DivisionByZero, "{error}");
    let sql = "select count(*) from nation where n_nationkey * 9223372036854775807 is not null";
    let error = error_of(&cluster, sql);
    assert_eq!(error.code, ErrorCode::NumericOutOfRange, "{sql}: {error}");
    // Operands that cannot fail are still simplified, and expressions that succeed
    // keep their answers.
    for (condition, count) in [
        ("n_nationkey is not null", "25"),
        ("n_nationkey + 1 is null", "0"),
        ("n_nationkey / (n_regionkey + 1) is not null", "25"),
        ("n_nationkey * 0 = 0", "25"),
        ("n_name like '%'", "25"),
    ] {
        let sql = format!("select count(*) from nation where {condition}");
        assert_eq!(common::rows(&cluster, &sql), [[count]], "{sql}");
    }
    assert_alive(&cluster);
}

#[test]
fn oversized_and_deeply_nested_sql_is_refused_before_parsing() {
    let cluster = cluster();
    let deep = format!("select {}1{}", "(".repeat(200), ")".repeat(200));
    let error = error_of(&cluster, &deep);
    assert_eq!(error.code, ErrorCode::TooComplex, "{error}");
    let huge = format!("select 1 {}", " ".repeat(2 << 20));
    let error = error_of(&cluster, &huge);
    assert_eq!(error.code, ErrorCode::ResourcesExhausted, "{error}");
    assert_alive(&cluster);
}

fn one_value(cluster: &Cluster, sql: &str) -> String {
    let batches = cluster
        .sql(sql)
        .unwrap_or_else(|e| panic!("{}...: {e}", &sql[..80.min(sql.len())]));
    arrow::util::display::array_value_to_string(batches[0].column(0), 0).unwrap()
}

/// Flat chains build trees as deep as they are long, and every step after the parser
/// walks them recursively: 20,000 terms used to abort the process on a stack overflow.
#[test]
fn statements_too_complex_are_refused_and_long_lists_answer() {
    let cluster = cluster();
    for operator in ["OR 1=1", "AND 1=1", "+ 1", "|| 'x'", "* 1"] {
        let sql = format!("SELECT 1 {}", format!("{operator} ").repeat(20_000));
        let error = error_of(&cluster, &sql);
        assert_eq!(error.code, ErrorCode::TooComplex, "{operator}: {error}");
        assert_eq!(error.code.sqlstate(), "54001");
    }
    let unions = vec!["select 1 as x"; 5_000].join(" union all ");
    let error = error_of(&cluster, &format!("select count(*) from ({unions}) t"));
    assert_eq!(error.code, ErrorCode::TooComplex, "{error}");
    assert_alive(&cluster);

    // Long but shallow: a 400-term OR of equalities, a 20,000-value IN list, 200 UNION
    // ALL branches, 30 nested subqueries, 12 nested IN subqueries, 50 nested CASEs.
    let ors: Vec<String> = (0..400).map(|k| format!("l_orderkey = {k}")).collect();
    let keys: Vec<String> = (0..400).map(|k| k.to_string()).collect();
    let by_or = one_value(
        &cluster,
        &format!("select count(*) from lineitem where {}", ors.join(" or ")),
    );
    let by_in = one_value(
        &cluster,
        &format!(
            "select count(*) from lineitem where l_orderkey in ({})",
            keys.join(",")
        ),
    );
    assert_eq!(by_or, by_in);
    assert_ne!(by_in, "0");
    let keys: Vec<String> = (0..20_000).map(|k| k.to_string()).collect();
    let long_in = format!(
        "select count(*) from orders where o_orderkey in ({})",
        keys.join(",")
    );
    let expected = one_value(
        &cluster,
        "select count(*) from orders where o_orderkey < 20000",
    );
    assert_eq!(one_value(&cluster, &long_in), expected);
    let branches: Vec<String> = (0..200).map(|i| format!("select {i} as x")).collect();
    let unions = format!("select sum(x) from ({}) t", branches.join(" union all "));
    assert_eq!(
        one_value(&cluster, &unions),
        (0..200).sum::<i64>().to_string()
    );
    let mut nested = "nation".to_string();
    for level in 0..30 {
        nested = format!("(select * from {nested}) t{level}");
    }
    assert_eq!(
        one_value(&cluster, &format!("select count(*) from {nested}")),
        "25"
    );
    let mut subquery = "select n_nationkey from nation".to_string();
    for _ in 0..12 {
        subquery = format!("select n_nationkey from nation where n_nationkey in ({subquery})");
    }
    assert_eq!(
        one_value(&cluster, &format!("select count(*) from ({subquery}) t")),
        "25"
    );
    let mut case = "n_nationkey".to_string();
    for bound in 0..50 {
        case = format!("case when n_nationkey >= {bound} then {case} else -1 end");
    }
    // The outermost CASE asks n_nationkey >= 49: -1 for each of the 25 nations.
    assert_eq!(
        one_value(&cluster, &format!("select sum({case}) from nation")),
        "-25"
    );
    assert_alive(&cluster);
}

#[test]
fn several_statements_at_once_are_refused() {
    let cluster = cluster();
    let error = error_of(&cluster, "select 1; select 2");
    assert_eq!(error.code, ErrorCode::Syntax, "{error}");
}

#[test]
fn a_panicking_operator_fails_its_query_and_the_process_lives_on() {
    use std::sync::Arc;

    use arrow::datatypes::DataType;
    use datafusion_expr::{create_udf, ColumnarValue, Volatility};

    let mut cluster = cluster();
    let explode = create_udf(
        "explode",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Volatile,
        Arc::new(|_args: &[ColumnarValue]| panic!("deliberate panic in an operator")),
    );
    cluster.register_scalar_function(Arc::new(explode));
    let error = error_of(&cluster, "select explode(l_orderkey) from lineitem");
    assert_eq!(error.code, ErrorCode::Internal, "{error}");
    assert!(error.message.contains("deliberate panic"), "{error}");
    // Where it happened: the task and the operator that panicked.
    let origin = error.origin.as_ref().expect("names where it happened");
    let operator = origin.operator.as_deref().unwrap_or_default();
    assert!(operator.starts_with("Project [explode("), "{error}");
    assert!(
        error.to_string().contains("\nCONTEXT: node 0 core "),
        "{error}"
    );
    assert_alive(&cluster);
}

#[test]
fn dropping_a_result_stream_cancels_the_query() {
    use percore_engine::session::StatementOutput;

    let config = ClusterConfig::new(2)
        .with_batch_rows(64)
        .with_exchange_buffer_batches(1);
    let cluster = Cluster::start_tpch(0.01, config).unwrap();
    for _ in 0..20 {
        let StatementOutput::Rows(mut stream) = cluster.run("select * from lineitem").unwrap()
        else {
            panic!("a query returns rows");
        };
        let first = stream
            .next_batch()
            .expect("a first batch")
            .expect("no error");
        assert!(first.num_rows() > 0);
        // Dropped with producers blocked on full channels: they must all end.
    }
    assert_alive(&cluster);
    let batches = cluster.sql("select count(*) from lineitem").unwrap();
    let count = arrow::util::display::array_value_to_string(batches[0].column(0), 0).unwrap();
    assert_eq!(count, "60175");
}

#[test]
fn a_statement_timeout_cancels_a_long_query_and_the_session_goes_on() {
    let cluster = cluster();
    let mut settings = percore_engine::settings::SessionSettings::default();
    cluster
        .sql_in("SET statement_timeout = '200ms'", &mut settings)
        .unwrap();
    let long = "select count(*) from lineitem a, lineitem b where a.l_quantity + b.l_quantity < 0";
    let error = cluster.sql_in(long, &mut settings).unwrap_err();
    assert_eq!(error.code, ErrorCode::Cancelled, "{error}");
    assert!(error.message.contains("statement timeout"), "{error}");
    // A query shorter than the timeout is not touched.
    cluster
        .sql_in("select count(*) from orders", &mut settings)
        .unwrap();
    cluster
        .sql_in("SET statement_timeout = 0", &mut settings)
        .unwrap();
    assert_alive(&cluster);
}
