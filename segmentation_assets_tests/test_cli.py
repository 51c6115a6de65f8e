"""The ``segmentation`` command line, in-process through ``cli.main`` and once as a real process.

Every path a command writes is in a temporary folder (flags and SEGMENTATION_* variables), so
nothing lands in the repository's data/ folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from segmentation_assets.cli import main

AS_OF = "2025-12-31"
#: The summary block `segmentation run` and `segmentation report` print (RunSummary.format).
SUMMARY_KEYS = (
    "as-of date",
    "customers profiled",
    "segments found",
    "production-ready segments",
    "report",
)
SEGMENTATION = Path(sys.executable).with_name("segmentation")


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    def summary(self) -> dict[str, str]:
        """The last summary block printed, as key → value."""
        lines = self.stdout.splitlines()
        start = max(i for i, line in enumerate(lines) if line.startswith("as-of date"))
        block = lines[start : start + len(SUMMARY_KEYS)]
        assert [line[:27].strip() for line in block] == list(SUMMARY_KEYS)
        return {line[:27].strip(): line[27:].strip() for line in block}


def run_cli(*argv: str) -> Outcome:
    """``main(argv)`` in this process with stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Outcome(code, out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True, scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small synthetic world in a temporary folder, on an ephemeral Dagster instance."""
    root = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DAGSTER_HOME", raising=False)
        for key in list(os.environ):
            if key.startswith("SEGMENTATION_"):
                mp.delenv(key)
        mp.setenv("SEGMENTATION_SYNTHETIC_DIR", str(root / "synthetic"))
        # Two months of data profiled over 60 days: shorter than both sensitivity windows (90 and
        # 180 days), which the CLI's full analytical defaults then skip.
        mp.setenv("SEGMENTATION_SYNTHETIC_START_DATE", "2025-11-01")
        mp.setenv("SEGMENTATION_WINDOW_DAYS", "60")
        mp.chdir(root)  # a stray .env or relative path resolves here, not in the repository
        yield root


@pytest.fixture(scope="module")
def small_run(world: Path) -> Outcome:
    from threadpoolctl import threadpool_limits

    import segmentation_assets.definitions  # noqa: F401 - loads scikit-learn's OpenMP runtime

    # One native thread (threadpoolctl limits only runtimes already loaded, hence the import):
    # scikit-learn's OpenMP threads spin instead of sleeping on a busy shared machine.
    with threadpool_limits(limits=1):
        return run_cli(
            "run",
            "--as-of",
            AS_OF,
            "--warehouse",
            str(world / "warehouse.duckdb"),
            "--reports-dir",
            str(world / "reports"),
            "--customers",
            "300",
            "--seed",
            "7",
        )


def test_help_lists_every_sub_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("run", "generate", "report"):
        assert command in text


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        ("run", ["--as-of", "--start", "--end", "--warehouse", "--source", "--export-path"]),
        ("generate", ["--out", "--customers", "--seed", "--start", "--end", "--bad-rows"]),
        ("report", ["--as-of", "--warehouse", "--open"]),
    ],
)
def test_sub_command_help(
    command: str, flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: segmentation {command}")
    for flag in flags:
        assert flag in text


def test_run_prints_the_summary(small_run: Outcome, world: Path) -> None:
    assert small_run.exit_code == 0, small_run.stderr
    assert small_run.stderr == ""
    summary = small_run.summary()
    assert summary["as-of date"] == AS_OF
    assert 200 < int(summary["customers profiled"].replace(",", "")) <= 300
    assert 3 <= int(summary["segments found"]) <= 10  # chosen from the data in the default range
    report = Path(summary["report"])
    assert report.is_file() and report.is_relative_to(world / "reports")
    assert "ingesting 2025-11-02 .. 2025-12-30" in small_run.stdout  # the 60-day window
    con = duckdb.connect(str(world / "warehouse.duckdb"), read_only=True)
    try:
        segments = con.execute("SELECT count(*) FROM segments").fetchone()
    finally:
        con.close()
    assert segments is not None and segments[0] == int(summary["segments found"])


def test_report_prints_the_same_summary(small_run: Outcome, world: Path) -> None:
    assert small_run.exit_code == 0
    outcome = run_cli("report", "--warehouse", str(world / "warehouse.duckdb"))
    assert outcome.exit_code == 0 and outcome.stderr == ""
    assert outcome.summary() == small_run.summary()


def test_report_without_a_warehouse_fails_in_one_line(world: Path) -> None:
    outcome = run_cli("report", "--warehouse", str(world / "missing.duckdb"))
    assert outcome.exit_code == 1
    assert outcome.stderr.count("\n") == 1
    assert outcome.stderr.startswith("segmentation report: error: no warehouse at")


def test_run_with_end_before_start_fails_in_one_line() -> None:
    outcome = run_cli("run", "--start", "2025-12-05", "--end", "2025-12-01")
    assert outcome.exit_code == 1
    assert outcome.stderr == (
        "segmentation run: error: --end 2025-12-01 is before --start 2025-12-05\n"
    )


def test_generate_writes_an_export(world: Path) -> None:
    out = world / "export"
    outcome = run_cli(
        "generate",
        "--out",
        str(out),
        "--customers",
        "40",
        "--seed",
        "3",
        "--start",
        "2025-12-01",
        "--end",
        "2025-12-31",
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout == f"wrote a synthetic EBQ export of 40 customers to {out}\n"
    manifest = json.loads((out / "_ground_truth" / "manifest.json").read_text())
    assert manifest["n_customers"] == 40
    assert any((out / "purchase").glob("*.parquet"))
    assert any((out / "customers_properties").glob("*.parquet"))


def test_failed_run_exits_non_zero_with_one_line(world: Path) -> None:
    """The installed console script, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    completed = subprocess.run(
        [
            str(SEGMENTATION),
            "run",
            "--source",
            "ebq_export",
            "--export-path",
            "/nonexistent",
            "--warehouse",
            str(world / "failed.duckdb"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=world,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr == (
        "segmentation run: error: EBQ export folder /nonexistent does not exist\n"
    )
    assert not (world / "failed.duckdb").exists()
