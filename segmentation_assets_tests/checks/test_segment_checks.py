"""The assignment check counts unassigned, repeated and unknown customers exactly."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from segmentation_assets.checks.segment_checks import clusters_every_customer_assigned_once
from segmentation_assets_tests.checks.helpers import meta, run_check, write_table

AS_OF = date(2026, 1, 1)


def _rows(ids: list[str | None], day: date = AS_OF) -> pd.DataFrame:
    return pd.DataFrame({"as_of_date": [pd.Timestamp(day)] * len(ids), "customer_id": ids})


def _check(tmp_path: Path, profiles: pd.DataFrame, assignments: pd.DataFrame) -> dict[str, object]:
    path = str(tmp_path / "w.duckdb")
    write_table(path, "profiles", profiles)
    write_table(path, "segment_assignments", assignments.assign(segment_id="seg_1"))
    result = run_check(clusters_every_customer_assigned_once, path, AS_OF.isoformat())
    counts = {k: meta(result, k) for k in ("unassigned", "assigned_twice", "unknown_customers")}
    return {"passed": result.passed, **counts}


def test_one_assignment_per_profile_passes(tmp_path: Path) -> None:
    ids = ["a", "b", "c"]
    # Another date's rows do not count, even when they would fail.
    profiles = pd.concat([_rows(ids), _rows(["z"], date(2025, 12, 31))])
    assignments = pd.concat([_rows(ids), _rows(["a", "a", "y"], date(2025, 12, 31))])
    assert _check(tmp_path, profiles, assignments) == {
        "passed": True,
        "unassigned": 0,
        "assigned_twice": 0,
        "unknown_customers": 0,
    }


def test_unassigned_repeated_and_unknown_customers_are_counted(tmp_path: Path) -> None:
    profiles = _rows(["a", "b", "c", "d", None])
    # b twice, c three times, e and f unknown (f twice), d and the NULL profile unassigned, two
    # NULL-id assignments (unknown, and repeats: a NULL id is never one customer).
    assignments = _rows(["a", "b", "b", "c", "c", "c", "e", "f", "f", None, None])
    assert _check(tmp_path, profiles, assignments) == {
        "passed": False,
        "unassigned": 2,
        "assigned_twice": 1 + 2 + 1 + 2,
        "unknown_customers": 1 + 2 + 2,
    }
