"""RFM quintiles with ties, and the named groups."""

from __future__ import annotations

import itertools

import pandas as pd

from segmentation_assets.rfm import RFM_GROUP_NAMES, quintile_scores, rfm_group


def test_quintiles_share_scores_on_ties_and_reverse_recency() -> None:
    values = pd.Series([1, 1, 1, 1, 2, 3, 4, 5, 6, 7])
    # Tied values all take the score of the tie's lowest rank.
    assert quintile_scores(values).tolist() == [1, 1, 1, 1, 3, 3, 4, 4, 5, 5]
    recency = pd.Series([0, 10, 20, 30, 40])
    assert quintile_scores(recency, reverse=True).tolist() == [5, 4, 3, 2, 1]


def test_every_score_combination_has_exactly_one_named_group() -> None:
    r, f, m = (pd.Series(v) for v in zip(*itertools.product(range(1, 6), repeat=3), strict=True))
    groups = rfm_group(r, f, m)
    assert set(groups) == set(RFM_GROUP_NAMES)
    assert len(RFM_GROUP_NAMES) == 11
    named = dict(zip(zip(r, f, m, strict=True), groups, strict=True))
    assert named[(5, 5, 5)] == "Champions"
    assert named[(1, 5, 5)] == "Can't Lose Them"
    assert named[(1, 1, 1)] == "Lost"
    assert named[(5, 1, 1)] == "New"
