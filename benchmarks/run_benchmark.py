"""Run the real pipeline on a synthetic EBQ export of a given size and record what it costs.

Usage (from the repository root; ``make bench`` runs the default size)::

    .venv/bin/python -m benchmarks.run_benchmark --customers 10000 [--days 365] [--reuse]
    .venv/bin/python -m benchmarks.run_benchmark --table      # markdown table of results.jsonl

What one benchmark does, in order (each measured phase runs in its own child process, so a phase's
peak memory is its own and not what an earlier phase left behind):

1. **export** — generate (or, with ``--reuse``, reuse) a synthetic EBQ export of ``--customers``
   customers over ``--days + 1`` days starting at ``--start`` with
   :func:`segmentation_assets.ebq.generator.generate_ebq_export` (through
   ``benchmarks/generate_scale.py``). The first ``--days`` days are "the year"; the extra last day
   is the "new day" of the nightly refresh and is never read by the year run (ingest filters on the
   business timestamp).
2. **floor** — a bare DuckDB scan-and-aggregate over the same exported event Parquet files and the
   same year: every event file read once, grouped by customer, a few counts and sums, written to an
   in-memory table. Same DuckDB threads and memory limit as the warehouse. Best of two runs.
3. **year** — the real pipeline through Dagster on a fresh warehouse and a fresh Dagster instance
   (``DAGSTER_HOME`` with the repository's ``dagster.yaml``): ``SEGMENTATION_SOURCE=ebq_export``
   and :func:`segmentation_assets.runner.run_as_of` for as-of = the year's last day, which ingests the
   window's first ``days - 1`` days as one range run of ``ingest_job`` and then runs
   ``segmentation_pipeline`` (all seven stages, the as-of day's ingest included) with every check.
4. **nightly** — the refresh of one new day on top of the built year, in a new process as a nightly
   run would be: ``run_as_of`` for as-of = the year's last day + 1 on the same warehouse and instance.
   Nothing is missing from the window but the new day, so this is ``segmentation_pipeline`` alone:
   ingest of the new day from the export, identity, profiles over the 365-day window ending at the
   new day, clusters matched to the previous day's, robustness (with day-over-day agreement),
   actionability and report.

With ``--keep-year-state`` the warehouse and Dagster instance are copied aside after the year
(``year_state_<N>c/`` in the work folder, with the commit that built them); ``--nightly-only`` then
copies them back and runs the floor and the nightly alone, so a change to the nightly can be timed
in minutes instead of after a whole year. Such a record has no year and is left out of ``--table``.

Per stage it records the wall time of the asset's step and of its checks (from the STEP_START /
STEP_SUCCESS events of the runs in the instance's event log), the peak RSS of the child process tree
while the step ran (a background thread samples it with psutil, or /proc without psutil), and rows
in and out (materialization metadata ``dagster/row_count`` and counts of the tables). One JSON line
per benchmark is appended to ``benchmarks/results/results.jsonl`` with the machine (nproc, memory,
CPU model, load average before and after), versions, the exact command and the date.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from segmentation_assets.jobs import STAGE_KEYS

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_FILE = BENCH_DIR / "results" / "results.jsonl"
DEFAULT_WORKDIR = BENCH_DIR / "work"
#: A run folder's layout: the warehouse, the reports and the Dagster instance the pipeline is
#: pointed at (:func:`child_env`), which is also what a kept year state holds.
RUN_WAREHOUSE = "warehouse.duckdb"
RUN_REPORTS = "reports"
RUN_DAGSTER_HOME = "dagster_home"
#: The ``mode`` of a record of ``--nightly-only`` (a whole run's record has no ``mode``).
NIGHTLY_ONLY_MODE = "nightly only"

#: The seven stages in pipeline order.
STAGES = STAGE_KEYS
#: Stages that read every event of the window; their wall time is compared with the DuckDB floor.
EVENT_STAGES = ("raw_events", "merged_ids", "profiles")

#: Targets of issue 10 (2 cores, 24 GB). Sizes are customers; None = applies to every size.
TARGETS: dict[str, dict[str, Any]] = {
    "year_process_seconds": {"customers": 1_000_000, "max": 600.0},
    "year_peak_rss_mb": {"customers": 1_000_000, "max": 6 * 1024.0},
    "event_stage_floor_ratio": {"customers": None, "max": 3.0},
    "nightly_process_seconds": {"customers": 1_000_000, "max": 120.0},
    "year_process_seconds_10k": {"customers": 10_000, "max": 20.0},
    "generation_seconds": {"customers": 1_000_000, "max": 180.0},
}

MB = 1024 * 1024


# --- memory sampling ---------------------------------------------------------------------------


def _proc_tree_rss_bytes(pid: int) -> int:
    """RSS of ``pid`` and all its descendants, from /proc (Linux; used when psutil is missing)."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    stack.extend(int(c) for c in handle.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def tree_rss_reader(pid: int) -> Callable[[], int]:
    """A function returning the current RSS (bytes) of ``pid``'s whole process tree."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dagster dependency
        return lambda: _proc_tree_rss_bytes(pid)
    root = psutil.Process(pid)

    def read() -> int:
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        return total

    return read


class MemorySampler(threading.Thread):
    """Samples a process tree's RSS every ``interval`` seconds into ``(unix time, bytes)`` pairs."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.read = tree_rss_reader(pid)
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.time(), self.read()))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peak_mb(self, start: float | None = None, end: float | None = None) -> float | None:
        values = [
            rss
            for t, rss in self.samples
            if (start is None or t >= start - self.interval) and (end is None or t <= end)
        ]
        return round(max(values) / MB, 1) if values else None


