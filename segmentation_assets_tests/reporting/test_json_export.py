"""The JSON report: schema validity, list consistency, determinism, NaN handling, bad input."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

from segmentation_assets.reporting import (
    SCHEMA_VERSION,
    ReportData,
    build_report_json,
    dumps_report_json,
    report_json_schema,
    sample_report_data,
    write_report_json,
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = report_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _errors(validator: jsonschema.Draft202012Validator, report: dict) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(report)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"n_segments": 1},
        {"n_segments": 11, "seed": 3},
        {"n_segments": 3, "seed": 2, "k_fixed": True, "first_run": True},
    ],
)
def test_report_validates_against_schema(
    validator: jsonschema.Draft202012Validator, kwargs: dict
) -> None:
    report = build_report_json(sample_report_data(**kwargs))
    assert _errors(validator, report) == []
    assert report["schema_version"] == SCHEMA_VERSION == "1.0"


def test_schema_rejects_inconsistent_shapes(validator: jsonschema.Draft202012Validator) -> None:
    report = build_report_json(sample_report_data())
    broken = json.loads(json.dumps(report))
    broken["segments"][0]["size"] = "many"
    broken["unexpected"] = 1
    messages = _errors(validator, broken)
    assert any("'many' is not of type 'integer'" in m for m in messages)
    assert any("unexpected" in m for m in messages)


def test_segment_lists_are_consistent(full_data: ReportData) -> None:
    report = build_report_json(full_data)
    segments = report["segments"]
    valid, actionable = report["valid_segments"], report["actionable_segments"]
    ready = report["production_ready_segments"]
    assert ready == [s for s in valid if s in actionable]
    assert valid == [s["segment_id"] for s in segments if s["validation"]["passed"]]
    assert actionable == [s["segment_id"] for s in segments if s["actionability"]["is_actionable"]]
    for s in segments:
        assert s["production_ready"] == (s["is_valid"] and s["is_actionable"])
    # The sample is built so that the three lists differ.
    assert set(ready) < set(valid) and set(ready) < set(actionable)
    summary = report["summary"]
    assert summary["valid_segments"] == len(valid)
    assert summary["actionable_segments"] == len(actionable)
    assert summary["production_ready_segments"] == len(ready)
    assert summary["customers"] == len(full_data.assignments) == sum(s["size"] for s in segments)
    assert sum(summary["robustness_tiers"].values()) == summary["segments"] == 4


def test_segment_content(full_data: ReportData) -> None:
    report = build_report_json(full_data)
    first = report["segments"][0]
    assert first["segment_id"] == "seg_1"
    assert first["defining_traits"] == json.loads(full_data.segments.loc[0, "defining_traits"])
    traits = {t["trait"]: t for t in first["traits"]}
    assert traits["recency_days"]["label"] == "Days since last activity"
    assert traits["recency_days"]["unit"] == "days"
    assert set(first["actionability"]["dimensions"]) == {"who", "what", "when", "how"}
    assert first["explanation"]["key_characteristics"]
    assert first["recommended_play"] == first["actionability"]["recommended_campaign"]
    assert first["recommended_play_name"] == "VIP retention"
    failing = report["segments"][-1]
    assert failing["validation"]["passed"] is False
    assert failing["validation"]["reasons"]
    assert failing["validation"]["viability"]["economically_viable"] is False
    assert report["k_selection"]["chosen_k"] == report["summary"]["chosen_k"] == 4
    assert len(report["rfm_grid"]) == 25
    assert report["migration"]["first_run"] is False


def test_identical_across_builds(tmp_path: Path) -> None:
    first = dumps_report_json(build_report_json(sample_report_data(seed=5)))
    second = dumps_report_json(build_report_json(sample_report_data(seed=5)))
    assert first == second
    a = write_report_json(sample_report_data(seed=5), tmp_path / "a.json")
    b = write_report_json(sample_report_data(seed=5), tmp_path)
    assert b.name == "segmentation_report.json"
    assert a.read_bytes() == b.read_bytes() == first.encode("utf-8")
    prebuilt = write_report_json(build_report_json(sample_report_data(seed=5)), tmp_path / "c.json")
    assert prebuilt.read_bytes() == a.read_bytes()
    # Sorted keys all the way down.
    assert list(json.loads(first)) == sorted(json.loads(first))


def test_nan_and_infinity_become_null(minimal_data: ReportData) -> None:
    validation = minimal_data.validation.copy()
    validation.loc[0, "expected_roi"] = np.inf  # a free campaign
    validation.loc[1, "expected_roi"] = np.nan
    data = dataclasses.replace(minimal_data, validation=validation)
    report = build_report_json(data)
    text = dumps_report_json(report)
    assert "NaN" not in text and "Infinity" not in text
    first, second = report["segments"]
    assert first["robustness"]["temporal_jaccard"] is None  # first run: no previous snapshot
    assert first["validation"]["viability"]["expected_roi"] is None
    assert first["validation"]["viability"]["economically_viable"] is True
    assert second["validation"]["viability"]["expected_roi"] is None
    assert second["validation"]["viability"]["economically_viable"] is None
    assert report["k_selection"] == {"k_fixed": True, "chosen_k": None, "scores": []}
    assert report["migration"] == {"first_run": True, "flows": []}
    assert report["summary"]["k_fixed"] is True


def test_no_customer_ids(full_data: ReportData) -> None:
    text = dumps_report_json(build_report_json(full_data))
    assert "cust_" not in text
    assert not any(cid in text for cid in full_data.assignments["customer_id"])


def test_list_cells_in_any_shape_give_the_same_report(full_data: ReportData) -> None:
    segments = full_data.segments.copy()
    segments["defining_traits"] = [np.array(json.loads(v)) for v in segments["defining_traits"]]
    actionability = full_data.actionability.copy()
    actionability["dimensions"] = [json.loads(v) for v in actionability["dimensions"]]
    actionability["key_characteristics"] = [
        json.loads(v) for v in actionability["key_characteristics"]
    ]
    robustness = full_data.robustness.copy()
    robustness["critical_features"] = [
        json.dumps(v.split(", ") if v else []) for v in robustness["critical_features"]
    ]
    validation = full_data.validation.copy()
    validation["reasons"] = [v.split("; ") if v else None for v in validation["reasons"]]
    reshaped = dataclasses.replace(
        full_data,
        segments=segments,
        actionability=actionability,
        robustness=robustness,
        validation=validation,
    )
    assert build_report_json(reshaped) == build_report_json(full_data)


def test_joined_text_columns_are_split(full_data: ReportData) -> None:
    """Other stages join lists into text: reasons with "; ", critical features with ", "."""
    report = build_report_json(full_data)
    failing = report["segments"][-1]
    assert full_data.validation["reasons"].iloc[-1].count("; ") == 1
    assert len(failing["validation"]["reasons"]) == 2
    assert failing["validation"]["reasons"][0].startswith("expected ROI -0.35")
    assert report["segments"][0]["validation"]["reasons"] == []
    robustness = full_data.robustness.copy()
    robustness.loc[0, "critical_features"] = "orders, net_revenue"
    data = dataclasses.replace(full_data, robustness=robustness)
    features = build_report_json(data)["segments"][0]["robustness"]["critical_features"]
    assert features == ["orders", "net_revenue"]


def test_missing_rows_make_a_segment_not_valid_and_not_actionable(
    validator: jsonschema.Draft202012Validator, full_data: ReportData
) -> None:
    data = dataclasses.replace(
        full_data,
        validation=full_data.validation[full_data.validation["segment_id"] != "seg_1"],
        actionability=full_data.actionability.iloc[0:0],
        robustness=pd.DataFrame(),
    )
    report = build_report_json(data)
    assert _errors(validator, report) == []
    first = report["segments"][0]
    assert first["validation"] is None and first["actionability"] is None
    assert first["is_valid"] is False and first["production_ready"] is False
    assert report["actionable_segments"] == report["production_ready_segments"] == []
    # Without a verdict the validation stage's ROI-best play stands in.
    assert report["segments"][1]["recommended_play"] == "win_back"
    assert report["summary"]["robustness_tiers"] == {"unknown": 4}


def test_natural_segment_order() -> None:
    data = sample_report_data(n_segments=11, seed=3)
    shuffled = dataclasses.replace(data, segments=data.segments.iloc[::-1])
    ids = [s["segment_id"] for s in build_report_json(shuffled)["segments"]]
    assert ids == [f"seg_{i}" for i in range(1, 12)]


@pytest.mark.parametrize(
    ("table", "column", "message"),
    [
        ("segments", "size", "table segments is missing column(s) size"),
        ("robustness", "tier", "table robustness is missing column(s) tier"),
        ("k_scores", "chosen", "table k_scores is missing column(s) chosen"),
    ],
)
def test_missing_column_is_named(
    full_data: ReportData, table: str, column: str, message: str
) -> None:
    broken = dataclasses.replace(
        full_data, **{table: getattr(full_data, table).drop(columns=column)}
    )
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_report_json(broken)


def test_bad_segment_ids_are_reported(full_data: ReportData) -> None:
    dup = dataclasses.replace(full_data, segments=pd.concat([full_data.segments] * 2))
    with pytest.raises(ValueError, match="duplicate segment_id seg_1"):
        build_report_json(dup)
    robustness = full_data.robustness.copy()
    robustness.loc[0, "segment_id"] = "seg_99"
    with pytest.raises(ValueError, match="table robustness has segment_id seg_99 not in segments"):
        build_report_json(dataclasses.replace(full_data, robustness=robustness))
    run = {k: v for k, v in full_data.run.items() if k != "model_version"}
    with pytest.raises(ValueError, match="run is missing model_version"):
        build_report_json(dataclasses.replace(full_data, run=run))


def test_share_stays_a_fraction(full_data: ReportData) -> None:
    report = build_report_json(full_data)
    assert math.isclose(sum(s["share"] for s in report["segments"]), 1.0)
