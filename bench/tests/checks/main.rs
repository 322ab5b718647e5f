//! The benchmark crate's checks (answers, memory, files, properties), one binary: each
//! test binary links the whole engine, so the modules share one. `accounting` stays
//! apart: it installs a counting global allocator for its whole process.

mod common;
mod decimal_prop;
mod harness;
mod loaded_tables;
mod memory;
mod operators_prop;
mod parquet_tables;
mod skew_join;
mod tpcds;
mod tpch_answers;
mod tpch_sf1;
