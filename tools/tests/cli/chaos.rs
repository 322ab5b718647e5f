//! Goal: faults never hang a query or change an answer. Clients run TPC-H queries
//! on a three-node cluster while nodes are killed and restarted, and frozen
//! (SIGSTOP) for longer and for shorter than the peer timeout, again and again.
//! Every query must end, within a bound, either with the right answer or with a
//! clear error (SQLSTATE class 08 naming the node, or the connection closing because
//! its own node was killed); a pause shorter than the peer timeout only delays.
//! Afterwards every node serves every query right and holds nothing. At least 100
//! queries run; `PERCORE_CHAOS_QUERIES=1000` runs more by hand, and
//! `PERCORE_CHAOS_SEED=N` another schedule.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use percore_bench::harness::{verify_rows, Check};
use percore_bench::query_sql;
use percore_server::local::{LocalCluster, LocalClusterOptions};
use percore_server::pgwire::client::{first_result, Client};

use crate::common;

use common::{check_tpch, query, Lcg};

const NODES: usize = 3;
const PEER_TIMEOUT: Duration = Duration::from_secs(2);
/// A query still running this long after it started is hung.
const HUNG: Duration = Duration::from_secs(90);
/// After a fault ends, the others may take this long to see the node again.
const RECOVERY: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq)]
enum FaultKind {
    Killed,
    /// Frozen for longer than the peer timeout: declared lost.
    LongStop,
    /// Frozen for less than the peer timeout: only a delay.
    ShortStop,
}

#[derive(Clone, Copy, Debug)]
struct Fault {
    node: usize,
    kind: FaultKind,
    at: Instant,
    /// When the node was back (restarted, or continued); `None` while it lasts.
    over: Option<Instant>,
}

impl Fault {
    /// Whether the fault (or the moment the others need to see the node again)
    /// overlaps `from..to`.
    fn overlaps(&self, from: Instant, to: Instant) -> bool {
        self.at <= to && self.over.is_none_or(|over| over + RECOVERY >= from)
    }
}

#[derive(Default)]
struct Tally {
    run: usize,
    succeeded: usize,
    failed_clearly: usize,
    connections_lost: usize,
    refused_at_once: usize,
    hung: usize,
    wrong: usize,
    problems: Vec<String>,
    slowest_kill_to_error: Duration,
    slowest_stop_to_error: Duration,
}

/// What the clients and the fault schedule share.
struct Run {
    addresses: Vec<SocketAddr>,
    faults: Mutex<Vec<Fault>>,
    tally: Mutex<Tally>,
    finished: AtomicBool,
}

impl Run {
    fn faults_between(&self, from: Instant, to: Instant) -> Vec<Fault> {
        let faults = self.faults.lock().unwrap();
        faults
            .iter()
            .filter(|fault| fault.overlaps(from, to))
            .copied()
            .collect()
    }

    /// Counts a query that failed clearly at `ended`, charging the time since the
    /// fault that began while it ran (none: it was refused for one already on).
    fn failed_clearly(&self, started: Instant, ended: Instant, what: &str) {
        let faults = self.faults_between(started, ended);
        let mut tally = self.tally.lock().unwrap();
        if !faults.is_empty() && faults.iter().all(|f| f.kind == FaultKind::ShortStop) {
            tally.problems.push(format!(
                "{what} failed though only a pause shorter than the peer timeout overlapped it"
            ));
        }
        let began_while_running = faults.iter().rev().find(|f| f.at >= started);
        match began_while_running {
            Some(fault) if fault.kind == FaultKind::Killed => {
                tally.slowest_kill_to_error = tally.slowest_kill_to_error.max(ended - fault.at);
            }
            Some(fault) => {
                tally.slowest_stop_to_error = tally.slowest_stop_to_error.max(ended - fault.at);
            }
            None => tally.refused_at_once += 1,
        }
        tally.failed_clearly += 1;
    }

    fn problem(&self, what: String) {
        self.tally.lock().unwrap().problems.push(what);
    }
}

