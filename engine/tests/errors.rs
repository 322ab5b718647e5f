//! Goal: bad SQL and failing expressions give a clear, typed error, and the cluster
//! keeps answering afterwards.

use percore_engine::error::{ErrorCode, QueryError};
use percore_engine::session::{Cluster, ClusterConfig};

fn cluster() -> Cluster {
    Cluster::start_tpch(0.01, ClusterConfig::new(2)).expect("cluster starts")
}

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
    let sql = "select n_name, row_number() over (order by n_name) from nation";
    let error = error_of(&cluster, sql);
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    assert!(error.message.contains("window"), "{error}");
    let error = error_of(&cluster, "insert into nation values (1, 'x', 1, 'y')");
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    let sql = "select n_regionkey, count(*) from nation group by rollup(n_regionkey)";
    let error = error_of(&cluster, sql);
    assert_eq!(error.code, ErrorCode::Unsupported, "{error}");
    assert_alive(&cluster);
}

#[test]
fn division_by_zero_fails_the_query_not_the_process() {
    let cluster = cluster();
    // Evaluated on data in every partition, not folded at planning time.
    let sql = "select l_orderkey / (l_linenumber - l_linenumber) from lineitem";
    let error = error_of(&cluster, sql);
    assert_eq!(error.code, ErrorCode::DataException, "{error}");
    assert!(
        error.message.to_lowercase().contains("divide by zero"),
        "{error}"
    );
    assert_alive(&cluster);
}

#[test]
fn oversized_and_deeply_nested_sql_is_refused_before_parsing() {
    let cluster = cluster();
    let deep = format!("select {}1{}", "(".repeat(200), ")".repeat(200));
    let error = error_of(&cluster, &deep);
    assert_eq!(error.code, ErrorCode::ResourcesExhausted, "{error}");
    let huge = format!("select 1 {}", " ".repeat(2 << 20));
    let error = error_of(&cluster, &huge);
    assert_eq!(error.code, ErrorCode::ResourcesExhausted, "{error}");
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
    assert!(
        error.message.contains("partition"),
        "names where it happened: {error}"
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
