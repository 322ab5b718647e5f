# Runs TPC-H queries on DuckDB for `percore bench tpch --baseline duckdb`.
# argv: data directory (one <table>.parquet per table), threads, tables (comma-separated),
# and "load" (every table into DuckDB's own memory) or "files" (views over the files,
# read by every query). Prints {"ready": version, "load_ms": {table: ms}}, then answers one
# JSON request per stdin line, {"sql": ..., "iterations": n}, with
# {"ms": [...], "rows": [[str, ...], ...]} (the first run's rows) or {"error": ...}.
import json
import sys
import time

try:
    import duckdb
except ImportError as error:
    print(json.dumps({"error": f"the duckdb Python package is not installed ({error}); "
                               "pip install duckdb"}), flush=True)
    sys.exit(0)

data, threads, tables = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
kind = "VIEW" if len(sys.argv) > 4 and sys.argv[4] == "files" else "TABLE"
connection = duckdb.connect()
connection.execute(f"SET threads = {threads}")
# Its progress bar writes to stdout, which carries the JSON replies.
connection.execute("SET enable_progress_bar = false")
load_ms = {}
for table in tables:
    started = time.perf_counter()
    connection.execute(
        f"CREATE {kind} {table} AS SELECT * FROM read_parquet('{data}/{table}.parquet')")
    load_ms[table] = (time.perf_counter() - started) * 1000.0
print(json.dumps({"ready": duckdb.__version__, "load_ms": load_ms}), flush=True)


def cell(value):
    return "NULL" if value is None else str(value)


for line in sys.stdin:
    request = json.loads(line)
    try:
        times, rows = [], None
        for _ in range(max(1, request["iterations"])):
            started = time.perf_counter()
            result = connection.execute(request["sql"]).fetchall()
            times.append((time.perf_counter() - started) * 1000.0)
            if rows is None:
                rows = [[cell(value) for value in row] for row in result]
        print(json.dumps({"ms": times, "rows": rows}), flush=True)
    except Exception as error:  # noqa: BLE001 - reported to the harness as the answer
        print(json.dumps({"error": str(error)}), flush=True)
