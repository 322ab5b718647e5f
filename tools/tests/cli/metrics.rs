//! Goal: each node shows what it does to a Prometheus scraper. Scraped before and
//! after work, the counters move as they should: queries by outcome, errors by
//! SQLSTATE class, the latency histogram, exchange bytes between the two nodes; the
//! gauges report every core's budget and every peer up.

use percore_server::local::LocalClusterOptions;

use crate::common;

use common::{get, query, start};

/// The value of the sample named exactly `series` (name and labels).
fn sample(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().unwrap())
        })
        .unwrap_or(0.0)
}

#[test]
fn counters_move_with_queries_errors_and_exchanges() {
    let mut options = LocalClusterOptions::new(2, 1, 0.01);
    options.metrics = true;
    let cluster = start("metrics", options);
    let scrape = |node: usize| get(cluster.metrics_addresses()[node], "/metrics").1;
    let before = scrape(0);
    let peer_before = scrape(1);
    let mut client = cluster.connect(0).unwrap();
    query(&mut client, "select o_orderpriority, count(*) from orders, lineitem where o_orderkey = l_orderkey group by 1").unwrap();
    query(&mut client, "select count(*) from lineitem").unwrap();
    let (state, _) = query(&mut client, "select * from nosuch").unwrap_err();
    assert_eq!(state, "42P01");
    let (state, _) = query(&mut client, "select 1/0").unwrap_err();
    assert_eq!(state, "22012");
    let after = scrape(0);
    let peer_after = scrape(1);

    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        moved("percore_queries_total{outcome=\"succeeded\"}"),
        2.0,
        "{after}"
    );
    assert_eq!(
        moved("percore_errors_total{sqlstate_class=\"42\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        moved("percore_errors_total{sqlstate_class=\"22\"}"),
        1.0,
        "{after}"
    );
    assert!(
        moved("percore_query_duration_seconds_count") >= 2.0,
        "{after}"
    );
    assert!(
        sample(&after, "percore_query_duration_seconds_bucket{le=\"+Inf\"}")
            == sample(&after, "percore_query_duration_seconds_count"),
        "{after}"
    );
    // The join moved rows both ways between the nodes.
    assert!(
        moved("percore_exchange_received_bytes_total") > 0.0,
        "{after}"
    );
    let peer_moved = |series: &str| sample(&peer_after, series) - sample(&peer_before, series);
    assert!(
        peer_moved("percore_exchange_sent_bytes_total") > 0.0,
        "{peer_after}"
    );
    // Gauges: each core's budget, both peers up, nothing running now.
    assert_eq!(
        sample(&after, "percore_memory_budget_bytes{core=\"0\"}"),
        2147483648.0
    );
    assert_eq!(
        sample(&after, "percore_peer_up{node=\"1\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(sample(&after, "percore_queries_running"), 0.0, "{after}");
    assert!(after.contains("# TYPE percore_query_duration_seconds histogram"));

    let (status, _) = get(cluster.metrics_addresses()[0], "/other");
    assert!(status.contains("404"), "{status}");
}
