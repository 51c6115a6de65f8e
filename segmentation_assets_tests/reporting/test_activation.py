"""Activation export: one row per customer, CSV and Parquet agree, clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from segmentation_assets.reporting import (
    ACTIVATION_COLUMNS,
    ReportData,
    build_report_json,
    write_activation_exports,
)
from segmentation_assets.reporting.activation import activation_frame, write_activation_csv


def _plays(data: ReportData) -> dict[str, str | None]:
    return {s["segment_id"]: s["recommended_play"] for s in build_report_json(data)["segments"]}


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def test_one_row_per_assignment(full_data: ReportData, tmp_path: Path) -> None:
    paths = write_activation_exports(
        full_data.assignments, full_data.segments, _plays(full_data), tmp_path / "out"
    )
    assert set(paths) == {"csv", "parquet"}
    assert paths.row_count == len(full_data.assignments) == 1000
    csv = _read_csv(paths["csv"])
    assert list(csv.columns) == list(ACTIVATION_COLUMNS)
    assert len(csv) == len(full_data.assignments)
    assert csv["internal_customer_id"].is_unique
    assert set(csv["internal_customer_id"]) == set(full_data.assignments["customer_id"])
    assert list(csv["internal_customer_id"]) == sorted(csv["internal_customer_id"])
    assigned = full_data.assignments.set_index("customer_id")["segment_id"]
    assert (csv["segment_id"].to_numpy() == assigned[csv["internal_customer_id"]].to_numpy()).all()
    names = full_data.segments.set_index("segment_id")["name"]
    assert (csv["segment_name"].to_numpy() == names[csv["segment_id"]].to_numpy()).all()
    assert set(csv.loc[csv["segment_id"] == "seg_1", "recommended_play"]) == {"vip_retention"}

    raw = paths["csv"].read_bytes()
    assert raw.startswith(b"internal_customer_id,segment_id,segment_name,recommended_play\n")
    assert b"\r\n" not in raw and not raw.startswith(b"\xef\xbb\xbf")

    parquet = pd.read_parquet(paths["parquet"])
    pd.testing.assert_frame_equal(parquet.astype(str), csv, check_dtype=False)
    # The Parquet file is the one pandas writes for the activation frame, pandas metadata and all.
    frame = activation_frame(full_data.assignments, full_data.segments, _plays(full_data))
    frame.to_parquet(tmp_path / "pandas.parquet", index=False, engine="pyarrow")
    assert paths["parquet"].read_bytes() == (tmp_path / "pandas.parquet").read_bytes()


def test_awkward_values_round_trip(tmp_path: Path) -> None:
    assignments = pd.DataFrame(
        {"customer_id": ["007", "b", "a", 12], "segment_id": ["s1", "s2", "s1", "s2"]}
    )
    segments = pd.DataFrame({"segment_id": ["s1", "s2"], "name": ['Große, "VIP"', "Plain"]})
    paths = write_activation_exports(assignments, segments, {"s1": "win_back"}, tmp_path)
    csv = _read_csv(paths["csv"])
    assert list(csv["internal_customer_id"]) == ["007", "12", "a", "b"]
    assert list(csv["segment_name"]) == ['Große, "VIP"', "Plain", 'Große, "VIP"', "Plain"]
    assert list(csv["recommended_play"]) == ["win_back", "", "win_back", ""]
    pd.testing.assert_frame_equal(
        pd.read_parquet(paths["parquet"]).astype(str), csv, check_dtype=False
    )
    first = paths["csv"].read_bytes(), paths["parquet"].read_bytes()
    again = write_activation_exports(assignments, segments, {"s1": "win_back"}, tmp_path)
    assert (again["csv"].read_bytes(), again["parquet"].read_bytes()) == first


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        (["007", "a b", "", "Große"], "string"),  # nothing to quote: Arrow writes the file
        (['Große, "VIP"', "two\nlines", "", "x"], "string"),  # quotes needed: pandas does
        (["1", "2", None, "3"], "string"),  # a missing value is an empty field
        ([1.0, 2.5, None, 3.0], "float64"),  # numbers keep pandas' formatting
    ],
)
def test_csv_bytes_are_pandas_bytes(values: list[object], dtype: str, tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["c1", "c2", "c3", "c4"], "value": values}).astype(
        {"id": "string", "value": dtype}
    )
    write_activation_csv(frame, tmp_path / "written.csv")
    expected = frame.to_csv(index=False, encoding="utf-8", lineterminator="\n")
    assert (tmp_path / "written.csv").read_bytes() == expected.encode("utf-8")
    single = frame[["value"]]
    write_activation_csv(single, tmp_path / "single.csv")
    expected_single = single.to_csv(index=False, encoding="utf-8", lineterminator="\n")
    assert (tmp_path / "single.csv").read_bytes() == expected_single.encode("utf-8")


def test_bad_assignments_are_rejected(full_data: ReportData, tmp_path: Path) -> None:
    twice = pd.concat([full_data.assignments, full_data.assignments.head(1)])
    with pytest.raises(ValueError, match="assigned more than once"):
        write_activation_exports(twice, full_data.segments, {}, tmp_path)
    unknown = full_data.assignments.copy()
    unknown.loc[0, "segment_id"] = "seg_99"
    with pytest.raises(ValueError, match="segment_id seg_99 not in table segments"):
        write_activation_exports(unknown, full_data.segments, {}, tmp_path)
    missing = full_data.assignments.copy()
    missing.loc[3, "customer_id"] = None
    with pytest.raises(ValueError, match="without customer_id or segment_id"):
        write_activation_exports(missing, full_data.segments, {}, tmp_path)
    with pytest.raises(ValueError, match="table assignments is missing column"):
        write_activation_exports(
            full_data.assignments.drop(columns="segment_id"), full_data.segments, {}, tmp_path
        )
    assert not list(tmp_path.iterdir())  # nothing written on error
