//! The network exchange under a slow consumer: three nodes in this process, credit
//! windows of one frame, and a consumer stage slowed down by a sleeping function. The
//! producers must wait for credit, so the frames a node holds for its consumers stay
//! within the credit windows, and the answer is still right.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::Array;
use arrow::datatypes::DataType;
use datafusion_expr::{create_udf, ColumnarValue, Volatility};
use percore_server::coordinator::Outcome;
use percore_server::local::free_ports;
use percore_server::{Node, NodeConfig};

fn slow_identity() -> Arc<datafusion_expr::ScalarUDF> {
    Arc::new(create_udf(
        "slow",
        vec![DataType::Float64],
        DataType::Float64,
        Volatility::Volatile,
        Arc::new(|args: &[ColumnarValue]| {
            // Blocks this node's only core: exactly what a slow consumer does.
            std::thread::sleep(Duration::from_millis(3));
            Ok(args[0].clone())
        }),
    ))
}

fn start_nodes(nodes: usize, credit_window: u32) -> Vec<Arc<Node>> {
    let ports = free_ports(nodes * 2).expect("free ports");
    let address = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let peers: Vec<SocketAddr> = ports[..nodes].iter().map(|&p| address(p)).collect();
    (0..nodes)
        .map(|node| {
            let config = NodeConfig {
                node_id: node,
                peers: peers.clone(),
                client: address(ports[nodes + node]),
                cores_per_node: 1,
                tpch_scale: 0.01,
                batch_rows: 256,
                exchange_buffer_batches: 1,
                credit_window,
                memory: Default::default(),
                data_dir: None,
                session_defaults: Default::default(),
                peer_timeout: percore_server::membership::DEFAULT_PEER_TIMEOUT,
                metrics_listen: None,
                cluster_secret: None,
                client_passwords: None,
                slowdown: 1,
            };
            Node::start_with_functions(config, vec![slow_identity()]).expect("node starts")
        })
        .collect()
}

fn count(node: &Arc<Node>, sql: &str) -> i64 {
    let Outcome::Rows(query) = node.run(sql).expect("plans") else {
        panic!("not a query")
    };
    let batches = query.collect().expect("runs");
    let column = batches[0].column(0);
    let counts = column
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .expect("count(*) is Int64");
    assert_eq!(counts.len(), 1);
    counts.value(0)
}

#[test]
fn a_slow_consumer_holds_producers_back_within_the_credit_window() {
    let window = 1;
    let nodes = start_nodes(3, window);
    let fast = "select count(*) from lineitem join orders on l_suppkey = o_custkey \
                where l_quantity + o_totalprice > 0";
    let slow = "select count(*) from lineitem join orders on l_suppkey = o_custkey \
                where slow(l_quantity + o_totalprice) > 0";
    let expected = count(&nodes[1], fast);
    assert!(expected > 100_000, "the join should be big, got {expected}");
    for node in &nodes {
        node.transport()
            .stats
            .peak_frames_in_flight
            .store(0, Ordering::Relaxed);
    }
    assert_eq!(count(&nodes[0], slow), expected);
    // Per node: at most one frame per stream into it (two peers send to its one core,
    // on at most three exchanges at once: build, probe, gather).
    let bound = u64::from(window) * 2 * 3;
    for (id, node) in nodes.iter().enumerate() {
        let stats = &node.transport().stats;
        let peak = stats.peak_frames_in_flight.load(Ordering::Relaxed);
        assert!(peak <= bound, "node {id} held {peak} frames, bound {bound}");
        assert_eq!(
            stats.frames_in_flight.load(Ordering::Relaxed),
            0,
            "node {id}"
        );
        assert_eq!(node.transport().open_inbound_streams(), 0, "node {id}");
    }
    for node in &nodes {
        node.shutdown(Duration::from_secs(1));
    }
}
