//! Times parsing and planning of inputs known to take exponential time in
//! sqlparser 0.62 under some dialects; `cargo run --release --example parse_hazard`.
fn main() {
    let catalog = percore_engine::catalog::tpch::generate(0.01, 1, 8192).unwrap();
    let functions = percore_engine::sql::FunctionRegistry::new();
    let mut inputs = Vec::new();
    for levels in [7, 10, 14, 20, 40] {
        inputs.push(format!("SELECT {}", "CAST(CASE (".repeat(levels)));
        let mut valid = "1".to_string();
        for _ in 0..levels {
            valid = format!("CAST(CASE ({valid}) WHEN 1 THEN 2 ELSE 3 END AS INT)");
        }
        inputs.push(format!("SELECT {valid}"));
    }
    for levels in [20, 30] {
        let mut replace = "'a'".to_string();
        for _ in 0..levels {
            replace = format!("replace({replace}, 'b', 'c')");
        }
        inputs.push(format!("SELECT {replace}"));
    }
    for sql in inputs {
        let started = std::time::Instant::now();
        let outcome = percore_engine::sql::plan_statement(&sql, &catalog, &functions);
        let outcome = outcome.err().map_or("ok".to_string(), |e| e.to_string());
        println!(
            "{:>5} bytes in {:>10.3?}: {outcome:.80}",
            sql.len(),
            started.elapsed()
        );
    }
}
