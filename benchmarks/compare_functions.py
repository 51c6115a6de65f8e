"""Before/after of single stage functions on a kept warehouse: old code against new, same data.

Whole-pipeline runs on this shared machine vary by 20-30 %, more than most single changes gain. This
runs one stage function at a time on a warehouse kept by ``run_benchmark --keep-warehouse``, under
an older commit (checked out in a git worktree) and under this checkout, alternately and each in a
fresh process, prints the wall time of each run and checks that both give exactly the same result.

    .venv/bin/python -m benchmarks.run_benchmark --customers 1000000 --reuse --keep-warehouse
    cp benchmarks/work/run_1000000c/warehouse.duckdb /tmp/wh1m.duckdb
    .venv/bin/python -m benchmarks.compare_functions --warehouse /tmp/wh1m.duckdb --old f261887

Functions (``--only`` to choose): robustness (``assess_date``), clusters (``segment_customers``),
profiles_after_sql (``build_profiles`` on a cached SQL result), drift (``feature_drift``), report
(the report asset's HTML, JSON, summary and plot), activation (its CSV and Parquet activation
files). Results are compared with
``assert_frame_equal(check_exact=True)``, or byte for byte for the report's files. The old commit's
worktree stays in the scratch folder (``--scratch``) for the next comparison; remove it with
``git worktree remove <path>`` when done.
"""

from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ("robustness", "clusters", "profiles_after_sql", "drift", "report", "activation")


# --- the measured calls, run in a child process whose code root is first on sys.path --------------


def _connect(warehouse: str) -> Any:
    import duckdb

    con = duckdb.connect(warehouse, read_only=True)
    con.execute("SET threads = 2; SET memory_limit = '4GB'")
    return con


def _robustness(con: Any, as_of: date, out: Path, scratch: Path) -> float:
    from segmentation_assets.assets.robustness import assess_date
    from segmentation_assets.resources import PipelineSettingsResource

    start = time.perf_counter()
    result = assess_date(con, as_of, PipelineSettingsResource())
    seconds = time.perf_counter() - start
    result.scores.to_parquet(out / "scores.parquet")
    result.validation_rows.to_parquet(out / "validation.parquet")
    return seconds


def _clusters(con: Any, as_of: date, out: Path, scratch: Path) -> float:
    from segmentation_assets.profiles import stored_profiles
    from segmentation_assets.resources import PipelineSettingsResource
    from segmentation_assets.robustness import native_thread_limit
    from segmentation_assets.segmentation.outputs import (
        previous_centroids_frame,
        segment_customers,
    )

    settings = PipelineSettingsResource()
    # The previous date's reads of the clusters asset (assets/segments.py), written out here: this
    # runs under older commits too, so it can only call what every compared commit has.
    previous = as_of - timedelta(days=1)
    profiles = stored_profiles(con, as_of)
    centroids = previous_centroids_frame(
        con.execute(
            "SELECT segment_id, name, trait, value FROM segment_centroids WHERE as_of_date = $d",
            {"d": previous},
        ).df()
    )
    assignments = con.execute(
        "SELECT customer_id, segment_id FROM segment_assignments WHERE as_of_date = $d",
        {"d": previous},
    ).df()
    issued = tuple(
        r[0]
        for r in con.execute(
            "SELECT DISTINCT segment_id FROM segments WHERE as_of_date < $d", {"d": as_of}
        ).fetchall()
    )
    parallel = "workers" in inspect.signature(segment_customers).parameters
    extra = {"workers": settings.parallel_fits} if parallel else {}
    start = time.perf_counter()
    with native_thread_limit(settings.native_threads):
        outputs = segment_customers(
            profiles,
            settings.segmentation(),
            as_of,
            previous_centroids=centroids,
            previous_assignments=assignments,
            issued_ids=issued,
            **extra,
        )
    seconds = time.perf_counter() - start
    for name in ("segments", "assignments", "trait_profile", "centroids", "k_scores", "migration"):
        getattr(outputs, name).to_parquet(out / f"{name}.parquet")
    return seconds


def _profiles_after_sql(con: Any, as_of: date, out: Path, scratch: Path) -> float:
    from unittest import mock

    import pandas as pd

    from segmentation_assets import profiles

    cached = scratch / f"profile_sql_{as_of}.parquet"
    if not cached.exists():
        profiles.aggregate_profiles_sql(con, as_of, 365, refresh_activity=False).to_parquet(cached)
    frame = pd.read_parquet(cached)
    with mock.patch.object(profiles, "aggregate_profiles_sql", lambda *a, **k: frame):
        start = time.perf_counter()
        build = profiles.build_profiles(con, as_of, 365)
        seconds = time.perf_counter() - start
    build.profiles.to_parquet(out / "profiles.parquet")
    return seconds


def _drift(con: Any, as_of: date, out: Path, scratch: Path) -> float:
    from segmentation_assets import drift
    from segmentation_assets.traits import CATEGORICAL_TRAITS, NUMERIC_TRAITS
    from segmentation_assets.warehouse import read_frame

    sql = f"SELECT {', '.join((*NUMERIC_TRAITS, *CATEGORICAL_TRAITS))} FROM profiles WHERE as_of_date = $d"
    before = read_frame(con, sql, {"d": as_of - timedelta(days=1)})
    now = read_frame(con, sql, {"d": as_of})
    start = time.perf_counter()
    result = drift.feature_drift(before, now, NUMERIC_TRAITS, CATEGORICAL_TRAITS)
    seconds = time.perf_counter() - start
    result.to_parquet(out / "drift.parquet")
    return seconds


