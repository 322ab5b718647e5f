//! `percore bench clients`: many PostgreSQL clients at once against a local cluster
//! of node processes, at several levels of concurrency.

use std::process::ExitCode;
use std::time::Instant;

use percore_bench::clients::{format_levels, levels_json, measure_level};
use percore_server::local::{LocalCluster, LocalClusterOptions};

/// A small GROUP BY: little work per query, so admission and connection handling
/// are what is measured.
const SMALL_GROUP_BY: &str = "select l_returnflag, l_linestatus, count(*), sum(l_quantity) \
                              from lineitem group by l_returnflag, l_linestatus";

#[derive(clap::Args)]
pub struct ClientsArgs {
    /// TPC-H scale factor of the data the nodes generate.
    #[arg(long, default_value_t = 0.1)]
    sf: f64,
    /// Node processes on loopback; client k talks to node k % nodes.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Cores per node. Default: all available cores on one node, else 1.
    #[arg(long)]
    cores: Option<usize>,
    /// Levels of concurrency (comma-separated): clients connecting at once.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64,256")]
    clients: Vec<usize>,
    /// Times each client runs the statement.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The statement (default: a small GROUP BY over lineitem).
    #[arg(long)]
    sql: Option<String>,
    /// Also write the reports as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    #[command(flatten)]
    memory: crate::memory_args::MemoryArgs,
}

pub fn run(args: ClientsArgs) -> ExitCode {
    let cores = match args.nodes {
        1 => crate::memory_args::cores_or_all(args.cores),
        _ => args.cores.unwrap_or(1),
    };
    if args.nodes == 0 || cores == 0 || args.runs == 0 || args.clients.contains(&0) {
        eprintln!("error: --nodes, --cores, --runs and every --clients level must be at least 1");
        return ExitCode::from(2);
    }
    if let Err(code) = args.memory.settings_or_exit() {
        return code;
    }
    let binary = match std::env::current_exe() {
        Ok(binary) => binary,
        Err(error) => {
            eprintln!("error: cannot find the percore binary: {error}");
            return ExitCode::from(2);
        }
    };
    let starting = Instant::now();
    let mut options = LocalClusterOptions::new(args.nodes, cores, args.sf);
    options.extra_args = args.memory.to_args();
    let cluster = match LocalCluster::start(&binary, &options) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "TPC-H SF {} on {} node(s) x {cores} core(s), started in {:.1} s; {} run(s) per client",
        args.sf,
        args.nodes,
        starting.elapsed().as_secs_f64(),
        args.runs
    );
    let sql = args.sql.as_deref().unwrap_or(SMALL_GROUP_BY);
    let levels: Vec<_> = args
        .clients
        .iter()
        .map(|&clients| {
            let level = measure_level(cluster.client_addresses(), clients, args.runs, sql);
            eprintln!(
                "  {clients} clients: {:.1} queries/s, p99 {:.1} ms, {} failed",
                level.per_second, level.p99_ms, level.failed
            );
            level
        })
        .collect();
    print!("{}", format_levels(&levels));
    if let Some(path) = &args.json {
        if let Err(error) = std::fs::write(path, levels_json(&levels)) {
            eprintln!("error: cannot write {}: {error}", path.display());
            return ExitCode::from(1);
        }
    }
    if levels.iter().any(|level| level.failed > 0) {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
