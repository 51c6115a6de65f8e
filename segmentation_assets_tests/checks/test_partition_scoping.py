"""A check reads only its own partition: a fault on one date does not fail another date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from segmentation_assets.checks import ALL_CHECKS
from segmentation_assets.checks.profile_checks import profiles_value_ranges
from segmentation_assets.partitions import daily_partitions
from segmentation_assets_tests.checks.helpers import meta, profile_frame, run_check, write_table

GOOD, BAD = dt.date(2025, 9, 29), dt.date(2025, 9, 30)


def test_every_check_is_partitioned_daily() -> None:
    for checks_def in ALL_CHECKS:
        for spec in checks_def.check_specs:
            assert spec.partitions_def == daily_partitions, spec.name


def test_a_bad_date_fails_only_its_own_partition(tmp_path: Path) -> None:
    path = str(tmp_path / "w.duckdb")
    bad = profile_frame(30, BAD, seed=2)
    bad.loc[0, "churn_risk"] = 2.0
    write_table(path, "profiles", profile_frame(50, GOOD, seed=1))
    write_table(path, "profiles", bad)
    good_result = run_check(profiles_value_ranges, path, GOOD.isoformat())
    assert good_result.passed and meta(good_result, "rows_checked") == 50
    bad_result = run_check(profiles_value_ranges, path, BAD.isoformat())
    assert not bad_result.passed and meta(bad_result, "rows_checked") == 30
    assert meta(bad_result, "failed") == ["ExpectColumnValuesToBeBetween(churn_risk)"]