def _report_data(con: Any, as_of: date) -> Any:
    from segmentation_assets.report_data import load_report_data

    run = {
        "as_of_date": as_of.isoformat(),
        "window_days": 365,
        "data_source": "benchmark",
        "model_version": "benchmark",
        "llm_model": "offline",
        "prompt_version": "benchmark",
        "configuration": {},
        "generated_by": "benchmarks.compare_functions",
    }
    return load_report_data(con, as_of, run)


def _report(con: Any, as_of: date, out: Path, scratch: Path) -> float:
    from segmentation_assets.reporting import (
        build_report_json,
        html,
        summary_markdown,
        write_html_report,
        write_report_json,
    )

    data = _report_data(con, as_of)
    start = time.perf_counter()
    if "report" in inspect.signature(write_html_report).parameters:
        # What the report asset does since 8a008bd: the JSON and the plots built once.
        report = build_report_json(data)
        plots = html.report_plots(data)
        write_html_report(data, out / "report.html", report=report, plots=plots)
        write_report_json(report, out / "report.json")
        summary, plot = summary_markdown(report), plots["segment_value"]
    else:
        from segmentation_assets.reporting.plots import plot_segment_value

        write_html_report(data, out / "report.html")
        write_report_json(data, out / "report.json")
        summary, plot = summary_markdown(data), html.png_data_uri(plot_segment_value(data))
    seconds = time.perf_counter() - start
    (out / "summary.md").write_text(summary, encoding="utf-8")
    (out / "segment_value.txt").write_text(plot or "", encoding="utf-8")
    return seconds


def _activation(con: Any, as_of: date, out: Path, scratch: Path) -> float:
    from segmentation_assets.reporting import write_activation_exports

    data = _report_data(con, as_of)
    # The plays as the report asset takes them.
    actionability = data.actionability
    plays = dict(
        zip(actionability["segment_id"], actionability["recommended_campaign"], strict=True)
    )
    start = time.perf_counter()
    write_activation_exports(data.assignments, data.segments, plays, out)
    return time.perf_counter() - start


CALLS: dict[str, Callable[[Any, date, Path, Path], float]] = {
    "robustness": _robustness,
    "clusters": _clusters,
    "profiles_after_sql": _profiles_after_sql,
    "drift": _drift,
    "report": _report,
    "activation": _activation,
}


def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(args.code_root))
    import segmentation_assets

    loaded = Path(segmentation_assets.__file__).resolve().parent.parent
    if loaded != Path(args.code_root).resolve():
        raise SystemExit(f"imported segmentation_assets from {loaded}, not {args.code_root}")
    con = _connect(args.warehouse)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seconds = CALLS[args.child](con, date.fromisoformat(args.as_of), out, Path(args.scratch))
    (out / "seconds.json").write_text(json.dumps(seconds), encoding="utf-8")


# --- the comparison ---------------------------------------------------------------------------------


def _same(old: Path, new: Path) -> str:
    """ "identical", or what differs between the two runs' outputs."""
    import pandas as pd

    names = sorted(p.name for p in old.iterdir() if p.name != "seconds.json")
    for name in names:
        a, b = old / name, new / name
        if not b.exists():
            return f"{name} missing in the new run"
        if name.endswith(".parquet"):
            try:
                pd.testing.assert_frame_equal(
                    pd.read_parquet(a), pd.read_parquet(b), check_exact=True
                )
            except AssertionError as exc:
                return f"{name} differs: {str(exc).splitlines()[0]}"
        elif a.read_bytes() != b.read_bytes():
            return f"{name} differs"
    return "identical"


def _worktree(ref: str, scratch: Path) -> Path:
    commit = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", ref],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    path = scratch / f"code_{commit}"
    if not path.exists():
        subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "worktree", "add", "--detach", str(path), commit],
            check=True,
            capture_output=True,
        )
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True, help="a warehouse kept by run_benchmark")
    parser.add_argument("--old", required=True, help="the git commit to compare with")
    parser.add_argument("--as-of", default="2026-01-01", help="a date with a previous date")
    parser.add_argument("--rounds", type=int, default=2, help="old/new pairs per function")
    parser.add_argument("--only", nargs="*", choices=FUNCTIONS, default=list(FUNCTIONS))
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "compare")
    # Internal: one measured call in a child process.
    parser.add_argument("--child", choices=FUNCTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--code-root", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return
    args.scratch.mkdir(parents=True, exist_ok=True)
    roots = {"old": _worktree(args.old, args.scratch), "new": PROJECT_ROOT}
    print(f"old: {args.old} at {roots['old']}; new: {PROJECT_ROOT}", flush=True)
    for name in args.only:
        times: dict[str, list[float]] = {"old": [], "new": []}
        outs: dict[str, Path] = {}
        for round_ in range(args.rounds):
            for code, root in roots.items():
                outs[code] = args.scratch / f"{name}_{code}_{round_}"
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.compare_functions",
                        "--child",
                        name,
                        "--code-root",
                        str(root),
                        "--warehouse",
                        args.warehouse,
                        "--as-of",
                        args.as_of,
                        "--old",
                        args.old,
                        "--scratch",
                        str(args.scratch),
                        "--out",
                        str(outs[code]),
                    ],
                    check=True,
                    cwd=PROJECT_ROOT,
                )
                times[code].append(json.loads((outs[code] / "seconds.json").read_text()))
        print(
            f"{name}: old {', '.join(f'{t:.2f}' for t in times['old'])} s; "
            f"new {', '.join(f'{t:.2f}' for t in times['new'])} s; "
            f"{_same(outs['old'], outs['new'])}",
            flush=True,
        )


if __name__ == "__main__":
    main()
