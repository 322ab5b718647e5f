//! The SQL tests, one binary: each test binary links the whole engine (hundreds of
//! MB and a long link), so the modules share one.

mod aggregates;
mod arrays;
mod common;
mod errors;
mod explain;
mod joins;
mod literals;
mod patterns;
mod postgresql_spellings;
mod recursive_ctes;
mod shared_ctes;
mod sql_fuzz;
mod windows;
