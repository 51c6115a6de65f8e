"""FeatureTransformer and feature selection."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import RobustScaler

from segmentation_assets.segmentation.features import (
    FeatureTransformer,
    SegmentationError,
    apply_transform,
    has_repeats,
    invert_transform,
    resolve_features,
)
from segmentation_assets.traits import DEFAULT_CLUSTER_FEATURES
from segmentation_assets_tests.segmentation.synthetic import planted


def test_default_features_are_the_registry_defaults_and_exclude_works() -> None:
    assert resolve_features() == DEFAULT_CLUSTER_FEATURES
    without = resolve_features(exclude=["orders", "mobile_share"])
    assert "orders" not in without and "mobile_share" not in without
    assert len(without) == len(DEFAULT_CLUSTER_FEATURES) - 2
    # include keeps its order and drops duplicates
    assert resolve_features(include=["sessions", "orders", "sessions"]) == ("sessions", "orders")


@pytest.mark.parametrize(
    ("include", "exclude", "message"),
    [
        (["orderz"], None, "unknown trait"),
        (None, ["nope"], "unknown trait"),
        (["orders", "top_category"], None, "categorical"),
        (["orders"], ["orders"], "no clustering features left"),
    ],
)
def test_invalid_feature_lists_are_clear_errors(
    include: list[str] | None, exclude: list[str] | None, message: str
) -> None:
    with pytest.raises(SegmentationError, match=message):
        resolve_features(include, exclude)


def test_transforms_round_trip_and_signed_log_keeps_sign() -> None:
    x = np.array([-100.0, -1.0, 0.0, 2.0, 1e6])
    y = apply_transform(x, "signed_log1p")
    assert np.allclose(y, np.sign(x) * np.log1p(np.abs(x)))
    assert np.allclose(invert_transform(y, "signed_log1p"), x)
    assert np.allclose(invert_transform(apply_transform(x[2:], "log1p"), "log1p"), x[2:])


def test_transform_is_trait_transform_then_robust_scaling() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "orders": rng.poisson(3, 500).astype(float),
            "net_revenue": rng.normal(100, 300, 500),
            "discount_share": rng.uniform(0, 1, 500),
        }
    )
    ft = FeatureTransformer(include=list(frame.columns), clip_quantiles=None).fit(frame)
    manual = np.column_stack(
        [
            np.log1p(frame["orders"]),
            np.sign(frame["net_revenue"]) * np.log1p(np.abs(frame["net_revenue"])),
            frame["discount_share"],
        ]
    )
    assert np.allclose(ft.transform(frame), RobustScaler().fit_transform(manual))
    assert ft.get_feature_names_out().tolist() == list(frame.columns)


def test_outliers_are_clipped_at_fitted_quantiles() -> None:
    values = np.arange(1000, dtype=float)
    values[-1] = 1e9
    frame = pd.DataFrame({"tenure_days": values})
    ft = FeatureTransformer(include=["tenure_days"]).fit(frame)
    assert ft.clip_high_[0] == pytest.approx(np.quantile(values, 0.99))
    scaled = ft.transform(frame)
    assert scaled.max() == pytest.approx(scaled[-2, 0])  # whale clipped to the 99th percentile


def test_constant_feature_dropped_with_warning_and_all_constant_is_error() -> None:
    frame, _ = planted(30, k=2)
    frame["mobile_share"] = 0.25
    ft = FeatureTransformer().fit(frame)
    assert "mobile_share" not in ft.features_
    assert ft.dropped_constant_ == ("mobile_share",)
    assert any("mobile_share" in w for w in ft.warnings_)
    assert ft.transform(frame).shape == (60, len(DEFAULT_CLUSTER_FEATURES) - 1)

    same = frame.copy()
    for col in DEFAULT_CLUSTER_FEATURES:
        same[col] = same[col].iloc[0]
    with pytest.raises(SegmentationError, match=r"constant.*identical"):
        FeatureTransformer().fit(same)


def test_nan_is_a_clear_error_or_median_filled() -> None:
    frame, _ = planted(20, k=2)
    frame.loc[[1, 5, 7], "email_open_rate"] = np.nan
    with pytest.raises(SegmentationError, match=r"email_open_rate \(3 of 40\)"):
        FeatureTransformer().fit(frame)
    ft = FeatureTransformer(nan_policy="median").fit(frame)
    assert any("email_open_rate (3 of 40)" in w for w in ft.warnings_)
    assert np.isfinite(ft.transform(frame)).all()


@pytest.mark.parametrize("clip_quantiles", [(0.01, 0.99), None])
def test_fit_transform_is_fit_then_transform(clip_quantiles: tuple[float, float] | None) -> None:
    frame, _ = planted(200, k=3)
    frame["mobile_share"] = 0.25  # dropped as constant
    frame.loc[[1, 5, 7], "email_open_rate"] = np.nan  # filled with the median
    frame.loc[3, "net_revenue"] = 1e7  # clipped
    settings = {"nan_policy": "median", "clip_quantiles": clip_quantiles}
    fitted = FeatureTransformer(**settings).fit(frame)
    expected = fitted.transform(frame)
    once = FeatureTransformer(**settings)
    np.testing.assert_array_equal(once.fit_transform(frame), expected)
    assert once.features_ == fitted.features_ and once.warnings_ == fitted.warnings_
    np.testing.assert_array_equal(once.transform(frame), expected)


def test_missing_negative_and_non_numeric_columns_are_clear_errors() -> None:
    frame, _ = planted(20, k=2)
    with pytest.raises(SegmentationError, match="lacks clustering feature column"):
        FeatureTransformer().fit(frame.drop(columns=["orders"]))
    bad = frame.copy()
    bad.loc[0, "orders"] = -2
    with pytest.raises(SegmentationError, match=r"orders.*must be >= 0"):
        FeatureTransformer().fit(bad)
    bad = frame.copy()
    bad["orders"] = "x"
    with pytest.raises(SegmentationError, match="not numeric: orders"):
        FeatureTransformer().fit(bad)


def test_zero_iqr_feature_gets_std_scale_not_one() -> None:
    rng = np.random.default_rng(1)
    share = np.where(rng.uniform(size=1000) < 0.1, rng.uniform(0.5, 1, 1000), 0.0)
    frame = pd.DataFrame({"discount_share": share, "tenure_days": rng.uniform(0, 900, 1000)})
    ft = FeatureTransformer(include=list(frame.columns), clip_quantiles=None).fit(frame)
    assert ft.feature_scale["discount_share"] == pytest.approx(1.349 * share.std())
    assert any("inter-quartile range is 0" in w for w in ft.warnings_)


def test_pickle_round_trip_and_inverse_transform() -> None:
    frame, _ = planted(30, k=3)
    ft = FeatureTransformer(clip_quantiles=None).fit(frame)
    clone = pickle.loads(pickle.dumps(ft))
    x = clone.transform(frame)
    assert np.allclose(x, ft.transform(frame))
    back = ft.inverse_transform(x[:5])
    assert np.allclose(back, frame.loc[:4, list(ft.features_)].to_numpy(dtype=float))


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ([], False),
        (["a"], False),
        (["a", "b", "c"], False),  # sorted, unique: neighbours compared
        (["a", "b", "c", "c"], True),  # sorted, repeated at the end
        (["a", "a", "b"], True),
        (["c", "a", "b"], False),  # unsorted: hashed
        (["c", "a", "c"], True),
        (["a", None, "a"], True),
        (["a", None, "b"], False),
    ],
)
def test_repeated_ids_are_found_sorted_or_not(ids: list[str | None], expected: bool) -> None:
    assert has_repeats(pd.Series(ids, dtype=object)) is expected
