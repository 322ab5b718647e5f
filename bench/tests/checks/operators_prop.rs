//! Goal: the distributed operators agree with a naive reference on random data. Each
//! case runs through real exchanges on 3 partitions, with batches of 1 row or a few,
//! and exchange buffers of a single batch (every producer waits on every consumer);
//! and once more under a memory budget so small that the operators spill. No batch
//! of a result holds more rows than the batch size, however much a join fans out
//! (join inputs include tables where every row has the same key). On the first
//! cluster either input may instead be replicated on every partition, as small
//! dimension tables are (chosen from the case, so every combination is run).

use std::collections::BTreeMap;
use std::sync::Arc;

use percore_bench::answers::{compare, format_rows, Rows};
use percore_bench::tables::{key_value_table, replicated_key_value_table};
use percore_engine::catalog::Table;
use percore_engine::session::{Cluster, ClusterConfig};
use proptest::prelude::*;

const PARTITIONS: usize = 3;
/// A budget per core of a few two-row batches: joins, aggregations and sorts spill.
const SPILLING_BUDGET: usize = 2 << 10;

type Row = (Option<i64>, i64);

thread_local! {
    /// One set of clusters per test thread, so tests running in parallel do not see
    /// each other's tables.
    static CLUSTERS: Vec<Cluster> = [(1, None), (3, None), (2, Some(SPILLING_BUDGET))]
        .into_iter()
        .map(|(batch_rows, budget)| {
            let mut config = ClusterConfig::new(PARTITIONS)
                .with_batch_rows(batch_rows)
                .with_exchange_buffer_batches(1);
            if let Some(budget) = budget {
                config = config.with_memory_per_core(budget);
            }
            let catalog = percore_engine::catalog::Catalog::new(PARTITIONS);
            Cluster::start(Arc::new(catalog), config).expect("cluster starts")
        })
        .collect();
}

/// Deals rows round-robin over the partitions, in batches of two rows.
fn table(name: &str, rows: &[Row]) -> Table {
    key_value_table(name, PARTITIONS, 2, rows)
}

/// Registers `a` and `b` on the `index`th cluster: partitioned, except on the first
/// cluster, where the case's sizes choose which of them are replicated.
fn register(cluster: &Cluster, index: usize, left: &[Row], right: &[Row]) {
    let layout = if index == 0 {
        (left.len() * 7 + right.len()) % 4
    } else {
        0
    };
    for (name, rows, replicated) in [("a", left, layout & 1 == 1), ("b", right, layout & 2 == 2)] {
        let table = if replicated {
            replicated_key_value_table(name, PARTITIONS, 2, rows)
        } else {
            table(name, rows)
        };
        cluster.register_table(table).unwrap();
    }
}

fn cell(value: Option<i64>) -> String {
    value.map_or("NULL".to_string(), |v| v.to_string())
}

/// `a join b` by nested loops on `equal`, and the left join's rows that match nothing.
fn nested_loop_joins(
    left: &[Row],
    right: &[Row],
    equal: impl Fn(&Row, &Row) -> bool,
) -> (Rows, Rows) {
    let mut inner = Vec::new();
    let mut unmatched = Vec::new();
    for l in left {
        let matches: Vec<&Row> = right.iter().filter(|r| equal(l, r)).collect();
        for r in &matches {
            inner.push(vec![cell(l.0), l.1.to_string(), cell(r.0), r.1.to_string()]);
        }
        if matches.is_empty() {
            unmatched.push(vec![
                cell(l.0),
                l.1.to_string(),
                "NULL".into(),
                "NULL".into(),
            ]);
        }
    }
    (inner, unmatched)
}

fn check(
    sql: &str,
    left: &[Row],
    right: &[Row],
    expected: Rows,
    ordered: bool,
) -> Result<(), TestCaseError> {
    check_refusing(sql, left, right, expected, ordered, None)
}