/// One client: connects to a random node (again, whenever its connection is lost)
/// and runs random TPC-H queries until the run is finished.
fn run_client(run: &Run, client_seed: u64) {
    let client_number = client_seed % 16;
    let mut rng = Lcg(client_seed);
    let mut connection: Option<(usize, Instant, Client)> = None;
    while !run.finished.load(Ordering::Relaxed) {
        let (node, connected, client) = match &mut connection {
            Some(open) => open,
            None => {
                let node = rng.below(NODES as u64) as usize;
                match Client::connect(run.addresses[node], Duration::from_secs(5)) {
                    Ok(client) => {
                        client.set_read_timeout(Some(HUNG)).unwrap();
                        connection.insert((node, Instant::now(), client))
                    }
                    Err(_) => {
                        // Killed or not yet restarted.
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                }
            }
        };
        let number = 1 + rng.below(22) as usize;
        let sql = query_sql(number).unwrap();
        let what = format!("client {client_number} Q{number} via node {node}");
        let started = Instant::now();
        let outcome = client.query(&sql);
        let ended = Instant::now();
        run.tally.lock().unwrap().run += 1;
        match outcome.map(|replies| first_result(replies, "NULL")) {
            Ok(Ok(rows)) => match verify_rows(0.01, number, rows) {
                Check::Passed => run.tally.lock().unwrap().succeeded += 1,
                Check::Failed(why) => {
                    let mut tally = run.tally.lock().unwrap();
                    tally.wrong += 1;
                    tally.problems.push(format!("{what} answered wrong: {why}"));
                }
                Check::Unverified => run.problem(format!("{what}: no reference answer")),
            },
            Ok(Err((state, message))) => {
                if state.starts_with("08") && message.contains("node ") {
                    run.failed_clearly(started, ended, &format!("{what} ({message})"));
                    // As a real client would, rather than spin on refusals.
                    std::thread::sleep(Duration::from_millis(100));
                } else {
                    run.problem(format!("{what} failed unclearly: {state} {message}"));
                }
            }
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                let faults: Vec<String> = run
                    .faults_between(started, ended)
                    .iter()
                    .map(|fault| {
                        format!(
                            "{:?} node {} {:.1?} after it started{}",
                            fault.kind,
                            fault.node,
                            fault.at.saturating_duration_since(started),
                            fault.over.map_or(String::new(), |over| format!(
                                " for {:.1?}",
                                over - fault.at
                            ))
                        )
                    })
                    .collect();
                let mut tally = run.tally.lock().unwrap();
                tally.hung += 1;
                tally.problems.push(format!(
                    "{what} hung: no answer after {:?}; faults meanwhile: {}",
                    ended - started,
                    faults.join(", ")
                ));
                connection = None;
            }
            Err(error) => {
                let own_node_killed = run
                    .faults_between(*connected, ended)
                    .iter()
                    .any(|f| f.node == *node && f.kind == FaultKind::Killed);
                if own_node_killed {
                    run.tally.lock().unwrap().connections_lost += 1;
                    run.failed_clearly(started, ended, &what);
                } else {
                    run.problem(format!(
                        "{what}: the connection broke though node {node} was not killed: {error}"
                    ));
                }
                connection = None;
            }
        }
    }
}

fn signal(cluster: &LocalCluster, node: usize, signal_number: libc::c_int) {
    // SAFETY: kill(2) on a child process this test started and has not reaped.
    unsafe {
        libc::kill(cluster.pid(node) as libc::pid_t, signal_number);
    }
}

/// Injects one fault into `node` and ends it; returns when the node is back.
fn inject(cluster: &mut LocalCluster, run: &Run, rng: &mut Lcg, node: usize, kind: FaultKind) {
    let index = {
        let mut faults = run.faults.lock().unwrap();
        faults.push(Fault {
            node,
            kind,
            at: Instant::now(),
            over: None,
        });
        faults.len() - 1
    };
    match kind {
        FaultKind::Killed => {
            cluster.kill(node);
            std::thread::sleep(rng.millis(200, 1500));
            cluster
                .restart(node, Duration::from_secs(180))
                .unwrap_or_else(|error| panic!("node {node} did not come back: {error}"));
        }
        FaultKind::LongStop | FaultKind::ShortStop => {
            signal(cluster, node, libc::SIGSTOP);
            std::thread::sleep(if kind == FaultKind::LongStop {
                PEER_TIMEOUT * 2 + rng.millis(0, 1000)
            } else {
                PEER_TIMEOUT / 5
            });
            signal(cluster, node, libc::SIGCONT);
        }
    }
    run.faults.lock().unwrap()[index].over = Some(Instant::now());
}

