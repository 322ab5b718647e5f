"""TPC-DS data as Parquet, one file per table, from DuckDB's dsdgen (the data the answers
here were checked against). Needs: pip install duckdb==1.5.5 duckdb-extension-tpcds==1.5.5
(the extension ships inside that package; nothing is downloaded at run time).
usage: python bench/tpcds/gen.py SF OUT_DIR      e.g. python bench/tpcds/gen.py 1 /var/tmp/tpcds-sf1"""
import pathlib
import sys

import duckdb
import duckdb_extension_tpcds

sf, out = float(sys.argv[1]), pathlib.Path(sys.argv[2])
ext = (pathlib.Path(duckdb_extension_tpcds.__file__).parent / "extensions"
       / f"v{duckdb.__version__}" / "tpcds.duckdb_extension")
if not ext.exists():
    sys.exit(f"no tpcds extension for duckdb {duckdb.__version__}: install duckdb==1.5.5")
con = duckdb.connect(config={"autoinstall_known_extensions": False,
                             "autoload_known_extensions": False})
con.execute(f"LOAD '{ext}'")
con.execute(f"CALL dsdgen(sf={sf})")
out.mkdir(parents=True, exist_ok=True)
for (table,) in con.execute("select table_name from duckdb_tables() order by 1").fetchall():
    con.execute(f"COPY {table} TO '{out / (table + '.parquet')}' (FORMAT parquet)")
    print(table, con.execute(f"select count(*) from {table}").fetchone()[0], flush=True)