/// Like [`check`], but under the spilling budget the query may instead fail with
/// 53000 naming the operator `may_refuse` (one that must hold what it works on).
fn check_refusing(
    sql: &str,
    left: &[Row],
    right: &[Row],
    expected: Rows,
    ordered: bool,
    may_refuse: Option<&str>,
) -> Result<(), TestCaseError> {
    CLUSTERS.with(|clusters| {
        for (index, cluster) in clusters.iter().enumerate() {
            register(cluster, index, left, right);
            let budgeted = cluster.config().memory.per_core == SPILLING_BUDGET;
            let batches = match cluster.sql(sql) {
                Ok(batches) => batches,
                Err(e)
                    if budgeted
                        && e.code == percore_engine::error::ErrorCode::ResourcesExhausted
                        && may_refuse.is_some_and(|operator| e.message.contains(operator)) =>
                {
                    continue
                }
                Err(e) => return Err(TestCaseError::fail(format!("{sql}: {e}"))),
            };
            let bound = cluster.config().exec.batch_rows;
            let largest = batches.iter().map(|b| b.num_rows()).max().unwrap_or(0);
            prop_assert!(
                largest <= bound,
                "{sql}: a batch of {largest} rows, bound {bound}"
            );
            let actual = format_rows(&batches).map_err(TestCaseError::fail)?;
            compare(&actual, &expected, ordered)
                .map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
        }
        Ok(())
    })
}

/// Checks that every cluster fails `sql` with `code`.
fn fails_with(
    sql: &str,
    left: &[Row],
    right: &[Row],
    code: percore_engine::error::ErrorCode,
) -> Result<(), TestCaseError> {
    CLUSTERS.with(|clusters| {
        for (index, cluster) in clusters.iter().enumerate() {
            register(cluster, index, left, right);
            match cluster.sql(sql) {
                Err(e) if e.code == code => {}
                other => return Err(TestCaseError::fail(format!("{sql}: {other:?}"))),
            }
        }
        Ok(())
    })
}

/// Checks that every cluster refuses `sql` as unsupported, naming `what`.
fn refused(sql: &str, left: &[Row], right: &[Row], what: &str) -> Result<(), TestCaseError> {
    CLUSTERS.with(|clusters| {
        for cluster in clusters {
            cluster.register_table(table("a", left)).unwrap();
            cluster.register_table(table("b", right)).unwrap();
            match cluster.sql(sql) {
                Err(e)
                    if e.code == percore_engine::error::ErrorCode::Unsupported
                        && e.message.contains(what) => {}
                other => return Err(TestCaseError::fail(format!("{sql}: {other:?}"))),
            }
        }
        Ok(())
    })
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec((prop::option::weighted(0.9, 0i64..6), -50i64..50), 0..24)
}

/// Join inputs: random keys, or (as often) nearly every row with the same key, so a
/// probe batch of one row matches every row of the other side.
fn join_rows() -> impl Strategy<Value = Vec<Row>> {
    let same_key = prop::collection::vec(
        (prop::option::weighted(0.95, Just(7i64)), -50i64..50),
        0..40,
    );
    prop_oneof![rows(), same_key]
}

/// Join inputs whose keys lie near each other (all below zero, or small) or far
/// apart (both signs, the extremes): the build side's keys get a bitmap of those
/// present in the first case, none in the second.
fn near_or_far_rows() -> impl Strategy<Value = Vec<Row>> {
    prop_oneof![
        Just(vec![-3i64, -2, -1]),
        Just(vec![0i64, 1, 1 << 20]),
        Just(vec![-1i64, 1, i64::MIN, i64::MAX, 1 << 40]),
    ]
    .prop_flat_map(|keys| {
        prop::collection::vec(
            (
                prop::option::weighted(0.9, prop::sample::select(keys)),
                -50i64..50,
            ),
            0..24,
        )
    })
}

