//! TPC-H as the embedded default data set: partition `p` of every large table is part
//! `p + 1` of tpchgen's generator, generated on its own thread. Part `k` of `orders` and
//! of `lineitem` cover the same order-key range (likewise `part` and `partsupp` on the
//! part key), so those joins need no exchange. `nation` and `region` are replicated.

use std::ops::Range;

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow,
    SupplierArrow,
};

use super::{Catalog, Table, TablePartitioning, TableStatistics};

/// The eight TPC-H tables, in generation order.
pub const TABLES: [&str; 8] = [
    "nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem",
];

/// Generates TPC-H at `scale_factor` into `partitions` partitions.
///
/// # Errors
/// When the scale factor is negative or not finite, or generation fails. A scale
/// factor of 0 gives an empty catalog.
pub fn generate(
    scale_factor: f64,
    partitions: usize,
    batch_rows: usize,
) -> Result<Catalog, ArrowError> {
    generate_partitions(scale_factor, partitions, 0..partitions, batch_rows)
}

/// Generates only partitions `local` of `partitions` (a node's share of a cluster);
/// the other partitions stay empty here. Replicated tables are generated whole.
///
/// # Errors
/// When the scale factor is negative or not finite, or generation fails. A scale
/// factor of 0 gives an empty catalog.
pub fn generate_partitions(
    scale_factor: f64,
    partitions: usize,
    local: Range<usize>,
    batch_rows: usize,
) -> Result<Catalog, ArrowError> {
    if !(scale_factor.is_finite() && scale_factor >= 0.0) {
        return Err(ArrowError::InvalidArgumentError(format!(
            "TPC-H scale factor must be positive (or 0 for none), got {scale_factor}"
        )));
    }
    assert!(partitions > 0, "at least one partition");
    let mut catalog = Catalog::new(partitions);
    if scale_factor == 0.0 {
        // No generated data: the user's own tables are the only ones.
        return Ok(catalog);
    }
    for name in TABLES {
        catalog.insert(generate_table(
            name,
            scale_factor,
            partitions,
            local.clone(),
            batch_rows,
        )?);
    }
    Ok(catalog)
}

