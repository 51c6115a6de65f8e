"""Freshness in partition time (WARN), and the retry / queue settings of the repository's instance.

Time is frozen with Dagster's own clock hook, so "now" is an argument of every test, not the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetMaterialization,
    AssetSelection,
    AssetSpec,
    DagsterInstance,
    Definitions,
    SensorResult,
    SkipReason,
    build_sensor_context,
    define_asset_job,
    instance_for_test,
)
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.test_utils import freeze_time

from segmentation_assets.assets import raw_events
from segmentation_assets.definitions import build_definitions
from segmentation_assets.sensors import (
    FRESHNESS_CHECK_KEYS,
    FRESHNESS_CHECKS,
    Freshness,
    freshness_checks,
)
from segmentation_assets.settings import Settings

#: 03:00 UTC on 2 October 2025, an hour after the night of as-of date 2025-10-01.
NOW = datetime(2025, 10, 2, 3, 0, tzinfo=UTC)


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as test_instance:
        yield test_instance


def with_freshness_checks() -> Definitions:
    """The project's Definitions (which register the freshness checks) and a job that runs them."""
    return Definitions.merge(
        build_definitions(Settings()),
        Definitions(
            jobs=[define_asset_job("freshness", selection=AssetSelection.checks(*FRESHNESS_CHECKS))]
        ),
    )


def materialize(instance: DagsterInstance, asset: str, *as_of: str) -> None:
    for key in as_of:
        instance.report_runless_asset_event(AssetMaterialization(asset_key=asset, partition=key))


def test_lag_is_measured_from_the_end_of_the_newest_as_of_date() -> None:
    allowed = timedelta(hours=36)
    newest = date(2025, 10, 1)
    # 2025-10-01 ends at 2025-10-02 00:00 UTC.
    assert Freshness(newest, NOW, allowed).lag == timedelta(hours=3)
    assert Freshness(newest, datetime(2025, 10, 3, 12, 0, tzinfo=UTC), allowed).passed
    late = Freshness(newest, datetime(2025, 10, 3, 12, 1, tzinfo=UTC), allowed)
    assert not late.passed
    assert "beyond the 36 h allowed" in late.description("report")
    never = Freshness(None, NOW, allowed)
    assert not never.passed and never.lag is None
    assert "never been materialized" in never.description("report")


def test_the_sensor_records_a_warning_for_a_stale_asset_only(instance: DagsterInstance) -> None:
    materialize(instance, "report", "2025-09-30", "2025-10-01")
    materialize(instance, "clusters", "2025-09-28")
    with freeze_time(NOW):
        # A backfill of an old date writes now, but does not make clusters fresh.
        materialize(instance, "clusters", "2024-05-01")
        result = freshness_checks(
            build_sensor_context(instance=instance, definitions=with_freshness_checks())
        )
    assert isinstance(result, SensorResult)
    evaluations = {
        e.asset_key.to_user_string(): e
        for e in result.asset_events
        if isinstance(e, AssetCheckEvaluation)
    }
    assert len(evaluations) == len(result.asset_events) == 2
    report, clusters = evaluations["report"], evaluations["clusters"]
    assert report.passed and report.severity == AssetCheckSeverity.WARN
    assert report.metadata["newest_as_of_date"].value == "2025-10-01"
    assert report.metadata["partition_lag_hours"].value == 3.0
    assert not clusters.passed and clusters.severity == AssetCheckSeverity.WARN
    assert clusters.metadata["newest_as_of_date"].value == "2025-09-28"
    assert clusters.metadata["partition_lag_hours"].value == 75.0
    # Each result points at the asset's latest materialization, like an in-run check result.
    assert clusters.target_materialization_data is not None


def test_the_sensor_skips_with_a_reason_while_the_checks_are_not_registered(
    instance: DagsterInstance,
) -> None:
    # A code location that kept the sensor but dropped the checks.
    without_checks = Definitions(assets=[AssetSpec("clusters"), AssetSpec("report")])
    result = freshness_checks(build_sensor_context(instance=instance, definitions=without_checks))
    assert isinstance(result, SkipReason)
    assert "FRESHNESS_CHECKS" in (result.skip_message or "")


def test_the_checks_run_as_warnings_in_a_run_too(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGMENTATION_FRESHNESS_MAX_LAG_HOURS", "2")
    materialize(instance, "report", "2025-10-01")
    materialize(instance, "clusters", "2025-10-01")
    with freeze_time(NOW):
        result = (
            with_freshness_checks()
            .resolve_job_def("freshness")
            .execute_in_process(instance=instance)
        )
    assert result.success  # WARN never fails or blocks a run
    evaluations = result.get_asset_check_evaluations()
    assert {(e.asset_key.to_user_string(), e.check_name) for e in evaluations} == {
        (k.asset_key.to_user_string(), k.name) for k in FRESHNESS_CHECK_KEYS
    }
    assert all(not e.passed and e.severity == AssetCheckSeverity.WARN for e in evaluations)
    assert all(e.metadata["max_lag_hours"].value == 2.0 for e in evaluations)


def test_the_repository_instance_queues_runs_retries_them_and_limits_the_duckdb_pool(
    dagster_home: Path,
) -> None:
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        assert instance.run_monitoring_enabled
        # A run killed mid-step gives its duckdb slot back, so queued runs are not stuck behind it.
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert config.run_queue_config is not None
        assert config.run_queue_config.max_concurrent_runs == 4
        assert config.run_queue_config.tag_concurrency_limits == [
            {"key": "dagster/backfill", "limit": 2}
        ]
        # The storage really enforces pools (op-level: the default granularity).
        assert instance.event_log_storage.supports_global_concurrency_limits


def test_the_io_bound_ingest_retries_with_backoff() -> None:
    policy = raw_events.op.retry_policy
    assert policy is not None and policy.max_retries == 2 and policy.delay == 5
