"""The checks-only job runs every check of a date and materializes nothing; its schedule asks for
the previous day at 06:00 UTC."""

from __future__ import annotations

import datetime as dt

from dagster import (
    DagsterEventType,
    DefaultScheduleStatus,
    Definitions,
    build_schedule_context,
)

from segmentation_assets.checks import ALL_CHECKS
from segmentation_assets.checks.jobs import CHECK_JOBS, CHECK_SCHEDULES
from segmentation_assets.definitions import build_definitions
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.settings import Settings
from segmentation_assets_tests.checks.conftest import AS_OF, THROUGH_CLUSTERS, BlockingWorld


def _with_check_jobs(defs: Definitions) -> Definitions:
    return Definitions.merge(defs, Definitions(jobs=CHECK_JOBS, schedules=CHECK_SCHEDULES))


def test_the_job_selects_every_check_and_no_asset() -> None:
    defs = _with_check_jobs(build_definitions(Settings()))
    job = defs.resolve_job_def("asset_checks_job")
    assert job.asset_layer.selected_asset_keys == set()
    checks = {n.name for n in job.nodes_in_topological_order}
    assert len(checks) == sum(len(list(c.check_specs)) for c in ALL_CHECKS) == 32
    assert job.partitions_def == daily_partitions


def test_the_schedule_checks_the_previous_day_after_the_nightly_run() -> None:
    defs = _with_check_jobs(build_definitions(Settings()))
    schedule = defs.resolve_schedule_def("nightly_asset_checks")
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.job_name == "asset_checks_job"
    assert schedule.default_status == DefaultScheduleStatus.STOPPED
    tick = schedule.evaluate_tick(
        build_schedule_context(scheduled_execution_time=dt.datetime(2025, 10, 1, 6, tzinfo=dt.UTC))
    )
    assert [r.partition_key for r in tick.run_requests or []] == ["2025-09-30"]


def test_rechecking_a_date_evaluates_checks_without_materializing(
    blocking_world: BlockingWorld,
) -> None:
    defs = _with_check_jobs(blocking_world.defs)
    job = defs.resolve_job_def("asset_checks_job")
    # The blocking world stops at clusters: re-check the stages it has.
    selected = {
        key
        for checks_def in ALL_CHECKS
        for key in checks_def.check_keys
        if key.asset_key.to_user_string() in THROUGH_CLUSTERS
    }
    result = job.get_subset(asset_check_selection=selected).execute_in_process(
        instance=blocking_world.instance, partition_key=AS_OF.isoformat(), raise_on_error=False
    )
    assert result.success
    kinds = [e.event_type for e in result.all_events]
    assert DagsterEventType.ASSET_MATERIALIZATION not in kinds
    assert kinds.count(DagsterEventType.ASSET_CHECK_EVALUATION) == len(selected) == 24
