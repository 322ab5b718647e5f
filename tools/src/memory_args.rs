//! The memory flags shared by `sql`, `node` and `bench`.

use percore_engine::memory::MemorySettings;
use percore_server::config::{memory_settings, MemoryOptions};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct MemoryArgs {
    /// Each core's memory budget, shared by the queries running there (e.g. 256MiB,
    /// 2GiB). Operators spill to disk beyond it. Default: 2GiB.
    #[arg(long)]
    pub memory_per_core: Option<String>,
    /// What each core keeps of loaded tables (`CREATE TABLE .. AS`) in memory; rows
    /// beyond it go to files in the spill directory. Default: 2GiB.
    #[arg(long)]
    pub table_memory_per_core: Option<String>,
    /// Where operators spill. Default: /var/tmp (else the system's temp directory).
    #[arg(long)]
    pub spill_dir: Option<std::path::PathBuf>,
    /// The most this process keeps in spill files at once (e.g. 50GiB). Default: 100GiB.
    #[arg(long)]
    pub spill_disk_cap: Option<String>,
    /// Queries that may wait for memory at once; more fail at once with 53000.
    /// Default: 4096.
    #[arg(long)]
    pub admission_queue: Option<usize>,
    /// How long a query may wait for memory before it fails with 53000 (e.g. 30s).
    /// Default: 60s.
    #[arg(long)]
    pub admission_timeout: Option<String>,
}

impl MemoryArgs {
    /// The same flags, for a node process.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(size) = &self.memory_per_core {
            args.extend(["--memory-per-core".to_string(), size.clone()]);
        }
        if let Some(size) = &self.table_memory_per_core {
            args.extend(["--table-memory-per-core".to_string(), size.clone()]);
        }
        if let Some(dir) = &self.spill_dir {
            args.extend(["--spill-dir".to_string(), dir.display().to_string()]);
        }
        if let Some(size) = &self.spill_disk_cap {
            args.extend(["--spill-disk-cap".to_string(), size.clone()]);
        }
        if let Some(queue) = self.admission_queue {
            args.extend(["--admission-queue".to_string(), queue.to_string()]);
        }
        if let Some(timeout) = &self.admission_timeout {
            args.extend(["--admission-timeout".to_string(), timeout.clone()]);
        }
        args
    }

    /// # Errors
    /// A size that does not parse, named with its flag.
    pub fn settings(&self) -> Result<MemorySettings, String> {
        memory_settings(&MemoryOptions {
            per_core: self.memory_per_core.clone(),
            table_memory_per_core: self.table_memory_per_core.clone(),
            spill_dir: self.spill_dir.clone(),
            spill_disk_cap: self.spill_disk_cap.clone(),
            admission_queue: self.admission_queue,
            admission_timeout: self.admission_timeout.clone(),
        })
        .map_err(|e| format!("--{}", e.replace('_', "-")))
    }
}

/// The cores to use: those asked for, or every one the machine has.
pub fn cores_or_all(cores: Option<usize>) -> usize {
    cores.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl MemoryArgs {
    /// [`MemoryArgs::settings`], the error printed as a command-line error (exit 2).
    pub fn settings_or_exit(&self) -> Result<MemorySettings, std::process::ExitCode> {
        self.settings().map_err(|error| {
            eprintln!("error: {error}");
            std::process::ExitCode::from(2)
        })
    }
}
