//! DataFusion as a baseline, in the same process and on the same in-memory batches:
//! each table of the cluster's catalog becomes a `MemTable` with the same partitions,
//! and DataFusion runs with as many target partitions as Percore has cores. Built only
//! with the `datafusion-baseline` feature, so the engine itself never links DataFusion.

use std::sync::Arc;
use std::time::Instant;

use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use percore_engine::catalog::{Catalog, TablePartitioning};

use crate::answers::format_rows;
use crate::harness::{
    latency_histogram, quantile_ms, verify_rows, BaselineEngine, BaselineResult, Check,
};

/// DataFusion over the same data, with its own Tokio runtime of `cores` threads.
pub struct DataFusionBaseline {
    context: SessionContext,
    runtime: tokio::runtime::Runtime,
}

impl DataFusionBaseline {
    /// # Errors
    /// When the runtime cannot start or a table cannot be registered.
    pub fn new(catalog: &Catalog, tables: &[&str], cores: usize) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores.max(1))
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a Tokio runtime: {e}"))?;
        let config = SessionConfig::new().with_target_partitions(cores.max(1));
        let context = SessionContext::new_with_config(config);
        for name in tables {
            let table = catalog
                .table(name)
                .ok_or_else(|| format!("no table {name} to give DataFusion"))?;
            // A replicated table is whole in every partition: DataFusion gets it once.
            let partitions = match table.partitioning {
                TablePartitioning::Replicated => table.partitions[..1].to_vec(),
                _ => table.partitions.clone(),
            };
            let memory = MemTable::try_new(Arc::clone(&table.schema), partitions)
                .map_err(|e| format!("DataFusion cannot take {name}: {e}"))?;
            context
                .register_table(*name, Arc::new(memory))
                .map_err(|e| format!("DataFusion cannot register {name}: {e}"))?;
        }
        Ok(DataFusionBaseline { context, runtime })
    }
}

impl BaselineEngine for DataFusionBaseline {
    fn measure(
        &mut self,
        scale_factor: f64,
        query: usize,
        sql: &str,
        iterations: usize,
    ) -> BaselineResult {
        let mut histogram = latency_histogram();
        let mut check = Check::Unverified;
        for iteration in 0..iterations.max(1) {
            let started = Instant::now();
            let outcome = self.runtime.block_on(async {
                let frame = self.context.sql(sql).await?;
                frame.collect().await
            });
            histogram.saturating_record((started.elapsed().as_micros() as u64).max(1));
            match outcome {
                Err(error) => {
                    check = Check::Failed(format!("DataFusion: {error}"));
                    break;
                }
                Ok(batches) if iteration == 0 => {
                    check = match format_rows(&batches) {
                        Ok(rows) => verify_rows(scale_factor, query, rows),
                        Err(error) => Check::Failed(error),
                    };
                }
                Ok(_) => {}
            }
        }
        BaselineResult {
            engine: "DataFusion",
            p50_ms: quantile_ms(&histogram, 0.5),
            check,
        }
    }
}
