"""The nightly refresh: re-ingest the last few days in ONE run, then re-segment them in date order.

Every night at 02:00 UTC (``SEGMENTATION_NIGHTLY_HOUR_UTC`` / ``_MINUTE``) the schedule
``nightly_segmentation`` requests one run of ``ingest_job`` over the last
``SEGMENTATION_NIGHTLY_LATE_DAYS`` (default 3) complete UTC days, ending with yesterday. Re-ingesting
days that were already ingested is how late-arriving EBQ events get in: ``raw_events`` replaces
each day whole (the last few days are one transaction), so the refresh is idempotent. When that run succeeds, the run-status
sensor ``nightly_resegmentation`` (sensors.py) runs ``segmentation_job`` for each of those as-of
dates, oldest first, one run per date: every as-of date whose profile window holds a refreshed day is
segmented again, so once data stops arriving a date's segmentation equals what a backfill of that
date would produce later.

Why a schedule that starts a sensor-driven chain, and not the alternatives:

* One tick yielding several RunRequests (ingest + one per as-of date) gives no order: queued runs
  start together and the ``duckdb`` pool only serializes their steps, so a segmentation could read
  the days before they are refreshed, and the dates' stable segment ids (each date matches its
  segments to the previous date's) would depend on which run won the pool.
* Declarative automation (``AutomationCondition.eager()``) reacts to every materialization of
  ``raw_events``: a year-long backfill would start a segmentation per day in no particular order,
  while the stages are written for explicit, per-date runs (``BackfillPolicy.multi_run(1)``).
* One range run of ``segmentation_pipeline`` would mix the single-run and per-date backfill
  policies in one run; ingest stays the single-run ``ingest_job``, as for every range backfill.

The ingest range reaches further back when the Dagster instance has no ``raw_events``
materialization for some day of the profile windows being segmented (a fresh install, or a failed
night), so the first night ingests the whole window in the same single run instead of segmenting a
partial window: the stages cannot tell a missing day from a quiet one.

Nightly runs carry ``dagster/priority`` 1, so their steps get the ``duckdb`` slot ahead of backfill
runs (priority 0) that are waiting for it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    schedule,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PRIORITY_TAG,
)
from dagster._time import get_current_datetime
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from segmentation_assets.jobs import ingest_job
from segmentation_assets.partitions import PARTITIONS_START_DATE
from segmentation_assets.resources import PipelineSettingsResource

#: Tag on every run of a nightly chain: the previous complete day (the night's newest as-of date).
NIGHTLY_TAG = "segmentation/nightly"
#: First and last as-of date the chain re-segments (the last is the ``NIGHTLY_TAG`` day).
RESEGMENT_START_TAG = "segmentation/resegment_start"
RESEGMENT_END_TAG = "segmentation/resegment_end"
#: Nightly runs win the run queue and the ``duckdb`` pool over backfill runs (priority 0).
NIGHTLY_PRIORITY = "1"

FIRST_PARTITION = date.fromisoformat(PARTITIONS_START_DATE)


class OrchestrationSettings(BaseSettings):
    """When the nightly refresh runs, how far back it re-ingests, and when data counts as stale.

    Read from ``SEGMENTATION_*`` environment variables (or ``.env``) like the other settings.
    """

    model_config = SettingsConfigDict(env_prefix="SEGMENTATION_", env_file=".env", extra="ignore")

    nightly_enabled: bool = Field(
        default=True, description="Whether the nightly schedule and its sensors start switched on."
    )
    nightly_hour_utc: int = Field(default=2, ge=0, le=23, description="Hour of the nightly run.")
    nightly_minute: int = Field(default=0, ge=0, le=59, description="Minute of the nightly run.")
    nightly_late_days: int = Field(
        default=3,
        ge=1,
        le=62,
        description="Complete days (ending yesterday) re-ingested and re-segmented every night, "
        "so events that arrive late are picked up.",
    )
    freshness_max_lag_hours: float = Field(
        default=36.0,
        gt=0,
        description="The freshness checks warn when the newest as-of date of clusters/report ended "
        "more than this many hours ago.",
    )

    @property
    def nightly_cron(self) -> str:
        return f"{self.nightly_minute} {self.nightly_hour_utc} * * *"


@dataclass(frozen=True)
class NightlyPlan:
    """What one nightly tick does: ingest ``[ingest_start, previous_day]`` in one run, then
    segment every as-of date in ``[resegment_start, previous_day]`` in date order."""

    previous_day: date
    ingest_start: date
    resegment_start: date

    @property
    def ingest_end(self) -> date:
        return self.previous_day

    def tags(self) -> dict[str, str]:
        """Tags of every run in the night's chain (the sensor reads them to continue it)."""
        return {
            NIGHTLY_TAG: self.previous_day.isoformat(),
            RESEGMENT_START_TAG: self.resegment_start.isoformat(),
            RESEGMENT_END_TAG: self.previous_day.isoformat(),
            PRIORITY_TAG: NIGHTLY_PRIORITY,
        }

    def ingest_run_request(self) -> RunRequest:
        """ONE run of ``ingest_job`` over the whole range (raw_events has a single-run policy)."""
        return RunRequest(
            run_key=f"nightly-{self.previous_day.isoformat()}-ingest",
            tags={
                **self.tags(),
                ASSET_PARTITION_RANGE_START_TAG: self.ingest_start.isoformat(),
                ASSET_PARTITION_RANGE_END_TAG: self.ingest_end.isoformat(),
            },
        )


