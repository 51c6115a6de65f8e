"""The benchmark's kept year state: a nightly timed alone on a copy of a built year."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from benchmarks.run_benchmark import (
    NIGHTLY_ONLY_MODE,
    YEAR_STATE_MANIFEST,
    main,
    restore_year_state,
    results_table,
    save_year_state,
)

EXPORT = "/work/bench/ebq_1000c_366d_seed42"
YEAR_AS_OF = date(2025, 12, 31)


def built_year(run_dir: Path) -> Path:
    """A run folder as the year leaves it (a warehouse file, a Dagster home, the reports)."""
    (run_dir / "dagster_home" / "storage").mkdir(parents=True)
    (run_dir / "dagster_home" / "storage" / "runs.db").write_bytes(b"runs of the year")
    (run_dir / "reports" / "2025-12-31").mkdir(parents=True)
    (run_dir / "reports" / "2025-12-31" / "report.json").write_text("{}", encoding="utf-8")
    (run_dir / "warehouse.duckdb").write_bytes(b"the year's warehouse")
    return run_dir


def manifest() -> dict[str, object]:
    return {"export": EXPORT, "year_as_of": YEAR_AS_OF.isoformat(), "git": {"commit": "abc1234"}}


def test_a_saved_year_is_restored_file_for_file(tmp_path: Path) -> None:
    year = built_year(tmp_path / "run")
    state = tmp_path / "state"
    save_year_state(year, state, manifest())
    restored = tmp_path / "again"
    restored.mkdir()
    got = restore_year_state(state, restored, EXPORT, YEAR_AS_OF)
    assert got["git"] == {"commit": "abc1234"}
    assert (restored / "warehouse.duckdb").read_bytes() == b"the year's warehouse"
    assert (restored / "dagster_home" / "storage" / "runs.db").read_bytes() == b"runs of the year"
    assert (restored / "reports" / "2025-12-31" / "report.json").exists()
    # No write-ahead log was left by the year, so none is made up.
    assert not (restored / "warehouse.duckdb.wal").exists()
    # The state is a copy: the nightly writing to the restored warehouse leaves it as it was.
    (restored / "warehouse.duckdb").write_bytes(b"after the nightly")
    assert (state / "warehouse.duckdb").read_bytes() == b"the year's warehouse"


def test_saving_again_replaces_the_earlier_state(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "reports" / "stale").mkdir(parents=True)
    save_year_state(built_year(tmp_path / "run"), state, manifest())
    assert not (state / "reports" / "stale").exists()
    assert json.loads((state / YEAR_STATE_MANIFEST).read_text(encoding="utf-8")) == manifest()


def test_a_missing_or_foreign_state_is_refused_by_name(tmp_path: Path) -> None:
    run_dir = tmp_path / "run_dir"
    run_dir.mkdir()
    with pytest.raises(SystemExit, match=r"no year state in .*--keep-year-state"):
        restore_year_state(tmp_path / "nothing", run_dir, EXPORT, YEAR_AS_OF)

    state = tmp_path / "state"
    save_year_state(built_year(tmp_path / "run"), state, manifest())
    with pytest.raises(
        SystemExit,
        match=r"export is '/work/bench/ebq_1000c_366d_seed42', this run needs '/other/export'",
    ):
        restore_year_state(state, run_dir, "/other/export", YEAR_AS_OF)
    with pytest.raises(SystemExit, match="year_as_of is '2025-12-31', this run needs '2026-03-31'"):
        restore_year_state(state, run_dir, EXPORT, date(2026, 3, 31))
    # Refused before anything was copied.
    assert list(run_dir.iterdir()) == []


def test_nightly_only_refuses_options_that_need_a_year(tmp_path: Path) -> None:
    for option in ("--skip-nightly", "--keep-year-state"):
        with pytest.raises(SystemExit, match="--nightly-only runs no year"):
            main(["--nightly-only", option, "--workdir", str(tmp_path), "--reuse", "--no-record"])


def test_the_table_keeps_the_last_whole_run_of_a_size(tmp_path: Path) -> None:
    records = [
        {
            "customers": 1000,
            "year": {"process_seconds": 21.5},
            "nightly": {"process_seconds": 13.5},
        },
        {"customers": 1000, "mode": NIGHTLY_ONLY_MODE, "nightly": {"process_seconds": 12.0}},
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    rows = {line.split(" | ")[0].lstrip("| "): line for line in results_table(results).splitlines()}
    assert rows["year: whole process (s)"].endswith("| 21.5 |")
    assert rows["nightly: whole process (s)"].endswith("| 13.5 |")
