"""The UI path end to end: ``dagster dev`` with the repository's dagster.yaml, driven through the
webserver's GraphQL API the way the Materialize button drives it, then looked at in headless Chromium.

The world (a window backfill, and the whole graph for one partition launched while that backfill
holds the ``duckdb`` slot) is described and built in ui_world.py, in the background from the start of
the session; these tests check what it produced.
"""

from __future__ import annotations

import base64
import io
import itertools
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest
from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey, DagsterEventType
from PIL import Image

from segmentation_assets_tests.orchestration.conftest import ARTIFACTS
from segmentation_assets_tests.orchestration.dagster_dev import CHROMIUM, chromium
from segmentation_assets_tests.orchestration.ui_world import (
    AS_OF,
    ASSET_CHECKS,
    STAGES,
    WINDOW_BEFORE,
    UIWorld,
    UIWorldBuilder,
    every_check,
)


@pytest.fixture(scope="module")
def ui_world(ui_world_builder: UIWorldBuilder | None) -> UIWorld:
    assert ui_world_builder is not None, "the conftest starts the build when this file is selected"
    return ui_world_builder.result()


def test_the_nightly_schedule_and_its_sensors_are_on_in_a_fresh_ui(ui_world: UIWorld) -> None:
    data = ui_world.server.graphql(
        "{ repositoriesOrError { ... on RepositoryConnection { nodes {"
        " schedules { name cronSchedule executionTimezone scheduleState { status } }"
        " sensors { name sensorState { status } } } } } }"
    )
    (repository,) = data["repositoriesOrError"]["nodes"]
    schedules = {s["name"]: s for s in repository["schedules"]}
    nightly = schedules["nightly_segmentation"]
    assert (nightly["cronSchedule"], nightly["executionTimezone"]) == ("0 2 * * *", "UTC")
    assert nightly["scheduleState"]["status"] == "RUNNING"
    sensors = {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]}
    assert sensors["nightly_resegmentation"] == "RUNNING"
    assert sensors["freshness_checks"] == "RUNNING"


def test_a_range_backfill_from_the_ui_is_one_run(ui_world: UIWorld) -> None:
    (run,) = ui_world.backfill_runs
    assert run["status"] == "SUCCESS"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert (
        tags["dagster/asset_partition_range_start"],
        tags["dagster/asset_partition_range_end"],
    ) == WINDOW_BEFORE


def test_overlapping_runs_queue_on_the_duckdb_pool_instead_of_failing(ui_world: UIWorld) -> None:
    assert ui_world.statuses == {
        ui_world.graph_run: "SUCCESS",
        ui_world.backfill_run: "SUCCESS",
    }, ui_world.failures()
    steps: list[tuple[float, float, str, str]] = []  # start, end, run, step
    lifetimes = {}
    with ui_world.instance() as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        for run_id in (ui_world.backfill_run, ui_world.graph_run):
            logs = instance.all_logs(run_id)
            text = "\n".join(entry.message or "" for entry in logs)
            assert "Could not set lock" not in text and "Conflicting lock" not in text
            started: dict[str, float] = {}
            for entry in logs:
                kind = entry.dagster_event.event_type if entry.dagster_event else None
                if entry.step_key is None or kind is None:
                    continue
                if kind == DagsterEventType.STEP_START:
                    started[entry.step_key] = entry.timestamp
                elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                    steps.append((started[entry.step_key], entry.timestamp, run_id, entry.step_key))
            lifetimes[run_id] = (logs[0].timestamp, logs[-1].timestamp)
    # The runs overlapped: the graph run was submitted while the backfill run was in progress...
    backfill_start, backfill_end = lifetimes[ui_world.backfill_run]
    graph_start, _ = lifetimes[ui_world.graph_run]
    assert backfill_start < graph_start < backfill_end
    # ...yet no two steps of different runs held the DuckDB file at the same time...
    steps.sort()
    for (_, end, run, step), (start, _, other, next_step) in itertools.pairwise(steps):
        assert run == other or end <= start, f"{step} and {next_step} overlapped"
    # ...and the segmentation started only once the window was ingested.
    ingest_end = next(e for _, e, r, k in steps if r == ui_world.backfill_run and k == "raw_events")
    assert min(b for b, _, r, _ in steps if r == ui_world.graph_run) >= ingest_end