# --- machine and versions ----------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def machine_description() -> dict[str, Any]:
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        (
            int(line.split()[1])
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    return {
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu_model": cpu_model,
        "platform": platform.platform(),
    }


def load_now() -> dict[str, Any]:
    """Load average and the ``uptime`` line, recorded beside every figure."""
    try:
        uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    except OSError:
        uptime = ""
    return {"loadavg": [round(x, 2) for x in os.getloadavg()], "uptime": uptime.strip()}


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in (
        "segmentation_assets",
        "dagster",
        "duckdb",
        "pandas",
        "numpy",
        "pyarrow",
        "scikit-learn",
        "sqlglot",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_state() -> dict[str, Any]:
    """The commit and uncommitted files; a code snapshot (no .git) describes itself instead."""
    marker = PROJECT_ROOT / "BENCH_SNAPSHOT"
    if marker.exists():
        return {"snapshot": marker.read_text(encoding="utf-8").strip()}

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
        )
        # Only trailing whitespace: porcelain status lines start with a significant space.
        return result.stdout.rstrip()

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line]
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_files": sorted(changed)}


# --- child processes ----------------------------------------------------------------------------


#: The CPU-time fields of /proc/stat's ``cpu`` line, in their order.
PROC_STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def machine_cpu_seconds(proc_stat: str | None = None) -> dict[str, float] | None:
    """The machine's CPU time since boot by kind, in seconds, summed over every core.

    Read from the ``cpu`` line of /proc/stat (``proc_stat``: its text, for tests); None where there
    is none (not Linux).
    """
    text = _read("/proc/stat") if proc_stat is None else proc_stat
    fields = text.partition("\n")[0].split()
    if len(fields) < 1 + len(PROC_STAT_FIELDS) or fields[0] != "cpu":
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return {
        name: int(value) / ticks for name, value in zip(PROC_STAT_FIELDS, fields[1:], strict=False)
    }


def cpu_account(
    before: dict[str, float] | None,
    after: dict[str, float] | None,
    child_cpu_seconds: float,
    harness_cpu_seconds: float,
) -> dict[str, float]:
    """Where the machine's CPU went while one child ran, in seconds summed over the cores.

    ``child_cpu_seconds``: user + system time of the child and the processes it waited for;
    ``harness_cpu_seconds``: this process's own (the memory sampler). What else the machine did in
    that time (``others_cpu_seconds``: other users' processes) and the time the hypervisor gave to
    other machines (``steal_seconds``) are why the same code runs slower at one hour than another.
    """
    account = {"process_cpu_seconds": round(child_cpu_seconds, 1)}
    if before is None or after is None:
        return account
    delta = {name: after[name] - before[name] for name in PROC_STAT_FIELDS}
    busy = sum(delta[n] for n in ("user", "nice", "system", "irq", "softirq"))
    account.update(
        {
            "machine_busy_seconds": round(busy, 1),
            "others_cpu_seconds": round(
                max(busy - child_cpu_seconds - harness_cpu_seconds, 0.0), 1
            ),
            "steal_seconds": round(delta["steal"], 1),
            "iowait_seconds": round(delta["iowait"], 1),
            "idle_seconds": round(delta["idle"], 1),
        }
    )
    return account


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class ChildRun(NamedTuple):
    """What :func:`run_child` measured of one child process."""

    data: dict[str, Any]  # the JSON the child wrote to its result file
    sampler: MemorySampler  # its process tree's RSS over time
    wall: float  # seconds
    cpu: dict[str, float]  # :func:`cpu_account`


def run_child(argv: Sequence[str], env: dict[str, str], result_file: Path | None) -> ChildRun:
    """Run ``argv`` as a child process, sampling its tree's RSS and accounting for the CPU."""
    if result_file is not None and result_file.exists():
        result_file.unlink()
    machine_before = machine_cpu_seconds()
    children_before = _cpu_seconds(resource.RUSAGE_CHILDREN)
    harness_before = _cpu_seconds(resource.RUSAGE_SELF)
    started = time.time()
    proc = subprocess.Popen(list(argv), env=env, cwd=PROJECT_ROOT)
    sampler = MemorySampler(proc.pid)
    sampler.start()
    code = proc.wait()
    wall = time.time() - started
    sampler.stop()
    cpu = cpu_account(
        machine_before,
        machine_cpu_seconds(),
        _cpu_seconds(resource.RUSAGE_CHILDREN) - children_before,
        _cpu_seconds(resource.RUSAGE_SELF) - harness_before,
    )
    if code != 0:
        raise RuntimeError(f"child failed with exit code {code}: {shlex.join(argv)}")
    data: dict[str, Any] = {}
    if result_file is not None:
        data = json.loads(result_file.read_text(encoding="utf-8"))
    return ChildRun(data, sampler, wall, cpu)


def phase_argv(phase: str, args: argparse.Namespace, **extra: str) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "benchmarks.run_benchmark",
        "--phase",
        phase,
        "--customers",
        str(args.customers),
        "--days",
        str(args.days),
        "--start",
        args.start.isoformat(),
        "--workdir",
        str(args.workdir),
    ]
    for key, value in extra.items():
        argv += [f"--{key.replace('_', '-')}", value]
    return argv


# --- export ----------------------------------------------------------------------------------------


def export_root(args: argparse.Namespace) -> Path:
    return Path(args.workdir) / f"ebq_{args.customers}c_{args.days + 1}d_seed{args.seed}"


