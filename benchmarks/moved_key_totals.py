"""The nightly profile aggregation with kept per-key totals, against an older commit's, same data.

The profiles stage keeps the per-key sums of the latest window (``profile_key_totals``) and moves
them by a day the next night instead of summing a year of activity (``sql/customer_key_totals.sql``).
This times ``aggregate_profiles_sql`` for ``--as-of`` three ways, each in a fresh process on the same
copy of a warehouse kept by ``run_benchmark --keep-warehouse`` (it writes the kept totals, so give it
a copy): the older commit's code (checked out in a git worktree); this checkout summing the day
before (which keeps its totals); this checkout for ``--as-of``, moving them. The rows must be those
of the older code: integer and text columns equal, float columns within 1e-12 (DuckDB's parallel
double sums are not ordered, so two runs of the same code differ in the last bits).

    cp benchmarks/work/run_1000000c/warehouse.duckdb /tmp/wh1m.duckdb
    git worktree add --detach /tmp/old 1e1cd40
    .venv/bin/python -m benchmarks.moved_key_totals --warehouse /tmp/wh1m.duckdb --old-code /tmp/old
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def child(code_root: str, warehouse: str, as_of: date, step: str, out: str) -> None:
    sys.path.insert(0, code_root)
    from segmentation_assets import profiles
    from segmentation_assets import warehouse as wh

    con = wh.connect(warehouse, memory_limit="4GB", threads=2)
    if step == "keep":
        # Whatever kept totals the warehouse has, the day before is summed and kept.
        con.execute("DROP TABLE IF EXISTS profile_key_totals_window")
        as_of -= timedelta(days=1)
    start = time.perf_counter()
    frame = profiles.aggregate_profiles_sql(con, as_of, 365, refresh_activity=False)
    print(f"{step:>5} {as_of}: {time.perf_counter() - start:.2f} s", flush=True)
    frame.to_parquet(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--old-code", help="a worktree of the commit to compare (required)")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 1, 1))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        code_root, step, out = args.child
        child(code_root, args.warehouse, args.as_of, step, out)
        return
    if not args.old_code:
        parser.error("--old-code is required")

    import pandas as pd

    scratch = Path(tempfile.mkdtemp())
    for _ in range(args.rounds):
        for code_root, step in (
            (args.old_code, "old"),
            (PROJECT_ROOT, "keep"),
            (PROJECT_ROOT, "move"),
        ):
            argv = [
                sys.executable,
                "-m",
                "benchmarks.moved_key_totals",
                "--warehouse",
                args.warehouse,
            ]
            argv += ["--as-of", args.as_of.isoformat(), "--child", str(code_root), step]
            subprocess.run([*argv, str(scratch / f"{step}.parquet")], check=True, cwd=PROJECT_ROOT)
        old, moved = (pd.read_parquet(scratch / f"{s}.parquet") for s in ("old", "move"))
        pd.testing.assert_frame_equal(moved, old, check_exact=False, rtol=1e-12)
        exact = [c for c in old.columns if old[c].dtype.kind != "f"]
        pd.testing.assert_frame_equal(moved[exact], old[exact], check_exact=True)
        print(f"same rows: {len(old):,} customers, {len(exact)} non-float columns equal")


if __name__ == "__main__":
    main()
