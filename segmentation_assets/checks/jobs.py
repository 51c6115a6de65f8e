"""A checks-only job and its schedule: re-run every asset check of a date without materializing.

Why a second look after the nightly run: a stage can be re-materialized on its own (a re-ingest of
a day, a backfill of one stage), and then the checks of the stages it feeds, which read its tables,
are stale until something re-runs them. This job does, for the previous day, at 06:00 UTC (after
the 02:00 nightly run); from the UI it re-checks any date or range of dates. It writes nothing but
the drift tables, whose rows for the date it replaces. The schedule starts stopped: turn it on once
the nightly run is trusted, so the first weeks' alerts are not doubled.
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    PartitionedConfig,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from segmentation_assets.jobs import FRESHNESS_CHECK_KEYS
from segmentation_assets.partitions import daily_partitions

CHECKS_JOB_NAME = "asset_checks_job"
CHECKS_SCHEDULE_NAME = "nightly_asset_checks"
CHECKS_HOUR_UTC = 6

asset_checks_job = define_asset_job(
    name=CHECKS_JOB_NAME,
    # Freshness is the freshness sensor's (it judges now, not the run's date): see jobs.py.
    selection=AssetSelection.all_asset_checks() - AssetSelection.checks(*FRESHNESS_CHECK_KEYS),
    # dagster 1.13 infers a job's partitions from its selected assets and ignores (deprecated)
    # ``partitions_def`` when the selection holds only checks; a partitioned config is what keeps
    # the job partitioned, so the schedule and the UI hand each run its as-of date.
    config=PartitionedConfig(
        partitions_def=daily_partitions, run_config_for_partition_key_fn=lambda _key: {}
    ),
    description="Every asset check for one as-of date, without materializing any asset.",
)

nightly_asset_checks = build_schedule_from_partitioned_job(
    asset_checks_job,
    name=CHECKS_SCHEDULE_NAME,
    hour_of_day=CHECKS_HOUR_UTC,
    default_status=DefaultScheduleStatus.STOPPED,
    description="At 06:00 UTC, re-run every asset check for the previous day (no materialization).",
)

CHECK_JOBS = [asset_checks_job]
CHECK_SCHEDULES = [nightly_asset_checks]
