#!/usr/bin/env bash
# The project's test command (README and CI): formatting, lints, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# A fresh clone gains nothing from incremental state, and it is gigabytes on disk.
export CARGO_INCREMENTAL=0
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
