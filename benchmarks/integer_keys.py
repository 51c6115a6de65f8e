"""What integer customer keys would save in the profile SQL: the same query on the activity tables
as stored (VARCHAR customer ids) and on copies keyed by a dense INTEGER per id.

An experiment for a design change, not a pipeline tool: the pipeline keys its activity tables by the
EBQ ``internal_customer_id`` string. This copies the four activity tables of a kept warehouse and
its identity snapshots into a scratch DuckDB file with every id replaced by an INTEGER key (one
dictionary over every id), runs ``customer_profiles.sql`` (both steps, as
:func:`segmentation_assets.profiles.aggregate_profiles_sql` runs them) on the originals and on the
copies, alternately, and compares the keyed result mapped back to ids with the original (every
non-float column exactly; DOUBLE sums to a relative 1e-9, since DuckDB's parallel double sums are
not ordered). Each round also times every id's last active day in the window on both, and the
top-category part of the SQL with a key per customer made inside the query instead (same rows).

    .venv/bin/python -m benchmarks.run_benchmark --customers 1000000 --reuse --keep-warehouse
    cp benchmarks/work/run_1000000c/warehouse.duckdb /tmp/wh1m.duckdb
    .venv/bin/python -m benchmarks.integer_keys --warehouse /tmp/wh1m.duckdb --as-of 2026-01-01
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from segmentation_assets import sql
from segmentation_assets.ingest import ACTIVITY_TABLES

#: Template variable of customer_profiles.sql → the activity grain it reads.
TEMPLATE_TABLES = {
    "daily_activity": "daily",
    "category_activity": "categories",
    "device_activity": "devices",
    "purchase_activity": "purchases",
}


def keyed_copies(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Integer-keyed copies of the activity tables and merged_ids (template variable → table)."""
    con.execute(
        "CREATE OR REPLACE TABLE id_keys AS SELECT id, CAST(row_number() OVER (ORDER BY id) AS "
        "INTEGER) AS customer_key FROM (SELECT internal_customer_id AS id FROM src.merged_ids "
        "UNION SELECT surviving_id FROM src.merged_ids UNION SELECT internal_customer_id FROM "
        f"src.{ACTIVITY_TABLES['daily'][0]})"
    )
    tables = {}
    for variable, grain in TEMPLATE_TABLES.items():
        source = ACTIVITY_TABLES[grain][0]
        columns = [
            name
            for name, *_ in con.execute(f"DESCRIBE src.{source}").fetchall()
            if name != "internal_customer_id"
        ]
        con.execute(
            f"CREATE OR REPLACE TABLE keyed_{grain} AS SELECT "
            f"{', '.join('a.' + c for c in columns)}, k.customer_key AS internal_customer_id "
            f"FROM src.{source} AS a JOIN id_keys AS k ON k.id = a.internal_customer_id "
            "ORDER BY a.event_date"
        )
        tables[variable] = f"keyed_{grain}"
    con.execute(
        "CREATE OR REPLACE TABLE keyed_merged_ids AS SELECT m.as_of_date, "
        "a.customer_key AS internal_customer_id, b.customer_key AS surviving_id "
        "FROM src.merged_ids AS m JOIN id_keys AS a ON a.id = m.internal_customer_id "
        "JOIN id_keys AS b ON b.id = m.surviving_id"
    )
    tables["merged_ids"] = "keyed_merged_ids"
    return tables


def run_profiles(
    con: duckdb.DuckDBPyConnection, tables: dict[str, str], params: dict, result: str
) -> tuple[float, float]:
    """Both steps of the profile SQL into the temp table ``result``: (step 1 s, step 2 s)."""
    start = time.perf_counter()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _totals AS "
        + sql.duckdb_sql("customer_profiles.sql", only_activity_totals=True, **tables),
        params,
    )
    middle = time.perf_counter()
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {result} AS "
        + sql.duckdb_sql("customer_profiles.sql", activity_totals="_totals", **tables),
        params,
    )
    return middle - start, time.perf_counter() - middle


def last_active_day(con: duckdb.DuckDBPyConnection, daily: str, params: dict) -> float:
    """Seconds for every id's last active day in the window: the aggregate behind the robustness
    window customers, the identity stage's window ids and the event-id check."""
    start = time.perf_counter()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _last_active AS SELECT internal_customer_id, "
        f"MAX(event_date) AS last_event_date FROM {daily} "
        "WHERE event_date BETWEEN $window_start AND $as_of_date GROUP BY internal_customer_id",
        params,
    )
    return time.perf_counter() - start


