"""Range backfills of ``raw_events`` and the nightly refresh that picks up late events.

Both run the real ``ingest_job`` in process on the tiny synthetic world; the nightly runs are the
exact run requests the schedule returns for its ticks.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    JobDefinition,
    RunRequest,
    build_run_status_sensor_context,
    build_schedule_context,
    define_asset_job,
    instance_for_test,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from segmentation_assets.definitions import build_definitions
from segmentation_assets.ingest import INGEST_LOG_TABLE, RAW_EVENTS_TABLE
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.resources import PipelineSettingsResource
from segmentation_assets.runner import QUIET_LOGS
from segmentation_assets.schedules import nightly_segmentation
from segmentation_assets.sensors import nightly_resegmentation
from segmentation_assets.settings import Settings
from segmentation_assets_tests.orchestration.conftest import (
    INGEST_TABLES,
    WINDOW_DAYS,
    assert_same_tables,
    generated_export,
    snapshot,
    tiny_settings,
)

#: raw_events, quarantine, per-day accounting and day coverage (the id snapshots are per run).
EVENT_TABLES = INGEST_TABLES[:4]
FIRST, LAST = date(2025, 9, 1), date(2025, 9, 7)
#: One run of every day FIRST..LAST.
RANGE_TAGS = {
    ASSET_PARTITION_RANGE_START_TAG: FIRST.isoformat(),
    ASSET_PARTITION_RANGE_END_TAG: LAST.isoformat(),
}


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_counts(event) -> tuple[int, ...]:
    """A raw_events materialization's row counts: row_count, read, accepted, quarantined, dupes."""
    metadata = event.materialization.metadata
    keys = (
        "dagster/row_count",
        "rows_read",
        "rows_accepted",
        "rows_quarantined",
        "duplicates_dropped",
    )
    return tuple(metadata[k].value for k in keys)


def run_ingest(settings: Settings, instance: DagsterInstance, tags: dict[str, str]):
    """One run of the project's ``ingest_job`` (raw_events and its checks)."""
    result = (
        build_definitions(settings)
        .resolve_job_def("ingest_job")
        .execute_in_process(instance=instance, tags=tags, run_config=QUIET_LOGS)
    )
    assert result.success
    return result


def raw_events_only(settings: Settings) -> JobDefinition:
    """``raw_events`` without its checks: the checks read, they do not write, and skipping them
    keeps eight runs to seconds."""
    return asset_only(settings, "raw_events")


def asset_only(settings: Settings, asset: str) -> JobDefinition:
    """A job of the one ``asset`` without its checks."""
    return Definitions.merge(
        build_definitions(settings),
        Definitions(
            jobs=[
                define_asset_job(
                    f"{asset}_only",
                    selection=AssetSelection.assets(asset).without_checks(),
                    partitions_def=daily_partitions,
                )
            ]
        ),
    ).resolve_job_def(f"{asset}_only")


def test_a_seven_day_range_run_writes_the_same_rows_as_seven_single_day_runs(
    tmp_path: Path, synthetic_dir: Path
) -> None:
    ranged = tiny_settings(tmp_path / "range", synthetic_dir)
    daily = tiny_settings(tmp_path / "daily", synthetic_dir)
    instance = DagsterInstance.ephemeral()

    result = raw_events_only(ranged).execute_in_process(
        instance=instance, tags=RANGE_TAGS, run_config=QUIET_LOGS
    )
    assert result.success
    # ONE run, one step, one materialization per day of the range.
    assert len(instance.get_run_records()) == 1
    assert [s.step_key for s in result.get_step_success_events()] == ["raw_events"]
    materialized = [e.partition for e in result.get_asset_materialization_events()]
    assert materialized == [d.isoformat() for d in days(FIRST, LAST)]

    job = raw_events_only(daily)
    single_day_counts = {}
    for day in days(FIRST, LAST):
        day_result = job.execute_in_process(
            instance=instance, partition_key=day.isoformat(), run_config=QUIET_LOGS
        )
        assert day_result.success
        [event] = day_result.get_asset_materialization_events()
        single_day_counts[event.partition] = day_counts(event)

    one_range, seven_days = snapshot(ranged.warehouse_path), snapshot(daily.warehouse_path)
    assert len(one_range[RAW_EVENTS_TABLE]) > 500
    # Each day of the range shows its own counts, as its single-day run does, not the range's.
    range_counts = {e.partition: day_counts(e) for e in result.get_asset_materialization_events()}
    assert range_counts == single_day_counts
    assert sum(counts[0] for counts in range_counts.values()) == len(one_range[RAW_EVENTS_TABLE])
    assert one_range["raw_events_ingested_days"]["event_date"].nunique() == 7
    assert_same_tables(
        {t: one_range[t] for t in EVENT_TABLES}, {t: seven_days[t] for t in EVENT_TABLES}
    )


