"""Sensors: the nightly chain after its ingest run, and freshness of the newest segmentation.

``nightly_resegmentation`` continues what the ``nightly_segmentation`` schedule starts (see
schedules.py for why it is a chain): when a nightly run succeeds it requests ``segmentation_job``
for the next as-of date of the night, oldest first, one date per run, so every date is segmented
after its days are refreshed and after the date before it (segment ids are matched to the previous
date's). A failed run stops the chain; run retries (dagster.yaml) re-run it once with the same tags,
and its success continues the chain.

Freshness is judged in **partition time**: how long ago the newest as-of date that ``clusters`` /
``report`` hold ended, not when a run last wrote. A backfill of old dates does not make stale data
look fresh, and a night that only re-segmented old dates does not either. The checks are WARN:
stale data is worth a look, not a reason to block a run. They only read Dagster's event log (never
the warehouse, so they need no ``duckdb`` slot); the current time enters their results in Dagster's
event log only — nothing in the warehouse or the reports depends on when a check ran.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    multi_asset_check,
    run_status_sensor,
    sensor,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import PARTITION_NAME_TAG, PRIORITY_TAG
from dagster._time import get_current_datetime

from segmentation_assets.jobs import (
    FRESHNESS_CHECK_KEYS,
    FRESHNESS_CLUSTERS,
    FRESHNESS_REPORT,
    ingest_job,
    segmentation_job,
)
from segmentation_assets.schedules import (
    NIGHTLY_TAG,
    ORCHESTRATION,
    RESEGMENT_END_TAG,
    RESEGMENT_START_TAG,
    OrchestrationSettings,
)

_DEFAULT_STATUS = (
    DefaultSensorStatus.RUNNING if ORCHESTRATION.nightly_enabled else DefaultSensorStatus.STOPPED
)

# --- the nightly chain -------------------------------------------------------------------------


def next_nightly_date(run: DagsterRun) -> date | None:
    """The as-of date the night segments after ``run`` succeeded (None: not nightly, or done).

    After the ingest run: the first date to re-segment. After the segmentation of date d: d + 1,
    until the night's last date.
    """
    tags = run.tags
    if NIGHTLY_TAG not in tags:
        return None
    start = date.fromisoformat(tags[RESEGMENT_START_TAG])
    end = date.fromisoformat(tags[RESEGMENT_END_TAG])
    if run.job_name == ingest_job.name:
        return start
    if run.job_name == segmentation_job.name and PARTITION_NAME_TAG in tags:
        following = date.fromisoformat(tags[PARTITION_NAME_TAG]) + timedelta(days=1)
        return following if following <= end else None
    return None


def nightly_chain_request(run: DagsterRun) -> RunRequest | None:
    """The next run of the night after ``run`` succeeded, carrying the night's tags on."""
    following = next_nightly_date(run)
    if following is None:
        return None
    night = run.tags[NIGHTLY_TAG]
    carried = {
        key: value
        for key, value in run.tags.items()
        if key in (NIGHTLY_TAG, RESEGMENT_START_TAG, RESEGMENT_END_TAG, PRIORITY_TAG)
    }
    return RunRequest(
        run_key=f"nightly-{night}-segment-{following.isoformat()}",
        partition_key=following.isoformat(),
        tags=carried,
    )


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    name="nightly_resegmentation",
    monitored_jobs=[ingest_job, segmentation_job],
    request_job=segmentation_job,
    default_status=_DEFAULT_STATUS,
    description=(
        "Continues the nightly chain: after the night's ingest run succeeds, segments each "
        "re-ingested as-of date with segmentation_job, oldest first, one run per date."
    ),
)
def nightly_resegmentation(context: RunStatusSensorContext) -> RunRequest | SkipReason:
    """Request the next as-of date of the night, or skip (not a nightly run / chain complete)."""
    request = nightly_chain_request(context.dagster_run)
    if request is None:
        return SkipReason(f"run {context.dagster_run.run_id} needs no follow-up")
    context.log.info("nightly chain: segmenting %s next", request.partition_key)
    return request


# --- freshness ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Freshness:
    """How far the newest as-of date of an asset lags behind ``evaluated_at``."""

    newest_as_of_date: date | None
    evaluated_at: datetime
    max_lag: timedelta

    @property
    def lag(self) -> timedelta | None:
        """Time since the newest as-of date ended (its partition window closed), or None."""
        if self.newest_as_of_date is None:
            return None
        ended = datetime.combine(self.newest_as_of_date + timedelta(days=1), time(0), tzinfo=UTC)
        return self.evaluated_at - ended

    @property
    def passed(self) -> bool:
        lag = self.lag
        return lag is not None and lag <= self.max_lag

    def description(self, asset: str) -> str:
        if self.newest_as_of_date is None:
            return f"{asset} has never been materialized for any as-of date."
        hours = (self.lag or timedelta()).total_seconds() / 3600
        verdict = "within" if self.passed else "beyond"
        return (
            f"newest as-of date of {asset} is {self.newest_as_of_date}, which ended {hours:.1f} h "
            f"ago: {verdict} the {self.max_lag.total_seconds() / 3600:g} h allowed."
        )

    def metadata(self) -> dict[str, MetadataValue]:
        metadata: dict[str, MetadataValue] = {
            "newest_as_of_date": MetadataValue.text(
                self.newest_as_of_date.isoformat() if self.newest_as_of_date else "none"
            ),
            "max_lag_hours": MetadataValue.float(self.max_lag.total_seconds() / 3600),
            "evaluated_at": MetadataValue.timestamp(self.evaluated_at),
        }
        lag = self.lag
        if lag is not None:
            metadata["partition_lag_hours"] = MetadataValue.float(
                round(lag.total_seconds() / 3600, 2)
            )
        return metadata


