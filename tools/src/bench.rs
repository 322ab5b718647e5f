//! `percore bench tpch`: the TPC-H harness from the command line.

use std::process::ExitCode;

use percore_bench::harness::{
    format_json, format_table, run, run_on_local_cluster, BaselineKind, BenchOptions, Check,
    QueryReport,
};

/// Engines `--baseline` can run beside Percore.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Baseline {
    Datafusion,
    Duckdb,
}

#[derive(clap::Args)]
pub struct TpchArgs {
    /// TPC-H scale factor. Answers are verified at 0.01, 0.1 and 1.
    #[arg(long, default_value_t = 1.0)]
    sf: f64,
    /// Runs of each query; latency percentiles are over these.
    #[arg(long, default_value_t = 3)]
    iterations: usize,
    /// Executors (cores), per node with --nodes. Default: all available cores, or 1
    /// per node with --nodes.
    #[arg(long, alias = "cores-per-node")]
    cores: Option<usize>,
    /// Run on a local cluster of this many `percore node` processes on loopback,
    /// through node 0's PostgreSQL port (default: one embedded in-process cluster).
    #[arg(long)]
    nodes: Option<usize>,
    /// Comma-separated query numbers (default: all 22).
    #[arg(long, value_delimiter = ',')]
    queries: Option<Vec<usize>>,
    /// Rows per batch.
    #[arg(long, default_value_t = 8192)]
    batch_size: usize,
    /// Clients running each query at the same time (each runs it --iterations
    /// times); p50/p99 are over all their runs.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    #[command(flatten)]
    memory: crate::memory_args::MemoryArgs,
    /// Also run every query on this engine, on the same data and cores, alternating
    /// with Percore: `datafusion` (in this process; needs a build with `--features
    /// datafusion-baseline`) or `duckdb` (needs `python3` with `pip install duckdb`;
    /// the data goes to it as Parquet under --spill-dir, loaded into its memory).
    #[arg(long, value_enum)]
    baseline: Option<Baseline>,
    /// Read the tables from `<table>.parquet` files in this directory (as `percore
    /// gen` writes them), queried where they lie as external tables, instead of
    /// generating TPC-H in memory; --sf says which answers to check against. With
    /// --baseline duckdb, DuckDB reads the same files in every query too.
    #[arg(long)]
    parquet: Option<std::path::PathBuf>,
    /// With --parquet: load the files into tables partitioned on their join keys
    /// (`CREATE TABLE .. PARTITIONED BY HASH`, nation and region replicated) before
    /// the queries, and say how long each load took; DuckDB (--baseline duckdb) then
    /// loads them into its own tables too.
    #[arg(long, requires = "parquet")]
    load: bool,
    /// With --nodes: slow node N down F times (`N:F`, repeatable; `percore node
    /// --slowdown`, a test flag), to see the slowest node named per query.
    #[arg(long, value_name = "NODE:FACTOR", value_parser = parse_slowdown, requires = "nodes")]
    slowdown: Vec<(usize, u32)>,
}

fn parse_slowdown(text: &str) -> Result<(usize, u32), String> {
    let (node, factor) = text
        .split_once(':')
        .ok_or_else(|| format!("expected NODE:FACTOR, got {text:?}"))?;
    let node = node
        .parse()
        .map_err(|_| format!("{node:?} is not a node number"))?;
    match factor.parse() {
        Ok(factor) if factor >= 1 => Ok((node, factor)),
        _ => Err(format!("{factor:?} is not a whole factor of at least 1")),
    }
}

