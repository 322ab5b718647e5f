//! The memory flags shared by `sql`, `node` and `bench`.

use percore_engine::memory::MemorySettings;
use percore_server::config::memory_settings;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct MemoryArgs {
    /// Each core's memory budget, shared by the queries running there (e.g. 256MiB,
    /// 2GiB). Operators spill to disk beyond it. Default: 2GiB.
    #[arg(long)]
    pub memory_per_core: Option<String>,
    /// Where operators spill. Default: the system's temp directory.
    #[arg(long)]
    pub spill_dir: Option<std::path::PathBuf>,
    /// The most this process keeps in spill files at once (e.g. 50GiB). Default: 100GiB.
    #[arg(long)]
    pub spill_disk_cap: Option<String>,
}

impl MemoryArgs {
    /// # Errors
    /// A size that does not parse, named with its flag.
    pub fn settings(&self) -> Result<MemorySettings, String> {
        memory_settings(
            self.memory_per_core.as_deref(),
            self.spill_dir.clone(),
            self.spill_disk_cap.as_deref(),
        )
        .map_err(|e| format!("--{}", e.replace('_', "-")))
    }
}