def test_a_partition_of_the_whole_graph_materialized_from_the_ui(ui_world: UIWorld) -> None:
    assert ui_world.statuses[ui_world.graph_run] == "SUCCESS", ui_world.failures()
    with ui_world.instance() as instance:
        for stage in STAGES:
            assert AS_OF in instance.get_materialized_partitions(AssetKey(stage)), stage

    # Every check the Materialize button selected was evaluated in the run; no ERROR check failed.
    selected = {(c["assetKey"]["path"][0], c["name"]) for c in every_check(ui_world.server)}
    with ui_world.instance() as instance:
        records = instance.all_logs(
            ui_world.graph_run, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        )
    evaluations: dict[tuple[str, str], AssetCheckEvaluation] = {}
    for record in records:
        data = record.dagster_event.event_specific_data if record.dagster_event else None
        assert isinstance(data, AssetCheckEvaluation)
        evaluations[(data.asset_key.to_user_string(), data.check_name)] = data
    assert len(selected) >= 16 and set(evaluations) == selected
    failed_errors = [
        key
        for key, e in evaluations.items()
        if e.severity == AssetCheckSeverity.ERROR and not e.passed
    ]
    assert not failed_errors
    # The UI shows each check's result next to the asset's latest materialization. Not for
    # raw_events here: the backfill run's checks of it ran after this run's ingest, and Dagster
    # shows a check's LATEST execution only if it targets the latest materialization.
    for node in ui_world.server.graphql(ASSET_CHECKS)["assetNodes"]:
        if node["assetKey"]["path"] == ["raw_events"]:
            continue
        for check in node["assetChecksOrError"].get("checks", []):
            execution = check["executionForLatestMaterialization"]
            assert execution is not None, check["name"]
            assert execution["runId"] == ui_world.graph_run, check["name"]
            assert execution["status"] in ("SUCCEEDED", "FAILED"), check["name"]

    folder = ui_world.reports_dir / AS_OF
    for name in (
        "segmentation_report.html",
        "segmentation_report.json",
        "segment_activation.csv",
        "segment_activation.parquet",
    ):
        assert (folder / name).stat().st_size > 0, name
    con = duckdb.connect(str(ui_world.warehouse), read_only=True)
    try:
        row = con.execute(
            "SELECT html_path FROM report_runs WHERE as_of_date = $d",
            {"d": date.fromisoformat(AS_OF)},
        ).fetchone()
    finally:
        con.close()
    assert row is not None and Path(row[0]) == folder / "segmentation_report.html"


def non_blank_png(path: Path) -> Image.Image:
    image = Image.open(path).convert("L")
    assert image.width >= 800 and image.height >= 600
    low, high = image.getextrema()  # grey levels of a one-band image
    assert int(high) - int(low) > 50, f"{path.name} is a blank page"  # type: ignore[arg-type]
    return image


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser-deps)")
def test_the_asset_graph_and_the_report_render_in_a_browser(
    ui_world: UIWorld, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    profile = tmp_path / "chromium-profile"
    # What "Skip" on the first-visit community dialog does, so it does not cover the graph.
    assert ui_world.server.graphql("mutation { setNuxSeen }")["setNuxSeen"]
    # The report's upstream lineage: every stage as a node. The UI is a React app fed by GraphQL;
    # the virtual-time budget lets its requests finish before the DOM is read.
    page = f"{ui_world.server.url}/assets/report?view=lineage&lineageScope=upstream&lineageDepth=10"
    graph_png = ARTIFACTS / "asset_graph.png"
    dom = chromium(
        [
            "--window-size=1440,900",
            "--virtual-time-budget=10000",
            "--dump-dom",
            f"--screenshot={graph_png}",
            page,
        ],
        profile,
    )
    for stage in STAGES:
        assert f">{stage}<" in dom, f"the asset graph does not show {stage}"
    assert "Join the Dagster community" not in dom
    non_blank_png(graph_png)

    html_path = ui_world.reports_dir / AS_OF / "segmentation_report.html"
    html = html_path.read_text()
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
    assert sources, "the report has no plots"
    for source in sources:
        # Self-contained: every plot is an embedded PNG that decodes to a real image.
        assert source.startswith("data:image/png;base64,"), source[:80]
        plot = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
        assert plot.width > 100 and plot.height > 100
    report_png = ARTIFACTS / "report.png"
    chromium(["--window-size=1440,3000", f"--screenshot={report_png}", html_path.as_uri()], profile)
    non_blank_png(report_png)
