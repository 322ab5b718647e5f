#!/usr/bin/env bash
# The skew join benchmark: a Zipf-distributed fact table joined with a dimension
# table and grouped, with percore.skew_join on and off, beside the same query on
# uniform keys; medians of RUNS runs each, in one process per setting, on CORES
# cores. Also prints each run's EXPLAIN ANALYZE lines for the probe exchange and
# the peak reservation per core.
#   bench/skew.sh [ROWS] [KEYS] [RUNS] [CORES]
set -euo pipefail
rows=${1:-10000000}
keys=${2:-3000000}
runs=${3:-5}
cores=${4:-2}
cd "$(dirname "$0")/.."
cargo build --release -q
percore=target/release/percore
data=${SKEW_DATA:-/var/tmp/percore-skew}
for s in 0 1.0 1.5; do
  dir="$data/s$s-$rows-$keys"
  [ -f "$dir/facts.parquet" ] || $percore gen --zipf "$s" --rows "$rows" --keys "$keys" --out "$dir" >/dev/null
done
query="SELECT d_group, count(*), sum(f_amount) FROM facts JOIN dims ON f_key = d_key GROUP BY d_group"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-8s %-5s %10s  %s\n' zipf skew "median ms" "probe exchange / peak per core"
for s in 0 1.0 1.5; do
  dir="$data/s$s-$rows-$keys"
  for setting in on off; do
    script=$(mktemp)
    {
      echo "CREATE EXTERNAL TABLE facts STORED AS PARQUET LOCATION '$dir/facts.parquet';"
      echo "CREATE EXTERNAL TABLE dims STORED AS PARQUET LOCATION '$dir/dims.parquet';"
      echo "SET percore.skew_join = $setting;"
      echo "$query;"  # warm-up
      echo '\timing'
      for _ in $(seq "$runs"); do echo "$query;"; done
      echo '\timing'
      echo "EXPLAIN ANALYZE $query;"
    } >"$script"
    out=$($percore sql --tpch 0 --cores "$cores" -f "$script" 2>&1)
    rm -f "$script"
    ms=$(grep -oE '^\([0-9]+ rows, [0-9.]+ ms\)' <<<"$out" | grep -oE '[0-9.]+ ms' | cut -d' ' -f1 | median)
    probe=$(grep -oE 'exchange #0 hash[^"]*skew max/mean [0-9.]+' <<<"$out" | grep -oE 'skew max/mean [0-9.]+' || true)
    peak=$(grep -oE 'Memory: peak reservation per node.core [^"]*' <<<"$out" | sed "s/Memory: peak reservation per node.core //; s/ *|.*//")
    printf '%-8s %-5s %10s  %s; %s\n' "$s" "$setting" "$ms" "$probe" "$peak"
  done
done
