"""The SQL invariants of the profiles stage on a hand-made warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from segmentation_assets.checks.profile_checks import profiles_every_event_id_resolves
from segmentation_assets_tests.checks.helpers import meta, run_check, write_table

AS_OF = dt.date(2025, 9, 30)


def _warehouse(tmp_path: Path, mappings: list[tuple[str, str]]) -> str:
    path = str(tmp_path / "w.duckdb")
    day = pd.Timestamp(AS_OF)
    write_table(
        path,
        "raw_events",
        pd.DataFrame(
            {
                # z's only event is before the 30-day window: it is not judged.
                "event_date": [day] * 5 + [day - pd.Timedelta(days=40)],
                "internal_customer_id": ["a", "a", "b", "c", "d", "z"],
            }
        ),
    )
    write_table(
        path,
        "merged_ids",
        pd.DataFrame(
            {
                "as_of_date": [day] * len(mappings),
                "internal_customer_id": [m[0] for m in mappings],
                "surviving_id": [m[1] for m in mappings],
            }
        ),
    )
    write_table(path, "profiles", pd.DataFrame({"as_of_date": [day], "customer_id": ["A"]}))
    write_table(path, "profile_runs", pd.DataFrame({"as_of_date": [day], "window_days": [30]}))
    return path


def test_every_event_id_resolving_to_a_profile_passes(tmp_path: Path) -> None:
    path = _warehouse(tmp_path, [("a", "A"), ("b", "A"), ("c", "A"), ("d", "A")])
    result = run_check(profiles_every_event_id_resolves, path, AS_OF.isoformat())
    assert result.passed and meta(result, "unresolved_event_ids") == 0


def test_unmapped_ids_and_unprofiled_survivors_fail(tmp_path: Path) -> None:
    """c has no mapping, d's survivor has no profile, and b maps to two survivors of which one
    has no profile: three ids whose events do not all reach a profile."""
    path = _warehouse(tmp_path, [("a", "A"), ("b", "A"), ("b", "X"), ("d", "Y")])
    result = run_check(profiles_every_event_id_resolves, path, AS_OF.isoformat())
    assert not result.passed and meta(result, "unresolved_event_ids") == 3


def _write_daily_activity(path: str, rows: list[tuple[str, int]]) -> None:
    """Daily activity on the as-of date: (internal id, events) per row, keyed through the id
    dictionary as the ingest writes it."""
    keys = list(range(1, len(rows) + 1))
    write_table(
        path,
        "customer_keys",
        pd.DataFrame({"customer_key": keys, "internal_customer_id": [r[0] for r in rows]}),
    )
    write_table(
        path,
        "customer_activity_daily",
        pd.DataFrame(
            {
                "event_date": [pd.Timestamp(AS_OF)] * len(rows),
                "customer_key": keys,
                "events": [r[1] for r in rows],
            }
        ),
    )


def test_ids_come_from_the_activity_of_days_whose_counts_match(tmp_path: Path) -> None:
    """The activity counts the as-of day's 5 events, so its ids are the ones judged: e (an id
    raw_events does not hold, so it can only come from there) fails, c and d are not read."""
    path = _warehouse(tmp_path, [("a", "A"), ("b", "A")])
    _write_daily_activity(path, [("a", 2), ("b", 2), ("e", 1)])
    result = run_check(profiles_every_event_id_resolves, path, AS_OF.isoformat())
    assert not result.passed and meta(result, "unresolved_event_ids") == 1


def test_a_day_whose_activity_is_stale_is_read_from_raw_events(tmp_path: Path) -> None:
    """The activity misses c's and d's events (4 of 5): the day is read from raw_events, where c
    has no mapping and d's survivor no profile."""
    path = _warehouse(tmp_path, [("a", "A"), ("b", "A")])
    _write_daily_activity(path, [("a", 2), ("b", 2)])
    result = run_check(profiles_every_event_id_resolves, path, AS_OF.isoformat())
    assert not result.passed and meta(result, "unresolved_event_ids") == 2
    path = _warehouse(tmp_path / "ok", [("a", "A"), ("b", "A"), ("c", "A"), ("d", "A")])
    _write_daily_activity(path, [("a", 2), ("b", 2)])
    assert run_check(profiles_every_event_id_resolves, path, AS_OF.isoformat()).passed


def test_activity_not_yet_keyed_is_not_read(tmp_path: Path) -> None:
    """Activity from before the id dictionary (keyed by the string id, no customer_keys) counts all
    5 events but is not read: the day comes from raw_events, where c and d fail (e is not there)."""
    path = _warehouse(tmp_path, [("a", "A"), ("b", "A")])
    write_table(
        path,
        "customer_activity_daily",
        pd.DataFrame(
            {
                "event_date": [pd.Timestamp(AS_OF)] * 3,
                "internal_customer_id": ["a", "b", "e"],
                "events": [2, 2, 1],
            }
        ),
    )
    result = run_check(profiles_every_event_id_resolves, path, AS_OF.isoformat())
    assert not result.passed and meta(result, "unresolved_event_ids") == 2
