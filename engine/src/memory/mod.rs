//! Bounded memory per core. Every large buffer an operator keeps is reserved against
//! its core's budget first ([`Reservation`]); an operator whose reservation fails
//! spills to disk ([`spill`]) and reads back in bounded pieces, and only fails with
//! `ResourcesExhausted` when spilling cannot help. A query is admitted only while its
//! minimum reservation fits ([`admission`]).

pub mod admission;
pub mod frames;
pub mod pool;
pub mod query;
pub mod size;
pub mod spill;
pub mod table_memory;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use pool::MemoryPool;
pub use query::{QueryMemory, Reservation};
pub use spill::{SpillDisk, SpillSpace};
pub use table_memory::{TableMemory, TableMemoryHold};

/// How a node bounds memory and where it spills.
#[derive(Debug, Clone, PartialEq)]
pub struct MemorySettings {
    /// The budget of each core, shared by every query running there.
    pub per_core: usize,
    /// What each core keeps of loaded tables in memory; the rest goes to disk.
    pub table_memory_per_core: usize,
    pub spill_dir: PathBuf,
    /// The most all queries of the node may have in spill files at once.
    pub spill_disk_cap: u64,
    /// How long a query may wait for admission before it fails.
    pub admission_timeout: Duration,
    /// Queries that may wait for admission at once; more fail at once.
    pub admission_queue: usize,
}

impl Default for MemorySettings {
    fn default() -> Self {
        MemorySettings {
            per_core: 2 << 30,
            table_memory_per_core: 2 << 30,
            spill_dir: default_spill_dir(),
            spill_disk_cap: 100 << 30,
            admission_timeout: Duration::from_secs(60),
            admission_queue: 4096,
        }
    }
}

/// `/var/tmp` where it exists: `/tmp` is often a memory file system, and spilling
/// there would spend the memory the budget saved.
fn default_spill_dir() -> PathBuf {
    let var_tmp = PathBuf::from("/var/tmp");
    if var_tmp.is_dir() {
        var_tmp
    } else {
        std::env::temp_dir()
    }
}

/// What one node's queries share: its per-core budgets and its spill disk.
#[derive(Clone)]
pub struct NodeMemory {
    pub settings: MemorySettings,
    pub pool: Arc<MemoryPool>,
    pub disk: Arc<SpillDisk>,
    pub tables: Arc<TableMemory>,
    pub admission: Arc<admission::Admission>,
}

impl NodeMemory {
    pub fn new(cores: usize, settings: MemorySettings) -> NodeMemory {
        let disk = SpillDisk::new(settings.spill_dir.clone(), settings.spill_disk_cap);
        let pool = Arc::new(MemoryPool::new(cores, settings.per_core));
        NodeMemory {
            admission: admission::Admission::new(&pool),
            pool,
            tables: TableMemory::new(cores, settings.table_memory_per_core, &disk),
            disk,
            settings,
        }
    }
}

/// A byte count, shown with a binary unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub usize);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0 as f64;
        match self.0 {
            0..1024 => write!(f, "{} B", self.0),
            1024..1_048_576 => write!(f, "{:.1} KiB", bytes / 1024.0),
            1_048_576..1_073_741_824 => write!(f, "{:.1} MiB", bytes / 1_048_576.0),
            _ => write!(f, "{:.2} GiB", bytes / 1_073_741_824.0),
        }
    }
}

/// Parses sizes like `256MiB`, `1.5GB`, `64k` or a plain byte count. Units are binary
/// (`MB` = `MiB`), as memory budgets usually are.
///
/// # Errors
/// Text that is not a non-negative number with an optional unit.
pub fn parse_byte_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try 256MiB or 1GiB)"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1_048_576.0,
        "g" | "gb" | "gib" => 1_073_741_824.0,
        "t" | "tb" | "tib" => 1_099_511_627_776.0,
        other => return Err(format!("unknown size unit `{other}` in `{text}`")),
    };
    let bytes = number * scale;
    if !bytes.is_finite() || bytes >= usize::MAX as f64 {
        return Err(format!("size `{text}` is too large"));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units_and_bad_ones_are_named() {
        assert_eq!(parse_byte_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_byte_size("1.5 GB"), Ok(3 << 29));
        assert_eq!(parse_byte_size("64k"), Ok(64 << 10));
        assert_eq!(parse_byte_size("1000"), Ok(1000));
        assert!(parse_byte_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_byte_size("5 parsecs")
            .unwrap_err()
            .contains("parsecs"));
        assert!(parse_byte_size("1e30").is_err());
        assert_eq!(ByteSize(3 << 20).to_string(), "3.0 MiB");
    }
}
