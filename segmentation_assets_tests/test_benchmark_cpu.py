"""The benchmark's CPU account: what a run used, and what else the machine did meanwhile."""

from __future__ import annotations

import json
import os
import sys

import pytest

from benchmarks.run_benchmark import (
    PROC_STAT_FIELDS,
    cpu_account,
    machine_cpu_seconds,
    results_table,
    run_child,
)

TICKS = os.sysconf("SC_CLK_TCK")


def test_proc_stat_cpu_line_is_read_in_seconds() -> None:
    text = f"cpu  {TICKS * 10} {TICKS} {TICKS * 4} {TICKS * 100} {TICKS * 2} 0 {TICKS} {TICKS * 3} 0 0\ncpu0 1 2 3"
    seconds = machine_cpu_seconds(text)
    assert seconds == {
        "user": 10.0,
        "nice": 1.0,
        "system": 4.0,
        "idle": 100.0,
        "iowait": 2.0,
        "irq": 0.0,
        "softirq": 1.0,
        "steal": 3.0,
    }


@pytest.mark.parametrize("text", ["", "intr 1 2 3", "cpu 1 2 3"])
def test_no_cpu_line_gives_none(text: str) -> None:
    assert machine_cpu_seconds(text) is None


def test_the_account_splits_the_machine_busy_time() -> None:
    before = dict.fromkeys(PROC_STAT_FIELDS, 0.0)
    after = {
        **before,
        "user": 50.0,
        "system": 8.0,
        "softirq": 2.0,
        "idle": 30.0,
        "steal": 4.5,
        "iowait": 1.5,
    }
    account = cpu_account(before, after, child_cpu_seconds=40.0, harness_cpu_seconds=1.0)
    assert account == {
        "process_cpu_seconds": 40.0,
        "machine_busy_seconds": 60.0,
        "others_cpu_seconds": 19.0,
        "steal_seconds": 4.5,
        "iowait_seconds": 1.5,
        "idle_seconds": 30.0,
    }
    # Without /proc/stat only the run's own CPU is known.
    assert cpu_account(None, after, 40.0, 1.0) == {"process_cpu_seconds": 40.0}


def test_a_child_run_is_charged_its_cpu_time() -> None:
    burn = "import time\nwhile time.process_time() < 0.3:\n    pass\n"
    child = run_child([sys.executable, "-c", burn], dict(os.environ), None)
    assert child.cpu["process_cpu_seconds"] >= 0.3
    assert child.wall > 0
    if machine_cpu_seconds() is not None:  # Linux: the machine saw at least the child's work
        assert child.cpu["machine_busy_seconds"] >= child.cpu["process_cpu_seconds"] - 0.1


def test_the_results_table_shows_each_size_cpu_account(tmp_path) -> None:
    cpu = {"process_cpu_seconds": 46.5, "others_cpu_seconds": 1.2, "steal_seconds": 1.9}
    records = [
        {"customers": 1000, "year": {"cpu": cpu}, "nightly": {"cpu": {"process_cpu_seconds": 3.0}}},
        # An older record, from before the CPU account: its cells stay empty.
        {"customers": 10_000, "year": {"process_seconds": 60.0}},
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    rows = {line.split(" | ")[0].lstrip("| "): line for line in results_table(results).splitlines()}
    assert rows["year: CPU of the run / of others / stolen (s)"].endswith(
        "| 46.5 / 1.2 / 1.9 | — |"
    )
    assert rows["nightly: CPU of the run / of others / stolen (s)"].endswith("| 3.0 / — / — | — |")
    assert rows["year: whole process (s)"].endswith("| — | 60.0 |")
