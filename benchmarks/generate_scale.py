"""Time the synthetic EBQ generator at a given size; print wall time, peak RSS and row counts.

Usage (from the repository root)::

    .venv/bin/python benchmarks/generate_scale.py --customers 100000 --days 365
    .venv/bin/python benchmarks/generate_scale.py --customers 1000000 --days 365 --workers 2

The export is written to ``--out`` (default: a folder under /tmp) and deleted afterwards unless
``--keep`` is given: at 1M customers it is several GB. Peak RSS is reported for this process and
for the largest worker process (``--workers`` > 1 generates chunks in separate processes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path
from time import perf_counter

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from segmentation_assets.ebq.generator import DEFAULT_CHUNK_CUSTOMERS, generate_ebq_export
from segmentation_assets.ebq.schema import EVENT_TABLES


def _folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run one generation and print (and return) its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK_CUSTOMERS)
    parser.add_argument("--bad-rows", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the export (default: delete)")
    parser.add_argument("--json", action="store_true", help="print one JSON line only")
    args = parser.parse_args(argv)

    out = args.out or Path("/tmp") / f"ebq_scale_{args.customers}_{args.days}d"
    end = args.start + timedelta(days=args.days - 1)
    started = perf_counter()
    result = generate_ebq_export(
        out,
        n_customers=args.customers,
        start_date=args.start,
        end_date=end,
        seed=args.seed,
        bad_rows=args.bad_rows,
        chunk_customers=args.chunk,
        workers=args.workers,
    )
    wall = perf_counter() - started
    # ru_maxrss is in KiB on Linux; RUSAGE_CHILDREN reports the largest finished child.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    events = sum(
        result.manifest.row_counts[t] for t in EVENT_TABLES if t in result.manifest.row_counts
    )
    figures: dict[str, object] = {
        "customers": args.customers,
        "days": args.days,
        "workers": args.workers,
        "chunk_customers": args.chunk,
        "wall_seconds": round(wall, 1),
        "peak_rss_mb_main": round(own),
        "peak_rss_mb_largest_worker": round(children),
        "event_rows": events,
        "events_per_second": round(events / wall),
        "bytes_on_disk": _folder_bytes(out),
        "row_counts": result.manifest.row_counts,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    if not args.keep:
        shutil.rmtree(out)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    else:
        for key, value in figures.items():
            print(f"{key:>28}: {value}")
    return figures


if __name__ == "__main__":
    main()
