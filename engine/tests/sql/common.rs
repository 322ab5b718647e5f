//! What the SQL tests share: a two-core cluster on TPC-H SF 0.01, and results as text.

use arrow::util::display::array_value_to_string;
use percore_engine::session::{Cluster, ClusterConfig};

pub fn cluster() -> Cluster {
    Cluster::start_tpch(0.01, ClusterConfig::new(2)).expect("cluster starts")
}

/// Every row of `sql`'s answer, each cell as Arrow displays it.
pub fn rows(cluster: &Cluster, sql: &str) -> Vec<Vec<String>> {
    let batches = cluster.sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    batches
        .iter()
        .flat_map(|batch| {
            (0..batch.num_rows()).map(move |row| {
                (0..batch.num_columns())
                    .map(|column| array_value_to_string(batch.column(column), row).unwrap())
                    .collect()
            })
        })
        .collect()
}

/// Every row of the answer, its values joined by `|`, in the answer's order.
pub fn joined_rows(cluster: &Cluster, sql: &str) -> Vec<String> {
    rows(cluster, sql)
        .into_iter()
        .map(|row| row.join("|"))
        .collect()
}
