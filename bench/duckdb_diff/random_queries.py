"""Random SQL for diff.py: statements nobody wrote by hand, so that a differential
run against PostgreSQL finds the wrong answers a hand-written list misses.

    python3 bench/duckdb_diff/random_queries.py --seed 7 --count 2000 > /tmp/random.sql
    /tmp/venv/bin/python bench/duckdb_diff/diff.py /tmp/random.sql --port 7601 \
        --postgres "host=/tmp port=5433 user=postgres"

The file starts with CREATE TABLE .. AS statements that diff.py runs on Percore and
copies to the reference: small tables with NULLs in every column (TPC-H has none),
duplicates, negative numbers, empty strings and decimals, so NULL semantics, outer
joins, NOT IN, DISTINCT and grouping are exercised. The queries then combine
predicates, scalar expressions, joins of every kind, aggregates with HAVING,
subqueries (IN, NOT IN, EXISTS, scalar), set operations and window functions over
those tables and TPC-H's nation and region. Every query has a deterministic answer
under PostgreSQL's rules (an ORDER BY .. LIMIT orders by every output column), so a
difference is a bug in one of the two engines, not a tie broken differently.
"""

import argparse
import random
import re

# Spread over the cores by different keys (t2's and t0's nullable), so joins,
# aggregates and windows are planned with exchanges, co-location and broadcasts as
# on real tables; `--replicated` keeps every row on every core instead.
LAYOUTS = {
    "layout_k": "partitioned by hash (k)",
    "layout_b": "partitioned by hash (b)",
    "layout_a": "partitioned by hash (a)",
}

SETUP = [
    # t1, t2: NULLs, duplicates, negatives, empty strings, decimals.
    """create table t1 {layout_k} as select n_nationkey as k,
        case when n_nationkey % 5 = 0 then null else n_regionkey - 2 end as a,
        case when n_nationkey % 4 = 1 then null else (n_nationkey * 7) % 11 - 3 end as b,
        case when n_nationkey % 6 = 2 then null when n_nationkey % 6 = 3 then ''
             else substr(n_name, 1, 3) end as s,
        case when n_nationkey % 7 = 4 then null else n_nationkey * 1.25 - 10 end as d,
        case when n_nationkey % 8 = 3 then null else date '2020-02-27' + n_nationkey * 11 end as t,
        case when n_nationkey % 6 = 1 then null else cast(n_nationkey - 9 as double precision) / 4 end as f,
        case when n_nationkey % 7 = 2 then null
             else timestamp '2020-02-28 23:30:00' + n_nationkey * interval '7 hours 15 minutes' end as ts,
        case when n_nationkey % 5 = 3 then null
             else (n_nationkey - 12) * interval '1 day 3 hours' + (n_nationkey % 3) * interval '1 month' end as iv,
        case when n_nationkey % 5 = 2 then null else n_nationkey % 3 = 0 end as bo
        from nation""",
    """create table t2 {layout_b} as select r_regionkey + n_nationkey % 3 as k,
        case when n_nationkey % 3 = 0 then null else n_nationkey % 4 end as a,
        case when n_nationkey % 8 = 5 then null else n_regionkey * 2 - 3 end as b,
        case when n_nationkey % 5 = 1 then null else lower(substr(r_name, 1, 2)) end as s,
        case when n_nationkey % 9 = 7 then null else n_regionkey * 0.5 end as d,
        case when n_nationkey % 4 = 2 then null else date '2019-12-31' + n_regionkey * 40 end as t,
        case when n_nationkey % 7 = 3 then null else cast(n_regionkey as double precision) * 0.1 - 0.2 end as f,
        case when n_nationkey % 6 = 4 then null
             else timestamp '2020-01-01 00:00:00' + n_regionkey * interval '36 hours 30 minutes' end as ts,
        case when n_nationkey % 4 = 0 then null else n_regionkey * interval '2 hours' - interval '1 day' end as iv,
        case when n_nationkey % 3 = 1 then null else n_regionkey > 1 end as bo
        from nation join region on n_regionkey = r_regionkey""",
    # an empty table with the same columns
    "create table t0 {layout_a} as select * from t1 where k < 0",
]

