"""fit_segmentation, scoring and the serializable model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score

from segmentation_assets.segmentation.features import SegmentationError
from segmentation_assets.segmentation.model import (
    ASSIGNMENT_COLUMNS,
    ReusedWeightsRandomState,
    SegmentationConfig,
    SegmentationModel,
    fit_segmentation,
    result_from_model,
    score_new_customers,
)
from segmentation_assets.traits import DEFAULT_CLUSTER_FEATURES
from segmentation_assets_tests.segmentation.synthetic import BASE, planted


def fast(**updates: Any) -> SegmentationConfig:
    """A cheap config (few k-means restarts) with ``updates``."""
    return SegmentationConfig(**{"n_init": 3, "k_selection_n_init": 2, **updates})


@pytest.fixture(scope="module")
def five() -> tuple:
    frame, truth = planted(120, k=5)
    return frame, truth, fit_segmentation(frame, fast(k_range=(3, 7)))


def test_auto_k_recovers_the_planted_clusters(five: tuple) -> None:
    frame, truth, result = five
    assert result.k == 5
    assert result.k_selection is not None and result.k_selection.chosen_k == 5
    assert adjusted_rand_score(truth, result.labels) > 0.9
    assert list(result.assignments.columns) == list(ASSIGNMENT_COLUMNS)
    assert result.assignments["customer_id"].tolist() == frame["customer_id"].tolist()
    assert (result.assignments["segment_index"].to_numpy() == result.labels).all()
    conf = result.assignments["membership_confidence"]
    assert conf.between(0, 1).all() and conf.mean() > 0.3
    assert (result.assignments["distance_to_centroid"] >= 0).all()
    sizes = np.bincount(result.labels)
    assert (np.diff(sizes) <= 0).all()  # segment 0 is the largest


def test_centroids_in_scaled_and_trait_units(five: tuple) -> None:
    _, truth, result = five
    assert result.centroids_scaled.shape == (5, len(DEFAULT_CLUSTER_FEATURES))
    assert list(result.centroids_original.columns) == list(DEFAULT_CLUSTER_FEATURES)
    # the planted high-value cluster (truth 0: net_revenue +8 spreads) in trait units
    seg = np.bincount(result.labels[truth == 0]).argmax()
    mu, sd = BASE["net_revenue"]
    expected = np.expm1(mu + 8 * sd)
    assert result.centroids_original.loc[seg, "net_revenue"] == pytest.approx(expected, rel=0.2)


def test_fixed_k_is_honoured_even_when_silhouette_prefers_another(five: tuple) -> None:
    frame, _, _ = five
    result = fit_segmentation(frame, fast(n_clusters=3))
    assert result.k == 3 and result.k_selection is None
    assert sorted(np.unique(result.labels)) == [0, 1, 2]


def test_scoring_new_customers_matches_fit_and_model_round_trips(five: tuple) -> None:
    frame, _, result = five
    scored = score_new_customers(result.model, frame.sample(frac=1, random_state=1))
    by_id = result.assignments.set_index("customer_id")
    again = by_id.loc[scored["customer_id"]]
    assert (scored["segment_index"].to_numpy() == again["segment_index"].to_numpy()).all()
    assert np.allclose(scored["distance_to_centroid"], again["distance_to_centroid"])
    blob = result.model.to_bytes()
    model = SegmentationModel.from_bytes(blob)
    assert model.version == result.version and len(model.version) == 16
    assert model.assign(frame)["segment_index"].tolist() == result.labels.tolist()
    with pytest.raises(SegmentationError, match="SegmentationModel"):
        SegmentationModel.from_bytes(__import__("pickle").dumps({"not": "a model"}))


def test_version_is_deterministic_and_depends_on_config(five: tuple) -> None:
    frame, _, _ = five
    a = fit_segmentation(frame, fast(n_clusters=5))
    b = fit_segmentation(frame, fast(n_clusters=5))
    c = fit_segmentation(frame, fast(n_clusters=5, random_state=7))
    assert a.version == b.version
    assert a.version != c.version


def test_minibatch_above_threshold_still_recovers_clusters() -> None:
    frame, truth = planted(100, k=4)
    result = fit_segmentation(
        frame, SegmentationConfig(n_clusters=4, minibatch_threshold=100, minibatch_batch_size=128)
    )
    assert isinstance(result.estimator, MiniBatchKMeans)
    assert adjusted_rand_score(truth, result.labels) > 0.9


def test_reused_weights_sampler_draws_what_numpy_draws() -> None:
    """Every call gives the plain RandomState's numbers: weights repeated, replaced, changed in
    place, and calls the cache does not serve, interleaved."""
    weights = np.random.default_rng(0).random(5_000)
    weights /= weights.sum()
    other = np.full(5_000, 1 / 5_000)
    fast_state, plain = ReusedWeightsRandomState(11), np.random.RandomState(11)
    calls: list[tuple[Any, ...]] = [
        (5_000, 64, True, weights),
        (5_000, 64, True, weights),
        (5_000, 64, True, weights.copy()),
        (5_000, 7, False, None),
        (5_000, 64, True, other),
        (5_000, 64, True, weights),
        (5_000, 3, False, weights),
        (5_000, 64, True, weights),
    ]
    for a, size, replace, p in calls:
        expected = plain.choice(a, size, replace, p)
        assert np.array_equal(fast_state.choice(a, size, replace, p), expected)
        assert fast_state.randint(0, 1_000) == plain.randint(0, 1_000)
    # The cached weights changed in place: the cumulative sum is not reused.
    weights[:2_500] *= 3
    weights /= weights.sum()
    for _ in range(2):
        assert np.array_equal(
            fast_state.choice(5_000, 64, True, weights), plain.choice(5_000, 64, True, weights)
        )


def test_minibatch_fit_is_the_one_an_integer_seed_gives() -> None:
    frame, _ = planted(400, k=4)
    config = SegmentationConfig(
        n_clusters=4, n_init=2, minibatch_threshold=100, minibatch_batch_size=64
    )
    result = fit_segmentation(frame, config)
    plain = MiniBatchKMeans(n_clusters=4, batch_size=64, n_init=2, random_state=config.random_state)
    plain.fit(result.transformer.transform(frame))
    np.testing.assert_array_equal(result.estimator.cluster_centers_, plain.cluster_centers_)
    assert result.estimator.n_steps_ == plain.n_steps_
    assert result.estimator.get_params()["random_state"] == config.random_state


def test_too_few_customers_is_a_clear_error() -> None:
    frame, _ = planted(2, k=2)  # 4 customers
    with pytest.raises(SegmentationError, match="too few customers for 6 segments: only 4"):
        fit_segmentation(frame, SegmentationConfig(n_clusters=6))
    with pytest.raises(SegmentationError, match="too few customers"):
        fit_segmentation(frame, SegmentationConfig(k_range=(5, 8)))


def test_identical_customers_and_too_few_distinct_profiles_are_clear_errors() -> None:
    frame, _ = planted(10, k=2)
    same = frame.copy()
    for col in DEFAULT_CLUSTER_FEATURES:
        same[col] = same[col].iloc[0]
    with pytest.raises(SegmentationError, match="all customers look identical"):
        fit_segmentation(same, SegmentationConfig(n_clusters=3))
    two = frame.copy()
    for col in DEFAULT_CLUSTER_FEATURES:
        two[col] = np.where(np.arange(len(two)) % 2, two[col].iloc[0], two[col].iloc[1])
    with pytest.raises(SegmentationError, match="only 2 non-empty clusters"):
        fit_segmentation(two, SegmentationConfig(n_clusters=3, n_init=1))


def test_bad_frames_are_clear_errors() -> None:
    frame, _ = planted(10, k=2)
    with pytest.raises(SegmentationError, match="one row per customer"):
        fit_segmentation(
            frame.assign(customer_id="same"), SegmentationConfig(n_clusters=2, n_init=1)
        )
    with pytest.raises(SegmentationError, match="empty"):
        fit_segmentation(frame.iloc[:0], SegmentationConfig(n_clusters=2))
    with pytest.raises(ValueError, match="categorical"):
        SegmentationConfig(include_features=("orders", "primary_device"))


def test_result_from_model_is_the_fit_result_without_refitting(five: tuple) -> None:
    frame, _, result = five
    again = result_from_model(SegmentationModel.from_bytes(result.model.to_bytes()), frame)
    assert again.k == result.k and again.features == result.features
    assert np.array_equal(again.labels, result.labels)
    pd.testing.assert_frame_equal(again.assignments, result.assignments)
    pd.testing.assert_frame_equal(again.centroids_scaled, result.centroids_scaled)
    pd.testing.assert_frame_equal(again.centroids_original, result.centroids_original)
    assert again.version == result.version and again.warnings == result.warnings