def test_each_date_of_a_range_run_shows_its_own_metadata(
    tmp_path: Path, synthetic_dir: Path
) -> None:
    settings = tiny_settings(tmp_path, synthetic_dir)
    instance = DagsterInstance.ephemeral()
    assert (
        raw_events_only(settings)
        .execute_in_process(instance=instance, tags=RANGE_TAGS, run_config=QUIET_LOGS)
        .success
    )
    # A per-date stage launched over a range by hand: one run, one materialization per date.
    result = asset_only(settings, "merged_ids").execute_in_process(
        instance=instance, tags=RANGE_TAGS, run_config=QUIET_LOGS
    )
    assert result.success
    ids_by_date = (
        snapshot(settings.warehouse_path, ("merged_ids",))["merged_ids"]
        .groupby("as_of_date")["internal_customer_id"]
        .size()
    )
    # Without partition-scoped metadata every date would show the last date's as_of_date.
    shown = {
        e.partition: (
            e.materialization.metadata["as_of_date"].value,
            e.materialization.metadata["dagster/row_count"].value,
        )
        for e in result.get_asset_materialization_events()
    }
    assert shown == {
        day.isoformat(): (day.isoformat(), int(ids_by_date[pd.Timestamp(day)]))
        for day in days(FIRST, LAST)
    }


def test_the_benchmark_counts_a_range_ingest_once(tmp_path: Path, synthetic_dir: Path) -> None:
    """The benchmark's raw_events rows are the range's, from the days' own metadata."""
    from benchmarks.run_benchmark import stage_table, step_records

    class NoSampler:
        def peak_mb(self, start: float | None = None, end: float | None = None) -> None:
            return None

    settings = tiny_settings(tmp_path, synthetic_dir)
    instance = DagsterInstance.ephemeral()
    result = raw_events_only(settings).execute_in_process(
        instance=instance, tags=RANGE_TAGS, run_config=QUIET_LOGS
    )
    assert result.success
    steps = step_records(instance, [result.run_id])
    entry = stage_table({"steps": steps, "tables": {}}, NoSampler(), None)["raw_events"]
    stored = snapshot(settings.warehouse_path, (RAW_EVENTS_TABLE, INGEST_LOG_TABLE))
    assert entry["rows_in"] == int(stored[INGEST_LOG_TABLE]["rows_read"].sum())
    assert entry["rows_out"] == entry["dagster_row_count"] == len(stored[RAW_EVENTS_TABLE])


def export_with_late_events(full: Path, out: Path, late_days: list[date]) -> int:
    """Copy the export without every tenth event of ``late_days``: those arrive a day late.

    Returns how many event rows were held back.
    """
    out.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    held_back = 0
    for folder in sorted(p for p in full.iterdir() if p.is_dir() and not p.name.startswith("_")):
        if folder.name.startswith("customers"):
            shutil.copytree(folder, out / folder.name)
            continue
        (out / folder.name).mkdir()
        source = f"read_parquet('{folder}/*.parquet')"
        late = (
            "CAST(timestamp AS DATE) IN (SELECT unnest($days)) "
            "AND hash(internal_customer_id, timestamp) % 10 = 0"
        )
        params = {"days": late_days}
        row = con.execute(f"SELECT count(*) FILTER ({late}) FROM {source}", params).fetchone()
        held_back += int(row[0]) if row else 0
        con.execute(
            f"COPY (SELECT * FROM {source} WHERE NOT coalesce({late}, FALSE)) "
            f"TO '{out / folder.name / 'part-00000.parquet'}' (FORMAT parquet)",
            params,
        )
    con.close()
    return held_back


