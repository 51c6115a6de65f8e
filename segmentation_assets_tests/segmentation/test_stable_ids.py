"""Stable segment ids across refreshes and the migration table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation_assets.segmentation.model import SegmentationConfig, fit_segmentation
from segmentation_assets.segmentation.naming import name_segments
from segmentation_assets.segmentation.stable_ids import (
    MIGRATION_COLUMNS,
    assign_stable_ids,
    migration_table,
    previous_segments_frame,
)
from segmentation_assets_tests.segmentation.synthetic import PLANTED, make_profiles, planted


def _run(frame: pd.DataFrame, k: int, seed: int) -> tuple:
    result = fit_segmentation(frame, SegmentationConfig(n_clusters=k, n_init=3, random_state=seed))
    names = name_segments(frame, result.labels).set_index("segment_index")["name"].to_dict()
    return result, names


def _with_ids(result, stable) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return result.assignments.assign(
        segment_id=result.assignments["segment_index"].map(stable.segment_ids)
    )


def test_same_data_on_two_dates_keeps_ids_and_names() -> None:
    frame, _ = planted(60, k=4)
    day1, names1 = _run(frame, 4, seed=1)
    ids1 = assign_stable_ids(day1.centroids_original, None, current_names=names1)
    assert sorted(ids1.segment_ids.values()) == ["seg_1", "seg_2", "seg_3", "seg_4"]
    previous = previous_segments_frame(day1.centroids_original, ids1)
    assert {"segment_id", "name"} <= set(previous.columns)

    shuffled = frame.sample(frac=1, random_state=3).reset_index(drop=True)
    day2, names2 = _run(shuffled, 4, seed=99)
    # the label order differs between the two days (the test is only meaningful if it does)
    first_seg = dict(zip(day1.assignments["customer_id"], day1.labels, strict=True))
    assert any(first_seg[c] != s for c, s in zip(shuffled["customer_id"], day2.labels, strict=True))
    renamed = {i: f"other name {i}" for i in names2}
    ids2 = assign_stable_ids(
        day2.centroids_original, previous, current_names=renamed, scale=day2.feature_scale
    )
    assert ids2.table["matched"].all()
    assert (ids2.table["match_distance"] < 0.1).all()
    a = _with_ids(day1, ids1).set_index("customer_id")
    b = _with_ids(day2, ids2).set_index("customer_id").loc[a.index]
    assert (a["segment_id"] == b["segment_id"]).all()
    # matched segments keep the previous name, not the newly proposed one
    name_by_id = {ids1.segment_ids[i]: ids1.names[i] for i in ids1.segment_ids}
    for idx, sid in ids2.segment_ids.items():
        assert ids2.names[idx] == name_by_id[sid]


def test_a_new_cluster_gets_a_fresh_id_continuing_the_numbering() -> None:
    frame4, _ = make_profiles([60] * 4, PLANTED[:4], seed=0)
    frame5, _ = make_profiles([60] * 5, PLANTED[:5], seed=1, id_offset=10_000)
    day1, names1 = _run(frame4, 4, seed=1)
    ids1 = assign_stable_ids(day1.centroids_original, None, current_names=names1)
    previous = previous_segments_frame(day1.centroids_original, ids1)
    day2, names2 = _run(frame5, 5, seed=1)
    ids2 = assign_stable_ids(
        day2.centroids_original, previous, current_names=names2, scale=day2.feature_scale
    )
    assert ids2.table["matched"].sum() == 4
    new = ids2.table[~ids2.table["matched"]]
    assert new["segment_id"].tolist() == ["seg_5"]
    assert ids2.retired_ids == ()
    # numbers issued before (even retired) are never reused
    ids3 = assign_stable_ids(
        day2.centroids_original,
        previous,
        current_names=names2,
        scale=day2.feature_scale,
        issued_ids=["seg_9"],
    )
    assert ids3.table.loc[~ids3.table["matched"], "segment_id"].tolist() == ["seg_10"]


def test_far_segments_are_not_matched() -> None:
    cur = pd.DataFrame({"net_revenue": [100.0], "mobile_share": [0.2]})
    prev = pd.DataFrame(
        {"segment_id": ["seg_3"], "name": ["Old"], "net_revenue": [5000.0], "mobile_share": [0.9]}
    )
    scale = {"net_revenue": 1.0, "mobile_share": 0.2}  # transformed units (log for revenue)
    out = assign_stable_ids(cur, prev, scale=scale, current_names={0: "Old"})
    assert out.segment_ids == {0: "seg_4"}
    assert out.retired_ids == ("seg_3",)
    assert out.names == {0: "Old 2"}  # a fresh segment never borrows a previous name
    close = assign_stable_ids(
        cur, prev.assign(net_revenue=101.0, mobile_share=0.21), scale=scale, current_names={0: "X"}
    )
    assert close.segment_ids == {0: "seg_3"} and close.names == {0: "Old"}
    assert close.table.loc[0, "match_distance"] == pytest.approx(
        np.sqrt(((np.log1p(101) - np.log1p(100)) ** 2 + (0.01 / 0.2) ** 2) / 2)
    )
    with pytest.raises(ValueError, match="needs scale"):
        assign_stable_ids(cur, prev)


def test_migration_table_sums() -> None:
    prev = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"], "segment_id": list("XXYYY")})
    curr = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "f"], "segment_id": list("XYYZZ")})
    table = migration_table(prev, curr)
    assert list(table.columns) == list(MIGRATION_COLUMNS)
    common = table[table["from_segment_id"].notna() & table["to_segment_id"].notna()]
    assert common["customers"].sum() == 4
    assert set(map(tuple, common[["from_segment_id", "to_segment_id", "customers"]].values)) == {
        ("X", "X", 1),
        ("X", "Y", 1),
        ("Y", "Y", 1),
        ("Y", "Z", 1),
    }
    new = table[table["from_segment_id"].isna()]
    gone = table[table["to_segment_id"].isna()]
    assert new[["to_segment_id", "customers"]].values.tolist() == [["Z", 1]]
    assert gone[["from_segment_id", "customers"]].values.tolist() == [["Y", 1]]
    assert table["customers"].sum() == 6  # customers in either run
    assert migration_table(prev, curr, include_new_and_gone=False)["customers"].sum() == 4
    with pytest.raises(ValueError, match="repeat a customer_id"):
        migration_table(pd.concat([prev, prev]), curr)
