"""The nightly refresh: at 02:00 UTC, ingest and segment the previous complete day."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, build_schedule_from_partitioned_job

from segmentation_assets.jobs import segmentation_pipeline

NIGHTLY_HOUR_UTC = 2

nightly_segmentation = build_schedule_from_partitioned_job(
    segmentation_pipeline,
    name="nightly_segmentation",
    hour_of_day=NIGHTLY_HOUR_UTC,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every night at 02:00 UTC: ingest yesterday's events and rebuild its segmentation.",
)

SCHEDULES = [nightly_segmentation]
