//! `percore gen`: TPC-H as files for other tools and engines, generated the way
//! `percore sql` and `percore bench` generate it (each core its own part), so every
//! engine reads the very same rows.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use percore_bench::export::{write_tables, FileFormat};
use percore_engine::catalog::tpch::TABLES;
use percore_engine::session::{Cluster, ClusterConfig};

#[derive(clap::Args)]
pub struct GenArgs {
    /// TPC-H scale factor.
    #[arg(long, default_value_t = 1.0)]
    sf: f64,
    /// Directory to write one file per table into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// File format.
    #[arg(long, value_enum, default_value_t = Format::Parquet)]
    format: Format,
    /// Cores generating the data. Default: all available cores.
    #[arg(long)]
    cores: Option<usize>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// Snappy-compressed Parquet.
    Parquet,
    /// CSV with a header line.
    Csv,
}

pub fn run(args: GenArgs) -> ExitCode {
    let cores = crate::memory_args::cores_or_all(args.cores);
    if cores == 0 {
        eprintln!("error: --cores must be at least 1");
        return ExitCode::from(2);
    }
    if !(args.sf.is_finite() && args.sf > 0.0) {
        eprintln!(
            "error: the TPC-H scale factor must be positive, got {}",
            args.sf
        );
        return ExitCode::from(2);
    }
    let format = match args.format {
        Format::Parquet => FileFormat::Parquet,
        Format::Csv => FileFormat::Csv,
    };
    let started = Instant::now();
    let cluster = match Cluster::start_tpch(args.sf, ClusterConfig::new(cores)) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let generated = started.elapsed().as_secs_f64();
    match write_tables(&cluster.catalog(), &TABLES, &args.out, format) {
        Ok((files, bytes)) => {
            for file in &files {
                println!("{}", file.display());
            }
            eprintln!(
                "TPC-H SF {} generated in {generated:.2}s, {} files ({:.1} MiB) written in {:.2}s",
                args.sf,
                files.len(),
                bytes as f64 / 1_048_576.0,
                started.elapsed().as_secs_f64() - generated
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
