"""The world of the UI test, built in a background thread so its waits overlap other tests.

Most of its two minutes are waits: ``dagster dev`` booting, the backfill daemon's 30-second loop,
run processes starting. The orchestration conftest starts the build when the session begins (only
if test_ui_end_to_end.py is selected); the UI tests then collect the result.

The steps, all through the webserver's GraphQL API:

1. ``dagster dev -w workspace.yaml`` on a free port, DAGSTER_HOME in tmp holding a copy of the
   repository's dagster.yaml (queued runs, the ``duckdb`` pool limited to 1, run retries), and the
   tiny synthetic world through ``SEGMENTATION_*`` variables (7-day profile window).
2. The window's days before the as-of date (2025-09-21..26) are backfilled with
   ``launchPartitionBackfill``, what the UI sends for a partition range of ``raw_events``. The
   stages do not notice a partly ingested window (profiles are aggregated over whatever days are
   present and every check still passes), so the window must be in before the segmentation reads it.
3. While that backfill's run holds the ``duckdb`` slot in its ingest step, the whole graph for
   2025-09-27 is launched with ``launchRun`` (the implicit asset job with every asset and check
   selected, as the Materialize button sends it). The two runs overlap on the one DuckDB file: the
   second must wait for the slot, not fail on DuckDB's lock, and its segmentation then reads the
   complete window because the ingest step it waited for had finished.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, DagsterInstance

from segmentation_assets.jobs import STAGE_KEYS
from segmentation_assets_tests.orchestration.conftest import (
    REPO_DAGSTER_YAML,
    tiny_env,
    tiny_settings,
)
from segmentation_assets_tests.orchestration.dagster_dev import DagsterDev, wait_for

UI_TEST_FILE = "test_ui_end_to_end.py"
AS_OF = "2025-09-27"
WINDOW_BEFORE = ("2025-09-21", "2025-09-26")
STAGES = list(STAGE_KEYS)
LOCATION = {"repositoryLocationName": "segmentation_assets", "repositoryName": "__repository__"}
#: Bounds on every wait (generous: two shared cores; the runs normally take a fraction of this).
SERVER_TIMEOUT = 180
BACKFILL_TIMEOUT = 240
RUNS_TIMEOUT = 420
BUILD_TIMEOUT = SERVER_TIMEOUT + BACKFILL_TIMEOUT + RUNS_TIMEOUT

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""
LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
STEP_STATS = """
query($id: ID!) { runOrError(runId: $id) { ... on Run { stepStats { stepKey startTime } } } }"""
BACKFILL_RUNS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { runs(limit: 10) { runId status tags { key value } } }
  }
}"""
ASSET_CHECKS = """
{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks {
    name
    executionForLatestMaterialization { runId status evaluation { severity success } }
} } } } }"""


@dataclass
class UIWorld:
    """What the UI tests look at: the running server and the two runs launched through it."""

    server: DagsterDev
    home: Path
    reports_dir: Path
    warehouse: Path
    backfill_runs: list[dict[str, Any]] = field(default_factory=list)
    backfill_run: str = ""
    graph_run: str = ""
    statuses: dict[str, str] = field(default_factory=dict)

    def instance(self) -> DagsterInstance:
        return DagsterInstance.from_config(str(self.home))

    def failures(self) -> dict[str, list[str]]:
        """Run id → the failed steps' errors, so a failed assertion says why a run failed."""
        found: dict[str, list[str]] = {}
        with self.instance() as instance:
            for run_id in self.statuses:
                for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
                    data = entry.dagster_event.step_failure_data if entry.dagster_event else None
                    error = data.error.to_string()[-1500:] if data and data.error else ""
                    found.setdefault(run_id, []).append(f"{entry.step_key}: {error}")
        return found


def launch_run(server: DagsterDev, selector: dict[str, Any], tags: dict[str, str]) -> str:
    data = server.graphql(
        LAUNCH_RUN,
        {
            "params": {
                "selector": {**LOCATION, **selector},
                "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
            }
        },
    )["launchRun"]
    assert data["__typename"] == "LaunchRunSuccess", data
    return str(data["run"]["runId"])


