"""The nightly schedule's ticks and the sensor chain that follows them, evaluated without running.

A tick is evaluated with ``build_schedule_context(scheduled_execution_time=...)`` against a
persistent test instance whose ``raw_events`` materializations say which days are ingested.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    instance_for_test,
)
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
    PRIORITY_TAG,
)
from pydantic import ValidationError

from segmentation_assets.definitions import build_definitions
from segmentation_assets.resources import PipelineSettingsResource
from segmentation_assets.schedules import (
    NIGHTLY_TAG,
    RESEGMENT_END_TAG,
    RESEGMENT_START_TAG,
    OrchestrationSettings,
    nightly_segmentation,
    plan_nightly,
)
from segmentation_assets.sensors import nightly_resegmentation
from segmentation_assets.settings import Settings

WINDOW = 7
#: 02:00 UTC on 2 October 2025: the night of as-of date 2025-10-01.
TICK = datetime(2025, 10, 2, 2, 0, tzinfo=UTC)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as test_instance:
        yield test_instance


def mark_ingested(instance: DagsterInstance, ingested: Iterable[date]) -> None:
    """Record ``raw_events`` materializations as an ingest run would."""
    for day in ingested:
        instance.report_runless_asset_event(
            AssetMaterialization(asset_key="raw_events", partition=day.isoformat())
        )


def tick(instance: DagsterInstance, at: datetime = TICK, window_days: int = WINDOW) -> RunRequest:
    """Evaluate the schedule at ``at``; it must request exactly one run."""
    # The context opens its own instance from the given one's ref: closing it (``with``) closes that.
    with build_schedule_context(
        instance=instance,
        scheduled_execution_time=at,
        resources={"settings": PipelineSettingsResource(window_days=window_days)},
    ) as context:
        result = nightly_segmentation.evaluate_tick(context)
    assert result.run_requests is not None and len(result.run_requests) == 1, result
    return result.run_requests[0]


def ingest_range(request: RunRequest) -> tuple[str, str]:
    return (
        request.tags[ASSET_PARTITION_RANGE_START_TAG],
        request.tags[ASSET_PARTITION_RANGE_END_TAG],
    )


def test_the_nightly_schedule_runs_at_two_utc_on_ingest_job_and_is_on_by_default() -> None:
    defs = build_definitions(Settings())
    schedule = defs.resolve_schedule_def("nightly_segmentation")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == "ingest_job"
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    for name in ("nightly_resegmentation", "freshness_checks"):
        assert defs.resolve_sensor_def(name).default_status == DefaultSensorStatus.RUNNING


def test_a_tick_reingests_the_last_three_complete_days_in_one_run(
    instance: DagsterInstance,
) -> None:
    mark_ingested(instance, days(date(2025, 9, 23), date(2025, 9, 30)))
    request = tick(instance)
    assert ingest_range(request) == ("2025-09-29", "2025-10-01")
    assert request.partition_key is None  # a range run, not one run per day
    assert request.run_key == "nightly-2025-10-01-ingest"
    assert request.tags[NIGHTLY_TAG] == "2025-10-01"
    assert (request.tags[RESEGMENT_START_TAG], request.tags[RESEGMENT_END_TAG]) == (
        "2025-09-29",
        "2025-10-01",
    )
    assert request.tags[PRIORITY_TAG] == "1"


def test_the_first_tick_on_a_fresh_instance_ingests_every_window_day_in_the_same_run(
    instance: DagsterInstance,
) -> None:
    request = tick(instance)
    # The oldest re-segmented date, 2025-09-29, needs its 7-day window from 2025-09-23.
    assert ingest_range(request) == ("2025-09-23", "2025-10-01")
    assert request.tags[RESEGMENT_START_TAG] == "2025-09-29"


def test_a_day_missing_from_the_window_pulls_the_range_back_to_it(
    instance: DagsterInstance,
) -> None:
    mark_ingested(instance, [d for d in days(date(2025, 9, 23), date(2025, 9, 30)) if d.day != 25])
    assert ingest_range(tick(instance)) == ("2025-09-25", "2025-10-01")


def test_the_range_follows_the_scheduled_time_not_the_clock(instance: DagsterInstance) -> None:
    mark_ingested(instance, days(date(2025, 12, 23), date(2025, 12, 31)))
    new_year = tick(instance, datetime(2026, 1, 1, 2, 0, tzinfo=UTC))
    assert ingest_range(new_year) == ("2025-12-29", "2025-12-31")
    # The same instant written in another time zone is the same night.
    berlin = timezone(timedelta(hours=1))
    assert ingest_range(tick(instance, datetime(2026, 1, 1, 3, 0, tzinfo=berlin))) == (
        "2025-12-29",
        "2025-12-31",
    )
    # Evaluating the same tick twice asks for the same run (the run key de-duplicates it).
    assert tick(instance, datetime(2026, 1, 1, 2, 0, tzinfo=UTC)).run_key == new_year.run_key


def test_late_days_and_the_hour_come_from_the_environment(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark_ingested(instance, days(date(2025, 9, 21), date(2025, 9, 30)))
    monkeypatch.setenv("SEGMENTATION_NIGHTLY_LATE_DAYS", "5")
    request = tick(instance)
    assert ingest_range(request) == ("2025-09-27", "2025-10-01")
    assert request.tags[RESEGMENT_START_TAG] == "2025-09-27"
    monkeypatch.setenv("SEGMENTATION_NIGHTLY_HOUR_UTC", "5")
    monkeypatch.setenv("SEGMENTATION_NIGHTLY_MINUTE", "30")
    assert OrchestrationSettings().nightly_cron == "30 5 * * *"
    monkeypatch.setenv("SEGMENTATION_NIGHTLY_HOUR_UTC", "24")
    with pytest.raises(ValidationError, match="nightly_hour_utc"):
        OrchestrationSettings()


def test_the_plan_never_reaches_before_the_first_partition() -> None:
    plan = plan_nightly(datetime(2024, 1, 3, 2, tzinfo=UTC), 3, 365, set())
    assert (plan.ingest_start, plan.resegment_start, plan.previous_day) == (
        date(2024, 1, 1),
        date(2024, 1, 1),
        date(2024, 1, 2),
    )
    with pytest.raises(ValueError, match="late_days"):
        plan_nightly(TICK, 0, 7, set())


def finished_run(job_name: str, tags: dict[str, str]) -> DagsterRun:
    return DagsterRun(job_name=job_name, tags=tags)


def evaluate_chain(instance: DagsterInstance, run: DagsterRun) -> RunRequest | SkipReason:
    context = build_run_status_sensor_context(
        sensor_name="nightly_resegmentation",
        dagster_event=DagsterEvent(DagsterEventType.RUN_SUCCESS.value, job_name=run.job_name),
        dagster_instance=instance,
        dagster_run=run,
    )
    return nightly_resegmentation(context)  # type: ignore[return-value]


def test_the_chain_segments_each_night_date_oldest_first_then_stops(
    instance: DagsterInstance,
) -> None:
    night_tags = tick(instance).tags
    run = finished_run("ingest_job", dict(night_tags))
    segmented = []
    for _ in range(5):
        request = evaluate_chain(instance, run)
        if isinstance(request, SkipReason):
            break
        assert request.partition_key is not None
        segmented.append(request.partition_key)
        # The night's tags (and its priority) travel along; the range tags do not.
        assert request.tags == {
            k: night_tags[k]
            for k in (NIGHTLY_TAG, RESEGMENT_START_TAG, RESEGMENT_END_TAG, PRIORITY_TAG)
        }
        assert request.run_key == f"nightly-2025-10-01-segment-{request.partition_key}"
        run = finished_run(
            "segmentation_job", {**request.tags, PARTITION_NAME_TAG: request.partition_key}
        )
    assert segmented == ["2025-09-29", "2025-09-30", "2025-10-01"]


def test_runs_outside_the_nightly_chain_are_left_alone(instance: DagsterInstance) -> None:
    manual_ingest = finished_run(
        "ingest_job",
        {
            ASSET_PARTITION_RANGE_START_TAG: "2025-01-01",
            ASSET_PARTITION_RANGE_END_TAG: "2025-12-31",
        },
    )
    assert isinstance(evaluate_chain(instance, manual_ingest), SkipReason)
    backfill = finished_run("segmentation_job", {PARTITION_NAME_TAG: "2025-06-01"})
    assert isinstance(evaluate_chain(instance, backfill), SkipReason)


def test_an_ingested_day_is_read_from_raw_events_materializations(
    instance: DagsterInstance,
) -> None:
    # Other assets' materializations do not count as ingested days.
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key=AssetKey("profiles"), partition="2025-09-24")
    )
    mark_ingested(instance, days(date(2025, 9, 23), date(2025, 9, 23)))
    assert ingest_range(tick(instance)) == ("2025-09-24", "2025-10-01")
