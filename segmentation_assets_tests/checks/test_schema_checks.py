"""Schema guards: declared schemas match what the code writes, and a change is named."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetCheckSeverity

from segmentation_assets.checks.schema_checks import (
    SCHEMA_CHECKS,
    STAGE_SCHEMAS,
    schema_diff,
)
from segmentation_assets.identity import ensure_identity_tables
from segmentation_assets.ingest import ensure_tables
from segmentation_assets.traits import PROFILE_COLUMNS
from segmentation_assets.warehouse import connect
from segmentation_assets_tests.checks.helpers import meta, run_check

CHECKS = {next(iter(c.check_specs)).asset_key.to_user_string(): c for c in SCHEMA_CHECKS}


def test_the_profiles_schema_follows_the_trait_registry() -> None:
    assert tuple(STAGE_SCHEMAS["profiles"]["profiles"]) == PROFILE_COLUMNS


def test_every_stage_has_a_schema_check() -> None:
    assert set(CHECKS) == set(STAGE_SCHEMAS) == {
        "raw_events", "merged_ids", "profiles", "clusters", "robustness", "actionability", "report"
    }  # fmt: skip
    assert {next(iter(c.check_specs)).name for c in SCHEMA_CHECKS} == {
        f"{stage}_column_schema" for stage in STAGE_SCHEMAS
    }


def test_schema_diff_names_added_removed_and_retyped_columns() -> None:
    diff = schema_diff(
        "t",
        {"a": "DATE", "b": "VARCHAR", "c": "BIGINT"},
        {"a": "DATE", "c": "DOUBLE", "d": "VARCHAR"},
    )
    assert diff.describe() == [
        "t: added column d",
        "t: removed column b",
        "t.c: BIGINT -> DOUBLE",
    ]
    assert schema_diff("t", {"a": "DATE"}, None).describe() == ["t: table is missing"]
    assert not schema_diff("t", {"a": "DATE", "b": "INT"}, {"b": "INT", "a": "DATE"}).changed


def test_the_tables_the_ingest_creates_match_the_declaration(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = connect(path)
    try:
        ensure_tables(con)
        ensure_identity_tables(con)
        con.execute(
            "CREATE TABLE customer_id_history_snapshots (snapshot_date DATE NOT NULL, "
            "internal_customer_id VARCHAR, past_id VARCHAR)"
        )
        con.execute(
            "CREATE TABLE customer_ids_snapshots (snapshot_date DATE NOT NULL, "
            "internal_customer_id VARCHAR)"
        )
    finally:
        con.close()
    for stage in ("raw_events", "merged_ids"):
        result = run_check(CHECKS[stage], str(path), "2025-09-30")
        assert result.passed, result.description


def _create(path: Path, table: str, columns: dict[str, str]) -> None:
    con = connect(path)
    try:
        con.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in columns.items())})")
    finally:
        con.close()


def test_a_table_created_from_an_empty_frame_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    for table, columns in STAGE_SCHEMAS["clusters"].items():
        if table != "segment_migration":
            _create(path, table, columns)
    # What a first night's empty migration frame creates: DOUBLE ids, an untyped date.
    _create(
        path,
        "segment_migration",
        {"from_segment_id": "DOUBLE", "to_segment_id": "DOUBLE", "customers": "DOUBLE",
         "as_of_date": "DATE"},
    )  # fmt: skip
    result = run_check(CHECKS["clusters"], str(path), "2025-09-30")
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert meta(result, "changes") == [
        "segment_migration.from_segment_id: VARCHAR -> DOUBLE",
        "segment_migration.to_segment_id: VARCHAR -> DOUBLE",
        "segment_migration.customers: BIGINT -> DOUBLE",
    ]
    assert meta(result, "changed_tables") == 1


def test_a_missing_table_and_an_extra_column_are_flagged(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    _create(path, "report_runs", {**STAGE_SCHEMAS["report"]["report_runs"], "extra": "VARCHAR"})
    report = run_check(CHECKS["report"], str(path), "2025-09-30")
    assert meta(report, "changes") == ["report_runs: added column extra"]
    robustness = run_check(CHECKS["robustness"], str(path), "2025-09-30")
    assert meta(robustness, "changes") == [
        "segment_robustness: table is missing",
        "segment_validation: table is missing",
    ]