def nightly_request(instance: DagsterInstance, night: datetime) -> RunRequest:
    """What the schedule asks for at ``night`` (02:00 UTC)."""
    # The context opens its own instance from the given one's ref: closing it (``with``) closes that.
    with build_schedule_context(
        instance=instance,
        scheduled_execution_time=night,
        resources={"settings": PipelineSettingsResource(window_days=WINDOW_DAYS)},
    ) as context:
        result = nightly_segmentation.evaluate_tick(context)
    assert result.run_requests is not None and len(result.run_requests) == 1
    return result.run_requests[0]


def rows_read(path: Path, first: date, last: date) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute(
            f"SELECT sum(rows_read) FROM {INGEST_LOG_TABLE} WHERE event_date BETWEEN $f AND $l",
            {"f": first, "l": last},
        ).fetchone()
    finally:
        con.close()
    return int(row[0]) if row and row[0] is not None else 0


def test_the_next_night_picks_up_late_events_exactly_once(
    tmp_path: Path, synthetic_dir: Path
) -> None:
    full = generated_export(tiny_settings(synthetic_dir, synthetic_dir))
    # Night of 2025-09-07: the export still lacks a tenth of the events of its last two days.
    early = tmp_path / "export_seen_on_2025-09-08"
    held_back = export_with_late_events(full, early, [date(2025, 9, 6), date(2025, 9, 7)])
    assert held_back > 10

    root = tmp_path / "nightly"
    seen_early = tiny_settings(root, synthetic_dir, source="ebq_export", export_path=early)
    seen_full = tiny_settings(root, synthetic_dir, source="ebq_export", export_path=full)
    with instance_for_test() as instance:
        first_night = nightly_request(instance, datetime(2025, 9, 8, 2, tzinfo=UTC))
        # A fresh instance: the first night also ingests the window of its oldest date.
        assert (
            first_night.tags[ASSET_PARTITION_RANGE_START_TAG],
            first_night.tags[ASSET_PARTITION_RANGE_END_TAG],
        ) == ("2025-08-30", "2025-09-07")
        # (Its checks are not the point here; the second night runs the real ingest_job.)
        assert (
            raw_events_only(seen_early)
            .execute_in_process(
                instance=instance, tags=dict(first_night.tags), run_config=QUIET_LOGS
            )
            .success
        )
        before = rows_read(root / "warehouse.duckdb", date(2025, 9, 6), date(2025, 9, 7))

        second_night = nightly_request(instance, datetime(2025, 9, 9, 2, tzinfo=UTC))
        assert (
            second_night.tags[ASSET_PARTITION_RANGE_START_TAG],
            second_night.tags[ASSET_PARTITION_RANGE_END_TAG],
        ) == ("2025-09-06", "2025-09-08")
        result = run_ingest(seen_full, instance, dict(second_night.tags))
        after = rows_read(root / "warehouse.duckdb", date(2025, 9, 6), date(2025, 9, 7))

        # The chain continues from the real run: segment the oldest refreshed date first.
        follow_up = nightly_resegmentation(
            build_run_status_sensor_context(
                sensor_name="nightly_resegmentation",
                dagster_event=result.get_run_success_event(),
                dagster_instance=instance,
                dagster_run=result.dagster_run,
            )
        )
        assert isinstance(follow_up, RunRequest) and follow_up.partition_key == "2025-09-06"
        assert "2025-09-08" in instance.get_materialized_partitions(AssetKey("raw_events"))

    # Every held-back event was read exactly once more...
    assert after - before == held_back
    # ...and the refreshed days equal one ingest of the complete export: nothing lost, nothing twice.
    reference = tiny_settings(
        tmp_path / "reference", synthetic_dir, source="ebq_export", export_path=full
    )
    assert (
        raw_events_only(reference)
        .execute_in_process(
            tags={
                ASSET_PARTITION_RANGE_START_TAG: "2025-09-06",
                ASSET_PARTITION_RANGE_END_TAG: "2025-09-08",
            },
            run_config=QUIET_LOGS,
        )
        .success
    )
    refreshed = {
        t: frame[frame["event_date"] >= pd.Timestamp("2025-09-06")].reset_index(drop=True)
        for t, frame in snapshot(root / "warehouse.duckdb", EVENT_TABLES).items()
    }
    assert_same_tables(refreshed, snapshot(reference.warehouse_path, EVENT_TABLES))