pub fn run_tpch(args: TpchArgs) -> ExitCode {
    let cores = match args.nodes {
        Some(_) => args.cores.unwrap_or(1),
        None => crate::memory_args::cores_or_all(args.cores),
    };
    let queries = args.queries.unwrap_or_else(|| (1..=22).collect());
    if let Some(bad) = queries.iter().find(|q| !(1..=22).contains(*q)) {
        eprintln!("error: TPC-H has queries 1 to 22, not {bad}");
        return ExitCode::from(2);
    }
    if cores == 0 || args.batch_size == 0 {
        eprintln!("error: --cores and --batch-size must be at least 1");
        return ExitCode::from(2);
    }
    let memory = match args.memory.settings_or_exit() {
        Ok(memory) => memory,
        Err(code) => return code,
    };
    if !(args.sf.is_finite() && args.sf > 0.0) {
        eprintln!(
            "error: --sf must be positive (it names the reference answers), got {}",
            args.sf
        );
        return ExitCode::from(2);
    }
    if args.parquet.is_some() && args.nodes.is_some() {
        eprintln!("error: --parquet runs in process only, not with --nodes");
        return ExitCode::from(2);
    }
    let nodes = args.nodes.unwrap_or(1);
    if let Some((node, _)) = args.slowdown.iter().find(|(node, _)| *node >= nodes) {
        eprintln!(
            "error: --slowdown names node {node}; the {nodes} node(s) are numbered from 0 to {}",
            nodes.saturating_sub(1)
        );
        return ExitCode::from(2);
    }
    if args.baseline.is_some() && args.nodes.is_some() {
        eprintln!("error: --baseline runs in process only, not with --nodes");
        return ExitCode::from(2);
    }
    let options = BenchOptions {
        baseline: args.baseline.map(|b| match b {
            Baseline::Datafusion => BaselineKind::DataFusion,
            Baseline::Duckdb => BaselineKind::DuckDb,
        }),
        memory,
        scale_factor: args.sf,
        iterations: args.iterations.max(1),
        cores,
        queries,
        batch_rows: args.batch_size,
        concurrency: args.concurrency.max(1),
        parquet: args.parquet,
        load: args.load,
    };
    let progress = |report: &QueryReport| {
        eprintln!("  Q{:02}: p50 {:.1} ms", report.query, report.p50_ms);
    };
    let outcome = match args.nodes {
        None => {
            eprintln!(
                "TPC-H SF {} on {cores} cores, {} iterations per query, {} client(s)",
                options.scale_factor, options.iterations, options.concurrency
            );
            run(&options, progress)
        }
        Some(0) => Err("--nodes must be at least 1".to_string()),
        Some(nodes) => {
            eprintln!(
                "TPC-H SF {} on {nodes} node processes x {cores} cores, {} iterations per query, {} client(s)",
                options.scale_factor, options.iterations, options.concurrency
            );
            std::env::current_exe()
                .map_err(|e| format!("cannot find the percore binary: {e}"))
                .and_then(|binary| {
                    run_on_local_cluster(&options, &binary, nodes, &args.slowdown, progress)
                })
        }
    };
    let (reports, generation_s) = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    eprintln!("data generated in {generation_s:.2} s");
    print!("{}", format_table(&reports));
    if let Some(path) = &args.json {
        if let Err(error) = std::fs::write(path, format_json(&options, &reports)) {
            eprintln!("error: cannot write {}: {error}", path.display());
            return ExitCode::from(2);
        }
    }
    if reports.iter().any(|r| matches!(r.check, Check::Failed(_))) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `percore bench tpcds`: the 99 TPC-DS queries over Parquet files.
#[derive(clap::Args)]
pub struct TpcdsArgs {
    /// Directory of `<table>.parquet` files (`python3 bench/tpcds/gen.py SF DIR`
    /// writes them; the SF 0.01 tables are in bench/tpcds/data/sf0.01).
    #[arg(long)]
    data: std::path::PathBuf,
    /// The scale factor of the data: answers are checked at 0.01 and 1.
    #[arg(long, default_value_t = 1.0)]
    sf: f64,
    /// Runs of each query; the report shows the median.
    #[arg(long, default_value_t = 3)]
    iterations: usize,
    /// Executors (cores). Default: all available cores.
    #[arg(long)]
    cores: Option<usize>,
    /// Comma-separated query numbers (default: all 99).
    #[arg(long, value_delimiter = ',')]
    queries: Option<Vec<usize>>,
    /// Rows per batch.
    #[arg(long, default_value_t = 8192)]
    batch_size: usize,
    /// Also run every query on DuckDB over the same files (`pip install duckdb`).
    #[arg(long, value_enum)]
    baseline: Option<Baseline>,
    #[command(flatten)]
    memory: crate::memory_args::MemoryArgs,
}

pub fn run_tpcds(args: TpcdsArgs) -> ExitCode {
    let cores = crate::memory_args::cores_or_all(args.cores);
    let queries = args.queries.unwrap_or_else(|| (1..=99).collect());
    if let Some(bad) = queries.iter().find(|q| !(1..=99).contains(*q)) {
        eprintln!("error: TPC-DS has queries 1 to 99, not {bad}");
        return ExitCode::from(2);
    }
    if cores == 0 || args.batch_size == 0 {
        eprintln!("error: --cores and --batch-size must be at least 1");
        return ExitCode::from(2);
    }
    if matches!(args.baseline, Some(Baseline::Datafusion)) {
        eprintln!("error: bench tpcds runs DuckDB beside it, not DataFusion");
        return ExitCode::from(2);
    }
    let memory = match args.memory.settings_or_exit() {
        Ok(memory) => memory,
        Err(code) => return code,
    };
    let options = percore_bench::tpcds::TpcdsOptions {
        scale_factor: args.sf,
        data: args.data,
        cores,
        iterations: args.iterations.max(1),
        queries,
        batch_rows: args.batch_size,
        memory,
        duckdb: args.baseline.is_some(),
    };
    eprintln!(
        "TPC-DS SF {} from {} on {cores} cores, {} iterations per query",
        options.scale_factor,
        options.data.display(),
        options.iterations
    );
    let progress = |report: &percore_bench::tpcds::TpcdsReport| {
        eprintln!("  q{:02}: p50 {:.1} ms", report.query, report.p50_ms);
    };
    match percore_bench::tpcds::run(&options, progress) {
        Ok(reports) => {
            print!("{}", percore_bench::tpcds::format_table(&reports));
            if reports.iter().any(|r| matches!(r.check, Check::Failed(_))) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
