fn main() {
    let catalog = percore_engine::catalog::tpch::generate(0.01, 1, 8192).unwrap();
    let functions = percore_engine::sql::FunctionRegistry::new();
    for q in 1..=22 {
        let sql = std::fs::read_to_string(format!("bench/tpch/queries/q{q:02}.sql")).unwrap();
        match percore_engine::sql::plan_statement(&sql, &catalog, &functions) {
            Ok(percore_engine::sql::Statement::Query(plan)) => {
                println!("Q{q}\n{}", plan.display_indent())
            }
            Ok(_) => println!("Q{q} other"),
            Err(e) => println!("Q{q} ERROR {e}"),
        }
    }
}
