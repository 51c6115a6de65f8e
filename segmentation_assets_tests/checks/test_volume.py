"""The volume band: a day delivered with a third of its rows is flagged, read from the ingest log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from dagster import AssetCheckSeverity

from segmentation_assets.checks.volume_checks import (
    PROFILES_RULE,
    RAW_EVENTS_RULE,
    judge_volume,
    profiles_volume_within_band,
    raw_events_volume_within_band,
)
from segmentation_assets.ingest import ensure_tables
from segmentation_assets.warehouse import connect
from segmentation_assets_tests.checks.helpers import meta, run_check

DAY = dt.date(2025, 9, 30)
HISTORY = [1000, 1100, 950, 1020, 980, 1050, 990, 1010, 1030, 970, 1005, 995, 1040, 960]


def test_a_third_of_the_usual_rows_is_flagged() -> None:
    verdict = judge_volume(DAY, 333, HISTORY, RAW_EVENTS_RULE)
    assert verdict.median == 1002.5
    assert verdict.judged and not verdict.within
    assert (verdict.lower, verdict.upper) == (501.25, 4010.0)
    assert "33% of the trailing median" in verdict.reason and "below" in verdict.reason


def test_an_ordinary_day_and_a_campaign_day_pass() -> None:
    assert judge_volume(DAY, 900, HISTORY, RAW_EVENTS_RULE).within
    # Campaign sends triple a day's events; that is business, not a broken export.
    assert judge_volume(DAY, 3600, HISTORY, RAW_EVENTS_RULE).within
    assert not judge_volume(DAY, 4500, HISTORY, RAW_EVENTS_RULE).within


def test_short_or_quiet_histories_are_not_judged() -> None:
    short = judge_volume(DAY, 1, HISTORY[:6], RAW_EVENTS_RULE)
    assert not short.judged and short.within and "6 earlier partitions" in short.reason
    quiet = judge_volume(DAY, 10, [100] * 14, RAW_EVENTS_RULE)
    assert not quiet.judged and quiet.within and "under 200" in quiet.reason


def test_only_the_most_recent_history_counts() -> None:
    verdict = judge_volume(DAY, 500, [1000] * 14 + [10] * 30, RAW_EVENTS_RULE)
    assert verdict.history == tuple([1000] * 14) and verdict.median == 1000


def _ingest_log(path: Path, rows_by_day: dict[dt.date, int]) -> None:
    con = connect(path)
    try:
        ensure_tables(con)
        for day, rows in rows_by_day.items():
            con.execute("INSERT INTO raw_events_ingested_days VALUES ($d)", {"d": day})
            if rows:
                # Two source tables per day, as the ingest writes one log row per table.
                for table, n in (("view_item", rows - rows // 3), ("purchase", rows // 3)):
                    con.execute(
                        "INSERT INTO raw_events_ingest_log VALUES ($d, $t, $n, $n, 0, 0)",
                        {"d": day, "t": table, "n": n},
                    )
    finally:
        con.close()


def test_the_check_reads_history_from_the_ingest_log(tmp_path: Path) -> None:
    days = [DAY - dt.timedelta(days=i) for i in range(20, 0, -1)]
    path = tmp_path / "w.duckdb"
    _ingest_log(path, {**{d: 1200 for d in days}, DAY: 400})
    result = run_check(raw_events_volume_within_band, str(path), DAY.isoformat())
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert meta(result, "partitions_flagged") == [DAY.isoformat()]
    assert meta(result, "rows_read") == 400
    assert meta(result, "trailing_median") == 1200.0
    assert "2025-09-30: 400 rows is 33% of the trailing median 1200" in (result.description or "")
    # The day before was normal, and a day ingested without events counts as zero rows.
    assert run_check(raw_events_volume_within_band, str(path), "2025-09-29").passed


def test_a_day_ingested_without_events_counts_as_zero(tmp_path: Path) -> None:
    days = [DAY - dt.timedelta(days=i) for i in range(20, 0, -1)]
    path = tmp_path / "w.duckdb"
    _ingest_log(path, {**{d: 1200 for d in days}, DAY: 0})
    result = run_check(raw_events_volume_within_band, str(path), DAY.isoformat())
    assert not result.passed and meta(result, "rows_read") == 0


def test_profiles_volume_uses_earlier_profile_runs(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = connect(path)
    try:
        runs = pd.DataFrame(
            {
                "as_of_date": [DAY - dt.timedelta(days=i) for i in range(5, -1, -1)],
                "window_days": 365,
                "customers": [1000, 1010, 1005, 990, 1000, 700],
                "value_model": "{}",
            }
        )
        con.register("runs", runs)
        con.execute("CREATE TABLE profile_runs AS SELECT * FROM runs")
    finally:
        con.close()
    result = run_check(profiles_volume_within_band, str(path), DAY.isoformat())
    assert not result.passed and meta(result, "customers") == 700
    assert meta(result, "trailing_median") == 1000.0
    assert PROFILES_RULE.below == 0.2
    assert run_check(profiles_volume_within_band, str(path), "2025-09-29").passed
