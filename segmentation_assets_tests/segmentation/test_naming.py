"""Segment descriptions and business names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation_assets.segmentation.features import SegmentationError
from segmentation_assets.segmentation.naming import (
    DESCRIBE_COLUMNS,
    NAME_COLUMNS,
    describe_segments,
    format_value,
    name_segments,
    restrict_description,
)
from segmentation_assets.traits import DEFAULT_CLUSTER_FEATURES, NUMERIC_TRAITS
from segmentation_assets_tests.segmentation.synthetic import make_profiles, planted


@pytest.fixture(scope="module")
def five() -> tuple:
    # Use the planted truth as labels: naming is independent of the clustering.
    return planted(80, k=5)


def test_describe_segments_compares_with_population(five: tuple) -> None:
    frame, truth = five
    desc = describe_segments(frame, truth)
    assert list(desc.columns) == list(DESCRIBE_COLUMNS)
    assert len(desc) == 5 * len(DEFAULT_CLUSTER_FEATURES)
    row = desc[(desc["segment_index"] == 0) & (desc["trait"] == "net_revenue")].iloc[0]
    assert row["size"] == 80 and row["share"] == pytest.approx(0.2)
    assert row["segment_mean"] == pytest.approx(frame.loc[truth == 0, "net_revenue"].mean())
    assert row["population_mean"] == pytest.approx(frame["net_revenue"].mean())
    t = np.log1p(frame["net_revenue"].to_numpy())  # positive revenue: signed_log1p == log1p
    expected = (t[truth == 0].mean() - t.mean()) / t.std()
    assert row["standardized_difference"] == pytest.approx(expected)
    assert row["direction"] == "high" and row["rank"] == 1 and row["is_defining"]


def test_names_are_unique_and_mention_the_planted_traits(five: tuple) -> None:
    frame, truth = five
    names = name_segments(frame, truth)
    assert list(names.columns) == list(NAME_COLUMNS)
    assert names["name"].is_unique
    by_seg = names.set_index("segment_index")["name"].str.lower()
    assert "high-value" in by_seg[0]
    assert "lapsing" in by_seg[1] or "at-risk" in by_seg[1]
    assert "deal-seeking" in by_seg[2]
    assert "mobile-first" in by_seg[3] or "weekend" in by_seg[3]
    assert "email-engaged" in by_seg[4] or "new" in by_seg[4]
    text = names.set_index("segment_index").loc[0, "description"]
    assert "Net revenue:" in text and "base currency vs" in text and "overall" in text
    assert names.set_index("segment_index").loc[0, "defining_traits"].startswith("net_revenue")


def test_combined_phrase_and_noun() -> None:
    frame, truth = make_profiles(
        [80, 80, 80],
        [{"orders": -8, "sessions": 8}, {"purchase_frequency_per_month": 8}, {}],
        seed=2,
    )
    features = [*DEFAULT_CLUSTER_FEATURES, "sessions"]
    names = name_segments(frame, truth, features).set_index("segment_index")["name"]
    assert names[0].endswith("browsers")
    assert names[1].startswith("Frequent") or names[1].endswith("regulars")


def test_duplicate_names_are_disambiguated_deterministically() -> None:
    frame, truth = make_profiles([60, 60, 60], [{"net_revenue": 8}, {}, {}], seed=5)
    # split the high-value cluster in two: both halves look the same
    labels = truth.copy()
    labels[np.flatnonzero(truth == 0)[::2]] = 3
    first = name_segments(frame, labels)
    second = name_segments(frame, labels)
    assert first["name"].is_unique
    assert first["name"].tolist() == second["name"].tolist()


def test_format_value_uses_units() -> None:
    assert format_value(0.456, "share 0-1") == "46%"
    assert format_value(1234.5, "base currency") == "1,234 base currency"
    assert format_value(3.14159, "count") == "3.14"
    assert format_value(float("nan"), "days") == "n/a"


def test_a_subset_of_a_description_is_that_subsets_description(five: tuple) -> None:
    frame, truth = five
    # Constant traits tie at a difference of 0: their ranks go by the order of the features.
    frame = frame.assign(tenure_days=100.0, sessions=3)
    everything = describe_segments(frame, truth, NUMERIC_TRAITS)
    for subset in (
        ["sessions", "net_revenue", "tenure_days", "churn_risk"],
        ["tenure_days", "sessions"],
        list(reversed(DEFAULT_CLUSTER_FEATURES)),
    ):
        for top_n, min_effect in ((3, 0.3), (1, 0.0)):
            expected = describe_segments(frame, truth, subset, top_n=top_n, min_effect=min_effect)
            got = restrict_description(everything, subset, top_n=top_n, min_effect=min_effect)
            pd.testing.assert_frame_equal(got, expected)
    with pytest.raises(SegmentationError, match="no rows for trait"):
        restrict_description(describe_segments(frame, truth), ["cart_adds", "sessions"])
