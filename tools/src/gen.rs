//! `percore gen`: TPC-H as files for other tools and engines, generated the way
//! `percore sql` and `percore bench` generate it (each core its own part), so every
//! engine reads the very same rows; or, with `--zipf`, a skewed fact table and its
//! dimension.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use percore_bench::export::{write_batches, write_tables, FileFormat};
use percore_bench::zipf::{self, ZipfSpec};
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
    /// Instead of TPC-H, skewed data: `facts` (f_key, f_row, f_amount) whose key
    /// follows a Zipf law with this exponent (1.0 classic, 1.5 steeper, 0 uniform)
    /// and `dims` (d_key, d_group, d_name) with every key once.
    #[arg(long)]
    zipf: Option<f64>,
    /// With --zipf: rows of `facts`.
    #[arg(long, default_value_t = 10_000_000)]
    rows: u64,
    /// With --zipf: distinct keys (rows of `dims`).
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
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
    if let Some(exponent) = args.zipf {
        let spec = ZipfSpec {
            exponent,
            keys: args.keys,
            rows: args.rows,
        };
        return write_zipf(spec, &args.out, format);
    }
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

fn write_zipf(spec: ZipfSpec, out: &Path, format: FileFormat) -> ExitCode {
    if let Err(error) = spec.validate() {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let started = Instant::now();
    if let Err(error) = std::fs::create_dir_all(out) {
        eprintln!("error: cannot create {}: {error}", out.display());
        return ExitCode::FAILURE;
    }
    let facts = out.join(format!("facts.{}", format.extension()));
    let dims = out.join(format!("dims.{}", format.extension()));
    let written = write_batches(&zipf::facts_schema(), zipf::facts(spec), &facts, format)
        .map_err(|e| format!("{}: {e}", facts.display()))
        .and_then(|()| {
            write_batches(&zipf::dims_schema(), zipf::dims(spec), &dims, format)
                .map_err(|e| format!("{}: {e}", dims.display()))
        });
    if let Err(error) = written {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    println!("{}\n{}", facts.display(), dims.display());
    eprintln!(
        "Zipf s={} over {} keys: {} fact rows (key 1 holds {:.1}%) in {:.2}s",
        spec.exponent,
        spec.keys,
        spec.rows,
        spec.share(1) * 100.0,
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
