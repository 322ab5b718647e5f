//! `percore bench cancel`: how long running queries take to stop once cancelled.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use percore_bench::cancel::{measure_cancels, CancelReport};
use percore_engine::session::{Cluster, ClusterConfig};

/// A join whose every probe row matches hundreds of build rows (361 million pairs at
/// SF 0.1): batches that grew with the matches would make cancels wait for them.
pub const FAN_OUT_JOIN: &str = "select count(*) from lineitem a join lineitem b \
                                on a.l_suppkey = b.l_suppkey";

#[derive(clap::Args)]
pub struct CancelArgs {
    /// TPC-H scale factor of the data the queries run on.
    #[arg(long, default_value_t = 1.0)]
    sf: f64,
    /// Executors (cores). Default: all available cores.
    #[arg(long)]
    cores: Option<usize>,
    /// Cancels per query.
    #[arg(long, default_value_t = 100)]
    cancels: usize,
    /// TPC-H queries to cancel (comma-separated numbers).
    #[arg(long, value_delimiter = ',', default_value = "9")]
    queries: Vec<usize>,
    /// Statements to cancel besides the TPC-H queries (repeatable). Default: a
    /// fan-out self-join of lineitem on l_suppkey.
    #[arg(long)]
    sql: Vec<String>,
    /// The latest point of a run a cancel lands on, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    cap_ms: u64,
    #[command(flatten)]
    memory: crate::memory_args::MemoryArgs,
}

pub fn run(args: CancelArgs) -> ExitCode {
    let cores = crate::memory_args::cores_or_all(args.cores);
    if cores == 0 || args.cancels == 0 {
        eprintln!("error: --cores and --cancels must be at least 1");
        return ExitCode::from(2);
    }
    let memory = match args.memory.settings_or_exit() {
        Ok(memory) => memory,
        Err(code) => return code,
    };
    let mut statements = Vec::new();
    for number in &args.queries {
        match percore_bench::query_sql(*number) {
            Ok(sql) if (1..=22).contains(number) => statements.push((format!("Q{number}"), sql)),
            _ => {
                eprintln!("error: TPC-H has queries 1 to 22, not {number}");
                return ExitCode::from(2);
            }
        }
    }
    let extra = if args.sql.is_empty() {
        vec![FAN_OUT_JOIN.to_string()]
    } else {
        args.sql
    };
    statements.extend(extra.into_iter().map(|sql| (sql.clone(), sql)));

    let generating = Instant::now();
    let config = ClusterConfig {
        memory,
        ..ClusterConfig::new(cores)
    };
    let cluster = match Cluster::start_tpch(args.sf, config) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "TPC-H SF {} on {cores} cores generated in {:.1} s; {} cancels per query",
        args.sf,
        generating.elapsed().as_secs_f64(),
        args.cancels
    );
    let cap = Duration::from_millis(args.cap_ms.max(1));
    let mut reports = Vec::new();
    for (name, sql) in &statements {
        match measure_cancels(&cluster, sql, args.cancels, cap) {
            Ok(report) => reports.push((name.clone(), report)),
            Err(error) => {
                eprintln!("error: {name}: {error}");
                return ExitCode::from(1);
            }
        }
    }
    print!("{}", format_reports(&reports));
    ExitCode::SUCCESS
}

fn format_reports(reports: &[(String, CancelReport)]) -> String {
    let mut out = format!(
        "{:<12} {:>10} {:>8} {:>9} {:>9} {:>9} {:>8}\n",
        "query", "window ms", "cancels", "p50 ms", "p99 ms", "max ms", "ended"
    );
    for (name, report) in reports {
        let name: String = name.chars().take(12).collect();
        out.push_str(&format!(
            "{:<12} {:>10.0} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>8}\n",
            name,
            report.window_ms,
            report.latencies_ms.len(),
            report.p50_ms,
            report.p99_ms,
            report.max_ms,
            report.finished_first
        ));
    }
    out.push_str("(latency: from the cancel until the query's last task ended; ended: runs that finished before their cancel)\n");
    out
}
