"""Jobs: the whole pipeline for one as-of date, ingest-only (range backfills), and segmentation-only.

Backfill policies are not mixed inside a backfill: range backfills of ``raw_events`` go through
``ingest_job`` (one run, one transaction for the whole range); backfills of the segmentation
stages go through ``segmentation_job`` (one run per as-of date). The nightly refresh uses the
same two jobs: one ``ingest_job`` run for the last few days, then one ``segmentation_job`` run per
as-of date (schedules.py, sensors.py).
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from segmentation_assets.partitions import daily_partitions

STAGE_KEYS = (
    "raw_events",
    "merged_ids",
    "profiles",
    "clusters",
    "robustness",
    "actionability",
    "report",
)

segmentation_pipeline = define_asset_job(
    name="segmentation_pipeline",
    selection=AssetSelection.assets(*STAGE_KEYS),
    partitions_def=daily_partitions,
    description="Main job: all seven stages for one as-of date (ingest that day, then segment).",
)

ingest_job = define_asset_job(
    name="ingest_job",
    selection=AssetSelection.assets("raw_events"),
    partitions_def=daily_partitions,
    description=(
        "Ingest raw events only; backfill a range of days as a single run. The nightly schedule "
        "re-ingests the last few days with it, so late-arriving events are picked up."
    ),
)

segmentation_job = define_asset_job(
    name="segmentation_job",
    selection=AssetSelection.assets(*STAGE_KEYS[1:]),
    partitions_def=daily_partitions,
    description=(
        "Identity through report for an as-of date, on already-ingested events; one run per date "
        "(backfills and the nightly chain)."
    ),
)

JOBS = [segmentation_pipeline, ingest_job, segmentation_job]
