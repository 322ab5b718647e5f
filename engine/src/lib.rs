//! Percore's engine: catalog, SQL front end, distributed physical plan, operators and
//! the per-core runtime.

pub mod catalog;
pub mod csv_writer;
pub mod error;
pub mod exec;
pub mod hex;
pub mod memory;
pub mod operators;
pub mod output_files;
pub mod plan;
pub mod session;
pub mod settings;
pub mod sql;