def plan_nightly(
    tick_time: datetime, late_days: int, window_days: int, ingested_days: Collection[date]
) -> NightlyPlan:
    """The plan for a tick at ``tick_time``: a pure function of its arguments (no wall clock).

    ``ingested_days`` are the days ``raw_events`` is recorded as materialized. Every day of the
    profile windows of the re-segmented dates must be ingested; missing ones extend the range.
    """
    if late_days < 1:
        raise ValueError(f"late_days must be at least 1, got {late_days}")
    previous_day = tick_time.astimezone(UTC).date() - timedelta(days=1)
    if previous_day < FIRST_PARTITION:
        raise ValueError(f"tick {tick_time} precedes the first partition {FIRST_PARTITION}")
    resegment_start = max(previous_day - timedelta(days=late_days - 1), FIRST_PARTITION)
    window_start = max(resegment_start - timedelta(days=window_days - 1), FIRST_PARTITION)
    ingest_start = resegment_start
    day = window_start
    while day < resegment_start:
        if day not in ingested_days:
            ingest_start = day
            break
        day += timedelta(days=1)
    return NightlyPlan(
        previous_day=previous_day, ingest_start=ingest_start, resegment_start=resegment_start
    )


def ingested_days(context: ScheduleEvaluationContext) -> set[date]:
    """Days whose ``raw_events`` partition the instance records as materialized."""
    keys = context.instance.get_materialized_partitions(AssetKey("raw_events"))
    return {date.fromisoformat(key) for key in keys}


ORCHESTRATION = OrchestrationSettings()


@schedule(
    cron_schedule=ORCHESTRATION.nightly_cron,
    job=ingest_job,
    name="nightly_segmentation",
    execution_timezone="UTC",
    default_status=(
        DefaultScheduleStatus.RUNNING
        if ORCHESTRATION.nightly_enabled
        else DefaultScheduleStatus.STOPPED
    ),
    description=(
        "Every night: re-ingest the last SEGMENTATION_NIGHTLY_LATE_DAYS complete days (default 3, "
        "ending yesterday) in ONE ingest_job run, so late events are picked up; the sensor "
        "nightly_resegmentation then segments each of those as-of dates, oldest first."
    ),
)
def nightly_segmentation(
    context: ScheduleEvaluationContext, settings: PipelineSettingsResource
) -> RunRequest:
    """Request the night's ingest run; the resegmentation sensor continues the chain."""
    # The daemon always sets the scheduled time; a manual evaluation without one plans for now.
    tick_time = context.scheduled_execution_time or get_current_datetime()
    # Read now, not at import: the cron is fixed when the code location loads, the range is not.
    late_days = OrchestrationSettings().nightly_late_days
    plan = plan_nightly(tick_time, late_days, settings.window_days, ingested_days(context))
    context.log.info(
        "nightly %s: ingest %s..%s, segment %s..%s",
        plan.previous_day,
        plan.ingest_start,
        plan.ingest_end,
        plan.resegment_start,
        plan.previous_day,
    )
    return plan.ingest_run_request()


SCHEDULES = [nightly_segmentation]