fn generate_table(
    name: &str,
    scale_factor: f64,
    partitions: usize,
    local: Range<usize>,
    batch_rows: usize,
) -> Result<Table, ArrowError> {
    let partitioning = match name {
        "nation" | "region" => TablePartitioning::Replicated,
        "orders" => key_range("o_orderkey", "orderkey"),
        "lineitem" => key_range("l_orderkey", "orderkey"),
        "part" => key_range("p_partkey", "partkey"),
        "partsupp" => key_range("ps_partkey", "partkey"),
        "customer" => key_range("c_custkey", "custkey"),
        "supplier" => key_range("s_suppkey", "suppkey"),
        other => unreachable!("not a TPC-H table: {other}"),
    };
    let parts: Vec<Vec<RecordBatch>> = if partitioning == TablePartitioning::Replicated {
        let batches = generate_part(name, scale_factor, 1, 1, batch_rows)?;
        vec![batches; partitions]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..partitions)
                .map(|p| {
                    local.contains(&p).then(|| {
                        scope.spawn(move || {
                            generate_part(name, scale_factor, p + 1, partitions, batch_rows)
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| match handle {
                    Some(handle) => handle.join().expect("generator thread panicked"),
                    None => Ok(Vec::new()),
                })
                .collect::<Result<_, _>>()
        })?
    };
    let row_count = nominal_rows(name, scale_factor);
    Ok(Table {
        name: name.to_string(),
        schema: schema_of(name),
        partitioning,
        partitions: parts,
        row_count,
        statistics: statistics(name, scale_factor),
        parquet: None,
        csv: None,
        series: None,
        stored: None,
    })
}

/// The table's size by the TPC-H formulas: every node derives the same number from the
/// scale factor alone, so every node plans a query the same way.
fn nominal_rows(name: &str, sf: f64) -> usize {
    let rows = match name {
        "nation" => 25,
        "region" => 5,
        "part" => PartGenerator::calculate_row_count(sf, 1, 1),
        "supplier" => SupplierGenerator::calculate_row_count(sf, 1, 1),
        "partsupp" => PartGenerator::calculate_row_count(sf, 1, 1) * 4,
        "customer" => CustomerGenerator::calculate_row_count(sf, 1, 1),
        "orders" => OrderGenerator::calculate_row_count(sf, 1, 1),
        "lineitem" => OrderGenerator::calculate_row_count(sf, 1, 1) * 4,
        other => unreachable!("not a TPC-H table: {other}"),
    };
    usize::try_from(rows).unwrap_or(0)
}

/// Distinct counts and ranges by the TPC-H specification's value rules (clause 4.2.3),
/// for the columns queries join, filter and group on. Dates are days since 1970.
fn statistics(name: &str, sf: f64) -> TableStatistics {
    let rows = |table: &str| nominal_rows(table, sf) as f64;
    let (part, supplier, customer, orders) = (
        rows("part"),
        rows("supplier"),
        rows("customer"),
        rows("orders"),
    );
    let stats = TableStatistics::default();
    match name {
        "nation" => stats
            .with_distinct(&["n_nationkey"], 25.0)
            .with_distinct(&["n_name"], 25.0)
            .with_distinct(&["n_regionkey"], 5.0),
        "region" => stats
            .with_distinct(&["r_regionkey"], 5.0)
            .with_distinct(&["r_name"], 5.0),
        "part" => stats
            .with_distinct(&["p_partkey"], part)
            .with_distinct(&["p_name"], part)
            .with_distinct(&["p_mfgr"], 5.0)
            .with_distinct(&["p_brand"], 25.0)
            .with_distinct(&["p_type"], 150.0)
            .with_distinct(&["p_size"], 50.0)
            .with_distinct(&["p_container"], 40.0)
            .with_range("p_size", 1.0, 50.0)
            .with_range("p_retailprice", 900.0, 2100.0),
        "supplier" => stats
            .with_distinct(&["s_suppkey"], supplier)
            .with_distinct(&["s_name"], supplier)
            .with_distinct(&["s_nationkey"], 25.0)
            .with_range("s_acctbal", -999.99, 9999.99),
        "partsupp" => stats
            .with_distinct(&["ps_partkey"], part)
            .with_distinct(&["ps_suppkey"], supplier)
            .with_distinct(&["ps_partkey", "ps_suppkey"], 4.0 * part)
            .with_range("ps_availqty", 1.0, 9999.0)
            .with_range("ps_supplycost", 1.0, 1000.0),
        "customer" => stats
            .with_distinct(&["c_custkey"], customer)
            .with_distinct(&["c_name"], customer)
            .with_distinct(&["c_nationkey"], 25.0)
            .with_distinct(&["c_mktsegment"], 5.0)
            .with_range("c_acctbal", -999.99, 9999.99),
        // Only two in three customers have orders.
        "orders" => stats
            .with_distinct(&["o_orderkey"], orders)
            .with_distinct(&["o_custkey"], customer * 2.0 / 3.0)
            .with_distinct(&["o_orderstatus"], 3.0)
            .with_distinct(&["o_orderpriority"], 5.0)
            .with_distinct(&["o_shippriority"], 1.0)
            .with_distinct(&["o_orderdate"], 2406.0)
            .with_range("o_orderdate", 8035.0, 10440.0),
        "lineitem" => stats
            .with_distinct(&["l_orderkey"], orders)
            .with_distinct(&["l_partkey"], part)
            .with_distinct(&["l_suppkey"], supplier)
            // Every lineitem's part and supplier is a partsupp row.
            .with_distinct(&["l_partkey", "l_suppkey"], 4.0 * part)
            .with_distinct(&["l_orderkey", "l_linenumber"], rows("lineitem"))
            .with_distinct(&["l_linenumber"], 7.0)
            .with_distinct(&["l_quantity"], 50.0)
            .with_distinct(&["l_discount"], 11.0)
            .with_distinct(&["l_tax"], 9.0)
            .with_distinct(&["l_returnflag"], 3.0)
            .with_distinct(&["l_linestatus"], 2.0)
            .with_distinct(&["l_shipinstruct"], 4.0)
            .with_distinct(&["l_shipmode"], 7.0)
            .with_distinct(&["l_shipdate"], 2526.0)
            .with_range("l_quantity", 1.0, 50.0)
            .with_range("l_discount", 0.0, 0.1)
            .with_range("l_shipdate", 8036.0, 10561.0)
            .with_range("l_commitdate", 8065.0, 10530.0)
            .with_range("l_receiptdate", 8037.0, 10591.0),
        _ => stats,
    }
}

fn key_range(column: &str, domain: &str) -> TablePartitioning {
    TablePartitioning::KeyRange {
        columns: vec![column.to_string()],
        domain: domain.to_string(),
    }
}

/// The Arrow schema tpchgen-arrow produces for a TPC-H table.
pub fn schema_of(name: &str) -> SchemaRef {
    match name {
        "nation" => NationArrow::schema_ref(),
        "region" => RegionArrow::schema_ref(),
        "part" => PartArrow::schema_ref(),
        "supplier" => SupplierArrow::schema_ref(),
        "partsupp" => PartSuppArrow::schema_ref(),
        "customer" => CustomerArrow::schema_ref(),
        "orders" => OrderArrow::schema_ref(),
        "lineitem" => LineItemArrow::schema_ref(),
        other => unreachable!("not a TPC-H table: {other}"),
    }
}

/// Generates part `part` (1-based) of `part_count` of one table.
fn generate_part(
    name: &str,
    sf: f64,
    part: usize,
    part_count: usize,
    batch_rows: usize,
) -> Result<Vec<RecordBatch>, ArrowError> {
    let (part, count) = (part as i32, part_count as i32);
    let batches: Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>>> = match name {
        "nation" => Box::new(
            NationArrow::new(NationGenerator::new(sf, part, count)).with_batch_size(batch_rows),
        ),
        "region" => Box::new(
            RegionArrow::new(RegionGenerator::new(sf, part, count)).with_batch_size(batch_rows),
        ),
        "part" => Box::new(
            PartArrow::new(PartGenerator::new(sf, part, count)).with_batch_size(batch_rows),
        ),
        "supplier" => Box::new(
            SupplierArrow::new(SupplierGenerator::new(sf, part, count)).with_batch_size(batch_rows),
        ),
        "partsupp" => Box::new(
            PartSuppArrow::new(PartSuppGenerator::new(sf, part, count)).with_batch_size(batch_rows),
        ),
        "customer" => Box::new(
            CustomerArrow::new(CustomerGenerator::new(sf, part, count)).with_batch_size(batch_rows),
        ),
        "orders" => Box::new(
            OrderArrow::new(OrderGenerator::new(sf, part, count)).with_batch_size(batch_rows),
        ),
        "lineitem" => Box::new(
            LineItemArrow::new(LineItemGenerator::new(sf, part, count)).with_batch_size(batch_rows),
        ),
        other => unreachable!("not a TPC-H table: {other}"),
    };
    batches.collect()
}
