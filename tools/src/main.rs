//! `percore`: the one binary. `percore sql` runs SQL against an embedded local
//! cluster (one executor per core) over generated TPC-H data, or against a running
//! cluster with `--connect`; `percore node` runs one node of a cluster; `percore
//! cluster up` runs a whole cluster of nodes on this machine; `percore bench` runs
//! the benchmarks; `percore gen` writes TPC-H to files; `percore password` makes a
//! line of a node's password file.

mod bench;
mod cancel_bench;
mod clients_bench;
mod cluster;
mod exchange_bench;
mod gen;
mod memory_args;
mod output;
mod shell;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use percore_engine::session::{Cluster, ClusterConfig};
use percore_server::pgwire::client::{Client, Credentials};

use output::Format;

#[derive(Parser)]
#[command(
    name = "percore",
    version,
    about = "Percore: a thread-per-core distributed SQL engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run SQL on an embedded local cluster: an interactive shell, or batch with -c / -f.
    Sql(SqlArgs),
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        suite: BenchSuite,
    },
    /// Run one node of a cluster (until SIGTERM or Ctrl-C).
    Node(cluster::NodeArgs),
    /// Local clusters of node processes.
    Cluster {
        #[command(subcommand)]
        action: cluster::ClusterAction,
    },
    /// Write TPC-H as Parquet or CSV files, one per table (the rows the other commands
    /// generate in memory).
    Gen(gen::GenArgs),
    /// Print a password-file line (`USER:SCRAM-SHA-256$...`) for the password read
    /// from standard input, so the file a node reads (`--password-file`) holds no
    /// password.
    Password {
        /// The user the line lets in.
        user: String,
    },
}

#[derive(Subcommand)]
enum BenchSuite {
    /// Run the TPC-H queries on an embedded local cluster, verify every answer, and
    /// report latency percentiles.
    Tpch(bench::TpchArgs),
    /// Run the 99 TPC-DS queries over Parquet files, verify the answers (SF 0.01 and
    /// 1), and time them, DuckDB beside them if asked.
    Tpcds(bench::TpcdsArgs),
    /// Measure the network exchange's throughput on loopback against raw TCP.
    Exchange(exchange_bench::ExchangeArgs),
    /// Measure how long running queries take to stop once cancelled (p50/p99).
    Cancel(cancel_bench::CancelArgs),
    /// Many PostgreSQL clients at once against local node processes: throughput,
    /// p50/p99 and failures at each level of concurrency.
    Clients(clients_bench::ClientsArgs),
}

#[derive(clap::Args)]
struct SqlArgs {
    /// Connect to a running node (HOST:PORT, its PostgreSQL port) instead of starting
    /// an embedded cluster.
    #[arg(long)]
    connect: Option<String>,
    /// With --connect: sign in as this user (default: $PGUSER, else `percore`); the
    /// password, when the node asks for one, is $PGPASSWORD.
    #[arg(long, requires = "connect")]
    user: Option<String>,
    /// Generate TPC-H at this scale factor, each core generating its own partition;
    /// 0 generates nothing (create your own tables: CREATE EXTERNAL TABLE).
    #[arg(long, default_value_t = 0.1)]
    tpch: f64,
    /// Executors (cores, and partitions per table). Default: all available cores.
    #[arg(long)]
    cores: Option<usize>,
    /// Keep the catalog and loaded tables here across restarts (start with the same
    /// --cores). Default: in memory only.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Run these statements (separated by `;`; backslash commands on lines of their
    /// own) and exit.
    #[arg(short = 'c', long = "command")]
    command: Option<String>,
    /// Run the statements in this file and exit.
    #[arg(short = 'f', long = "file")]
    file: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Rows per batch.
    #[arg(long, default_value_t = 8192)]
    batch_size: usize,
    /// Batches each exchange channel buffers before producers wait.
    #[arg(long, default_value_t = 4)]
    exchange_buffer: usize,
    /// Print each statement's row count and time to stderr (`\timing` toggles it).
    #[arg(long)]
    timing: bool,
    /// Rows a table shows; the footer says how many there were (0: all; `\maxrows`
    /// changes it). Default: 40 on a terminal, all otherwise.
    #[arg(long)]
    maxrows: Option<usize>,
    #[command(flatten)]
    memory: memory_args::MemoryArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sql(args) => run_sql(args),
        Command::Bench {
            suite: BenchSuite::Tpch(args),
        } => bench::run_tpch(args),
        Command::Bench {
            suite: BenchSuite::Exchange(args),
        } => exchange_bench::run(args),
        Command::Bench {
            suite: BenchSuite::Cancel(args),
        } => cancel_bench::run(args),
        Command::Bench {
            suite: BenchSuite::Tpcds(args),
        } => bench::run_tpcds(args),
        Command::Bench {
            suite: BenchSuite::Clients(args),
        } => clients_bench::run(args),
        Command::Node(args) => cluster::run_node(args),
        Command::Cluster { action } => cluster::run(action),
        Command::Gen(args) => gen::run(args),
        Command::Password { user } => print_password_line(&user),
    }
}

