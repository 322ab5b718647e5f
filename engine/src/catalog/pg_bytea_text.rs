//! bytea as PostgreSQL writes it (`bytea_output = hex`): `\x` and two lowercase hex
//! digits per byte. The wire and a cast to text both use it.

use std::fmt::{self, Write};

/// Writes `bytes` in the hex form.
///
/// # Errors
/// Those of `out`.
pub fn write_bytea(out: &mut impl Write, bytes: &[u8]) -> fmt::Result {
    out.write_str("\\x")?;
    bytes.iter().try_for_each(|byte| write!(out, "{byte:02x}"))
}
