"""Every packaged SQL file transpiles from BigQuery to DuckDB, and unsupported constructs raise."""

from __future__ import annotations

import pytest
import sqlglot.errors

from segmentation_assets import sql

TEMPLATE_CONTEXT = {
    "customer_profiles.sql": {
        "daily_activity": "customer_daily_activity",
        "category_activity": "customer_category_activity",
        "device_activity": "customer_device_activity",
        "purchase_activity": "customer_purchase_activity",
        "customer_keys": "customer_keys",
        "merged_ids": "merged_ids",
    },
    "customer_key_map.sql": {"customer_keys": "customer_keys", "merged_ids": "merged_ids"},
    "customer_key_totals.sql": {"daily_activity": "customer_daily_activity"},
    "register_customer_keys.sql": {"raw_events": "raw_events", "customer_keys": "customer_keys"},
    "customer_activity.sql": {"grain": "daily", "raw_events": "raw_events"},
    "classify_staged_events.sql": {},
    "stage_event_table.sql": {
        "table": "purchase",
        "source_view": "src_purchase",
        "timestamp_expr": "TIMESTAMP(t.timestamp)",
        "ingest_timestamp_expr": "TIMESTAMP(t.ingest_timestamp)",
        "fields": [("amount_base", "SAFE_CAST(t.properties.total_price AS FLOAT64)")],
    },
}


def test_every_sql_file_is_covered_here() -> None:
    assert sorted(TEMPLATE_CONTEXT) == sql.sql_files()


@pytest.mark.parametrize("name", sorted(TEMPLATE_CONTEXT))
def test_sql_file_transpiles_to_one_duckdb_statement(name: str) -> None:
    statement = sql.duckdb_sql(name, **TEMPLATE_CONTEXT[name])
    assert statement.lstrip().upper().startswith(("SELECT", "WITH", "INSERT", "/*"))
    assert "@" not in statement.split("*/")[-1]  # BigQuery parameters became DuckDB ones


@pytest.mark.parametrize(
    "step", [{"only_activity_totals": True}, {"activity_totals": "activity_totals"}]
)
def test_each_profile_step_transpiles_to_one_duckdb_statement(step: dict[str, object]) -> None:
    statement = sql.duckdb_sql(
        "customer_profiles.sql", **TEMPLATE_CONTEXT["customer_profiles.sql"], **step
    )
    assert statement.lstrip().upper().startswith(("SELECT", "WITH", "/*"))


def test_moving_key_totals_transpiles_to_one_duckdb_statement() -> None:
    statement = sql.duckdb_sql("customer_key_totals.sql", previous_totals="previous_totals")
    assert statement.lstrip().upper().startswith(("SELECT", "WITH", "/*"))
    assert "$previous_window_start" in statement and "$previous_as_of_date" in statement


def test_every_activity_grain_transpiles() -> None:
    from segmentation_assets.ingest import ACTIVITY_TABLES, activity_sql

    for grain in ACTIVITY_TABLES:
        assert activity_sql(grain).lstrip().upper().startswith(("SELECT", "WITH", "/*"))


def test_unsupported_construct_raises_instead_of_running_different_sql() -> None:
    with pytest.raises(sqlglot.errors.UnsupportedError):
        sql.to_duckdb("SELECT APPROX_TOP_COUNT(x, 1) FROM t")


def test_bigquery_functions_become_duckdb_equivalents() -> None:
    (statement,) = sql.to_duckdb(
        "SELECT SAFE_DIVIDE(a, b), COUNTIF(c), DATE_DIFF(@d, e, DAY) FROM t"
    )
    assert "COUNT_IF" in statement and "$d" in statement