/// Two join sides of one length (so the planner hashes both instead of broadcasting
/// one) whose keys are mostly 7: the probe side's hot key is spread at run time and
/// its build rows replicated (a skew join), with batches of one row.
fn skewed_sides() -> impl Strategy<Value = (Vec<Row>, Vec<Row>)> {
    (1usize..40).prop_flat_map(|len| {
        let key = prop_oneof![3 => Just(7i64), 1 => 0i64..6];
        let side = prop::collection::vec((prop::option::weighted(0.95, key), -50i64..50), len);
        (side.clone(), side)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn skew_joins_match_reference((left, right) in skewed_sides()) {
        let equal = |l: &Row, r: &Row| l.0.is_some() && l.0 == r.0;
        let (mut inner, mut left_outer, mut semi, mut anti) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for l in &left {
            let matches: Vec<&Row> = right.iter().filter(|r| equal(l, r)).collect();
            for r in &matches {
                inner.push(vec![cell(l.0), l.1.to_string(), cell(r.0), r.1.to_string()]);
            }
            let as_row = vec![cell(l.0), l.1.to_string()];
            if matches.is_empty() {
                left_outer.push(vec![cell(l.0), l.1.to_string(), "NULL".into(), "NULL".into()]);
                anti.push(as_row);
            } else {
                semi.push(as_row);
            }
        }
        left_outer.extend(inner.iter().cloned());
        let counts = vec![vec![inner.len().to_string()]];
        check("select a.k, a.v, b.k, b.v from a join b on a.k = b.k", &left, &right, inner, false)?;
        check("select count(*) from a join b on a.k = b.k", &left, &right, counts, false)?;
        check("select a.k, a.v, b.k, b.v from a left join b on a.k = b.k", &left, &right, left_outer, false)?;
        check("select k, v from a where exists (select 1 from b where b.k = a.k)", &left, &right, semi, false)?;
        check("select k, v from a where not exists (select 1 from b where b.k = a.k)", &left, &right, anti, false)?;
    }

    #[test]
    fn grouped_aggregation_matches_reference(left in rows()) {
        let mut groups: BTreeMap<Option<i64>, Vec<i64>> = BTreeMap::new();
        for (k, v) in &left {
            groups.entry(*k).or_default().push(*v);
        }
        let expected = groups
            .iter()
            .map(|(k, vs)| vec![cell(*k), vs.len().to_string(), vs.iter().sum::<i64>().to_string(),
                cell(vs.iter().min().copied()), cell(vs.iter().max().copied())])
            .collect();
        check("select k, count(*), sum(v), min(v), max(v) from a group by k", &left, &[], expected, false)?;
    }

    #[test]
    fn filtered_aggregates_match_reference(left in rows()) {
        // Grouped (partial states cross the exchange) and global, FILTER beside plain.
        let mut groups: BTreeMap<Option<i64>, Vec<i64>> = BTreeMap::new();
        for (k, v) in &left {
            groups.entry(*k).or_default().push(*v);
        }
        let filtered = |vs: &[i64]| {
            let even: Vec<i64> = vs.iter().copied().filter(|v| v % 2 == 0).collect();
            let sum = if even.is_empty() { None } else { Some(even.iter().sum::<i64>()) };
            vec![vs.iter().filter(|&&v| v > 0).count().to_string(), cell(sum), vs.len().to_string()]
        };
        let expected = groups
            .iter()
            .map(|(k, vs)| [vec![cell(*k)], filtered(vs)].concat())
            .collect();
        let sql = "select k, count(*) filter (where v > 0), sum(v) filter (where v % 2 = 0), \
                   count(*) from a group by k";
        check(sql, &left, &[], expected, false)?;
        let values: Vec<i64> = left.iter().map(|r| r.1).collect();
        // A NULL filter skips the row: k is NULL in about a tenth of the rows.
        let with_key = left.iter().filter(|r| r.0.is_some_and(|k| k < 3)).count();
        let expected = vec![[filtered(&values), vec![with_key.to_string()]].concat()];
        let sql = "select count(*) filter (where v > 0), sum(v) filter (where v % 2 = 0), \
                   count(*), count(*) filter (where k < 3) from a";
        check(sql, &left, &[], expected, false)?;
    }

    #[test]
    fn grouping_sets_match_reference(left in rows()) {
        let mut expected = Vec::new();
        // CUBE(k, v): the sets (k, v), (k), (v) and (), NULL where a column is absent.
        for (with_k, with_v) in [(true, true), (true, false), (false, true), (false, false)] {
            let mut groups: BTreeMap<(Option<i64>, Option<i64>), Vec<i64>> = BTreeMap::new();
            for (k, v) in &left {
                let key = (k.filter(|_| with_k), Some(*v).filter(|_| with_v));
                groups.entry(key).or_default().push(*v);
            }
            if !with_k && !with_v && left.is_empty() {
                // The grand total has its row even over no input.
                expected.push(["NULL", "NULL", "0", "NULL", "1", "1"].map(String::from).to_vec());
            }
            for ((k, v), vs) in groups {
                expected.push(vec![
                    cell(k), cell(v), vs.len().to_string(), vs.iter().sum::<i64>().to_string(),
                    u8::from(!with_k).to_string(), u8::from(!with_v).to_string(),
                ]);
            }
        }
        let sql = "select k, v, count(*), sum(v), grouping(k), grouping(v) from a group by cube(k, v)";
        check(sql, &left, &[], expected, false)?;
    }

    #[test]
    fn global_aggregation_matches_reference(left in rows()) {
        let sum = if left.is_empty() { None } else { Some(left.iter().map(|r| r.1).sum::<i64>()) };
        let expected = vec![vec![left.len().to_string(), cell(sum), left.iter().filter(|r| r.0.is_some()).count().to_string()]];
        check("select count(*), sum(v), count(k) from a", &left, &[], expected, false)?;
    }

    #[test]
    fn inner_and_outer_joins_match_nested_loops(left in join_rows(), right in join_rows()) {
        let equal = |l: &Row, r: &Row| l.0.is_some() && l.0 == r.0;
        let (inner, mut left_outer) = nested_loop_joins(&left, &right, equal);
        let mut full = left_outer.clone();
        for r in &right {
            if !left.iter().any(|l| equal(l, r)) {
                full.push(vec!["NULL".into(), "NULL".into(), cell(r.0), r.1.to_string()]);
            }
        }
        left_outer.extend(inner.iter().cloned());
        full.extend(inner.iter().cloned());
        check("select a.k, a.v, b.k, b.v from a join b on a.k = b.k", &left, &right, inner, false)?;
        check("select a.k, a.v, b.k, b.v from a left join b on a.k = b.k", &left, &right, left_outer, false)?;
        check("select a.k, a.v, b.k, b.v from a full join b on a.k = b.k", &left, &right, full, false)?;
    }

    #[test]
    fn joins_on_several_keys_of_any_width_match_nested_loops(left in join_rows(), right in join_rows()) {
        // Two 64-bit keys pack into two lanes, a 32-bit and a 16-bit one into one lane
        // (negative values included: a sign must not reach the key beside it).
        let equal = |l: &Row, r: &Row| l.0.is_some() && l.0 == r.0 && l.1 % 3 == r.1 % 3;
        let (inner, mut left_outer) = nested_loop_joins(&left, &right, equal);
        left_outer.extend(inner.iter().cloned());
        check("select a.k, a.v, b.k, b.v from a join b on a.k = b.k and a.v % 3 = b.v % 3", &left, &right, inner.clone(), false)?;
        check("select a.k, a.v, b.k, b.v from a join b on cast(a.k as int) = cast(b.k as int) and cast(a.v % 3 as smallint) = cast(b.v % 3 as smallint)", &left, &right, inner, false)?;
        check("select a.k, a.v, b.k, b.v from a left join b on a.k = b.k and a.v % 3 = b.v % 3", &left, &right, left_outer, false)?;
    }

    #[test]
    fn joins_on_keys_near_or_far_apart_match_nested_loops(left in near_or_far_rows(), right in near_or_far_rows()) {
        let equal = |l: &Row, r: &Row| l.0.is_some() && l.0 == r.0;
        let (inner, mut left_outer) = nested_loop_joins(&left, &right, equal);
        left_outer.extend(inner.iter().cloned());
        check("select a.k, a.v, b.k, b.v from a join b on a.k = b.k", &left, &right, inner, false)?;
        check("select a.k, a.v, b.k, b.v from a left join b on a.k = b.k", &left, &right, left_outer, false)?;
    }

    #[test]
    fn joins_with_grouped_subqueries_match_reference(left in rows(), right in rows()) {
        // The outer side is filtered and reads another table than the aggregate, so the
        // aggregate's input is first reduced to the outer keys (semi-join reduction).
        let sums = |k: i64| right.iter().filter(|r| r.0 == Some(k)).map(|r| r.1).sum::<i64>();
        let has_group = |k: i64| right.iter().any(|r| r.0 == Some(k));
        let mut inner = Vec::new();
        let mut left_outer = Vec::new();
        let mut above_average = Vec::new();
        for l in left.iter().filter(|l| l.1 > -20) {
            match l.0.filter(|&k| has_group(k)) {
                Some(k) => {
                    inner.push(vec![k.to_string(), l.1.to_string(), sums(k).to_string()]);
                    left_outer.push(vec![k.to_string(), l.1.to_string(), sums(k).to_string()]);
                    let values: Vec<i64> = right.iter().filter(|r| r.0 == Some(k)).map(|r| r.1).collect();
                    if (l.1 as f64) > values.iter().sum::<i64>() as f64 / values.len() as f64 {
                        above_average.push(vec![k.to_string(), l.1.to_string()]);
                    }
                }
                None => left_outer.push(vec![cell(l.0), l.1.to_string(), "NULL".into()]),
            }
        }
        let mut repeated_keys = Vec::new();
        for l in &left {
            for r in right.iter().filter(|r| l.0.is_some() && r.0 == l.0) {
                if right.iter().filter(|x| x.0 == l.0).count() > 1 {
                    repeated_keys.push(vec![cell(l.0), l.1.to_string(), r.1.to_string()]);
                }
            }
        }
        // The IN (.. HAVING ..) semi join moves below the inner join, onto `a`.
        check("select a.k, a.v, b.v from a join b on a.k = b.k where a.k in (select k from b group by k having count(*) > 1)", &left, &right, repeated_keys, false)?;
        let grouped = "(select k, sum(v) as s from b group by k) g";
        check(&format!("select a.k, a.v, g.s from a join {grouped} on a.k = g.k where a.v > -20"), &left, &right, inner, false)?;
        check(&format!("select a.k, a.v, g.s from a left join {grouped} on a.k = g.k where a.v > -20"), &left, &right, left_outer, false)?;
        check("select a.k, a.v from a where a.v > -20 and a.v > (select avg(b.v) from b where b.k = a.k)", &left, &right, above_average, false)?;
    }

    #[test]
    fn joins_with_extra_conditions_and_right_joins_match_reference(left in join_rows(), right in join_rows()) {
        // a.k = b.k AND a.v < b.v, as a LEFT join and as a RIGHT join.
        let matches = |l: &Row, r: &Row| l.0.is_some() && l.0 == r.0 && l.1 < r.1;
        let full_row = |l: Option<&Row>, r: Option<&Row>| {
            vec![cell(l.and_then(|l| l.0)), cell(l.map(|l| l.1)), cell(r.and_then(|r| r.0)), cell(r.map(|r| r.1))]
        };
        let mut left_join = Vec::new();
        for l in &left {
            let found: Vec<&Row> = right.iter().filter(|r| matches(l, r)).collect();
            left_join.extend(found.iter().map(|r| full_row(Some(l), Some(r))));
            if found.is_empty() {
                left_join.push(full_row(Some(l), None));
            }
        }
        let mut right_join = Vec::new();
        for r in &right {
            let found: Vec<&Row> = left.iter().filter(|l| matches(l, r)).collect();
            right_join.extend(found.iter().map(|l| full_row(Some(l), Some(r))));
            if found.is_empty() {
                right_join.push(full_row(None, Some(r)));
            }
        }
        let on = "on a.k = b.k and a.v < b.v";
        check(&format!("select a.k, a.v, b.k, b.v from a left join b {on}"), &left, &right, left_join, false)?;
        check(&format!("select a.k, a.v, b.k, b.v from a right join b {on}"), &left, &right, right_join, false)?;
        // No equality at all: nested-loop joins, every pair tested.
        let mut inequality = Vec::new();
        let mut inequality_left = Vec::new();
        for l in &left {
            let found: Vec<&Row> = right.iter().filter(|r| l.1 < r.1).collect();
            inequality.extend(found.iter().map(|r| full_row(Some(l), Some(r))));
            if found.is_empty() {
                inequality_left.push(full_row(Some(l), None));
            }
        }
        let mut inequality_full = inequality_left.clone();
        inequality_left.extend(inequality.iter().cloned());
        inequality_full.extend(inequality.iter().cloned());
        for r in right.iter().filter(|r| !left.iter().any(|l| l.1 < r.1)) {
            inequality_full.push(full_row(None, Some(r)));
        }
        check("select a.k, a.v, b.k, b.v from a join b on a.v < b.v", &left, &right, inequality, false)?;
        check("select a.k, a.v, b.k, b.v from a left join b on a.v < b.v", &left, &right, inequality_left, false)?;
        check("select a.k, a.v, b.k, b.v from a full join b on a.v < b.v", &left, &right, inequality_full, false)?;
        let cross: Rows = left
            .iter()
            .flat_map(|l| right.iter().map(move |r| full_row(Some(l), Some(r))))
            .collect();
        check("select a.k, a.v, b.k, b.v from a cross join b", &left, &right, cross, false)?;
    }

    #[test]
    fn semi_anti_and_not_in_match_reference(left in join_rows(), right in join_rows()) {
        let has_match = |l: &Row| l.0.is_some() && right.iter().any(|r| r.0 == l.0);
        let as_row = |l: &Row| vec![cell(l.0), l.1.to_string()];
        let semi: Rows = left.iter().filter(|l| has_match(l)).map(as_row).collect();
        let anti: Rows = left.iter().filter(|l| !has_match(l)).map(as_row).collect();
        // NOT IN: false for any NULL on the right (when the right is not empty), and a
        // NULL on the left never qualifies against a non-empty right.
        let right_has_null = right.iter().any(|r| r.0.is_none());
        let not_in: Rows = left
            .iter()
            .filter(|l| right.is_empty() || (!right_has_null && l.0.is_some() && !has_match(l)))
            .map(as_row)
            .collect();
        check("select k, v from a where exists (select 1 from b where b.k = a.k)", &left, &right, semi, false)?;
        check("select k, v from a where not exists (select 1 from b where b.k = a.k)", &left, &right, anti, false)?;
        check("select k, v from a where k not in (select k from b)", &left, &right, not_in, false)?;
        // Inside OR, subqueries become mark joins: every left row once, marked.
        let exists_or: Rows = left.iter().filter(|l| has_match(l) || l.1 > 10).map(as_row).collect();
        check("select k, v from a where exists (select 1 from b where b.k = a.k) or v > 10", &left, &right, exists_or.clone(), false)?;
        check("select k, v from a where k in (select k from b) or v > 10", &left, &right, exists_or, false)?;
        // NOT IN inside OR over a nullable key is refused (a mark join would read its
        // NULL as false); NOT EXISTS says the same without NULLs and runs.
        refused("select k, v from a where k not in (select k from b) or v > 10", &left, &right, "NOT IN (subquery)")?;
        let not_exists_or: Rows = left.iter().filter(|l| !has_match(l) || l.1 > 10).map(as_row).collect();
        check("select k, v from a where not exists (select 1 from b where b.k = a.k) or v > 10", &left, &right, not_exists_or, false)?;
        // EXISTS as a value in the SELECT list: every left row once, with its answer.
        let marked: Rows = left
            .iter()
            .map(|l| vec![cell(l.0), l.1.to_string(), has_match(l).to_string(), (!has_match(l)).to_string()])
            .collect();
        check("select k, v, exists (select 1 from b where b.k = a.k), \
               case when not exists (select b.v from b where b.k = a.k limit 3) then true else false end from a",
              &left, &right, marked, false)?;
        // Correlated scalar subqueries with a condition on the outer row alone, or a
        // comparison of an outer column an equality pins to the subquery's.
        let max_of = |l: &Row, keep: &dyn Fn(&Row) -> bool| {
            right.iter().filter(|r| l.0.is_some() && r.0 == l.0 && keep(r)).map(|r| r.1).max()
        };
        let correlated: Rows = left
            .iter()
            .map(|l| {
                let gated = if l.1 > 0 { max_of(l, &|_| true) } else { None };
                let pinned = max_of(l, &|r| r.0 != Some(r.1));
                vec![cell(l.0), l.1.to_string(), cell(gated), cell(pinned)]
            })
            .collect();
        check("select k, v, (select max(b.v) from b where b.k = a.k and a.v > 0), \
               (select max(b.v) from b where b.k = a.k and a.k <> b.v) from a",
              &left, &right, correlated, false)?;
        // A scalar subquery without an aggregate: its one value, NULL without a row,
        // 21000 where an outer row reads more than one.
        let matches_of = |l: &Row| right.iter().filter(|r| l.0.is_some() && r.0 == l.0).count();
        // (Aliased: unaliased, DataFusion names it `v`, which it calls ambiguous
        // beside a.v.)
        let sql = "select k, v, (select b.v from b where b.k = a.k) as w from a";
        if left.iter().any(|l| matches_of(l) > 1) {
            fails_with(sql, &left, &right, percore_engine::error::ErrorCode::CardinalityViolation)?;
        } else {
            let single: Rows = left
                .iter()
                .map(|l| vec![cell(l.0), l.1.to_string(), cell(max_of(l, &|_| true))])
                .collect();
            check(sql, &left, &right, single, false)?;
        }
        // ALL and ANY against the same table, unaliased: the subquery's v is its own
        // (v is never NULL, so neither answer is unknown).
        let firsts: Vec<i64> = left.iter().filter(|l| l.0 == Some(1)).map(|l| l.1).collect();
        let above_all: Rows = left.iter().filter(|l| firsts.iter().all(|&f| l.1 > f)).map(as_row).collect();
        let equal_any: Rows = left.iter().filter(|l| firsts.contains(&l.1)).map(as_row).collect();
        check("select k, v from a where v > all (select v from a where k = 1)", &left, &right, above_all, false)?;
        check("select k, v from a where v = any (select v from a where k = 1)", &left, &right, equal_any, false)?;
    }

    #[test]
    fn window_functions_match_reference(left in rows()) {
        // Per window partition (k, NULL its own), the rows in order of v. Rows tied on
        // v are equal in every output column, so each result is one multiset.
        let mut partitions: BTreeMap<Option<i64>, Vec<i64>> = BTreeMap::new();
        for (k, v) in &left {
            partitions.entry(*k).or_default().push(*v);
        }
        let mut expected = Vec::new();
        let mut counted = Vec::new();
        let mut first_by_desc = Vec::new();
        for (k, values) in &mut partitions {
            values.sort_unstable();
            for (i, &v) in values.iter().enumerate() {
                let rank = values.iter().filter(|&&w| w < v).count() + 1;
                let mut distinct: Vec<i64> = values.iter().copied().filter(|&w| w <= v).collect();
                distinct.dedup();
                let running: i64 = values.iter().filter(|&&w| w <= v).sum();
                let lag = i.checked_sub(1).map(|j| values[j]);
                let pair = v + lag.unwrap_or(0);
                expected.push(vec![
                    cell(*k), v.to_string(), (i + 1).to_string(), rank.to_string(),
                    distinct.len().to_string(), running.to_string(), cell(lag), pair.to_string(),
                ]);
                counted.push(vec![cell(*k), v.to_string(), values.len().to_string()]);
            }
            first_by_desc.push(vec![cell(*k), values.last().expect("non-empty").to_string()]);
        }
        // Every frame here ends at the current row: under the 2 KiB budget a window
        // partition that does not fit is evaluated as it arrives, never refused.
        let sql = "select k, v, row_number() over w, rank() over w, dense_rank() over w, \
                   sum(v) over w, lag(v) over w, \
                   sum(v) over (partition by k order by v rows between 1 preceding and current row) \
                   from a window w as (partition by k order by v)";
        check(sql, &left, &[], expected, false)?;
        let sql = "select k, v from a qualify row_number() over (partition by k order by v desc) = 1";
        check(sql, &left, &[], first_by_desc, false)?;
        // A frame to the partition's end needs the whole partition: it may not fit.
        let sql = "select k, v, count(*) over (partition by k) from a";
        check_refusing(sql, &left, &[], counted, false, Some("Window ["))?;
        // One partition over everything: gathered to one task.
        let mut all: Vec<i64> = left.iter().map(|r| r.1).collect();
        all.sort_unstable();
        let global: Rows = all
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let rank = all.iter().filter(|&&w| w < v).count() + 1;
                let lead = all.get(i + 1).map(|w| w.to_string()).unwrap_or("NULL".into());
                vec![v.to_string(), rank.to_string(), lead, all.len().to_string()]
            })
            .collect();
        let sql = "select v, rank() over (order by v), lead(v) over (order by v), count(*) over () \
                   from a";
        check(sql, &left, &[], global, false)?;
    }

    #[test]
    fn union_and_values_match_reference(left in rows(), right in rows()) {
        let keys = |rows: &[Row]| rows.iter().map(|r| cell(r.0)).collect::<Vec<_>>();
        let mut all: Vec<String> = keys(&left);
        all.extend(keys(&right));
        let union_all: Rows = all.iter().map(|k| vec![k.clone()]).collect();
        let mut distinct = all.clone();
        distinct.sort();
        distinct.dedup();
        let union: Rows = distinct.into_iter().map(|k| vec![k]).collect();
        check("select k from a union all select k as other_name from b", &left, &right, union_all, false)?;
        check("select k from a union select k from b", &left, &right, union, false)?;
        // INTERSECT and EXCEPT compare rows with NULLs equal to each other.
        let right_keys: Vec<Option<i64>> = right.iter().map(|r| r.0).collect();
        let mut left_keys: Vec<Option<i64>> = left.iter().map(|r| r.0).collect();
        left_keys.sort();
        left_keys.dedup();
        let intersect: Rows = left_keys.iter().filter(|k| right_keys.contains(k)).map(|k| vec![cell(*k)]).collect();
        let except: Rows = left_keys.iter().filter(|k| !right_keys.contains(k)).map(|k| vec![cell(*k)]).collect();
        check("select k from a intersect select k from b", &left, &right, intersect, false)?;
        check("select k from a except select k from b", &left, &right, except, false)?;
        // With ALL, counts: min(left, right) copies of a row, and left minus right.
        let mut intersect_all = Vec::new();
        let mut except_all = Vec::new();
        for k in &left_keys {
            let count = |rows: &[Row]| rows.iter().filter(|r| r.0 == *k).count();
            let (on_left, on_right) = (count(&left), count(&right));
            intersect_all.extend(std::iter::repeat_n(vec![cell(*k)], on_left.min(on_right)));
            except_all.extend(std::iter::repeat_n(vec![cell(*k)], on_left.saturating_sub(on_right)));
        }
        check("select k from a intersect all select k from b", &left, &right, intersect_all, false)?;
        check("select k from a except all select k from b", &left, &right, except_all, false)?;
        let values = vec![vec!["1".to_string(), "x".to_string()], vec!["2".to_string(), "y".to_string()]];
        check("select * from (values (1, 'x'), (2, 'y')) as t(n, s)", &left, &right, values, false)?;
    }

    #[test]
    fn sort_and_top_k_match_reference(left in rows(), limit in 0usize..10) {
        let mut sorted = left.clone();
        // ORDER BY v DESC, k ASC NULLS LAST
        sorted.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| match (x.0, y.0) {
            (Some(a), Some(b)) => a.cmp(&b),
            (None, None) => std::cmp::Ordering::Equal,
            (None, _) => std::cmp::Ordering::Greater,
            (_, None) => std::cmp::Ordering::Less,
        }));
        let rows: Rows = sorted.iter().map(|r| vec![r.1.to_string(), cell(r.0)]).collect();
        check("select v, k from a order by v desc, k asc nulls last", &left, &[], rows.clone(), true)?;
        let top: Rows = rows.into_iter().take(limit).collect();
        let sql = format!("select v, k from a order by v desc, k asc nulls last limit {limit}");
        check(&sql, &left, &[], top, true)?;
    }
}

