//! Goal: pattern matching answers as in PostgreSQL: LIKE with any escape character,
//! SIMILAR TO as an anchored SQL pattern (not a bare regular expression), and the
//! array forms `LIKE ANY / ALL (array[..])`.

use arrow::util::display::array_value_to_string;
use percore_engine::error::ErrorCode;
use percore_engine::session::Cluster;

use crate::common;

use common::cluster;

fn values(cluster: &Cluster, sql: &str) -> Vec<String> {
    let batches = cluster.sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batch = &batches[0];
    (0..batch.num_columns())
        .map(|column| array_value_to_string(batch.column(column), 0).unwrap())
        .collect()
}

/// `LIKE .. ESCAPE` with any escape character, and `ESCAPE ''` for none.
#[test]
fn like_takes_any_escape_character() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select 'a%b' like 'a#%b' escape '#', 'axb' like 'a#%b' escape '#', \
             'a#b' like 'a##b' escape '#', 'a_b' ilike 'A!_B' escape '!', \
             'axb' like 'a!_b' escape '!', 'a\\b' like 'a\\b' escape '', \
             'a%b' like 'a\\%b', 'ab' not like 'a#%' escape '#'"
        ),
        ["true", "false", "true", "true", "false", "true", "true", "true"]
    );
}

/// PostgreSQL 15's answers: `%` and `_` are wildcards, the whole string must match,
/// `|`, `*`, `+`, groups and classes are regular-expression syntax, `.` is literal.
#[test]
fn similar_to_matches_the_whole_string_with_sql_wildcards() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select 'abc' similar to '(a|b)%', 'abc' similar to '(b|c)%', \
             'abc' similar to 'a', 'a.c' similar to 'a.c', 'abc' similar to 'a.c', \
             'abd' similar to 'a_d', 'a7' similar to 'a[0-9]', 'aaab' similar to 'a+b', \
             '50%' similar to '50#%' escape '#', '500' similar to '50#%' escape '#', \
             'abc' not similar to '%b%', 'x' similar to null"
        ),
        [
            "true", "false", "false", "true", "false", "true", "true", "true", "true", "false",
            "false", ""
        ]
    );
    // Over columns: the rows a LIKE of the same meaning finds.
    let [similar, like] = [
        "l_comment similar to '%(fox|dog)%'",
        "(l_comment like '%fox%' or l_comment like '%dog%')",
    ]
    .map(|predicate| {
        values(
            &cluster,
            &format!("select count(*) from lineitem where {predicate}"),
        )
    });
    assert_eq!(similar, like);
    assert_ne!(similar, ["0"]);
    assert_eq!(
        values(
            &cluster,
            "select string_agg(n_name, ',' order by n_name) from nation \
             where n_name similar to '(A|B)%'"
        ),
        ["ALGERIA,ARGENTINA,BRAZIL"]
    );
    let error = cluster
        .sql("select 'a' similar to 'a' escape 'ab'")
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::DataException, "{error}");
}

/// `LIKE ANY`, `LIKE SOME` and `LIKE ALL` over an array written out, negated too;
/// PostgreSQL 15's answers.
#[test]
fn like_compares_with_every_pattern_of_an_array() {
    let cluster = cluster();
    assert_eq!(
        values(
            &cluster,
            "select 'abc' like any (array['x%', 'a%']), 'abc' like some (array['x%', 'y%']), \
             'abc' like all (array['a%', '%c']), 'abc' like all (array['a%', 'x%']), \
             'abc' not like all (array['x%', 'y%']), 'abc' not like all (array['x%', 'a%']), \
             'ABC' ilike all (array['a%', '%c']), 'abc' like all ('{}'::text[])"
        ),
        ["true", "false", "true", "false", "true", "false", "true", "true"]
    );
    assert_eq!(
        values(
            &cluster,
            "select count(*) from nation where n_name not like all (array['A%', 'B%', 'C%'])"
        ),
        ["20"]
    );
}
