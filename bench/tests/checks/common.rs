//! What the tests over users' files share: scratch directories, TPC-H as files, an
//! empty cluster.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use percore_bench::answers::format_rows;
use percore_bench::export::{write_tables, FileFormat};
use percore_engine::catalog::{tpch, Catalog};
use percore_engine::session::{Cluster, ClusterConfig, StatementOutput};

pub const TABLES: [&str; 8] = [
    "nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem",
];

/// A directory for one test's files, removed at the end.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(test: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("percore-parquet-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test dir");
        Dir(dir)
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn tpch_files(dir: &Path) {
    let catalog = tpch::generate(0.01, 2, 8192).expect("TPC-H generates");
    write_tables(&catalog, &TABLES, dir, FileFormat::Parquet).expect("files written");
}

pub fn empty_cluster(cores: usize) -> Cluster {
    Cluster::start(Arc::new(Catalog::new(cores)), ClusterConfig::new(cores)).expect("starts")
}

/// Runs a statement (DDL or query) and returns its rows as text.
pub fn run(
    cluster: &Cluster,
    sql: &str,
) -> Result<Vec<Vec<String>>, percore_engine::error::QueryError> {
    let mut settings = percore_engine::settings::SessionSettings::default();
    let batches = match cluster.parse(sql)? {
        percore_engine::sql::ParsedStatement::Session(statement) => {
            vec![cluster.session_statement(&statement, &mut settings)?]
        }
        percore_engine::sql::ParsedStatement::Plannable(_) => match cluster.run(sql)? {
            StatementOutput::Rows(stream) => stream.collect()?,
            StatementOutput::Explain(batch) => vec![batch],
        },
    };
    Ok(format_rows(&batches).expect("printable"))
}