fn print_password_line(user: &str) -> ExitCode {
    let mut password = String::new();
    if let Err(error) = std::io::stdin().read_line(&mut password) {
        eprintln!("error: cannot read the password from standard input: {error}");
        return ExitCode::from(2);
    }
    let password = password.trim_end_matches(['\n', '\r']);
    match percore_server::pgwire::passwords::verifier_line(user, password) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn run_sql(args: SqlArgs) -> ExitCode {
    let cores = crate::memory_args::cores_or_all(args.cores);
    if cores == 0 || args.batch_size == 0 || args.exchange_buffer == 0 {
        eprintln!("error: --cores, --batch-size and --exchange-buffer must be at least 1");
        return ExitCode::from(2);
    }
    let mut options = shell::Options::new(
        output::Display {
            format: args.format,
            max_rows: args.maxrows.unwrap_or_else(|| {
                use std::io::IsTerminal;
                if std::io::stdout().is_terminal() {
                    40
                } else {
                    0
                }
            }),
            expanded: false,
        },
        args.timing,
    );
    if let Some(address) = &args.connect {
        let mut credentials = Credentials::from_env();
        if args.user.is_some() {
            credentials.user.clone_from(&args.user);
        }
        let client =
            match Client::connect_as(address.as_str(), Duration::from_secs(10), &credentials) {
                Ok(client) => client,
                Err(error) => {
                    eprintln!("error: cannot connect to {address}: {error}");
                    return ExitCode::from(2);
                }
            };
        return run_statements(client, &args, &mut options, || {
            eprintln!("percore: connected to {address}. End statements with ';', \\q quits.")
        });
    }
    let memory = match args.memory.settings() {
        Ok(memory) => memory,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let config = ClusterConfig {
        memory,
        ..ClusterConfig::new(cores)
            .with_batch_rows(args.batch_size)
            .with_exchange_buffer_batches(args.exchange_buffer)
            .with_data_dir(args.data_dir.clone())
    };
    let started = std::time::Instant::now();
    let cluster = match Cluster::start_tpch(args.tpch, config) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let embedded = shell::Embedded {
        cluster: &cluster,
        settings: Default::default(),
    };
    run_statements(embedded, &args, &mut options, || {
        eprintln!(
            "percore: TPC-H SF {} on {cores} cores, generated in {:.2}s. End statements with ';', \\q quits.",
            args.tpch,
            started.elapsed().as_secs_f64()
        )
    })
}

/// Runs -c and -f, or the interactive shell when neither is given.
fn run_statements(
    mut backend: impl shell::Backend,
    args: &SqlArgs,
    options: &mut shell::Options,
    greeting: impl FnOnce(),
) -> ExitCode {
    if args.command.is_none() && args.file.is_none() {
        greeting();
        shell::interactive(&mut backend, options);
        return ExitCode::SUCCESS;
    }
    let mut ok = true;
    if let Some(sql) = &args.command {
        ok &= shell::run_script(&mut backend, sql, options);
    }
    if let Some(path) = &args.file {
        match std::fs::read_to_string(path) {
            Ok(sql) => ok &= shell::run_script(&mut backend, &sql, options),
            Err(error) => {
                eprintln!("error: cannot read {}: {error}", path.display());
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
