"""Input coercion helpers, the sample factory and the markdown summary."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from segmentation_assets.reporting import ReportData, build_report_json, summary_markdown
from segmentation_assets.reporting.data import (
    as_dict,
    as_list,
    check_report_data,
    sample_report_data,
    segment_sort_key,
    to_jsonable,
)


def test_as_list_accepts_warehouse_shapes() -> None:
    assert as_list(None) == as_list(float("nan")) == as_list("") == []
    assert as_list(["a", "b"]) == as_list(("a", "b")) == as_list(np.array(["a", "b"])) == ["a", "b"]
    assert as_list('["a", "b"]') == ["a", "b"]
    assert as_list("one reason") == ["one reason"]
    assert as_list([np.float64("nan"), np.int64(3)]) == [None, 3]


def test_as_dict_accepts_warehouse_shapes() -> None:
    assert as_dict(None) == as_dict("") == {}
    assert as_dict('{"WHO": {"supported": true}}') == {"WHO": {"supported": True}}
    assert as_dict({"a": np.bool_(True)}) == {"a": True}
    with pytest.raises(ValueError, match="expected a JSON object"):
        as_dict("[1]")


def test_to_jsonable() -> None:
    assert to_jsonable({"a": [np.float32(1.5), np.inf, pd.NA, pd.NaT]}) == {
        "a": [1.5, None, None, None]
    }


def test_segment_sort_key_is_natural() -> None:
    assert sorted(["seg_10", "seg_2", "seg_1"], key=segment_sort_key) == [
        "seg_1",
        "seg_2",
        "seg_10",
    ]


def test_sample_is_consistent_and_seeded() -> None:
    data = sample_report_data(n_segments=5, seed=7)
    check_report_data(data)
    counts = data.assignments["segment_id"].value_counts()
    assert dict(zip(data.segments["segment_id"], data.segments["size"], strict=True)) == {
        k: int(v) for k, v in counts.items()
    }
    assert data.assignments["customer_id"].is_unique
    again = sample_report_data(n_segments=5, seed=7)
    pd.testing.assert_frame_equal(data.trait_profile, again.trait_profile)
    assert sample_report_data(k_fixed=True).k_scores.empty
    assert sample_report_data(first_run=True).migration.empty
    with pytest.raises(ValueError, match="at least 1"):
        sample_report_data(n_segments=0)


def test_summary_markdown(full_data: ReportData) -> None:
    segments = full_data.segments.copy()
    segments.loc[1, "name"] = "Left | right"
    text = summary_markdown(dataclasses.replace(full_data, segments=segments))
    lines = text.splitlines()
    assert lines[0].startswith("| Segment | Name | Size | Share | Avg CLV | Churn risk |")
    rows = [line for line in lines[2:] if line.startswith("| seg_")]
    assert len(rows) == 4
    assert "Left \\| right" in rows[1]
    assert "| seg_4 |" in rows[3] and "| no |" in rows[3]  # seg_4 fails validation
    assert "2 of 4 segments are production-ready" in text
    # The same table from an already built report dict.
    assert summary_markdown(build_report_json(full_data)) == summary_markdown(full_data)
