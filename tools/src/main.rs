//! `percore`: the one binary. `percore sql` runs SQL against an embedded local
//! cluster (one executor per core) over generated TPC-H data.

mod bench;
mod output;
mod shell;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use percore_engine::session::{Cluster, ClusterConfig};

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
}

#[derive(Subcommand)]
enum BenchSuite {
    /// Run the TPC-H queries on an embedded local cluster, verify every answer, and
    /// report latency percentiles.
    Tpch(bench::TpchArgs),
}

#[derive(clap::Args)]
struct SqlArgs {
    /// Generate TPC-H at this scale factor, each core generating its own partition.
    #[arg(long, default_value_t = 0.1)]
    tpch: f64,
    /// Executors (cores, and partitions per table). Default: all available cores.
    #[arg(long)]
    cores: Option<usize>,
    /// Run these statements (separated by `;`) and exit.
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
    /// Print each statement's row count and time to stderr.
    #[arg(long)]
    timing: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sql(args) => run_sql(args),
        Command::Bench {
            suite: BenchSuite::Tpch(args),
        } => bench::run_tpch(args),
    }
}

fn run_sql(args: SqlArgs) -> ExitCode {
    let cores = args
        .cores
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if cores == 0 || args.batch_size == 0 || args.exchange_buffer == 0 {
        eprintln!("error: --cores, --batch-size and --exchange-buffer must be at least 1");
        return ExitCode::from(2);
    }
    let config = ClusterConfig::new(cores)
        .with_batch_rows(args.batch_size)
        .with_exchange_buffer_batches(args.exchange_buffer);
    let started = std::time::Instant::now();
    let cluster = match Cluster::start_tpch(args.tpch, config) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let options = shell::Options {
        format: args.format,
        timing: args.timing,
    };
    if args.command.is_none() && args.file.is_none() {
        eprintln!(
            "percore: TPC-H SF {} on {cores} cores, generated in {:.2}s. End statements with ';', \\q quits.",
            args.tpch,
            started.elapsed().as_secs_f64()
        );
        shell::interactive(&cluster, &options);
        return ExitCode::SUCCESS;
    }
    let mut ok = true;
    if let Some(sql) = &args.command {
        ok &= shell::run_script(&cluster, sql, &options);
    }
    if let Some(path) = &args.file {
        match std::fs::read_to_string(path) {
            Ok(sql) => ok &= shell::run_script(&cluster, &sql, &options),
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
