"""Where the ingest's time goes: each SQL statement of ``ingest_window``, timed, outside Dagster.

The raw_events stage of a benchmark run is one ``ingest_window`` call over the whole range plus
Dagster's bookkeeping. This runs the same call on a fresh scratch warehouse with the benchmark's
DuckDB settings, records the wall and CPU time of every statement the ingest executes, and prints
them summed by statement, with the staging time of each chunk, so a change to the ingest can be
measured without the rest of the pipeline:

    .venv/bin/python -m benchmarks.ingest_statements \\
        --export benchmarks/work/ebq_1000000c_366d_seed42 --start 2025-01-01 --end 2026-01-01

``--end`` is exclusive. The scratch warehouse (``--warehouse``, default in the system's temporary
folder) is deleted first and kept afterwards for comparisons.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from segmentation_assets import ingest, warehouse
from segmentation_assets.export_folder import register_views
from segmentation_assets.settings import Settings

LABEL_CHARS = 48
STAGING_STATEMENT = "CREATE OR REPLACE TEMP TABLE staged_events"


class TimedConnection:
    """A DuckDB connection that records (statement, wall seconds, CPU seconds) of each execute."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self.timings: list[tuple[str, float, float]] = []

    def execute(self, query: str, *args: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = self._connection.execute(query, *args)
        label = " ".join(query.split())[:LABEL_CHARS]
        self.timings.append((label, time.perf_counter() - wall, time.process_time() - cpu))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def summarize(timings: list[tuple[str, float, float]], top: int = 12) -> list[str]:
    totals: dict[str, list[float]] = {}
    for label, wall, cpu in timings:
        entry = totals.setdefault(label, [0.0, 0.0, 0.0])
        entry[0] += wall
        entry[1] += cpu
        entry[2] += 1
    ranked = sorted(totals.items(), key=lambda item: -item[1][0])[:top]
    return [f"{wall:8.1f} {cpu:8.1f}  x{int(n):<4d} {label}" for label, (wall, cpu, n) in ranked]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, required=True, help="EBQ export folder")
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="exclusive")
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=Path(tempfile.gettempdir()) / "ingest_statements.duckdb",
        help="scratch DuckDB file, deleted first",
    )
    args = parser.parse_args(argv)
    for stale in (args.warehouse, args.warehouse.with_name(args.warehouse.name + ".wal")):
        stale.unlink(missing_ok=True)
    settings = Settings()
    with warehouse.connect(
        args.warehouse, memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads
    ) as connection:
        views = register_views(connection, args.export)
        ingest.ensure_tables(connection)
        timed = TimedConnection(connection)
        wall, cpu = time.perf_counter(), time.process_time()
        stats = ingest.ingest_window(timed, views, args.start, args.end)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"ingest {args.start} .. {args.end}: {stats.rows_read:,} rows read")
    print(f"total: wall {wall:.1f} s, cpu {cpu:.1f} s")
    print("    wall      cpu  calls statement (summed)")
    for line in summarize(timed.timings):
        print(line)
    staging = [w for label, w, _ in timed.timings if label.startswith(STAGING_STATEMENT)]
    print(f"chunks: {len(staging)}; staging seconds each: {', '.join(f'{w:.1f}' for w in staging)}")
    chunks = chunk_seconds(timed.timings)
    print(f"seconds of each chunk, all its statements: {', '.join(f'{w:.1f}' for w in chunks)}")


def chunk_seconds(timings: list[tuple[str, float, float]]) -> list[float]:
    """Wall seconds of each chunk: its staging statement and every statement up to the next one."""
    chunks: list[float] = []
    for label, wall, _ in timings:
        if label.startswith(STAGING_STATEMENT):
            chunks.append(0.0)
        if chunks:
            chunks[-1] += wall
    return chunks


if __name__ == "__main__":
    main()
