"""Jobs: the whole pipeline for one as-of date, ingest-only (range backfills), and segmentation-only.

Backfill policies are not mixed inside a backfill: range backfills of ``raw_events`` go through
``ingest_job`` (one run for the whole range, committed a chunk of whole days at a time); backfills of the segmentation
stages go through ``segmentation_job`` (one run per as-of date). The nightly refresh uses the
same two jobs: one ``ingest_job`` run for the last few days, then one ``segmentation_job`` run per
as-of date (schedules.py, sensors.py).
"""

from __future__ import annotations

import warnings

from dagster import AssetCheckKey, AssetKey, AssetSelection, define_asset_job

STAGE_KEYS = (
    "raw_events",
    "merged_ids",
    "profiles",
    "clusters",
    "robustness",
    "actionability",
    "report",
)

FRESHNESS_CLUSTERS = "clusters_partition_freshness"
FRESHNESS_REPORT = "report_partition_freshness"
FRESHNESS_CHECK_KEYS = (
    AssetCheckKey(AssetKey("clusters"), FRESHNESS_CLUSTERS),
    AssetCheckKey(AssetKey("report"), FRESHNESS_REPORT),
)
# The freshness checks judge the whole instance against the current time, not the partition a run
# writes: a backfill of last year would record a stale warning in every run. The freshness sensor
# evaluates them every 15 minutes instead, and the UI can execute them on their own.
_WITHOUT_FRESHNESS = AssetSelection.checks(*FRESHNESS_CHECK_KEYS)

# Dagster warns that this job mixes raw_events' single-run policy with the segmentation stages'
# one-run-per-date policy and picks one run per date. That is what this job is for (one as-of date
# ingested and segmented per run); range ingests go through ingest_job. The warning would print on
# every load of the code location, so it is silenced for this job only.
warnings.filterwarnings(
    "ignore",
    message="Asset job segmentation_pipeline materializes assets with varying BackfillPolicies",
    category=UserWarning,
)

segmentation_pipeline = define_asset_job(
    name="segmentation_pipeline",
    selection=AssetSelection.assets(*STAGE_KEYS) - _WITHOUT_FRESHNESS,
    description="Main job: all seven stages for one as-of date (ingest that day, then segment).",
)

ingest_job = define_asset_job(
    name="ingest_job",
    selection=AssetSelection.assets("raw_events"),
    description=(
        "Ingest raw events only; backfill a range of days as a single run. The nightly schedule "
        "re-ingests the last few days with it, so late-arriving events are picked up."
    ),
)

segmentation_job = define_asset_job(
    name="segmentation_job",
    selection=AssetSelection.assets(*STAGE_KEYS[1:]) - _WITHOUT_FRESHNESS,
    description=(
        "Identity through report for an as-of date, on already-ingested events; one run per date "
        "(backfills and the nightly chain)."
    ),
)

JOBS = [segmentation_pipeline, ingest_job, segmentation_job]
