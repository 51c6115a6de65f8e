"""The whole graph materialized for one partition into a temporary DuckDB."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import AssetKey, DagsterEventType, EventRecordsFilter

from segmentation_assets import ingest
from segmentation_assets.checks import profile_checks
from segmentation_assets_tests.dagster.conftest import AS_OF, WINDOW_DAYS, PipelineWorld
from segmentation_assets_tests.dagster.test_definitions import CHECKS, FRESHNESS_CHECKS

#: What a pipeline run evaluates: the freshness checks are the freshness sensor's.
CHECK_NAMES = {name for names in CHECKS.values() for name in names} - FRESHNESS_CHECKS

STAGE_TABLES = [
    "raw_events",
    "merged_ids",
    "profiles",
    "segments",
    "segment_assignments",
    "segment_trait_profile",
    "segment_robustness",
    "segment_validation",
    "segment_actionability",
    "report_runs",
]


def _snapshot(path: str) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(path, read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").df() for t in STAGE_TABLES}
    finally:
        con.close()


def test_pipeline_produces_every_stage(pipeline_world: PipelineWorld) -> None:
    summary = pipeline_world.summary
    assert summary.as_of_date == AS_OF
    assert summary.ingested_range is not None and summary.ingested_range[1] < AS_OF
    con = duckdb.connect(pipeline_world.warehouse, read_only=True)
    try:
        customers = con.execute("SELECT count(*) FROM profiles").fetchone()[0]
        assigned = con.execute("SELECT count(*) FROM segment_assignments").fetchone()[0]
        sizes = con.execute("SELECT sum(size), count(*) FROM segments").fetchone()
        verdicts = con.execute("SELECT count(*) FROM segment_actionability").fetchone()[0]
        ingested_days = con.execute("SELECT count(DISTINCT event_date) FROM raw_events").fetchone()[
            0
        ]
    finally:
        con.close()
    assert customers == summary.customers_profiled > 300  # 400 generated, most active in 90 days
    assert assigned == customers == sizes[0]
    assert 3 <= sizes[1] == summary.segments_found <= 6
    assert verdicts == sizes[1]
    assert ingested_days == 90
    report = json.loads(Path(summary.report_path).with_suffix(".json").read_text())
    assert len(report["segments"]) == sizes[1]


def test_every_asset_check_passed(pipeline_world: PipelineWorld) -> None:
    records = pipeline_world.instance.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    )
    results = {}
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data  # type: ignore[union-attr]
        results[(evaluation.asset_key.to_user_string(), evaluation.check_name)] = evaluation.passed
    failed = {k for k, ok in results.items() if not ok}
    # No check fails on good synthetic data, not even a WARN-level one.
    assert not failed, failed
    assert len(results) == len(CHECK_NAMES)  # every check of every stage ran


def test_rematerializing_a_partition_leaves_identical_tables(
    pipeline_world: PipelineWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _snapshot(pipeline_world.warehouse)
    scans: list[tuple[dt.date, dt.date]] = []
    scan_for_stale_days = ingest.stale_activity_days

    def counted(con: duckdb.DuckDBPyConnection, first, last, run_key=None):  # type: ignore[no-untyped-def]
        if not ingest.activity_checked_in_run(con, run_key, first, last):
            scans.append((first, last))
        return scan_for_stale_days(con, first, last, run_key)

    monkeypatch.setattr(ingest, "stale_activity_days", counted)
    monkeypatch.setattr(profile_checks, "stale_activity_days", counted)
    result = pipeline_world.defs.resolve_job_def("segmentation_pipeline").execute_in_process(
        instance=pipeline_world.instance, partition_key=AS_OF.isoformat()
    )
    assert result.success
    # The activity of the window was checked against raw_events once in the run, by its first
    # reader (identity); the profiles, their event-id check and the robustness windows lie inside
    # that window and trusted the check.
    window = (AS_OF - dt.timedelta(days=WINDOW_DAYS - 1), AS_OF)
    assert scans == [window]
    con = duckdb.connect(pipeline_world.warehouse, read_only=True)
    try:
        assert con.execute("SELECT * FROM activity_checks").fetchall() == [(result.run_id, *window)]
    finally:
        con.close()
    after = _snapshot(pipeline_world.warehouse)
    for table in STAGE_TABLES:
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)
    # The second run answered every segment from the LLM cache instead of calling the model.
    event = pipeline_world.instance.get_latest_materialization_event(AssetKey("actionability"))
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    assert metadata["llm_calls"].value == 0
    assert metadata["cache_hits"].value == len(after["segments"])


def test_segment_ids_survive_the_next_nightly_run(pipeline_world: PipelineWorld) -> None:
    """Segment the day before, then re-run the as-of date: ids and names carry over."""
    import datetime as dt

    from segmentation_assets.runner import run_as_of

    previous_day = AS_OF - dt.timedelta(days=1)
    for day in (previous_day, AS_OF):
        run_as_of(
            pipeline_world.defs,
            pipeline_world.instance,
            day,
            warehouse_path=pipeline_world.warehouse,
            window_days=90,
            progress=lambda _: None,
        )
    con = duckdb.connect(pipeline_world.warehouse, read_only=True)
    try:
        segments = con.execute(
            "SELECT as_of_date, segment_id, name FROM segments ORDER BY ALL"
        ).df()
        migration = con.execute(
            "SELECT sum(customers) FILTER (from_segment_id = to_segment_id) AS stayed, "
            "sum(customers) FILTER (from_segment_id IS NOT NULL AND to_segment_id IS NOT NULL) "
            "AS both_days FROM segment_migration WHERE as_of_date = $d",
            {"d": AS_OF},
        ).fetchone()
        temporal = con.execute(
            "SELECT min(temporal_jaccard) FROM segment_robustness WHERE as_of_date = $d",
            {"d": AS_OF},
        ).fetchone()[0]
    finally:
        con.close()
    before = segments[segments["as_of_date"].dt.date == previous_day].set_index("segment_id")
    after = segments[segments["as_of_date"].dt.date == AS_OF].set_index("segment_id")
    shared = before.index.intersection(after.index)
    assert len(shared) >= len(after) - 1  # one day of new data may split or merge one segment
    assert (before.loc[shared, "name"] == after.loc[shared, "name"]).all()
    assert migration[0] / migration[1] > 0.8  # most customers keep their segment day to day
    assert temporal is not None and 0 <= temporal <= 1
