//! `percore bench exchange`: the network exchange's throughput on loopback against
//! raw loopback TCP, measured alternately in one process so machine noise hits both.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Instant;

use percore_engine::catalog::tpch;
use percore_engine::exec::remote::throughput::measure;
use percore_engine::exec::remote::TransportConfig;

#[derive(clap::Args)]
pub struct ExchangeArgs {
    /// MiB to move per run.
    #[arg(long, default_value_t = 1024)]
    mib: usize,
    /// Runs of each; medians are reported.
    #[arg(long, default_value_t = 3)]
    iterations: usize,
    /// Frames in flight per stream before the sender waits for credit.
    #[arg(long, default_value_t = 4)]
    credit_window: u32,
}

/// Bytes per second of one std TCP stream over loopback, 1 MiB writes.
fn raw_tcp(bytes: usize) -> std::io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<usize> {
        let (mut stream, _) = listener.accept()?;
        let mut buffer = vec![0u8; 1 << 20];
        let mut total = 0;
        loop {
            let read = stream.read(&mut buffer)?;
            if read == 0 {
                return Ok(total);
            }
            total += read;
        }
    });
    let started = Instant::now();
    let mut stream = TcpStream::connect(address)?;
    let chunk = vec![7u8; 1 << 20];
    let mut written = 0;
    while written < bytes {
        stream.write_all(&chunk)?;
        written += chunk.len();
    }
    drop(stream);
    let received = reader
        .join()
        .map_err(|_| std::io::Error::other("reader panicked"))??;
    Ok(received as f64 / started.elapsed().as_secs_f64())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub fn run(args: ExchangeArgs) -> ExitCode {
    let catalog = match tpch::generate(0.01, 1, 8192) {
        Ok(catalog) => catalog,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let lineitem = catalog.table("lineitem").expect("TPC-H has lineitem");
    let batch = lineitem.partitions[0][0].clone();
    let config = TransportConfig {
        credit_window: args.credit_window.max(1),
        ..TransportConfig::default()
    };
    // Size one batch on the wire, to send about `mib` per run.
    let probe = match measure(&batch, 4, config) {
        Ok(probe) => probe,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let per_batch = (probe.wire_bytes / 4).max(1) as usize;
    let bytes = args.mib.max(1) << 20;
    let count = bytes.div_ceil(per_batch);
    eprintln!(
        "exchange: {count} lineitem batches of {} rows ({:.2} MiB each on the wire), credit window {}",
        batch.num_rows(),
        per_batch as f64 / 1048576.0,
        config.credit_window
    );
    let (mut tcp, mut exchange) = (Vec::new(), Vec::new());
    for _ in 0..args.iterations.max(1) {
        match raw_tcp(bytes) {
            Ok(rate) => tcp.push(rate),
            Err(error) => {
                eprintln!("error: raw TCP: {error}");
                return ExitCode::from(2);
            }
        }
        match measure(&batch, count, config) {
            Ok(run) => exchange.push(run.wire_bytes_per_second()),
            Err(error) => {
                eprintln!("error: exchange: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let (tcp, exchange) = (median(&mut tcp), median(&mut exchange));
    println!(
        "raw loopback TCP (std, 1 MiB writes): {:.2} GB/s",
        tcp / 1e9
    );
    println!(
        "Percore exchange (io_uring, Arrow IPC frames, credits): {:.2} GB/s",
        exchange / 1e9
    );
    println!("exchange / raw TCP: {:.0}%", 100.0 * exchange / tcp);
    ExitCode::SUCCESS
}
