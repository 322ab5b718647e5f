//! Many PostgreSQL clients at once against a node with little memory: queries that
//! fit start at once, the others wait for memory as it comes back, and none fails.

use percore_bench::clients::measure_level;
use percore_server::local::LocalClusterOptions;

mod common;

const SMALL_GROUP_BY: &str = "select l_returnflag, count(*), sum(l_quantity) \
                              from lineitem group by l_returnflag";

#[test]
fn two_hundred_clients_at_once_beside_three_hundred_idle_ones_all_get_answers() {
    let mut options = LocalClusterOptions::new(1, 2, 0.01);
    // Each query holds 4 MiB per core from admission to its end: 16 fit at once,
    // so most of the 200 wait for memory.
    options.extra_args = vec!["--memory-per-core".into(), "64MiB".into()];
    let cluster = common::start("clients", options);
    let idle: Vec<_> = (0..300)
        .map(|_| cluster.connect(0).expect("an idle connection"))
        .collect();

    let level = measure_level(cluster.client_addresses(), 200, 2, SMALL_GROUP_BY);
    assert_eq!(level.failed, 0, "first failure: {:?}", level.first_error);
    assert_eq!(level.succeeded, 400);

    let mut client = cluster.connect(0).unwrap();
    let rows = common::query(&mut client, SMALL_GROUP_BY).expect("still serving");
    assert_eq!(rows.len(), 3, "{rows:?}");
    let queries = common::query(&mut client, "show queries").unwrap();
    assert!(queries.is_empty(), "nothing left queued or running: {queries:?}");
    drop(idle);
}
