"""Read an EBQ export folder (what ``bq extract`` or an export job writes) as DuckDB views.

Layout: one sub-folder per table holding Parquet or newline-delimited JSON files (optionally
gzipped), or a single file per table named after it (``purchase.parquet``, ``purchase.json.gz``).
Views are lazy: DuckDB pushes the ingest window's timestamp filter into the Parquet scan.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from segmentation_assets.warehouse import check_identifier

PARQUET_SUFFIXES = (".parquet",)
NDJSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")


def _files_of(entry: Path) -> tuple[str, list[Path]]:
    files = sorted(p for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else [entry]
    parquet = [p for p in files if p.name.endswith(PARQUET_SUFFIXES)]
    ndjson = [p for p in files if p.name.endswith(NDJSON_SUFFIXES)]
    if parquet and ndjson:
        raise ValueError(
            f"table folder {entry} mixes Parquet and JSON files; use one format per table"
        )
    if parquet:
        return "parquet", parquet
    if ndjson:
        return "ndjson", ndjson
    return "none", []


def discover_tables(root: Path) -> dict[str, tuple[str, list[Path]]]:
    """Table name → (format, files) for every table found under ``root``."""
    if not root.is_dir():
        raise FileNotFoundError(f"EBQ export folder {root} does not exist")
    tables: dict[str, tuple[str, list[Path]]] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(("_", ".")):
            continue
        name = entry.name
        for suffix in sorted((*PARQUET_SUFFIXES, *NDJSON_SUFFIXES), key=len, reverse=True):
            if entry.is_file() and name.endswith(suffix):
                name = name[: -len(suffix)]
                break
        kind, files = _files_of(entry)
        if files:
            tables[check_identifier(name, "EBQ table name")] = (kind, files)
    return tables


def register_views(
    con: duckdb.DuckDBPyConnection, root: Path, prefix: str = "src_"
) -> dict[str, str]:
    """Create one temp view per exported table; return table name → view name."""
    views: dict[str, str] = {}
    for table, (kind, files) in discover_tables(root).items():
        file_list = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
        if kind == "parquet":
            scan = f"read_parquet([{file_list}], union_by_name = true)"
        else:
            # Type detection reads every row: a sample could miss the rows whose timestamps are not
            # timestamps, and then the whole scan fails instead of quarantining them.
            scan = (
                f"read_json([{file_list}], format = 'newline_delimited', union_by_name = true, "
                "sample_size = -1)"
            )
        view = f"{prefix}{table}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {scan}")
        views[table] = view
    return views