def ensure_export(args: argparse.Namespace) -> dict[str, Any]:
    """Generate the export (timed, in a child process) unless ``--reuse`` finds a matching one."""
    from segmentation_assets.ebq.generator import read_generator_manifest

    root = export_root(args)
    end = args.start + timedelta(days=args.days)
    if args.reuse and (root / "_ground_truth" / "manifest.json").exists():
        manifest = read_generator_manifest(root)
        if (
            manifest.n_customers == args.customers
            and manifest.start_date == args.start
            and manifest.end_date == end
            and manifest.seed == args.seed
        ):
            return {"path": str(root), "generated": False, **_export_facts(root)}
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        str(BENCH_DIR / "generate_scale.py"),
        "--customers",
        str(args.customers),
        "--days",
        str(args.days + 1),
        "--start",
        args.start.isoformat(),
        "--seed",
        str(args.seed),
        "--workers",
        str(args.generator_workers),
        "--out",
        str(root),
        "--keep",
        "--json",
    ]
    load_before = load_now()
    started = time.time()
    proc = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    wall = time.time() - started
    if proc.returncode != 0:
        raise RuntimeError(f"generation failed: {proc.stderr[-2000:]}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "path": str(root),
        "generated": True,
        "command": shlex.join(argv),
        "generation_seconds": figures["wall_seconds"],
        "generation_process_seconds": round(wall, 1),
        "generation_peak_rss_mb": max(
            figures["peak_rss_mb_main"], figures["peak_rss_mb_largest_worker"]
        ),
        "load_before": load_before,
        "load_after": load_now(),
        **_export_facts(root),
    }


def _export_facts(root: Path) -> dict[str, Any]:
    from segmentation_assets.ebq.generator import read_generator_manifest
    from segmentation_assets.ebq.schema import EVENT_TABLES

    manifest = read_generator_manifest(root)
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return {
        "start_date": manifest.start_date.isoformat(),
        "end_date": manifest.end_date.isoformat(),
        "event_rows": sum(manifest.row_counts.get(t, 0) for t in EVENT_TABLES),
        "row_counts": manifest.row_counts,
        "bytes_on_disk": size,
    }


# --- phase: floor ----------------------------------------------------------------------------------


def floor_sql(con: Any, root: Path, start: date, end: date) -> str:
    """Scan every event Parquet file of the export once (the year only), group by customer."""
    from segmentation_assets.ebq.schema import CUSTOMER_TABLES
    from segmentation_assets.export_folder import discover_tables

    parts = []
    for table, (kind, files) in sorted(discover_tables(root).items()):
        if table in CUSTOMER_TABLES or kind != "parquet":
            continue
        file_list = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
        scan = f"read_parquet([{file_list}], union_by_name = true)"
        fields = {
            str(r[0]) for r in con.execute(f"DESCRIBE SELECT properties.* FROM {scan}").fetchall()
        }
        amount = next(
            (f"properties.{f}" for f in ("total_price", "price") if f in fields), "NULL::DOUBLE"
        )
        parts.append(
            f"SELECT '{table}' AS source_table, internal_customer_id, timestamp, "
            f"CAST({amount} AS DOUBLE) AS amount FROM {scan} "
            f"WHERE timestamp >= TIMESTAMPTZ '{start.isoformat()} 00:00:00+00' "
            f"AND timestamp < TIMESTAMPTZ '{end.isoformat()} 00:00:00+00'"
        )
    return (
        "CREATE OR REPLACE TABLE floor_profiles AS SELECT internal_customer_id, count(*) AS events, "
        "min(timestamp) AS first_seen, max(timestamp) AS last_seen, sum(amount) AS amount, "
        "count(*) FILTER (source_table = 'session_start') AS sessions, "
        "count(*) FILTER (source_table = 'purchase') AS purchases "
        f"FROM ({' UNION ALL '.join(parts)}) GROUP BY internal_customer_id"
    )


def copy_floor_sql(root: Path, start: date, end: date) -> str:
    """Every event of the year, its four columns with the properties flattened, into a table."""
    from segmentation_assets.ebq.schema import CUSTOMER_TABLES
    from segmentation_assets.export_folder import discover_tables

    parts = []
    for table, (kind, files) in sorted(discover_tables(root).items()):
        if table in CUSTOMER_TABLES or kind != "parquet":
            continue
        file_list = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
        parts.append(
            f"(SELECT '{table}' AS source_table, internal_customer_id, timestamp, "
            f"ingest_timestamp, properties.* FROM read_parquet([{file_list}], union_by_name = true) "
            f"WHERE timestamp >= TIMESTAMPTZ '{start.isoformat()} 00:00:00+00' "
            f"AND timestamp < TIMESTAMPTZ '{end.isoformat()} 00:00:00+00')"
        )
    return "CREATE TABLE copied_events AS " + " UNION ALL BY NAME ".join(parts)


def phase_floor(args: argparse.Namespace) -> dict[str, Any]:
    import duckdb

    from segmentation_assets.settings import Settings

    settings = Settings()
    root = export_root(args)
    year_end = args.start + timedelta(days=args.days)
    runs = []
    for _ in range(args.floor_repeats):
        con = duckdb.connect(":memory:")
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
        con.execute(f"SET threads = {int(settings.duckdb_threads)}")
        query = floor_sql(con, root, args.start, year_end)
        started = time.time()
        con.execute(query)
        seconds = time.time() - started
        row = con.execute("SELECT count(*), sum(events) FROM floor_profiles").fetchone()
        assert row is not None
        runs.append(
            {
                "seconds": round(seconds, 2),
                "customers_out": int(row[0]),
                "events_in": int(row[1]),
                "load": load_now()["loadavg"],
            }
        )
        con.close()
    best = min(runs, key=lambda r: r["seconds"])
    copy: dict[str, Any] | None = None
    if args.copy_floor:
        # The write floor of the ingest: land the same events in a DuckDB file, no typing,
        # de-duplication, quarantine or sort; checkpointed, as a committed ingest is.
        path = Path(args.workdir) / f"copy_floor_{args.customers}c.duckdb"
        for leftover in (path, path.with_suffix(".duckdb.wal")):
            leftover.unlink(missing_ok=True)
        con = duckdb.connect(str(path))
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
        con.execute(f"SET threads = {int(settings.duckdb_threads)}")
        started = time.time()
        con.execute(copy_floor_sql(root, args.start, year_end))
        con.execute("CHECKPOINT")
        seconds = time.time() - started
        row = con.execute("SELECT count(*) FROM copied_events").fetchone()
        con.close()
        copy = {
            "seconds": round(seconds, 2),
            "rows": int(row[0]) if row else 0,
            "bytes": path.stat().st_size,
            "load": load_now()["loadavg"],
        }
        path.unlink(missing_ok=True)
    return {
        "copy_floor": copy,
        "seconds": best["seconds"],
        "rows_in": best["events_in"],
        "rows_out": best["customers_out"],
        "runs": runs,
        "duckdb_threads": settings.duckdb_threads,
        "duckdb_memory_limit": settings.duckdb_memory_limit,
        "query_shape": "read_parquet per event table (customer id, timestamp, one amount) "
        "UNION ALL, WHERE year, GROUP BY customer: count, min/max timestamp, sum amount, "
        "2 filtered counts, into an in-memory table",
    }


