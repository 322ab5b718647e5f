//! Goal: PostgreSQL drivers work unmodified. The `postgres` crate speaks only the
//! extended protocol, with binary parameters and binary results: prepared statements
//! with typed parameters, transactions, portals read in pieces, errors that leave the
//! connection usable; checked against the same queries through the simple protocol.

use std::time::Duration;

use percore_server::local::LocalClusterOptions;
use postgres::{Client, NoTls};

use crate::common;

use common::{query, start};

/// The `postgres` crate connected to `address` as `user`.
fn driver(
    address: std::net::SocketAddr,
    user: &str,
    password: Option<&str>,
) -> Result<Client, postgres::Error> {
    let mut config = Client::configure();
    config
        .host(&address.ip().to_string())
        .port(address.port())
        .user(user)
        .connect_timeout(Duration::from_secs(10));
    if let Some(password) = password {
        config.password(password);
    }
    config.connect(NoTls)
}

#[test]
fn the_postgres_crate_runs_prepared_statements_transactions_and_portals() {
    let cluster = start("drivers", LocalClusterOptions::new(2, 1, 0.01));
    let address = cluster.client_addresses()[1];
    let mut client = driver(address, "percore", None).expect("the driver connects");

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
    assert_eq!(error.code().map(|c| c.code()), Some("22012"), "{error}");
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

    // Arrays as parameters, compared element by element, in binary: typed by a cast
    // or by what their elements are compared with.
    let row = client
        .query_one(
            "select count(*) from lineitem where l_quantity = any($1::bigint[]) \
             and l_shipmode <> all($2)",
            &[&vec![45i64, 48], &vec!["MAIL", "SHIP"]],
        )
        .unwrap();
    let expected = query(
        &mut simple,
        "select count(*) from lineitem where l_quantity in (45, 48) \
         and l_shipmode not in ('MAIL', 'SHIP')",
    )
    .unwrap();
    assert_eq!(row.get::<_, i64>(0).to_string(), expected[0][0]);

    // Lists as arrays: binary for the driver, `{..}` text for the simple protocol.
    let sql = "select array_agg(n_nationkey order by n_nationkey), \
               array_agg(case when n_nationkey = 1 then null else n_name end \
               order by n_nationkey) from nation where n_nationkey < 3";
    let row = client.query_one(sql, &[]).unwrap();
    assert_eq!(row.get::<_, Vec<i64>>(0), [0, 1, 2]);
    assert_eq!(
        row.get::<_, Vec<Option<String>>>(1),
        [
            Some("ALGERIA".to_string()),
            None,
            Some("BRAZIL".to_string())
        ]
    );
    assert_eq!(
        query(&mut simple, sql).unwrap(),
        [["{0,1,2}", "{ALGERIA,NULL,BRAZIL}"]]
    );

    // A recursive CTE prepared with parameters: its columns are known before it runs.
    let statement = client
        .prepare(
            "with recursive t(n) as (select $1::bigint union all \
             select n + 1 from t where n < $2) select n, n * n as square from t \
             order by n desc",
        )
        .unwrap();
    assert_eq!(statement.columns()[1].name(), "square");
    let rows = client.query(&statement, &[&1i64, &5i64]).unwrap();
    let squares: Vec<i64> = rows.iter().map(|row| row.get(1)).collect();
    assert_eq!(squares, [25, 16, 9, 4, 1]);

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

/// What psql sends for `\dt` (version 15, `psql -E`).
const PSQL_LIST_TABLES: &str = "SELECT n.nspname as \"Schema\",
  c.relname as \"Name\",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as \"Type\",
  pg_catalog.pg_get_userbyid(c.relowner) as \"Owner\"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2";

#[test]
fn tools_find_tables_and_columns_in_the_system_catalog() {
    let cluster = start("catalog", LocalClusterOptions::new(2, 1, 0.01));
    let mut client = cluster.connect(1).unwrap();
    let tables = query(&mut client, PSQL_LIST_TABLES).unwrap();
    let names: Vec<&str> = tables.iter().map(|row| row[1].as_str()).collect();
    assert_eq!(
        names,
        ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]
    );
    assert_eq!(tables[0], ["public", "customer", "table", "percore"]);

    // psql's lookup of one table by pattern, then its columns with their types.
    let found = query(
        &mut client,
        "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c \
         LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relname OPERATOR(pg_catalog.~) '^(orders)$' COLLATE pg_catalog.default \
         AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 2, 3",
    )
    .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let oid = &found[0][0];
    let columns = query(
        &mut client,
        &format!(
            "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull \
             FROM pg_catalog.pg_attribute a WHERE a.attrelid = '{oid}' AND a.attnum > 0 \
             AND NOT a.attisdropped ORDER BY a.attnum"
        ),
    )
    .unwrap();
    assert_eq!(columns.len(), 9, "{columns:?}");
    assert_eq!(columns[0][0], "o_orderkey");
    assert_eq!(columns[0][1], "bigint");
    let price = columns.iter().find(|c| c[0] == "o_totalprice").unwrap();
    assert_eq!(price[1], "numeric(15,2)");

    // information_schema, as JDBC-style tools and DBeaver ask it.
    let described = query(
        &mut client,
        "select column_name, data_type, numeric_precision, numeric_scale, is_nullable \
         from information_schema.columns where table_schema = 'public' \
         and table_name = 'orders' order by ordinal_position",
    )
    .unwrap();
    assert_eq!(described.len(), 9);
    let price = described.iter().find(|c| c[0] == "o_totalprice").unwrap();
    assert_eq!(price[1..4], ["numeric", "15", "2"]);
    assert_eq!(
        query(
            &mut client,
            "select count(*) from information_schema.tables where table_type = 'BASE TABLE'"
        )
        .unwrap(),
        [["8"]]
    );
    assert_eq!(
        query(
            &mut client,
            "select current_schema(), current_database(), pg_catalog.pg_encoding_to_char(6)"
        )
        .unwrap(),
        [["public", "percore", "UTF8"]]
    );
    assert!(query(&mut client, "select version()").unwrap()[0][0].starts_with("PostgreSQL"));

    // A table created through one node is in every node's catalog at once; a user
    // table may be called like a system one, and wins where unqualified.
    let mut other = cluster.connect(0).unwrap();
    query(
        &mut other,
        "CREATE TABLE pg_type AS SELECT n_name FROM nation",
    )
    .unwrap();
    assert_eq!(
        query(
            &mut client,
            "select count(*) from information_schema.tables"
        )
        .unwrap(),
        [["9"]]
    );
    assert_eq!(
        query(&mut client, "select count(*) from pg_type").unwrap(),
        [["25"]]
    );
    let types = query(&mut client, "select count(*) from pg_catalog.pg_type").unwrap();
    assert_ne!(types, [["25"]]);
    let (state, _) = query(&mut client, "select * from nosuchschema.orders").unwrap_err();
    assert_eq!(state, "42P01");

    // psql itself, where it is installed.
    let address = cluster.client_addresses()[0];
    let psql = std::process::Command::new("psql")
        .args([
            "-h",
            &address.ip().to_string(),
            "-p",
            &address.port().to_string(),
        ])
        .args(["-U", "percore", "-d", "percore", "-c", "\\dt", "-c", "\\l"])
        .args([
            "-c",
            "\\d orders",
            "-c",
            "\\dt+",
            "-c",
            "\\l+",
            "-c",
            "\\du",
            "-c",
            "\\d+ orders",
            "-c",
            "\\dp",
        ])
        .args([
            "-c",
            "\\df",
            "-c",
            "select pg_size_pretty(20971520::bigint)",
        ])
        .output();
    match psql {
        Ok(output) => {
            let text = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{text}{}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                text.contains("public | lineitem | table | percore"),
                "{text}"
            );
            assert!(text.contains("List of databases"), "{text}");
            assert!(text.contains("Table \"public.orders\""), "{text}");
            assert!(
                text.contains(" o_totalprice    | numeric(15,2) |           | not null | "),
                "{text}"
            );
            // `\dt+`: sizes are unknown (no node knows a table's total), so blank.
            assert!(
                text.contains(
                    " public | orders   | table | percore | permanent   | heap          |      | "
                ),
                "{text}"
            );
            assert!(text.contains("| pg_default | "), "{text}");
            assert!(
                text.contains(" percore   | Superuser, Create role"),
                "{text}"
            );
            assert!(text.contains("List of functions"), "{text}");
            // `\d+`: storage per column, from a subquery unnesting the options array.
            assert!(
                text.contains(concat!(
                    " o_totalprice    | numeric(15,2) |           | not null |",
                    "         | extended |"
                )),
                "{text}"
            );
            assert!(text.contains(" 20 MB"), "{text}");
            // `\dp`: no privileges or policies are kept, so every list is empty.
            assert!(
                text.contains(" public | region   | table |                   |"),
                "{text}"
            );
        }
        Err(error) => eprintln!(
            "SKIPPED: psql is not installed ({error}); \\dt and \\d were checked with psql's \
             queries above"
        ),
    }
}

