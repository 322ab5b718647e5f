//! The process's peak resident memory (Linux): `VmHWM` from `/proc/self/status`,
//! reset between queries by writing 5 to `/proc/self/clear_refs`.

/// Resets the peak to the current resident size; false where Linux does not allow it.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The peak resident size in bytes since start or the last reset.
pub fn peak_bytes() -> Option<u64> {
    status_field("VmHWM:")
}

/// The resident size in bytes now.
pub fn current_bytes() -> Option<u64> {
    status_field("VmRSS:")
}

fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(name))?;
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_follows_a_large_allocation_and_resets() {
        let before = current_bytes().expect("Linux");
        let block = vec![1u8; 64 << 20];
        assert!(peak_bytes().unwrap() >= before + (60 << 20));
        drop(block);
        if reset_peak() {
            assert!(peak_bytes().unwrap() < before + (60 << 20));
        }
    }
}