def newest_as_of_date(instance: DagsterInstance, asset_key: AssetKey) -> date | None:
    """The newest partition of ``asset_key`` with a materialization in the instance."""
    keys = instance.get_materialized_partitions(asset_key)
    return max((date.fromisoformat(k) for k in keys), default=None)


def latest_materialization(
    instance: DagsterInstance, check_key: AssetCheckKey
) -> AssetCheckEvaluationTargetMaterializationData | None:
    """Where the asset's latest materialization is in the event log (None: never materialized)."""
    records = instance.fetch_materializations(check_key.asset_key, limit=1).records
    if not records:
        return None
    record = records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
    )


def evaluate_freshness(
    instance: DagsterInstance, check_key: AssetCheckKey, evaluated_at: datetime
) -> tuple[Freshness, str]:
    """The freshness of the check's asset at ``evaluated_at``, and its description."""
    max_lag = timedelta(hours=OrchestrationSettings().freshness_max_lag_hours)
    result = Freshness(newest_as_of_date(instance, check_key.asset_key), evaluated_at, max_lag)
    return result, result.description(check_key.asset_key.to_user_string())


_FRESHNESS_DESCRIPTION = (
    "WARN when the newest as-of date of {asset} ended more than SEGMENTATION_FRESHNESS_MAX_LAG_HOURS "
    "(default 36) hours ago, i.e. a nightly run was missed. Judged on partition time, not on when "
    "a run last wrote."
)


@multi_asset_check(
    specs=[
        AssetCheckSpec(
            name=FRESHNESS_CLUSTERS,
            asset="clusters",
            description=_FRESHNESS_DESCRIPTION.format(asset="clusters"),
        ),
        AssetCheckSpec(
            name=FRESHNESS_REPORT,
            asset="report",
            description=_FRESHNESS_DESCRIPTION.format(asset="report"),
        ),
    ],
    can_subset=True,
    name="partition_freshness",
)
def partition_freshness(context: AssetCheckExecutionContext) -> Iterable[AssetCheckResult]:
    """Freshness of ``clusters`` and ``report`` in partition time (what the UI's Execute runs)."""
    # Dagster's clock (the one its daemon uses and its test tools freeze), read once per run.
    evaluated_at = get_current_datetime()
    for check_key in sorted(context.selected_asset_check_keys, key=str):
        result, description = evaluate_freshness(context.instance, check_key, evaluated_at)
        yield AssetCheckResult(
            asset_key=check_key.asset_key,
            check_name=check_key.name,
            passed=result.passed,
            severity=AssetCheckSeverity.WARN,
            description=description,
            metadata=result.metadata(),
        )


#: Register in ``Definitions(asset_checks=...)``; the freshness sensor evaluates them.
FRESHNESS_CHECKS = [partition_freshness]

#: Freshness can only change when a partition lands or as time passes; a quarter-hour resolution
#: on a 36-hour threshold is plenty and keeps the event log small.
FRESHNESS_INTERVAL_SECONDS = 15 * 60


@sensor(
    name="freshness_checks",
    minimum_interval_seconds=FRESHNESS_INTERVAL_SECONDS,
    default_status=_DEFAULT_STATUS,
    description=(
        "Every 15 minutes, records the partition-time freshness checks of clusters and report "
        "(WARN when the newest as-of date ended more than 36 h ago) without launching a run."
    ),
)
def freshness_checks(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    """Evaluate the freshness checks in the sensor itself and record their results."""
    repository = context.repository_def
    declared = repository.asset_graph.asset_check_keys if repository else set()
    keys = [key for key in FRESHNESS_CHECK_KEYS if key in declared]
    if not keys:
        return SkipReason(
            "the freshness checks are not registered: add sensors.FRESHNESS_CHECKS to "
            "Definitions(asset_checks=...)"
        )
    evaluated_at = get_current_datetime()
    events = []
    for key in keys:
        result, description = evaluate_freshness(context.instance, key, evaluated_at)
        events.append(
            AssetCheckEvaluation(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=result.passed,
                severity=AssetCheckSeverity.WARN,
                description=description,
                metadata=result.metadata(),
                # Point at the latest materialization, as a check run inside a job would, so the
                # UI shows the result against the asset's current state.
                target_materialization_data=latest_materialization(context.instance, key),
            )
        )
    return SensorResult(asset_events=events)


SENSORS = [nightly_resegmentation, freshness_checks]
