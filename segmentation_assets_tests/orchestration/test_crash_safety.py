"""A run SIGKILLed in the middle of writing a partition range leaves the warehouse as it was, and the
re-run gives exactly what an uninterrupted run gives. (The range is three days, one chunk of the
ingest, so one transaction; a failure in a later chunk of a longer range is in test_ingest.py.)

The killed run is a real ``ingest_job`` run in its own process (crash_writer.py), stopped after it
has deleted the range's rows and inserted the new ones but before it commits. It reads a different
export (another seed) than the one already ingested, so any leaked row would show.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster import DagsterInstance
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from segmentation_assets.definitions import build_definitions
from segmentation_assets.runner import QUIET_LOGS
from segmentation_assets.settings import PROJECT_ROOT, Settings
from segmentation_assets_tests.orchestration.conftest import (
    SEED,
    assert_same_tables,
    generated_export,
    snapshot,
    tiny_env,
    tiny_settings,
)

RANGE = {ASSET_PARTITION_RANGE_START_TAG: "2025-09-05", ASSET_PARTITION_RANGE_END_TAG: "2025-09-07"}
#: Bounded waits: the child needs to import Dagster and the project, then ingest three days.
MARKER_TIMEOUT_SECONDS = 150


def ingest(settings: Settings) -> None:
    result = (
        build_definitions(settings)
        .resolve_job_def("ingest_job")
        .execute_in_process(instance=DagsterInstance.ephemeral(), tags=RANGE, run_config=QUIET_LOGS)
    )
    assert result.success


def kill_mid_write(settings: Settings, workdir: Path) -> int:
    """Run the range's ingest in a child process and SIGKILL it while its write is open.

    Returns the raw_events row count the child's open transaction saw when it was killed.
    """
    marker = workdir / "writing"
    log = workdir / "crash_writer.log"
    env = {**os.environ, **tiny_env(settings)}
    with log.open("w") as out:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "segmentation_assets_tests.orchestration.crash_writer",
                str(marker),
                RANGE[ASSET_PARTITION_RANGE_START_TAG],
                RANGE[ASSET_PARTITION_RANGE_END_TAG],
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + MARKER_TIMEOUT_SECONDS
            while not marker.exists():
                assert child.poll() is None, f"writer exited early:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, "writer never reached the write"
                time.sleep(0.2)
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(timeout=30) == -signal.SIGKILL
            return int(json.loads(marker.read_text())["raw_events_rows"])
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=30)


def test_a_run_killed_mid_write_leaves_the_previous_rows_and_a_rerun_matches_a_clean_run(
    tmp_path: Path, synthetic_dir: Path
) -> None:
    before = tiny_settings(tmp_path / "warehouse", synthetic_dir)
    ingest(before)
    previous = snapshot(before.warehouse_path)
    # A clean copy of that state for the reference run.
    reference_root = tmp_path / "reference"
    reference_root.mkdir()
    shutil.copy(before.warehouse_path, reference_root / "warehouse.duckdb")

    # The re-ingest reads a re-exported source (another seed): different rows for the same days.
    corrected = tiny_settings(tmp_path / "warehouse", synthetic_dir, synthetic_seed=SEED + 1)
    generated_export(corrected)
    rows_being_written = kill_mid_write(corrected, tmp_path)

    # The kill came after the new rows were in the open transaction; none of them is left.
    assert rows_being_written != len(previous["raw_events"])
    assert_same_tables(snapshot(before.warehouse_path), previous)

    ingest(corrected)  # the re-run, in the same warehouse
    ingest(tiny_settings(reference_root, synthetic_dir, synthetic_seed=SEED + 1))  # uninterrupted
    rerun = snapshot(corrected.warehouse_path)
    assert_same_tables(rerun, snapshot(reference_root / "warehouse.duckdb"))
    assert len(rerun["raw_events"]) != len(previous["raw_events"])  # the re-run did change the rows
