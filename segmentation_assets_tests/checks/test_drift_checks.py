"""Drift checks on crafted warehouses: PSI and share moved reach the metadata and the drift tables;
the first as-of date passes with 'no previous as-of date'."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import AssetCheckSeverity

from segmentation_assets import drift
from segmentation_assets.checks.drift_checks import (
    clusters_segment_drift,
    profiles_feature_drift,
)
from segmentation_assets.traits import CATEGORICAL_TRAITS, NUMERIC_TRAITS
from segmentation_assets_tests.checks.helpers import meta, profile_frame, run_check, write_table

BEFORE, NOW = dt.date(2025, 9, 29), dt.date(2025, 9, 30)


def _rows(path: str, table: str, as_of: dt.date) -> pd.DataFrame:
    con = duckdb.connect(path, read_only=True)
    try:
        return con.execute(f"SELECT * FROM {table} WHERE as_of_date = ? ORDER BY ALL", [as_of]).df()
    finally:
        con.close()


@pytest.fixture
def profiles_world(tmp_path: Path) -> str:
    path = str(tmp_path / "w.duckdb")
    write_table(path, "profiles", profile_frame(300, BEFORE, seed=5))
    # Same customers the next day; net revenue moved up by one standard deviation, sessions by 10.
    write_table(path, "profiles", profile_frame(300, NOW, seed=5, shift=1.0))
    return path


def test_the_first_date_has_no_previous_date(profiles_world: str) -> None:
    result = run_check(profiles_feature_drift, profiles_world, BEFORE.isoformat())
    assert result.passed
    assert result.description == f"{BEFORE}: no previous as-of date"
    assert meta(result, "previous_as_of_date") == "no previous as-of date"
    assert _rows(profiles_world, drift.PROFILE_DRIFT_TABLE, BEFORE).empty


def test_a_shifted_feature_warns_and_every_psi_is_stored(profiles_world: str) -> None:
    result = run_check(profiles_feature_drift, profiles_world, NOW.isoformat())
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert meta(result, "significant") == [f"{NOW}: net_revenue", f"{NOW}: sessions"]
    psi = meta(result, "psi")
    assert set(psi) == set(NUMERIC_TRAITS) | set(CATEGORICAL_TRAITS)
    assert psi["orders"] == 0.0 and psi["top_category"] == 0.0
    before = profile_frame(300, BEFORE, seed=5)
    now = profile_frame(300, NOW, seed=5, shift=1.0)
    by_hand = drift.population_stability_index(before["net_revenue"], now["net_revenue"]).psi
    assert psi["net_revenue"] == pytest.approx(by_hand, abs=1e-6) and by_hand > 0.25
    stored = _rows(profiles_world, drift.PROFILE_DRIFT_TABLE, NOW).set_index("feature")
    assert len(stored) == len(psi)
    assert stored.loc["net_revenue", "band"] == "significant"
    assert stored.loc["net_revenue", "previous_as_of_date"] == pd.Timestamp(BEFORE)
    assert stored.loc["net_revenue", "customers"] == 300
    # Re-running replaces the date's rows.
    run_check(profiles_feature_drift, profiles_world, NOW.isoformat())
    assert len(_rows(profiles_world, drift.PROFILE_DRIFT_TABLE, NOW)) == len(psi)


def _segments(as_of: dt.date, shares: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of_date": as_of,
            "segment_id": list(shares),
            "name": [f"name of {s}" for s in shares],
            "share": list(shares.values()),
        }
    )


def test_segment_drift_puts_share_moved_in_metadata_and_the_table(tmp_path: Path) -> None:
    path = str(tmp_path / "w.duckdb")
    write_table(path, "segments", _segments(BEFORE, {"seg_1": 0.6, "seg_2": 0.4}))
    write_table(path, "segments", _segments(NOW, {"seg_1": 0.45, "seg_2": 0.55}))
    migration = pd.DataFrame(
        {
            "from_segment_id": ["seg_1", "seg_1", "seg_2"],
            "to_segment_id": ["seg_1", "seg_2", "seg_2"],
            "customers": [40, 20, 40],
            "as_of_date": NOW,
        }
    )
    write_table(path, "segment_migration", migration)
    first = run_check(clusters_segment_drift, path, BEFORE.isoformat())
    assert first.passed and first.description == f"{BEFORE}: no previous as-of date"
    result = run_check(clusters_segment_drift, path, NOW.isoformat())
    assert result.passed  # 20% moved: moderate; segment-mix PSI small
    assert meta(result, "share_moved") == pytest.approx(0.2)
    assert meta(result, "share_moved_band") == "moderate"
    assert meta(result, "customers_in_both") == 100
    assert meta(result, "max_share_change") == pytest.approx(0.15)
    stored = _rows(path, drift.SEGMENT_DRIFT_TABLE, NOW).set_index("segment_id")
    assert stored.loc["seg_1", ["customers_stayed", "customers_moved_out"]].tolist() == [40, 20]
    assert stored.loc["seg_2", ["customers_stayed", "customers_moved_in"]].tolist() == [40, 20]
    assert stored["share_change"].tolist() == pytest.approx([-0.15, 0.15])


def test_many_customers_moving_warns(tmp_path: Path) -> None:
    path = str(tmp_path / "w.duckdb")
    write_table(path, "segments", _segments(BEFORE, {"seg_1": 0.5, "seg_2": 0.5}))
    write_table(path, "segments", _segments(NOW, {"seg_1": 0.5, "seg_2": 0.5}))
    write_table(
        path,
        "segment_migration",
        pd.DataFrame(
            {
                "from_segment_id": ["seg_1", "seg_2"],
                "to_segment_id": ["seg_2", "seg_1"],
                "customers": [30, 30],
                "as_of_date": NOW,
            }
        ),
    )
    result = run_check(clusters_segment_drift, path, NOW.isoformat())
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert result.description == f"{NOW}: 100.0% of customers moved"