def every_check(server: DagsterDev) -> list[dict[str, Any]]:
    """Every asset check as the Materialize button selects it (asset key and name)."""
    nodes = server.graphql(ASSET_CHECKS)["assetNodes"]
    return [
        {"assetKey": {"path": node["assetKey"]["path"]}, "name": check["name"]}
        for node in nodes
        for check in node["assetChecksOrError"].get("checks", [])
    ]


class UIWorldBuilder:
    """Starts ``dagster dev`` now and drives steps 2 and 3 in a background thread."""

    def __init__(self, root: Path, synthetic_dir: Path) -> None:
        home = root / "dagster_home"
        home.mkdir()
        shutil.copy(REPO_DAGSTER_YAML, home / "dagster.yaml")
        settings = tiny_settings(root, synthetic_dir)
        env = {**tiny_env(settings), "DAGSTER_HOME": str(home)}
        self.world = UIWorld(
            server=DagsterDev(env, root / "dagster_dev.log"),
            home=home,
            reports_dir=settings.reports_dir,
            warehouse=settings.warehouse_path,
        )
        self.timeline: list[str] = []
        self._started = time.monotonic()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._build, name="ui-world", daemon=True)
        self._thread.start()

    def _note(self, what: str) -> None:
        self.timeline.append(f"{time.monotonic() - self._started:5.0f} s  {what}")

    def _build(self) -> None:
        try:
            self._run_steps()
        except BaseException as error:  # handed to the tests, which re-raise it
            self._error = error

    def _run_steps(self) -> None:
        world, server = self.world, self.world.server
        server.wait_until_loaded(SERVER_TIMEOUT)
        self._note("code location loaded")
        window = {"range": {"start": WINDOW_BEFORE[0], "end": WINDOW_BEFORE[1]}}
        launched = server.graphql(
            LAUNCH_BACKFILL,
            {
                "params": {
                    "partitionsByAssets": [
                        {"assetKey": {"path": ["raw_events"]}, "partitions": window}
                    ]
                }
            },
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        def ingest_step_started() -> str | None:
            runs = server.graphql(BACKFILL_RUNS, {"id": backfill_id})["partitionBackfillOrError"]
            for run in runs["runs"]:
                stats = server.graphql(STEP_STATS, {"id": run["runId"]})["runOrError"]
                for step in stats.get("stepStats") or []:
                    if step["stepKey"] == "raw_events" and step["startTime"] is not None:
                        return str(run["runId"])
            return None

        world.backfill_run = wait_for(ingest_step_started, BACKFILL_TIMEOUT, "the ingest", 1.0)
        self._note("backfill run ingesting")
        world.graph_run = launch_run(
            server,
            {
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": [stage]} for stage in STAGES],
                "assetCheckSelection": every_check(server),
            },
            {"dagster/partition": AS_OF},
        )
        world.statuses = server.wait_for_runs([world.backfill_run, world.graph_run], RUNS_TIMEOUT)
        self._note(f"runs finished: {sorted(world.statuses.values())}")
        world.backfill_runs = server.graphql(BACKFILL_RUNS, {"id": backfill_id})[
            "partitionBackfillOrError"
        ]["runs"]

    def result(self) -> UIWorld:
        """The built world (waits for the build, bounded); re-raises what went wrong."""
        self._thread.join(timeout=BUILD_TIMEOUT)
        if self._thread.is_alive():
            raise TimeoutError(f"the UI world took over {BUILD_TIMEOUT} s: {self.timeline}")
        if self._error is not None:
            raise AssertionError(
                f"building the UI world failed after {self.timeline}:\n"
                f"{self.world.server.log_tail()}"
            ) from self._error
        return self.world

    def stop(self) -> None:
        self.world.server.stop()
        # The thread's waits end once the server is gone; it never outlives the session.
        self._thread.join(timeout=30)
