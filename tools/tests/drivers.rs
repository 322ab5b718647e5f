//! Goal: PostgreSQL drivers work unmodified. The `postgres` crate speaks only the
//! extended protocol, with binary parameters and binary results: prepared statements
//! with typed parameters, transactions, portals read in pieces, errors that leave the
//! connection usable; checked against the same queries through the simple protocol.

use std::time::Duration;

use percore_server::local::LocalClusterOptions;
use postgres::{Client, NoTls};

mod common;

use common::{query, start};

#[test]
fn the_postgres_crate_runs_prepared_statements_transactions_and_portals() {
    let cluster = start("drivers", LocalClusterOptions::new(2, 1, 0.01));
    let address = cluster.client_addresses()[1];
    let mut client = Client::configure()
        .host(&address.ip().to_string())
        .port(address.port())
        .user("percore")
        .connect_timeout(Duration::from_secs(10))
        .connect(NoTls)
        .expect("the driver connects");

    // Typed parameters, bound in binary; the same count as a literal query gives.
    let date = chrono::NaiveDate::from_ymd_opt(1995, 1, 1).unwrap();
    let rows = client
        .query(
            "select count(*), min(l_shipdate), max(l_orderkey) from lineitem \
             where l_orderkey > $1 and l_shipdate < $2 and l_returnflag = $3",
            &[&30_000i64, &date, &"R"],
        )
        .unwrap();
    let count: i64 = rows[0].get(0);
    let first: chrono::NaiveDate = rows[0].get(1);
    let mut simple = cluster.connect(0).unwrap();
    let expected = query(
        &mut simple,
        "select count(*), min(l_shipdate) from lineitem where l_orderkey > 30000 \
         and l_shipdate < date '1995-01-01' and l_returnflag = 'R'",
    )
    .unwrap();
    assert_eq!(count.to_string(), expected[0][0]);
    assert_eq!(first.to_string(), expected[0][1]);

    // A statement prepared once, run with different values.
    let statement = client
        .prepare("select n_name, n_regionkey from nation where n_nationkey = $1")
        .unwrap();
    assert_eq!(statement.params().len(), 1);
    let names: Vec<String> = [0i64, 7, 24]
        .iter()
        .map(|key| client.query_one(&statement, &[key]).unwrap().get(0))
        .collect();
    assert_eq!(names, ["ALGERIA", "GERMANY", "UNITED STATES"]);

    // A transaction; an error inside fails it until ROLLBACK, and the connection
    // stays usable.
    let mut transaction = client.transaction().unwrap();
    let error = transaction
        .query("select 1 / (n_nationkey - 3) from nation", &[])
        .unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("22000"), "{error}");
    let error = transaction.query("select 1", &[]).unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("25P02"), "{error}");
    transaction.rollback().unwrap();
    let mut transaction = client.transaction().unwrap();
    let error = transaction
        .batch_execute("CREATE TABLE t AS SELECT 1 AS one")
        .unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("25006"), "{error}");
    transaction.rollback().unwrap();

    // A portal read 1000 rows at a time, inside a transaction.
    let mut transaction = client.transaction().unwrap();
    let statement = transaction
        .prepare("select o_orderkey from orders")
        .unwrap();
    let portal = transaction.bind(&statement, &[]).unwrap();
    let mut total = 0;
    loop {
        let rows = transaction.query_portal(&portal, 1000).unwrap();
        if rows.is_empty() {
            break;
        }
        assert!(rows.len() <= 1000);
        total += rows.len();
    }
    transaction.commit().unwrap();
    assert_eq!(total, 15_000);

    // Results in binary: decimals, dates, strings, NULLs.
    let row = client
        .query_one(
            "select o_totalprice::double, o_orderdate, o_comment, cast(null as bigint) \
             from orders where o_orderkey = $1",
            &[&1i64],
        )
        .unwrap();
    let price: f64 = row.get(0);
    let ordered: chrono::NaiveDate = row.get(1);
    let missing: Option<i64> = row.get(3);
    assert!((price - 172_799.49).abs() < 1e-6, "{price}");
    assert_eq!(ordered.to_string(), "1996-01-02");
    assert_eq!(missing, None);
    assert!(!row.get::<_, String>(2).is_empty());

    // Simple-protocol statements through the same driver.
    client
        .batch_execute("SET application_name = 'tests'; BEGIN; COMMIT")
        .unwrap();
}

#[test]
fn a_node_default_statement_timeout_applies_to_every_session() {
    let mut options = LocalClusterOptions::new(1, 1, 0.01);
    options.extra_args = vec!["--statement-timeout".into(), "300ms".into()];
    let cluster = start("node-timeout", options);
    let mut client = cluster.connect(0).unwrap();
    let (state, message) = query(
        &mut client,
        "select count(*) from lineitem a, lineitem b where a.l_quantity + b.l_quantity < 0",
    )
    .unwrap_err();
    assert_eq!(state, "57014", "{message}");
    query(&mut client, "SET statement_timeout = 0").unwrap();
    assert_eq!(
        query(&mut client, "select count(*) from nation").unwrap(),
        [["25"]]
    );
}