#[test]
fn clients_sign_in_with_scram_when_the_node_has_a_password_file() {
    let dir = std::env::temp_dir().join(format!("percore-passwords-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // One user by plain password, one by the verifier `percore password` prints.
    let mut made = std::process::Command::new(env!("CARGO_BIN_EXE_percore"))
        .args(["password", "bob"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    made.stdin
        .take()
        .unwrap()
        .write_all(b"s3cret: too\n")
        .unwrap();
    let line = String::from_utf8(made.wait_with_output().unwrap().stdout).unwrap();
    assert!(line.starts_with("bob:SCRAM-SHA-256$4096:"), "{line}");
    assert!(!line.contains("s3cret"), "{line}");
    let file = dir.join("passwords");
    std::fs::write(
        &file,
        format!("# who may sign in\nalice:wonder land\n{line}"),
    )
    .unwrap();
    let mut options = LocalClusterOptions::new(1, 1, 0.01);
    options.extra_args = vec!["--password-file".into(), file.display().to_string()];
    let cluster = start("passwords", options);
    let address = cluster.client_addresses()[0];

    let driver = |user: &str, password: Option<&str>| driver(address, user, password);
    for (user, password) in [("alice", "wonder land"), ("bob", "s3cret: too")] {
        let mut client = driver(user, Some(password)).unwrap_or_else(|e| panic!("{user}: {e}"));
        let row = client
            .query_one("select count(*) from nation", &[])
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), 25);
    }
    // A wrong password and an unknown user are refused alike (28P01), so user names
    // cannot be probed; no password at all is the client's own refusal.
    for (user, password) in [("alice", "wonder"), ("bob", "s3cret"), ("mallory", "x")] {
        let error = driver(user, Some(password)).err().expect("refused");
        assert_eq!(
            error.code().map(|c| c.code()),
            Some("28P01"),
            "{user}: {error}"
        );
        let message = error.as_db_error().map(|e| e.message().to_string());
        assert_eq!(
            message.as_deref(),
            Some(format!("password authentication failed for user \"{user}\"").as_str())
        );
    }
    assert!(driver("alice", None).is_err());

    // Percore's own client (`percore sql --connect`) signs in too, or says why not.
    use percore_server::pgwire::client::{Client as PercoreClient, Credentials};
    let credentials = |user: &str, password: Option<&str>| Credentials {
        user: Some(user.to_string()),
        password: password.map(str::to_string),
    };
    let mut ours = PercoreClient::connect_as(
        address,
        Duration::from_secs(10),
        &credentials("alice", Some("wonder land")),
    )
    .unwrap();
    assert_eq!(
        query(&mut ours, "select count(*) from region").unwrap(),
        [["5"]]
    );
    for (password, why) in [
        (
            Some("nope"),
            "password authentication failed for user \"alice\"",
        ),
        (None, "set PGPASSWORD"),
    ] {
        let error = PercoreClient::connect_as(
            address,
            Duration::from_secs(10),
            &credentials("alice", password),
        )
        .err()
        .expect("refused");
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::PermissionDenied,
            "{error}"
        );
        assert!(error.to_string().contains(why), "{error}");
    }
    let shell = std::process::Command::new(env!("CARGO_BIN_EXE_percore"))
        .args(["sql", "--connect", &address.to_string(), "--user", "bob"])
        .args(["-c", "select 40 + 2 as answer"])
        .env("PGPASSWORD", "s3cret: too")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shell.stdout);
    assert!(
        shell.status.success(),
        "{}",
        String::from_utf8_lossy(&shell.stderr)
    );
    assert!(text.contains("42"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn copy_to_stdout_sends_text_csv_and_binary_as_postgresql_does() {
    use std::io::Read;
    let cluster = start("copy-out", LocalClusterOptions::new(2, 1, 0.01));
    let address = cluster.client_addresses()[1];
    let mut client = driver(address, "percore", None).expect("the driver connects");
    // The bytes copied, or the SQLSTATE of the error, whether it came before the
    // copy began or while its rows were read.
    let copied = |client: &mut Client, sql: &str| -> Result<Vec<u8>, String> {
        let state = |error: &postgres::Error| {
            error
                .code()
                .map_or(format!("{error}"), |c| c.code().to_string())
        };
        let mut bytes = Vec::new();
        let mut reader = client.copy_out(sql).map_err(|e| state(&e))?;
        reader.read_to_end(&mut bytes).map_err(|e| {
            e.get_ref()
                .and_then(|inner| inner.downcast_ref::<postgres::Error>())
                .map_or(e.to_string(), state)
        })?;
        Ok(bytes)
    };

    // Rows from both nodes, as text: tab-separated, `\N` for NULL.
    let text = copied(
        &mut client,
        "COPY (select n_nationkey, n_name, case when n_nationkey = 1 then null \
         else n_regionkey end from nation where n_nationkey < 3 order by 1) TO STDOUT",
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "0\tALGERIA\t0\n1\tARGENTINA\t\\N\n2\tBRAZIL\t1\n"
    );
    // A whole table, with a column list; as many lines as rows.
    let table = copied(&mut client, "COPY nation (n_name, n_nationkey) TO STDOUT").unwrap();
    assert_eq!(table.iter().filter(|&&b| b == b'\n').count(), 25);

    // CSV, in both spellings of the options: quoted where it must be, escapes in text.
    let values = "select 'a,b' as \"x,y\", E'say \"hi\"' as q, '' as empty, null::int as n, \
                  E'tab\\there' as t, 1.50::numeric(5,2) as d, interval '1 day 2 hours' as i";
    let csv = copied(
        &mut client,
        &format!("COPY ({values}) TO STDOUT WITH (FORMAT csv, HEADER)"),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(csv.clone()).unwrap(),
        "\"x,y\",q,empty,n,t,d,i\n\"a,b\",\"say \"\"hi\"\"\",\"\",,tab\there,1.50,1 day 02:00:00\n"
    );
    // psql's `\copy .. csv header` sends the pre-9.0 spelling.
    assert_eq!(
        copied(
            &mut client,
            &format!("COPY ({values}) TO STDOUT csv header")
        )
        .unwrap(),
        csv
    );
    let text = copied(&mut client, &format!("COPY ({values}) TO STDOUT")).unwrap();
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "a,b\tsay \"hi\"\t\t\\N\ttab\\there\t1.50\t1 day 02:00:00\n"
    );

    // Binary: PostgreSQL's signature, one tuple of two fields, the trailer.
    let binary = copied(
        &mut client,
        "COPY (select 7::bigint, 'ab'::text) TO STDOUT (FORMAT binary)",
    )
    .unwrap();
    let mut expected = b"PGCOPY\n\xff\r\n\0".to_vec();
    expected.extend_from_slice(&[0; 8]);
    expected.extend_from_slice(&2i16.to_be_bytes());
    expected.extend_from_slice(&8i32.to_be_bytes());
    expected.extend_from_slice(&7i64.to_be_bytes());
    expected.extend_from_slice(&2i32.to_be_bytes());
    expected.extend_from_slice(b"ab");
    expected.extend_from_slice(&(-1i16).to_be_bytes());
    assert_eq!(binary, expected);

    // An error while rows stream ends the copy with it; the session goes on, and a
    // COPY to the client reads only, so it runs inside a transaction.
    let error = copied(
        &mut client,
        "COPY (select 1 / (n_nationkey - 20) from nation) TO STDOUT",
    )
    .unwrap_err();
    assert_eq!(error, "22012");
    let mut transaction = client.transaction().unwrap();
    let mut bytes = Vec::new();
    transaction
        .copy_out("COPY (select count(*) from region) TO STDOUT")
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(bytes, b"5\n");
    transaction.commit().unwrap();
    for (sql, state) in [
        ("COPY nation FROM STDIN", "0A000"),
        ("COPY (select 1) TO STDOUT (FORMAT csv, QUOTE ',')", "22023"),
    ] {
        assert_eq!(copied(&mut client, sql).unwrap_err(), state, "{sql}");
    }
}