/// At the default batch size (8192 rows), one key shared by 300 rows on each side
/// makes 90,000 pairs per join: they come out in batches of at most 8192 rows.
#[test]
fn joins_on_one_shared_key_emit_bounded_batches_at_the_default_size() {
    let config = ClusterConfig::new(PARTITIONS);
    let bound = config.exec.batch_rows;
    let catalog = percore_engine::catalog::Catalog::new(PARTITIONS);
    let cluster = Cluster::start(Arc::new(catalog), config).expect("cluster starts");
    let rows: Vec<Row> = (0..300).map(|v| (Some(7), v)).collect();
    cluster
        .register_table(key_value_table("a", PARTITIONS, 300, &rows))
        .unwrap();
    cluster
        .register_table(key_value_table("b", PARTITIONS, 300, &rows))
        .unwrap();
    let pairs = 300 * 300;
    let queries = [
        ("select a.v, b.v from a join b on a.k = b.k", pairs),
        ("select a.v, b.v from a left join b on a.k = b.k", pairs),
        ("select a.v, b.v from a full join b on a.k = b.k", pairs),
        (
            "select a.v, b.v from a join b on a.k = b.k and a.v <= b.v",
            300 * 301 / 2,
        ),
        ("select a.v, b.v from a cross join b", pairs),
        ("select a.v, b.v from a join b on a.v < b.v + 1000", pairs),
    ];
    for (sql, expected) in queries {
        let batches = cluster.sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, expected, "{sql}");
        let largest = batches.iter().map(|b| b.num_rows()).max().unwrap_or(0);
        assert!(largest <= bound, "{sql}: a batch of {largest} rows");
    }
}
