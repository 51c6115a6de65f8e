"""The Definitions load, and the asset graph is the one the product promises (a snapshot)."""

from __future__ import annotations

from dagster import AssetKey

from segmentation_assets.definitions import build_definitions
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.settings import Settings

STAGES = [
    "raw_events",
    "merged_ids",
    "profiles",
    "clusters",
    "robustness",
    "actionability",
    "report",
]
EDGES = {
    "raw_events": set(),
    "merged_ids": {"raw_events"},
    "profiles": {"raw_events", "merged_ids"},
    "clusters": {"profiles"},
    "robustness": {"clusters"},
    "actionability": {"robustness"},
    "report": {"actionability"},
}
CHECKS = {
    "raw_events": {
        "raw_events_contract",
        "raw_events_known_values",
        "raw_events_not_empty",
        "raw_events_quarantine_rate",
        "raw_events_accounting_closes",
        "raw_events_volume_within_band",
        "raw_events_column_schema",
    },
    "merged_ids": {
        "merged_ids_fully_resolved",
        "merged_ids_contract",
        "identity_conflict_share",
        "merged_ids_column_schema",
    },
    "profiles": {
        "profiles_one_row_per_customer",
        "profiles_every_event_id_resolves",
        "profiles_revenue_reconciles",
        "profiles_value_ranges",
        "profiles_volume_within_band",
        "profiles_feature_drift",
        "profiles_column_schema",
    },
    "clusters": {
        "clusters_contract",
        "clusters_every_customer_assigned_once",
        "clusters_sizes_sum_to_population",
        "clusters_k_within_range",
        "clusters_segment_drift",
        "clusters_column_schema",
        "clusters_partition_freshness",
    },
    "robustness": {"robustness_values_in_unit_interval", "robustness_column_schema"},
    "actionability": {
        "actionability_contract",
        "actionability_fallbacks",
        "actionability_column_schema",
    },
    "report": {
        "report_files_written",
        "report_contract",
        "report_column_schema",
        "report_partition_freshness",
    },
}
#: Checks whose ERROR failure stops downstream stages (docs/checks.md explains each choice).
#: Judged on the whole instance against the current time (sensor-evaluated), so not partitioned and
#: never run inside a materialization job.
FRESHNESS_CHECKS = {"clusters_partition_freshness", "report_partition_freshness"}
BLOCKING_CHECKS = {
    "raw_events_contract",
    "raw_events_quarantine_rate",
    "raw_events_accounting_closes",
    "merged_ids_fully_resolved",
    "merged_ids_contract",
    "profiles_one_row_per_customer",
    "profiles_every_event_id_resolves",
    "profiles_revenue_reconciles",
    "profiles_value_ranges",
    "clusters_contract",
    "clusters_every_customer_assigned_once",
    "clusters_sizes_sum_to_population",
    "robustness_values_in_unit_interval",
    "actionability_contract",
}


def _defs():
    return build_definitions(Settings())


def test_seven_stages_with_their_edges() -> None:
    graph = _defs().resolve_asset_graph()
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == sorted(STAGES)
    for stage, parents in EDGES.items():
        node = graph.get(AssetKey(stage))
        assert {p.to_user_string() for p in node.parent_keys} == parents, stage


def test_every_stage_is_partitioned_daily_in_the_duckdb_pool_with_a_description() -> None:
    graph = _defs().resolve_asset_graph()
    for stage in STAGES:
        node = graph.get(AssetKey(stage))
        assert node.partitions_def == daily_partitions
        assert node.pools == {"duckdb"}, stage
        assert node.group_name and node.group_name != "default"
        assert node.description and len(node.description) > 80
        assert node.owners


def test_checks_snapshot_and_every_check_is_partitioned_and_pooled() -> None:
    defs = _defs()
    graph = defs.resolve_asset_graph()
    found: dict[str, set[str]] = {}
    for key in graph.asset_check_keys:
        found.setdefault(key.asset_key.to_user_string(), set()).add(key.name)
    assert found == CHECKS
    blocking = set()
    for checks_def in defs.asset_checks or []:
        specs = list(checks_def.check_specs)  # type: ignore[union-attr]
        if {spec.name for spec in specs} == FRESHNESS_CHECKS:
            # They read Dagster's event log only: no warehouse slot, no partition.
            assert checks_def.node_def.pools == set()  # type: ignore[union-attr]
            assert all(spec.partitions_def is None and not spec.blocking for spec in specs)
            continue
        for spec in specs:
            # Without partitions_def a check on a partitioned asset loads every partition.
            assert spec.partitions_def == daily_partitions, spec.name
            assert spec.description and len(spec.description) > 40, spec.name
            if spec.blocking:
                blocking.add(spec.name)
        assert checks_def.node_def.pools == {"duckdb"}  # type: ignore[union-attr]
    assert blocking == BLOCKING_CHECKS


def test_materialization_jobs_leave_the_freshness_checks_to_their_sensor() -> None:
    defs = _defs()
    for name in ("segmentation_pipeline", "segmentation_job", "asset_checks_job"):
        job_checks = {
            k.name for k in defs.resolve_job_def(name).asset_layer.asset_graph.asset_check_keys
        }
        assert job_checks, name
        assert not job_checks & FRESHNESS_CHECKS, name
    assert {s.name for s in defs.sensors or []} >= {"freshness_checks"}


def test_jobs_and_nightly_schedule() -> None:
    defs = _defs()
    assert {j.name for j in defs.jobs or []} >= {
        "segmentation_pipeline",
        "ingest_job",
        "segmentation_job",
    }
    # The nightly re-ingests the last days in one ingest_job run; a sensor then segments each date.
    schedule = defs.resolve_schedule_def("nightly_segmentation")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.job_name == "ingest_job"
    assert defs.resolve_sensor_def("nightly_resegmentation").name == "nightly_resegmentation"


def test_sources_are_chosen_by_environment(tmp_path) -> None:
    from segmentation_assets.definitions import build_source
    from segmentation_assets.resources import EBQExportSource, SyntheticSource

    assert isinstance(build_source(Settings()), SyntheticSource)
    export = build_source(Settings(source="ebq_export", export_path=tmp_path))
    assert isinstance(export, EBQExportSource)
    import pytest

    with pytest.raises(ValueError, match="SEGMENTATION_EXPORT_PATH"):
        build_source(Settings(source="ebq_export"))
