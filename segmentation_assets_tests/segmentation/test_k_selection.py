"""Automatic choice of k."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation_assets.robustness import native_thread_limit
from segmentation_assets.segmentation.features import FeatureTransformer, SegmentationError
from segmentation_assets.segmentation.k_selection import K_SCORE_COLUMNS, select_k
from segmentation_assets_tests.segmentation.synthetic import planted


def test_finds_the_planted_k_and_reports_every_k() -> None:
    frame, _ = planted(120, k=5)
    x = FeatureTransformer().fit_transform(frame)
    sel = select_k(x, k_range=(3, 8), n_init=2)
    assert sel.chosen_k == 5
    assert list(sel.scores.columns) == list(K_SCORE_COLUMNS)
    assert sel.scores["k"].tolist() == [3, 4, 5, 6, 7, 8]
    row = sel.scores.set_index("k").loc[5]
    assert row["prediction_strength"] >= 0.8 and row["passes_cutoff"]
    # The largest k that still predicts itself (Tibshirani & Walther), not the flattest silhouette.
    assert not sel.scores.set_index("k").loc[6:, "passes_cutoff"].any()
    assert "largest" in sel.reason
    # prediction strength is a share; silhouette within its bounds
    assert sel.scores["prediction_strength"].between(0, 1).all()
    assert sel.scores["silhouette"].between(-1, 1).all()


def test_sample_is_seeded_and_bounded() -> None:
    frame, _ = planted(120, k=3)
    x = FeatureTransformer().fit_transform(frame)
    a = select_k(x, k_range=(2, 4), sample_size=200, random_state=3, n_init=2)
    b = select_k(x, k_range=(2, 4), sample_size=200, random_state=3, n_init=2)
    assert a.sample_size == 200
    assert a.scores.equals(b.scores)


def test_no_k_passing_falls_back_to_smallest_with_reason() -> None:
    x = np.random.default_rng(0).uniform(size=(300, 4))
    sel = select_k(x, k_range=(3, 5), n_init=1, prediction_strength_cutoff=1.0)
    assert sel.chosen_k == 3
    assert "no k in 3..5 reached prediction strength 1" in sel.reason


def test_range_clipped_to_the_data_and_too_few_samples_error() -> None:
    x = np.repeat(np.arange(6, dtype=float)[:, None], 2, axis=0)  # 12 rows, 6 distinct
    sel = select_k(np.hstack([x, x]), k_range=(2, 10), n_init=1)
    assert sel.k_range == (2, 5)
    assert sel.scores["k"].max() == 5
    with pytest.raises(SegmentationError, match="too few customers"):
        select_k(np.zeros((3, 2)) + np.arange(3)[:, None], k_range=(3, 5))
    with pytest.raises(SegmentationError, match="k_range"):
        select_k(np.zeros((30, 2)), k_range=(1, 5))


def test_scores_do_not_depend_on_the_number_of_workers() -> None:
    frame, _ = planted(120, k=5)
    x = FeatureTransformer().fit_transform(frame)
    with native_thread_limit(1):
        one = select_k(x, k_range=(3, 8), n_init=2)
        two = select_k(x, k_range=(3, 8), n_init=2, workers=2)
    pd.testing.assert_frame_equal(one.scores, two.scores)
    assert (one.chosen_k, one.reason) == (two.chosen_k, two.reason)