def top_category_times(con: duckdb.DuckDBPyConnection, params: dict) -> tuple[float, float]:
    """Seconds for every customer's top category over the window, (as the profile SQL does it,
    with a key per customer made inside the query), after checking both give the same rows.

    The second form joins each category row to a key per id taken from merged_ids before the
    aggregate, so the aggregate and the window group by integers; the join still hashes every
    row's string id.
    """
    window = "ca.event_date BETWEEN $window_start AND $as_of_date"
    as_is = f"""
        WITH category_counts AS (
          SELECT COALESCE(m.surviving_id, c.internal_customer_id) AS customer_id, c.category,
                 SUM(c.n) AS n
          FROM (SELECT internal_customer_id, category, SUM(events) AS n
                FROM src.customer_activity_categories AS ca WHERE {window} GROUP BY 1, 2) AS c
          LEFT JOIN src.merged_ids AS m
            ON m.as_of_date = $as_of_date AND m.internal_customer_id = c.internal_customer_id
          GROUP BY 1, 2)
        SELECT customer_id, category AS top_category FROM category_counts
        QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY n DESC, category) = 1"""
    query_keys = f"""
        WITH id_keys AS (
          SELECT internal_customer_id, surviving_id,
                 DENSE_RANK() OVER (ORDER BY surviving_id) AS customer_key
          FROM src.merged_ids WHERE as_of_date = $as_of_date),
        category_counts AS (
          SELECT k.customer_key, ca.category, SUM(ca.events) AS n
          FROM src.customer_activity_categories AS ca JOIN id_keys AS k USING (internal_customer_id)
          WHERE {window} GROUP BY 1, 2),
        top AS (
          SELECT customer_key, category AS top_category FROM category_counts
          QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_key ORDER BY n DESC, category) = 1)
        SELECT s.surviving_id AS customer_id, t.top_category
        FROM top AS t JOIN (SELECT DISTINCT customer_key, surviving_id FROM id_keys) AS s
          USING (customer_key)"""
    seconds = []
    for table, query in (("_top_as_is", as_is), ("_top_query_keys", query_keys)):
        start = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {query}", params)
        seconds.append(time.perf_counter() - start)
    differ = con.execute(
        "SELECT count(*) FROM ((SELECT * FROM _top_as_is EXCEPT ALL SELECT * FROM _top_query_keys) "
        "UNION ALL (SELECT * FROM _top_query_keys EXCEPT ALL SELECT * FROM _top_as_is))"
    ).fetchone()[0]
    if differ:
        raise SystemExit(f"top categories differ in {differ} rows")
    return seconds[0], seconds[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", required=True, help="a warehouse kept by run_benchmark")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 1, 1))
    parser.add_argument("--window-days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)

    scratch = args.scratch / "integer_keys.duckdb"
    scratch.unlink(missing_ok=True)
    con = duckdb.connect(str(scratch))
    con.execute("SET TimeZone = 'UTC'; SET threads = 2; SET memory_limit = '4GB'")
    con.execute(f"ATTACH '{args.warehouse}' AS src (READ_ONLY)")
    start = time.perf_counter()
    keyed = keyed_copies(con)
    con.execute("CHECKPOINT")
    print(f"keyed copies built in {time.perf_counter() - start:.1f} s (one-off)")
    as_stored = {v: f"src.{ACTIVITY_TABLES[g][0]}" for v, g in TEMPLATE_TABLES.items()}
    as_stored["merged_ids"] = "src.merged_ids"
    params = {
        "as_of_date": args.as_of,
        "window_start": args.as_of - timedelta(days=args.window_days - 1),
    }
    for round_number in range(1, args.rounds + 1):
        for name, tables, result in (
            ("VARCHAR ids", as_stored, "_by_id"),
            ("INTEGER keys", keyed, "_by_key"),
        ):
            step1, step2 = run_profiles(con, tables, params, result)
            window_ids = last_active_day(con, tables["daily_activity"], params)
            print(
                f"round {round_number} {name:>12}: step 1 {step1:5.1f} s, step 2 {step2:5.1f} s, "
                f"total {step1 + step2:5.1f} s; window ids {window_ids:4.1f} s"
            )
        as_is, query_keys = top_category_times(con, params)
        print(
            f"round {round_number} top category: as the SQL does it {as_is:4.1f} s, "
            f"keys made in the query {query_keys:4.1f} s (same rows)"
        )
    columns = [name for name, *_ in con.execute("DESCRIBE _by_id").fetchall()]
    mapped = ", ".join("k.id AS customer_id" if c == "customer_id" else f"p.{c}" for c in columns)
    con.execute(
        f"CREATE TEMP TABLE _by_key_mapped AS SELECT {mapped} FROM _by_key AS p "
        "JOIN id_keys AS k ON k.customer_key = p.customer_id"
    )
    # Float sums depend on the order DuckDB's threads add them in, so two runs of the same query can
    # differ in the last bits: DOUBLE columns are compared to a relative 1e-9, the others exactly.
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE _by_id)").fetchall())
    rows, keyed_rows = (
        con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("_by_id", "_by_key_mapped")
    )
    joined = con.execute(
        "SELECT count(*) FROM _by_id AS a JOIN _by_key_mapped AS b USING (customer_id)"
    ).fetchone()[0]
    print(f"{rows:,} profiles by id, {keyed_rows:,} by key, {joined:,} customers in both")
    for column in columns:
        if column == "customer_id":
            continue
        a, b = f"a.{column}", f"b.{column}"
        exact = f"{a} IS DISTINCT FROM {b}"
        is_float = types[column] == "DOUBLE"
        unequal = (
            f"{exact} AND (({a} IS NULL) <> ({b} IS NULL) "
            f"OR abs({a} - {b}) > 1e-9 * greatest(abs({a}), abs({b}), 1e-300))"
            if is_float
            else exact
        )
        largest = f"max(abs({a} - {b}))" if is_float else "NULL"
        beyond, bits, gap = con.execute(
            f"SELECT count(*) FILTER ({unequal}), count(*) FILTER ({exact}), {largest} "
            "FROM _by_id AS a JOIN _by_key_mapped AS b USING (customer_id)"
        ).fetchone()
        if bits:
            print(
                f"  {column}: {bits:,} rows differ, {beyond:,} beyond a relative 1e-9"
                + (f", largest difference {gap:.3g}" if gap is not None else "")
            )
    con.close()
    scratch.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