# --- phase: pipeline -------------------------------------------------------------------------------


def _metadata_numbers(metadata: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        raw = getattr(value, "value", value)
        if isinstance(raw, bool | int | float):
            out[key] = raw
    return out


def step_records(instance: Any, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """One record per step of the runs: asset, kind, start/end (event log timestamps), metadata."""
    steps: list[dict[str, Any]] = []
    for run_id in run_ids:
        by_key: dict[str, dict[str, Any]] = {}
        job_name = None
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None:
                continue
            job_name = entry.job_name or job_name
            kind = event.event_type_value
            key = entry.step_key
            if key is None:
                continue
            step = by_key.setdefault(
                key, {"run_id": run_id, "step_key": key, "asset": None, "kind": None}
            )
            if kind == "STEP_START":
                step["start"] = entry.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                step["end"] = entry.timestamp
                step["status"] = kind
            elif kind == "ASSET_MATERIALIZATION":
                materialization = event.event_specific_data.materialization
                step["asset"] = materialization.asset_key.to_user_string()
                step["kind"] = "asset"
                numbers = _metadata_numbers(dict(materialization.metadata))
                step.setdefault("metadata", []).append(
                    {"partition": materialization.partition, **numbers}
                )
            elif kind == "ASSET_CHECK_EVALUATION":
                evaluation = event.event_specific_data
                step["asset"] = evaluation.asset_key.to_user_string()
                step["kind"] = "check"
                step["check"] = evaluation.check_name
                step["passed"] = evaluation.passed
        for step in by_key.values():
            if step["asset"] is None and step["step_key"] in STAGES:  # failed before materializing
                step["asset"], step["kind"] = step["step_key"], "asset"
            step["job"] = job_name
            if "start" in step and "end" in step:
                step["seconds"] = round(step["end"] - step["start"], 3)
            steps.append(step)
    return sorted(steps, key=lambda s: s.get("start", 0.0))


def run_bounds(instance: Any, run_id: str) -> tuple[float | None, float | None]:
    """Unix times of the run's start and end events."""
    from dagster import DagsterEventType

    start = end = None
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.RUN_START:
            start = entry.timestamp
        elif event.event_type in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            end = entry.timestamp
    return start, end


def table_rows(warehouse: str, as_of: date, window_days: int) -> dict[str, Any]:
    """Counts of what each stage read and wrote for ``as_of``."""
    import duckdb

    con = duckdb.connect(warehouse, read_only=True)
    try:
        params = {"d": as_of, "s": as_of - timedelta(days=window_days - 1)}

        def one(sql: str) -> int | None:
            used = {k: v for k, v in params.items() if f"${k}" in sql}
            try:
                row = con.execute(sql, used).fetchone()
            except duckdb.CatalogException:  # the stage that writes the table did not run
                return None
            return int(row[0]) if row and row[0] is not None else 0

        return {
            "raw_events_total": one("SELECT count(*) FROM raw_events"),
            "raw_events_in_window": one(
                "SELECT count(*) FROM raw_events WHERE event_date BETWEEN $s AND $d"
            ),
            "raw_events_on_as_of_day": one("SELECT count(*) FROM raw_events WHERE event_date = $d"),
            "quarantine_total": one("SELECT count(*) FROM raw_events_quarantine"),
            "merged_ids": one("SELECT count(*) FROM merged_ids WHERE as_of_date = $d"),
            "profiles": one("SELECT count(*) FROM profiles WHERE as_of_date = $d"),
            "segments": one("SELECT count(*) FROM segments WHERE as_of_date = $d"),
            "segment_assignments": one(
                "SELECT count(*) FROM segment_assignments WHERE as_of_date = $d"
            ),
            "segment_robustness": one(
                "SELECT count(*) FROM segment_robustness WHERE as_of_date = $d"
            ),
            "segment_actionability": one(
                "SELECT count(*) FROM segment_actionability WHERE as_of_date = $d"
            ),
            "activation_rows": one("SELECT activation_rows FROM report_runs WHERE as_of_date = $d"),
        }
    finally:
        con.close()


def phase_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    t_process = time.time()
    from dagster import DagsterInstance

    from segmentation_assets.definitions import build_definitions
    from segmentation_assets.runner import run_as_of
    from segmentation_assets.settings import Settings

    settings = Settings()
    defs = build_definitions(settings)
    instance = DagsterInstance.get()
    as_of = date.fromisoformat(args.as_of)
    earlier_runs = {r.run_id for r in instance.get_runs()}
    t_ready = time.time()
    error = None
    try:
        run_as_of(
            defs,
            instance,
            as_of,
            warehouse_path=str(settings.warehouse_path),
            window_days=settings.window_days,
            progress=lambda line: print(f"[{datetime.now(UTC):%H:%M:%S}] {line}", flush=True),
        )
    except Exception as exc:  # recorded with the figures of the steps that did run
        error = f"{type(exc).__name__}: {exc}"
        print(f"pipeline failed: {error}", flush=True)
    t_done = time.time()
    run_ids = [r.run_id for r in reversed(instance.get_runs()) if r.run_id not in earlier_runs]
    runs = []
    for run_id in run_ids:
        start, end = run_bounds(instance, run_id)
        runs.append({"run_id": run_id, "start": start, "end": end})
    tables = table_rows(str(settings.warehouse_path), as_of, settings.window_days)
    return {
        "as_of": as_of.isoformat(),
        "window_days": settings.window_days,
        "error": error,
        "customers_profiled": tables.get("profiles"),
        "segments_found": tables.get("segments"),
        "import_and_definitions_seconds": round(t_ready - t_process, 2),
        "run_as_of_seconds": round(t_done - t_ready, 2),
        "runs": runs,
        "steps": step_records(instance, run_ids),
        "tables": tables,
        "warehouse_bytes": Path(settings.warehouse_path).stat().st_size,
    }


# --- assembling the record ------------------------------------------------------------------------


def stage_table(
    pipeline: dict[str, Any], sampler: MemorySampler, floor_seconds: float | None
) -> dict[str, Any]:
    """Per stage: wall of the asset step(s) and its checks, peak RSS, rows in and out."""
    tables = pipeline["tables"]
    stages: dict[str, Any] = {}
    for stage in STAGES:
        steps = [s for s in pipeline["steps"] if s.get("asset") == stage and "seconds" in s]
        asset_steps = [s for s in steps if s["kind"] == "asset"]
        check_steps = [s for s in steps if s["kind"] == "check"]
        if not asset_steps:
            continue
        seconds = sum(s["seconds"] for s in asset_steps)
        peaks = [sampler.peak_mb(s["start"], s["end"]) for s in asset_steps]
        check_peaks = [sampler.peak_mb(s["start"], s["end"]) for s in check_steps]
        # Every partition's materialization carries its own day's figures (a range run's too).
        metadata = [m for s in asset_steps for m in s.get("metadata") or []]
        row_count = sum(int(m.get("dagster/row_count", 0)) for m in metadata)
        entry: dict[str, Any] = {
            "seconds": round(seconds, 2),
            "steps": [
                {"job": s["job"], "seconds": s["seconds"], "peak_rss_mb": p}
                for s, p in zip(asset_steps, peaks, strict=True)
            ],
            "checks_seconds": round(sum(s["seconds"] for s in check_steps), 2),
            "checks": {
                f"{s['job']}:{s.get('check')}": {
                    "seconds": s["seconds"],
                    "passed": s.get("passed"),
                    "peak_rss_mb": p,
                }
                for s, p in zip(check_steps, check_peaks, strict=True)
            },
            "peak_rss_mb": max((p for p in peaks if p is not None), default=None),
            "dagster_row_count": row_count,
            "status": "ok"
            if all(s.get("status") == "STEP_SUCCESS" for s in asset_steps)
            else "failed",
        }
        if stage == "raw_events":
            entry["rows_in"] = sum(int(m.get("rows_read", 0)) for m in metadata)
            entry["rows_out"] = sum(int(m.get("rows_accepted", 0)) for m in metadata)
            entry["rows_quarantined"] = sum(int(m.get("rows_quarantined", 0)) for m in metadata)
            entry["duplicates_dropped"] = sum(int(m.get("duplicates_dropped", 0)) for m in metadata)
            entry["rows_note"] = "in = source rows read, out = accepted into raw_events"
        elif stage == "merged_ids":
            entry["rows_in"] = tables["raw_events_in_window"]
            entry["rows_out"] = tables["merged_ids"]
            entry["rows_note"] = "in = raw_events of the window, out = ids mapped"
        elif stage == "profiles":
            entry["rows_in"] = tables["raw_events_in_window"]
            entry["rows_out"] = tables["profiles"]
            entry["rows_note"] = "in = raw_events of the window, out = customer profiles"
        elif stage == "clusters":
            entry["rows_in"] = tables["profiles"]
            entry["rows_out"] = tables["segment_assignments"]
            entry["rows_note"] = f"in = profiles, out = assignments ({tables['segments']} segments)"
        elif stage == "robustness":
            entry["rows_in"] = tables["profiles"]
            entry["rows_out"] = tables["segment_robustness"]
            entry["rows_note"] = "in = profiles, out = segment robustness rows"
        elif stage == "actionability":
            entry["rows_in"] = tables["segments"]
            entry["rows_out"] = tables["segment_actionability"]
            entry["rows_note"] = "in = segments, out = verdicts"
        elif stage == "report":
            entry["rows_in"] = tables["segment_assignments"]
            entry["rows_out"] = tables["activation_rows"]
            entry["rows_note"] = "in = assignments, out = activation rows"
        if floor_seconds and stage in EVENT_STAGES:
            entry["floor_ratio"] = round(seconds / floor_seconds, 2)
            entry["floor_ratio_with_checks"] = round(
                (seconds + entry["checks_seconds"]) / floor_seconds, 2
            )
        stages[stage] = entry
    return stages


def summarize_pipeline(child: ChildRun, floor_seconds: float | None) -> dict[str, Any]:
    pipeline, sampler, wall = child.data, child.sampler, child.wall
    steps_seconds = sum(s.get("seconds", 0.0) for s in pipeline["steps"])
    return {
        "as_of": pipeline["as_of"],
        "error": pipeline["error"],
        "process_seconds": round(wall, 2),
        "import_and_definitions_seconds": pipeline["import_and_definitions_seconds"],
        "run_as_of_seconds": pipeline["run_as_of_seconds"],
        "steps_seconds": round(steps_seconds, 2),
        "asset_steps_seconds": round(
            sum(s.get("seconds", 0.0) for s in pipeline["steps"] if s["kind"] == "asset"), 2
        ),
        "check_steps_seconds": round(
            sum(s.get("seconds", 0.0) for s in pipeline["steps"] if s["kind"] == "check"), 2
        ),
        "peak_rss_mb": sampler.peak_mb(),
        "cpu": child.cpu,
        "customers_profiled": pipeline["customers_profiled"],
        "segments_found": pipeline["segments_found"],
        "warehouse_bytes": pipeline["warehouse_bytes"],
        "tables": pipeline["tables"],
        "stages": stage_table(pipeline, sampler, floor_seconds),
        "runs": pipeline["runs"],
    }


def evaluate_targets(record: dict[str, Any]) -> dict[str, Any]:
    customers = record["customers"]
    year = record.get("year") or {}
    nightly = record.get("nightly") or {}
    results: dict[str, Any] = {}

    def add(name: str, value: float | None) -> None:
        target = TARGETS[name]
        if target["customers"] not in (None, customers) or value is None:
            return
        results[name] = {"value": value, "max": target["max"], "met": value <= target["max"]}

    add("year_process_seconds", year.get("process_seconds"))
    add("year_peak_rss_mb", year.get("peak_rss_mb"))
    add("year_process_seconds_10k", year.get("process_seconds"))
    add("nightly_process_seconds", nightly.get("process_seconds"))
    export = record.get("export") or {}
    add("generation_seconds", export.get("generation_seconds"))
    ratios = [
        (stage, year["stages"][stage].get("floor_ratio"))
        for stage in EVENT_STAGES
        if stage in year.get("stages", {})
    ]
    known = [r for r in ratios if r[1] is not None]
    if known:
        worst = max(known, key=lambda r: r[1])
        results["event_stage_floor_ratio"] = {
            "value": worst[1],
            "stage": worst[0],
            "max": TARGETS["event_stage_floor_ratio"]["max"],
            "met": worst[1] <= TARGETS["event_stage_floor_ratio"]["max"],
            "by_stage": dict(known),
        }
    return results


def cpu_line(cpu: dict[str, float]) -> str:
    """The CPU account (:func:`cpu_account`) in one line of the printed summary."""
    line = f"{cpu['process_cpu_seconds']} s used by the run"
    if "others_cpu_seconds" in cpu:
        line += (
            f", {cpu['others_cpu_seconds']} s by other processes, {cpu['steal_seconds']} s "
            f"stolen by the hypervisor, {cpu['iowait_seconds']} s waiting on the disk, "
            f"{cpu['idle_seconds']} s idle"
        )
    return line


def print_summary(record: dict[str, Any]) -> None:
    def num(value: Any) -> str:
        return f"{value:,}" if isinstance(value, int) else str(value)

    print(f"\n== {record['customers']:,} customers, {record['days']} days: {record['status']} ==")
    floor = record.get("floor")
    if floor:
        print(f"floor: {floor['seconds']} s over {floor['rows_in']:,} events")
        if floor.get("cpu"):
            print(f"  cpu of the floor process: {cpu_line(floor['cpu'])}")
        copy = floor.get("copy_floor")
        if copy:
            print(f"copy floor: {copy['seconds']} s for {copy['rows']:,} events")
    for phase in ("year", "nightly"):
        data = record.get(phase)
        if not data:
            continue
        print(
            f"{phase}: process {data['process_seconds']} s, peak {data['peak_rss_mb']} MB, "
            f"{num(data['customers_profiled'])} profiles, {num(data['segments_found'])} segments"
            + (f", ERROR {data['error']}" if data["error"] else "")
        )
        if data.get("cpu"):
            print(f"  cpu: {cpu_line(data['cpu'])}")
        for stage, s in data["stages"].items():
            ratio = f"  x{s['floor_ratio']} floor" if "floor_ratio" in s else ""
            if "copy_floor_ratio" in s:
                ratio += f", x{s['copy_floor_ratio']} copy floor"
            print(
                f"  {stage:<14} {s['seconds']:>8.1f} s  checks {s['checks_seconds']:>6.1f} s  "
                f"peak {s['peak_rss_mb']} MB  rows {num(s.get('rows_in'))} -> "
                f"{num(s.get('rows_out'))}{ratio} {s['status']}"
            )
    for name, target in record.get("targets", {}).items():
        print(f"target {name}: {target['value']} (max {target['max']}) met={target['met']}")


# --- the markdown table -------------------------------------------------------------------------


def results_table(path: Path = RESULTS_FILE) -> str:
    """Markdown: the latest whole record (year and nightly) of each size side by side."""
    latest: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            if record.get("mode") != NIGHTLY_ONLY_MODE:
                latest[record["customers"]] = record
    sizes = sorted(latest)
    header = "| | " + " | ".join(f"{s:,} customers" for s in sizes) + " |"
    lines = [header, "|---|" + "---:|" * len(sizes)]

    def row(label: str, fn: Callable[[dict[str, Any]], Any]) -> None:
        cells = []
        for s in sizes:
            try:
                value = fn(latest[s])
            except (KeyError, TypeError):
                value = None
            cells.append("—" if value is None else str(value))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("event rows (year)", lambda r: f"{r['year']['stages']['raw_events']['rows_in']:,}")
    row("generation (s)", lambda r: r["export"].get("generation_seconds"))
    row("DuckDB floor (s)", lambda r: r["floor"]["seconds"])

    def stage_cell(record: dict[str, Any], stage: str) -> str:
        entry = record["year"]["stages"][stage]
        ratio = f" (×{entry['floor_ratio']})" if "floor_ratio" in entry else ""
        return f"{entry['seconds']}{ratio}"

    for stage in STAGES:
        row(f"{stage} (s)", lambda r, st=stage: stage_cell(r, st))  # type: ignore[misc]
    row("all checks (s)", lambda r: r["year"]["check_steps_seconds"])
    row("year: whole process (s)", lambda r: r["year"]["process_seconds"])
    row("year: peak RSS (MB)", lambda r: r["year"]["peak_rss_mb"])
    row("nightly: whole process (s)", lambda r: r["nightly"]["process_seconds"])
    row("nightly: peak RSS (MB)", lambda r: r["nightly"]["peak_rss_mb"])

    def cpu_cell(phase: dict[str, Any]) -> str:
        cpu = phase["cpu"]
        return " / ".join(
            str(cpu.get(key, "—"))
            for key in ("process_cpu_seconds", "others_cpu_seconds", "steal_seconds")
        )

    row("year: CPU of the run / of others / stolen (s)", lambda r: cpu_cell(r["year"]))
    row("nightly: CPU of the run / of others / stolen (s)", lambda r: cpu_cell(r["nightly"]))
    row(
        "profiles / segments",
        lambda r: f"{r['year']['customers_profiled']:,} / {r['year']['segments_found']}",
    )
    row("load average (1 min) at start", lambda r: r["load_before"]["loadavg"][0])
    return "\n".join(lines)


# --- the year state, for nightly-only runs --------------------------------------------------------

YEAR_STATE_MANIFEST = "year_state.json"
#: What a year state holds: the run folder's warehouse (and DuckDB's write-ahead log, if one was
#: left), the Dagster instance with the year's runs, and the reports.
YEAR_STATE_ENTRIES = (RUN_WAREHOUSE, f"{RUN_WAREHOUSE}.wal", RUN_DAGSTER_HOME, RUN_REPORTS)


def year_state_dir(args: argparse.Namespace) -> Path:
    return Path(args.workdir) / f"year_state_{args.customers}c"


def _copy_entries(source: Path, target: Path) -> None:
    for name in YEAR_STATE_ENTRIES:
        entry = source / name
        if entry.is_dir():
            shutil.copytree(entry, target / name)
        elif entry.exists():
            shutil.copy2(entry, target / name)


def save_year_state(run_dir: Path, state_dir: Path, manifest: dict[str, Any]) -> None:
    """Copy the built year (see :data:`YEAR_STATE_ENTRIES`) to ``state_dir`` with ``manifest``.

    The manifest is written last, so a copy that fails half-way is never taken for a state.
    """
    if state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True)
    _copy_entries(run_dir, state_dir)
    (state_dir / YEAR_STATE_MANIFEST).write_text(
        json.dumps(manifest, sort_keys=True, default=str), encoding="utf-8"
    )


def restore_year_state(
    state_dir: Path, run_dir: Path, export: str, year_as_of: date
) -> dict[str, Any]:
    """Copy a saved year into the (empty) ``run_dir``; return its manifest.

    Raises ``SystemExit`` naming what is missing or different: no state, or one built from another
    export or for another as-of date, would time a different nightly.
    """
    manifest_path = state_dir / YEAR_STATE_MANIFEST
    if not manifest_path.exists():
        raise SystemExit(
            f"no year state in {state_dir}: run the benchmark once with --keep-year-state"
        )
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    expected = {"export": export, "year_as_of": year_as_of.isoformat()}
    different = {k: (manifest.get(k), v) for k, v in expected.items() if manifest.get(k) != v}
    if different:
        detail = "; ".join(
            f"{k} is {got!r}, this run needs {want!r}" for k, (got, want) in different.items()
        )
        raise SystemExit(f"the year state in {state_dir} does not match this run: {detail}")
    _copy_entries(state_dir, run_dir)
    return manifest


# --- main ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365, help="the year's length (profile window)")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reuse", action="store_true", help="reuse a matching generated export")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--generator-workers", type=int, default=1)
    parser.add_argument("--floor-repeats", type=int, default=2)
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument(
        "--copy-floor",
        action="store_true",
        help="also time a bare copy of the events into a DuckDB file (the ingest's write floor)",
    )
    parser.add_argument("--skip-nightly", action="store_true")
    parser.add_argument("--duckdb-memory-limit", default=None, help="e.g. 4GB (Settings default)")
    parser.add_argument("--duckdb-threads", type=int, default=None)
    parser.add_argument("--keep-warehouse", action="store_true")
    parser.add_argument(
        "--keep-year-state",
        action="store_true",
        help="copy the built year aside (year_state_<N>c/ in --workdir) for --nightly-only",
    )
    parser.add_argument(
        "--nightly-only",
        action="store_true",
        help="time the floor and the nightly on a copy of the kept year state (no year)",
    )
    parser.add_argument("--delete-export", action="store_true", help="delete the export at the end")
    parser.add_argument("--no-record", action="store_true", help="do not append to results.jsonl")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help="JSON-lines file")
    parser.add_argument("--note", default="", help="free text stored with the record")
    parser.add_argument("--table", action="store_true", help="print the results table and exit")
    # Internal: the measured phases run as child processes of the benchmark.
    parser.add_argument("--phase", choices=("floor", "pipeline"), help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    return parser


def child_env(args: argparse.Namespace, run_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTATION_")}
    env.update(
        {
            "SEGMENTATION_SOURCE": "ebq_export",
            "SEGMENTATION_EXPORT_PATH": str(export_root(args)),
            "SEGMENTATION_WAREHOUSE_PATH": str(run_dir / RUN_WAREHOUSE),
            "SEGMENTATION_REPORTS_DIR": str(run_dir / RUN_REPORTS),
            "SEGMENTATION_WINDOW_DAYS": str(args.days),
            "DAGSTER_HOME": str(run_dir / RUN_DAGSTER_HOME),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if args.duckdb_memory_limit:
        env["SEGMENTATION_DUCKDB_MEMORY_LIMIT"] = args.duckdb_memory_limit
    if args.duckdb_threads:
        env["SEGMENTATION_DUCKDB_THREADS"] = str(args.duckdb_threads)
    return env


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    args = build_parser().parse_args(argv)
    if args.table:
        print(results_table(args.results))
        return None
    if args.phase:
        result = phase_floor(args) if args.phase == "floor" else phase_pipeline(args)
        assert args.result_file is not None
        args.result_file.write_text(json.dumps(result, default=str), encoding="utf-8")
        return result

    if args.nightly_only and (args.skip_nightly or args.keep_year_state):
        raise SystemExit(
            "--nightly-only runs no year: it cannot be given --skip-nightly or --keep-year-state"
        )
    args.workdir = Path(args.workdir).resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    command = shlex.join(
        [Path(sys.executable).name, "-m", "benchmarks.run_benchmark", *sys.argv[1:]]
    )
    record: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "customers": args.customers,
        "days": args.days,
        "note": args.note,
        "machine": machine_description(),
        "versions": versions(),
        "code_root": str(PROJECT_ROOT),
        "git": git_state(),
        "load_before": load_now(),
        "disk_free_gb_before": round(shutil.disk_usage(args.workdir).free / 1e9, 1),
    }
    print(f"load: {record['load_before']['uptime']}", flush=True)
    record["export"] = ensure_export(args)
    print(f"export: {record['export']['path']} ({record['export']['event_rows']:,} event rows)")

    year_end = args.start + timedelta(days=args.days - 1)
    run_dir = args.workdir / f"run_{args.customers}c"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    if args.nightly_only:
        run_dir.mkdir(parents=True)
        record["mode"] = NIGHTLY_ONLY_MODE
        record["year_state"] = restore_year_state(
            year_state_dir(args), run_dir, record["export"]["path"], year_end
        )
        built_by = record["year_state"].get("git") or {}
        print(f"year state: built by {built_by.get('commit') or built_by}", flush=True)
    else:
        (run_dir / RUN_DAGSTER_HOME).mkdir(parents=True)
    # The instance settings of the code being timed, also over a restored year's.
    shutil.copy(PROJECT_ROOT / "dagster.yaml", run_dir / RUN_DAGSTER_HOME / "dagster.yaml")
    env = child_env(args, run_dir)
    result_file = run_dir / "phase_result.json"
    settings_note = {
        "duckdb_memory_limit": args.duckdb_memory_limit or "Settings default",
        "duckdb_threads": args.duckdb_threads or "Settings default",
    }
    record["settings"] = settings_note

    floor_seconds = None
    if not args.skip_floor:
        print("floor: bare DuckDB scan-and-aggregate", flush=True)
        load = load_now()
        argv = phase_argv("floor", args, result_file=str(result_file))
        floor_run = run_child(
            [*argv, "--copy-floor"] if args.copy_floor else argv, env, result_file
        )
        floor = floor_run.data
        floor.update(
            {
                "process_seconds": round(floor_run.wall, 2),
                "peak_rss_mb": floor_run.sampler.peak_mb(),
                "cpu": floor_run.cpu,
                "load_before": load,
                "load_after": load_now(),
            }
        )
        record["floor"] = floor
        floor_seconds = floor["seconds"]

    phases = [] if args.nightly_only else [("year", year_end)]
    if not args.skip_nightly:
        phases.append(("nightly", year_end + timedelta(days=1)))
    try:
        for name, as_of in phases:
            print(f"{name}: run_as_of {as_of}", flush=True)
            load = load_now()
            child = run_child(
                phase_argv("pipeline", args, as_of=as_of.isoformat(), result_file=str(result_file)),
                env,
                result_file,
            )
            summary = summarize_pipeline(child, floor_seconds)
            copy_floor = (record.get("floor") or {}).get("copy_floor")
            if name == "year" and copy_floor and "raw_events" in summary["stages"]:
                entry = summary["stages"]["raw_events"]
                entry["copy_floor_ratio"] = round(entry["seconds"] / copy_floor["seconds"], 2)
            summary["load_before"] = load
            summary["load_after"] = load_now()
            record[name] = summary
            if summary["error"]:
                break
            if name == "year" and args.keep_year_state:
                state_dir = year_state_dir(args)
                save_year_state(
                    run_dir,
                    state_dir,
                    {
                        "export": record["export"]["path"],
                        "year_as_of": as_of.isoformat(),
                        "git": record["git"],
                        "saved": datetime.now(UTC).isoformat(timespec="seconds"),
                    },
                )
                print(f"year state kept in {state_dir}", flush=True)
        failed = [n for n, _ in phases if (record.get(n) or {}).get("error")]
        record["status"] = f"failed in {', '.join(failed)}" if failed else "ok"
        record["load_after"] = load_now()
        record["targets"] = evaluate_targets(record)
        if not args.no_record:
            args.results.parent.mkdir(parents=True, exist_ok=True)
            with args.results.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=True, default=str) + "\n")
    finally:
        if not args.keep_warehouse:
            shutil.rmtree(run_dir, ignore_errors=True)
        if args.delete_export:
            shutil.rmtree(export_root(args), ignore_errors=True)
    print_summary(record)
    return record


if __name__ == "__main__":
    main()