/// Waits until `node` answers a query (the others see it again after a fault).
fn wait_until_serving(cluster: &LocalCluster, node: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = cluster
            .connect(node)
            .ok()
            .and_then(|mut client| query(&mut client, "select count(*) from nation").ok());
        if answer.is_some_and(|rows| rows == [["25"]]) {
            return;
        }
        assert!(Instant::now() < deadline, "node {node} never served again");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn queries_under_kills_and_freezes_end_right_or_clearly_and_nothing_hangs() {
    let setting = |name: &str, default: u64| -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let wanted = setting("PERCORE_CHAOS_QUERIES", 100) as usize;
    let seed = setting("PERCORE_CHAOS_SEED", 7);
    let mut options = LocalClusterOptions::new(NODES, 1, 0.01);
    options.metrics = true;
    options.extra_args = vec![
        "--peer-timeout".into(),
        format!("{}s", PEER_TIMEOUT.as_secs()),
    ];
    let mut cluster = common::start("chaos", options);
    let run = Run {
        addresses: cluster.client_addresses().to_vec(),
        faults: Mutex::new(Vec::new()),
        tally: Mutex::new(Tally::default()),
        finished: AtomicBool::new(false),
    };
    let kinds = [FaultKind::Killed, FaultKind::LongStop, FaultKind::ShortStop];
    let started = Instant::now();
    std::thread::scope(|scope| {
        let clients: Vec<_> = (1..=3)
            .map(|number| {
                let run = &run;
                scope.spawn(move || run_client(run, seed * 16 + number))
            })
            .collect();
        let mut rng = Lcg(seed);
        let mut round = 0;
        // Every kind of fault on every node at least once, then on until enough
        // queries ran (or the time is up, which the assertions below report).
        while round < 2 * kinds.len() * NODES
            || (run.tally.lock().unwrap().run < wanted
                && started.elapsed() < Duration::from_secs(600))
        {
            std::thread::sleep(rng.millis(500, 2000));
            let node = rng.below(NODES as u64) as usize;
            inject(
                &mut cluster,
                &run,
                &mut rng,
                node,
                kinds[round % kinds.len()],
            );
            round += 1;
        }
        std::thread::sleep(Duration::from_secs(1));
        run.finished.store(true, Ordering::Relaxed);
        for client in clients {
            client.join().unwrap();
        }
    });

    let tally = run.tally.into_inner().unwrap();
    let faults = run.faults.into_inner().unwrap();
    let count = |kind| faults.iter().filter(|f| f.kind == kind).count();
    println!(
        "chaos: {} queries in {:.0?}: {} answered right, {} failed with a clear error \
         ({} of them a connection to a killed node, {} refused at once for a node already \
         lost), {} hung, {} wrong; faults: {} kills, {} freezes past the {:?} peer \
         timeout, {} shorter; slowest kill to error {:.2?}, slowest freeze to error {:.2?}",
        tally.run,
        started.elapsed(),
        tally.succeeded,
        tally.failed_clearly,
        tally.connections_lost,
        tally.refused_at_once,
        tally.hung,
        tally.wrong,
        count(FaultKind::Killed),
        count(FaultKind::LongStop),
        PEER_TIMEOUT,
        count(FaultKind::ShortStop),
        tally.slowest_kill_to_error,
        tally.slowest_stop_to_error,
    );
    assert!(tally.problems.is_empty(), "{}", tally.problems.join("\n"));
    assert_eq!((tally.hung, tally.wrong), (0, 0));
    assert!(tally.run >= wanted, "only {} queries ran", tally.run);
    assert!(tally.succeeded > 0, "no query succeeded between the faults");
    assert!(
        tally.slowest_kill_to_error < Duration::from_secs(15),
        "a kill took {:?} to fail a query",
        tally.slowest_kill_to_error
    );
    assert!(
        tally.slowest_stop_to_error < PEER_TIMEOUT + Duration::from_secs(15),
        "a freeze took {:?} to fail a query",
        tally.slowest_stop_to_error
    );

    // Nothing died on its own, and after the faults every node serves every query
    // right and holds nothing.
    for node in 0..NODES {
        assert!(
            cluster.wait_for_exit(node, Duration::ZERO).is_none(),
            "node {node} exited{}",
            cluster.log_tail(node)
        );
        wait_until_serving(&cluster, node);
    }
    let failures = check_tpch(&cluster, NODES, &(1..=22).collect::<Vec<_>>());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    common::assert_nothing_held(&cluster, Duration::from_secs(30));
}