COLUMNS = ["k", "a", "b", "s", "d", "t", "f", "ts", "iv", "bo"]
TABLES = {"t1": COLUMNS, "t2": COLUMNS, "t0": COLUMNS}
INT_COLUMNS = {"k", "a", "b"}
TEXT_COLUMNS = {"s"}
DECIMAL_COLUMNS = {"d"}
DATE_COLUMNS = {"t"}
FLOAT_COLUMNS = {"f"}
TIMESTAMP_COLUMNS = {"ts"}
INTERVAL_COLUMNS = {"iv"}
BOOL_COLUMNS = {"bo"}
SMALL_TABLES = ["t1", "t2", "t1", "t2", "t0"]


class Gen:
    def __init__(self, rng):
        self.r = rng

    def pick(self, items):
        return self.r.choice(items)

    def chance(self, p):
        return self.r.random() < p

    # -- scalar expressions, by type ------------------------------------------------
    def int_expr(self, cols, depth=0):
        ints = [c for c in cols if c.split(".")[-1] in INT_COLUMNS]
        if depth > 2 or self.chance(0.4):
            if ints and self.chance(0.75):
                return self.pick(ints)
            return str(self.r.randint(-3, 6)) if self.chance(0.9) else "null"
        kind = self.r.randint(0, 9)
        x, y = self.int_expr(cols, depth + 1), self.int_expr(cols, depth + 1)
        if kind <= 2:
            return f"({x} {self.pick(['+', '-', '*'])} {y})"
        if kind == 3:
            # no division by zero: PostgreSQL errors, which the run skips
            return f"({x} {self.pick(['/', '%'])} nullif({y}, 0))"
        if kind == 4:
            return f"coalesce({x}, {y})"
        if kind == 5:
            return f"case when {self.pred(cols, depth + 1)} then {x} else {y} end"
        if kind == 6:
            return f"abs({x})"
        if kind == 7:
            return f"nullif({x}, {y})"
        if kind == 8:
            return self.pick(
                [
                    f"length({self.text_expr(cols, depth + 1)})",
                    f"strpos({self.text_expr(cols, depth + 1)}, {self.pick(['a', 'A', 'R', ''])!r})",
                    f"extract(day from {self.date_expr(cols, depth + 1)})::int",
                    f"({self.date_expr(cols, depth + 1)} - date '2020-03-01')",
                    f"(select max(m.a) from t2 m where m.k = {x})",
                    f"cast({self.float_expr(cols, depth + 1)} as int)",
                    f"cast({self.dec_expr(cols, depth + 1)} as bigint)",
                    f"cast(nullif(regexp_replace({self.text_expr(cols, depth + 1)}, '[^0-9]', '', 'g'), '') as int)",
                    f"extract(hour from {self.timestamp_expr(cols, depth + 1)})::int",
                ]
            )
        return f"{self.pick(['greatest', 'least'])}({x}, {y})"

    def text_expr(self, cols, depth=0):
        texts = [c for c in cols if c.split(".")[-1] in TEXT_COLUMNS]
        if depth > 2 or self.chance(0.5):
            if texts and self.chance(0.8):
                return self.pick(texts)
            return self.pick(["'AL'", "'a'", "''", "'ch'", "null", "'ARG'"])
        kind = self.r.randint(0, 5)
        x = self.text_expr(cols, depth + 1)
        if kind == 0:
            return f"({x} || {self.text_expr(cols, depth + 1)})"
        if kind == 1:
            return f"{self.pick(['upper', 'lower'])}({x})"
        if kind == 2:
            return f"substr({x}, {self.r.randint(-1, 3)}, {self.r.randint(0, 3)})"
        if kind == 3:
            return f"coalesce({x}, {self.text_expr(cols, depth + 1)})"
        if kind == 4:
            return self.pick(
                [
                    f"cast({self.int_expr(cols, depth + 1)} as text)",
                    f"replace({x}, 'A', 'xy')",
                    f"trim({x})",
                    f"left({x}, {self.r.randint(-1, 2)})",
                    f"right({x}, {self.r.randint(-1, 2)})",
                    f"reverse({x})",
                    f"split_part({x}, 'R', 1)",
                    f"lpad({x}, 4, '*')",
                    f"cast({self.date_expr(cols, depth + 1)} as text)",
                ]
            )
        return f"case when {self.pred(cols, depth + 1)} then {x} end"

    def dec_expr(self, cols, depth=0):
        decs = [c for c in cols if c.split(".")[-1] in DECIMAL_COLUMNS]
        if depth > 2 or self.chance(0.5):
            if decs and self.chance(0.8):
                return self.pick(decs)
            return self.pick(["1.5", "-0.25", "0.0", "2.75", "null"])
        kind = self.r.randint(0, 4)
        x = self.dec_expr(cols, depth + 1)
        if kind == 0:
            return f"({x} {self.pick(['+', '-', '*'])} {self.dec_expr(cols, depth + 1)})"
        if kind == 1:
            return f"({x} + {self.int_expr(cols, depth + 1)})"
        if kind == 2:
            return f"round({x}, {self.r.randint(0, 1)})"
        if kind == 3:
            return self.pick([f"abs({x})", f"({x} / nullif({self.int_expr(cols, depth + 1)}, 0))", f"trunc({x})", f"sign({x})"])
        return f"coalesce({x}, {self.dec_expr(cols, depth + 1)})"

    def date_expr(self, cols, depth=0):
        dates = [c for c in cols if c.split(".")[-1] in DATE_COLUMNS]
        if depth > 2 or self.chance(0.5):
            if dates and self.chance(0.8):
                return self.pick(dates)
            return self.pick(["date '2020-02-29'", "date '2020-03-31'", "cast(null as date)"])
        x = self.date_expr(cols, depth + 1)
        kind = self.r.randint(0, 3)
        if kind == 0:
            return f"({x} + {self.int_expr(cols, depth + 1)})"
        if kind == 1:
            return f"cast({x} + interval '{self.r.randint(1, 13)} {self.pick(['day', 'month', 'year'])}' as date)"
        if kind == 2:
            return f"cast(date_trunc('{self.pick(['month', 'year', 'week'])}', {x}) as date)"
        return f"coalesce({x}, {self.date_expr(cols, depth + 1)})"

    def float_expr(self, cols, depth=0):
        floats = [c for c in cols if c.split(".")[-1] in FLOAT_COLUMNS]
        if depth > 2 or self.chance(0.5):
            if floats and self.chance(0.8):
                return self.pick(floats)
            return self.pick(["1.5e0", "cast(-0.5 as double precision)", "cast(null as double precision)", "0e0"])
        x = self.float_expr(cols, depth + 1)
        kind = self.r.randint(0, 6)
        if kind == 0:
            return f"({x} {self.pick(['+', '-', '*'])} {self.float_expr(cols, depth + 1)})"
        if kind == 1:
            return f"({x} / nullif({self.float_expr(cols, depth + 1)}, 0))"
        if kind == 2:
            # float with integer or decimal: PostgreSQL makes both doubles
            other = self.int_expr(cols, depth + 1) if self.chance(0.5) else self.dec_expr(cols, depth + 1)
            return f"({x} {self.pick(['+', '*', '-'])} {other})"
        if kind == 3:
            return self.pick([f"abs({x})", f"round({x})", f"floor({x})", f"ceil({x})", f"sqrt(abs({x}))", f"power({x}, 2)", f"trunc({x})", f"sign({x})"])
        if kind == 4:
            return f"cast({self.pick([self.int_expr(cols, depth + 1), self.dec_expr(cols, depth + 1)])} as double precision)"
        if kind == 5:
            return f"case when {self.pred(cols, depth + 1)} then {x} else {self.float_expr(cols, depth + 1)} end"
        return f"coalesce({x}, {self.float_expr(cols, depth + 1)})"

    def timestamp_expr(self, cols, depth=0):
        stamps = [c for c in cols if c.split(".")[-1] in TIMESTAMP_COLUMNS]
        if depth > 2 or self.chance(0.5):
            if stamps and self.chance(0.8):
                return self.pick(stamps)
            return self.pick(["timestamp '2020-03-01 12:00:00'", "timestamp '2020-02-29 00:00:00'", "cast(null as timestamp)"])
        x = self.timestamp_expr(cols, depth + 1)
        kind = self.r.randint(0, 5)
        if kind == 0:
            return f"({x} {self.pick(['+', '-'])} {self.interval_expr(cols, depth + 1)})"
        if kind == 1:
            return f"({self.date_expr(cols, depth + 1)} + {self.interval_expr(cols, depth + 1)})"
        if kind == 2:
            return f"date_trunc('{self.pick(['hour', 'day', 'month', 'year', 'week'])}', {x})"
        if kind == 3:
            return f"cast({self.date_expr(cols, depth + 1)} as timestamp)"
        if kind == 4:
            return f"{self.pick(['greatest', 'least'])}({x}, {self.timestamp_expr(cols, depth + 1)})"
        return f"coalesce({x}, {self.timestamp_expr(cols, depth + 1)})"

    def interval_expr(self, cols, depth=0):
        intervals = [c for c in cols if c.split(".")[-1] in INTERVAL_COLUMNS]
        if depth > 2 or self.chance(0.5):
            if intervals and self.chance(0.7):
                return self.pick(intervals)
            return self.pick(["interval '1 day'", "interval '-3 hours'", "interval '1 month 2 days'", "interval '90 minutes'", "cast(null as interval)"])
        x = self.interval_expr(cols, depth + 1)
        kind = self.r.randint(0, 4)
        if kind == 0:
            return f"({x} {self.pick(['+', '-'])} {self.interval_expr(cols, depth + 1)})"
        if kind == 1:
            return f"({x} * {self.r.randint(-2, 3)})"
        if kind == 2:
            return f"({self.timestamp_expr(cols, depth + 1)} - {self.timestamp_expr(cols, depth + 1)})"
        if kind == 3:
            return f"(- {x})"
        return f"coalesce({x}, {self.interval_expr(cols, depth + 1)})"

    def bool_expr(self, cols, depth=0):
        bools = [c for c in cols if c.split(".")[-1] in BOOL_COLUMNS]
        if bools and self.chance(0.7):
            column = self.pick(bools)
            return self.pick([column, f"not {column}", f"({column} = ({self.pred(cols, depth + 1)}))", f"{column} is not false", f"({column} and {self.pred(cols, depth + 1)})", f"({column} or {self.pred(cols, depth + 1)})"])
        return f"({self.pred(cols, depth + 1)})"

    def any_expr(self, cols, depth=0):
        kind = self.r.random()
        if kind < 0.35:
            return self.int_expr(cols, depth)
        if kind < 0.55:
            return self.text_expr(cols, depth)
        if kind < 0.7:
            return self.dec_expr(cols, depth)
        if kind < 0.76:
            return self.date_expr(cols, depth)
        if kind < 0.84:
            return self.float_expr(cols, depth)
        if kind < 0.9:
            return self.timestamp_expr(cols, depth)
        if kind < 0.95:
            return self.interval_expr(cols, depth)
        return self.bool_expr(cols, depth)

    def pred(self, cols, depth=0):
        kind = self.r.randint(0, 15)
        if depth > 2:
            kind = self.r.randint(0, 2)
        op = self.pick(["=", "<>", "<", "<=", ">", ">="])
        if kind == 0:
            return f"{self.int_expr(cols, depth + 1)} {op} {self.int_expr(cols, depth + 1)}"
        if kind == 1:
            return f"{self.text_expr(cols, depth + 1)} {op} {self.text_expr(cols, depth + 1)}"
        if kind == 2:
            if self.chance(0.3):
                return f"{self.date_expr(cols, depth + 1)} {op} {self.date_expr(cols, depth + 1)}"
            return f"{self.dec_expr(cols, depth + 1)} {op} {self.int_expr(cols, depth + 1)}"
        if kind == 3:
            return f"({self.pred(cols, depth + 1)} {self.pick(['and', 'or'])} {self.pred(cols, depth + 1)})"
        if kind == 4:
            return f"not ({self.pred(cols, depth + 1)})"
        if kind == 5:
            return f"{self.any_expr(cols, depth + 1)} is {self.pick(['', 'not '])}null"
        if kind == 6:
            return (
                f"{self.int_expr(cols, depth + 1)} is {self.pick(['', 'not '])}distinct from "
                f"{self.int_expr(cols, depth + 1)}"
            )
        if kind == 7:
            items = ", ".join(self.int_expr([], 3) for _ in range(self.r.randint(1, 4)))
            return f"{self.int_expr(cols, depth + 1)} {self.pick(['in', 'not in'])} ({items})"
        if kind == 8:
            lo, hi = self.int_expr(cols, depth + 1), self.int_expr(cols, depth + 1)
            return f"{self.int_expr(cols, depth + 1)} {self.pick(['', 'not '])}between {lo} and {hi}"
        if kind == 9:
            pattern = self.pick(["'A%'", "'%a%'", "'_'", "''", "'%'", "'a_'", "'%R'"])
            return f"{self.text_expr(cols, depth + 1)} {self.pick(['like', 'not like', 'ilike'])} {pattern}"
        if kind == 10:
            return f"({self.pred(cols, depth + 1)}) is {self.pick(['true', 'not true', 'false', 'unknown'])}"
        if kind == 11:
            return f"coalesce({self.pred(cols, depth + 1)}, {self.pick(['true', 'false'])})"
        if kind == 12:
            other = self.float_expr(cols, depth + 1) if self.chance(0.6) else self.pick([self.int_expr(cols, depth + 1), self.dec_expr(cols, depth + 1)])
            return f"{self.float_expr(cols, depth + 1)} {op} {other}"
        if kind == 13:
            if self.chance(0.5):
                return f"{self.timestamp_expr(cols, depth + 1)} {op} {self.timestamp_expr(cols, depth + 1)}"
            return f"{self.interval_expr(cols, depth + 1)} {op} {self.interval_expr(cols, depth + 1)}"
        if kind == 14:
            return self.bool_expr(cols, depth + 1)
        return f"{self.dec_expr(cols, depth + 1)} {op} {self.dec_expr(cols, depth + 1)}"

    # -- queries ----------------------------------------------------------------------
    def columns(self, table, alias):
        return [f"{alias}.{c}" for c in TABLES[table]]

    def from_clause(self):
        """A FROM clause of one to three tables and the columns it makes visible."""
        t = self.pick(SMALL_TABLES)
        sql, cols = f"{t} x", self.columns(t, "x")
        for alias in ["y", "z"][: self.r.randint(0, 2)]:
            u = self.pick(SMALL_TABLES)
            ucols = self.columns(u, alias)
            kind = self.pick(["join", "left join", "right join", "full join", "join", "left join"])
            if self.chance(0.2):
                # a key of another type: floats, timestamps, intervals, dates, text
                column = self.pick(["f", "ts", "iv", "t", "s", "d", "bo"])
                left = self.pick([c for c in cols if c.split(".")[-1] == column])
                on = f"{left} = {alias}.{column}"
            else:
                left = self.pick([c for c in cols if c.split(".")[-1] in INT_COLUMNS])
                on = f"{left} = {alias}.{self.pick(['k', 'a', 'b'])}"
            if self.chance(0.3):
                on = f"{on} and {self.pred(cols + ucols, 2)}"
            elif self.chance(0.15):
                on = self.pred(cols + ucols, 1)
            if self.chance(0.1) and kind in ("join", "left join"):
                # LATERAL: a derived table reading the tables to its left
                inner = self.columns(u, "l")
                lateral = (
                    f"(select {self.int_expr(inner + cols, 2)} as k, {self.any_expr(inner, 2)} as a "
                    f"from {u} l where {self.pred(inner + cols, 1)})"
                )
                sql += f" {kind} lateral {lateral} {alias} on {self.pred(cols + [alias + '.k'], 2)}"
                cols = cols + [f"{alias}.k"]
                continue
            sql += f" {kind} {u} {alias} on {on}"
            cols = cols + ucols
        return sql, cols

    def where(self, cols):
        if self.chance(0.3):
            return ""
        if self.chance(0.2):
            return " where " + self.subquery_pred(cols)
        return " where " + self.pred(cols)

    def subquery_pred(self, cols):
        t = self.pick(SMALL_TABLES)
        inner = self.columns(t, "i")
        correlate = self.chance(0.5)
        cond = f" where {self.pred(inner + (cols if correlate else []), 1)}" if self.chance(0.7) else ""
        kind = self.r.randint(0, 3)
        if kind == 0:
            return (
                f"{self.int_expr(cols, 2)} {self.pick(['in', 'not in'])} "
                f"(select {self.int_expr(inner, 2)} from {t} i{cond})"
            )
        if kind == 1:
            return f"{self.pick(['', 'not '])}exists (select 1 from {t} i{cond})"
        if kind == 2:
            agg = self.pick(["max", "min", "count", "sum"])
            return f"{self.int_expr(cols, 2)} {self.pick(['=', '<', '>='])} (select {agg}({self.pick(inner[:3])}) from {t} i{cond})"
        return (
            f"{self.int_expr(cols, 2)} {self.pick(['=', '<>', '<', '>'])} {self.pick(['any', 'all'])} "
            f"(select {self.pick(inner[:3])} from {t} i{cond})"
        )

    def select_plain(self):
        source, cols = self.from_clause()
        exprs = [self.any_expr(cols) for _ in range(self.r.randint(1, 3))]
        distinct = "distinct " if self.chance(0.2) else ""
        sql = f"select {distinct}{', '.join(exprs)} from {source}{self.where(cols)}"
        if self.chance(0.3):
            positions = ", ".join(
                f"{i + 1}{self.pick(['', ' desc', ' nulls first', ' desc nulls last'])}"
                for i in range(len(exprs))
            )
            sql += f" order by {positions} limit {self.r.randint(0, 8)}"
        return sql

    def aggregate(self, cols):
        kind = self.r.randint(0, 12)
        x = self.int_expr(cols, 1)
        if kind == 10:
            return self.pick([f"sum({self.float_expr(cols, 1)})", f"avg({self.float_expr(cols, 1)})", f"stddev_samp({self.float_expr(cols, 1)})"])
        if kind == 11:
            return self.pick([f"{self.pick(['min', 'max'])}({self.timestamp_expr(cols, 1)})", f"{self.pick(['min', 'max'])}({self.interval_expr(cols, 1)})", f"sum({self.interval_expr(cols, 1)})"])
        if kind == 12:
            return f"{self.pick(['bool_and', 'bool_or', 'count'])}({self.bool_expr(cols, 1)})"
        if kind == 0:
            return "count(*)"
        if kind == 1:
            return f"count({self.any_expr(cols, 1)})"
        if kind == 2:
            return f"sum({x})"
        if kind == 3:
            return f"{self.pick(['min', 'max'])}({self.any_expr(cols, 1)})"
        if kind == 4:
            return f"avg({x})"
        if kind == 5:
            return f"count(distinct {self.any_expr(cols, 1)})"
        if kind == 6:
            return f"sum({self.dec_expr(cols, 1)})"
        if kind == 7:
            return f"{self.pick(['bool_and', 'bool_or'])}({self.pred(cols, 2)})"
        if kind == 8:
            return f"count(*) filter (where {self.pred(cols, 2)})"
        return f"sum(distinct {x})"

    def select_grouped(self):
        source, cols = self.from_clause()
        keys = [self.any_expr(cols, 2) for _ in range(self.r.randint(0, 2))]
        aggs = [self.aggregate(cols) for _ in range(self.r.randint(1, 3))]
        sql = f"select {', '.join(keys + aggs)} from {source}{self.where(cols)}"
        if keys:
            grouping = ", ".join(keys)
            if self.chance(0.15):
                grouping = f"{self.pick(['rollup', 'cube'])}({grouping})"
            sql += f" group by {grouping}"
        if self.chance(0.3):
            sql += f" having {self.pick(['count(*) > 1', 'count(*) = 1', 'sum(' + self.int_expr(cols, 2) + ') is not null', 'min(' + self.int_expr(cols, 2) + ') < 2'])}"
        # Not over ROLLUP/CUBE: PostgreSQL 15 drops an ORDER BY key it thinks
        # constant (`rollup(abs(3))`) although grouping sets make it NULL in the
        # total rows, so it sorts those rows wrongly.
        if self.chance(0.25) and "rollup(" not in sql and "cube(" not in sql:
            sql += self.order_by_every_column(len(keys) + len(aggs))
        return sql

    def order_by_every_column(self, count):
        """ORDER BY each output column by ordinal, in a random order, and a LIMIT:
        deterministic, as equal rows are indistinguishable."""
        ordinals = list(range(1, count + 1))
        self.r.shuffle(ordinals)
        positions = ", ".join(f"{i}{self.pick(['', ' desc', ' nulls first', ' desc nulls last'])}" for i in ordinals)
        return f" order by {positions} limit {self.r.randint(1, 6)}"

    def select_window(self):
        t = self.pick(SMALL_TABLES)
        cols = self.columns(t, "x")
        part = f"partition by {self.int_expr(cols, 2)} " if self.chance(0.6) else ""
        # order by k last: k is unique in t1, so ranking and frames are deterministic
        order = f"order by {self.int_expr(cols, 2)}, x.k" if t != "t2" else "order by x.k, x.a, x.b, x.s, x.d, x.t, x.f, x.ts, x.iv, x.bo"
        func = self.pick(
            [
                "row_number()",
                "rank()",
                "dense_rank()",
                f"sum({self.int_expr(cols, 2)})",
                f"count({self.any_expr(cols, 2)})",
                f"lag({self.int_expr(cols, 2)})",
                f"lead({self.any_expr(cols, 2)}, 2)",
                f"first_value({self.any_expr(cols, 2)})",
                f"max({self.int_expr(cols, 2)})",
                "ntile(3)",
                "percent_rank()",
                "cume_dist()",
                f"avg({self.dec_expr(cols, 2)})",
                f"last_value({self.int_expr(cols, 2)})",
                f"sum({self.float_expr(cols, 2)})",
                f"lag({self.timestamp_expr(cols, 2)})",
                f"max({self.timestamp_expr(cols, 2)})",
                f"first_value({self.interval_expr(cols, 2)})",
            ]
        )
        frame = ""
        if func.startswith(("sum", "count", "max", "first", "avg", "last")) and self.chance(0.4):
            frame = " " + self.pick(
                [
                    "range between unbounded preceding and current row",
                    "range between current row and unbounded following",
                    "rows between 1 preceding and current row",
                    "rows between unbounded preceding and unbounded following",
                    "rows between current row and 2 following",
                ]
            )
        if t == "t2" and func in ("row_number()",):
            pass
        return f"select x.k, x.a, {func} over ({part}{order}{frame}) from {t} x{self.where(cols)}"

    def select_setop(self):
        a, b = self.pick(SMALL_TABLES), self.pick(SMALL_TABLES)
        op = self.pick(["union", "union all", "intersect", "intersect all", "except", "except all"])
        left = f"select {self.int_expr(self.columns(a, 'x'), 2)}, {self.text_expr(self.columns(a, 'x'), 2)} from {a} x"
        right = f"select {self.int_expr(self.columns(b, 'y'), 2)}, {self.text_expr(self.columns(b, 'y'), 2)} from {b} y"
        sql = f"{left} {op} {right}"
        if self.chance(0.3):
            # nested: PostgreSQL's INTERSECT binds tighter than UNION and EXCEPT
            c = self.pick(SMALL_TABLES)
            third = f"select {self.int_expr(self.columns(c, 'z'), 2)}, {self.text_expr(self.columns(c, 'z'), 2)} from {c} z"
            outer = self.pick(["union", "union all", "intersect", "except", "except all"])
            sql = self.pick([f"({sql}) {outer} {third}", f"{third} {outer} ({sql})", f"{sql} {outer} {third}"])
        if self.chance(0.3):
            sql += self.order_by_every_column(2)
        return sql

    def select_derived(self):
        inner = self.select_grouped() if self.chance(0.5) else self.select_plain()
        if " order by " in inner:
            inner = inner.split(" order by ")[0]
        select_list = inner[: top_level_from(inner)]
        if "(select" in select_list or inner.startswith("select distinct"):
            return self.select_plain()
        names = [f"c{i}" for i in range(output_columns(select_list))]
        source = f"({inner}) q({', '.join(names)})"
        agg = self.pick(["count(*)", f"count(distinct q.{names[0]})", f"max(q.{names[-1]})", f"min(q.{names[0]})"])
        order = ", ".join(f"{i + 1}" for i in range(2))
        if self.chance(0.5):
            return f"select q.{names[0]}, {agg} from {source} group by q.{names[0]}"
        return f"with w as (select * from {source}) select w.{names[0]}, (select count(*) from w w2 where w2.{names[0]} is not distinct from w.{names[0]}) from w order by {order} limit {self.r.randint(1, 5)} offset {self.r.randint(0, 3)}"

    def query(self):
        kind = self.r.random()
        if kind < 0.1:
            return self.select_derived()
        if kind < 0.35:
            return self.select_plain()
        if kind < 0.7:
            return self.select_grouped()
        if kind < 0.85:
            return self.select_window()
        return self.select_setop()


def top_level(sql):
    """(position, character) of each character of `sql` outside parentheses and
    quotes."""
    depth, quoted = 0, False
    for at, char in enumerate(sql):
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0:
            yield at, char


def top_level_from(sql):
    """Where the FROM clause of `select ... from t1 x` starts: outside parentheses
    (`extract(day from t)`) and quotes, before a table (`is distinct from`)."""
    for at, _ in top_level(sql):
        if re.match(r" from t\d ", sql[at:]):
            return at
    return len(sql)


def output_columns(select_list):
    """The items of `select ...`: its commas outside parentheses and quotes, plus one."""
    return 1 + sum(1 for _, char in top_level(select_list) if char == ",")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--replicated", action="store_true", help="tables on every core")
    args = parser.parse_args()
    gen = Gen(random.Random(args.seed))
    layouts = {name: "" if args.replicated else layout for name, layout in LAYOUTS.items()}
    for statement in SETUP:
        print(" ".join(statement.format(**layouts).split()) + ";")
    for _ in range(args.count):
        print(gen.query() + ";")


if __name__ == "__main__":
    main()
