//! Many PostgreSQL clients at once against a node with little memory: queries that
//! fit start at once, the others wait for memory as it comes back, and none fails.

use percore_bench::clients::measure_level;
use percore_server::local::LocalClusterOptions;

use crate::common;

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
    assert!(
        queries.is_empty(),
        "nothing left queued or running: {queries:?}"
    );
    drop(idle);
}

/// Reads backend messages until one of type `until`; all of them, as (type, body).
fn read_until(stream: &mut std::net::TcpStream, until: u8) -> Vec<(u8, Vec<u8>)> {
    use std::io::Read;
    let mut messages = Vec::new();
    loop {
        let mut header = [0u8; 5];
        stream.read_exact(&mut header).expect("a message");
        let length = u32::from_be_bytes(header[1..].try_into().unwrap()) as usize;
        let mut body = vec![0u8; length - 4];
        stream.read_exact(&mut body).expect("its body");
        messages.push((header[0], body));
        if header[0] == until {
            return messages;
        }
    }
}

#[test]
fn a_malformed_message_gets_a_protocol_violation_and_the_node_serves_on() {
    use std::io::{Read, Write};
    let cluster = common::start("malformed", LocalClusterOptions::new(1, 1, 0.01));
    let mut stream = std::net::TcpStream::connect(cluster.client_addresses()[0]).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let params = b"user\0test\0\0";
    let mut startup = ((8 + params.len()) as u32).to_be_bytes().to_vec();
    startup.extend_from_slice(&196_608u32.to_be_bytes());
    startup.extend_from_slice(params);
    stream.write_all(&startup).unwrap();
    read_until(&mut stream, b'Z');
    // A Parse whose name and query end, then a parameter count and no parameters.
    let body = b"\0select 1\0\x00\x05";
    let mut parse = vec![b'P'];
    parse.extend_from_slice(&((4 + body.len()) as u32).to_be_bytes());
    parse.extend_from_slice(body);
    stream.write_all(&parse).unwrap();
    let (kind, error) = read_until(&mut stream, b'E').pop().unwrap();
    assert_eq!(kind, b'E');
    let text = String::from_utf8_lossy(&error);
    assert!(
        text.contains("08P01") && text.contains("protocol violation"),
        "{text}"
    );
    assert_eq!(
        stream.read(&mut [0u8; 1]).unwrap_or(0),
        0,
        "then the connection ends"
    );

    let mut client = cluster.connect(0).unwrap();
    let rows = common::query(&mut client, "select count(*) from nation").expect("still serving");
    assert_eq!(rows, [["25"]]);
}
