"""PSI, segment shares and migration against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from segmentation_assets import drift


def test_psi_of_identical_distributions_is_zero() -> None:
    values = np.arange(100.0)
    result = drift.population_stability_index(values, values)
    assert result.psi == pytest.approx(0.0, abs=1e-12)
    assert result.band == "stable"
    # 10 decile bins + the missing bin.
    assert len(result.bins) == 11
    assert result.expected_shares[:10] == pytest.approx((0.1,) * 10)


def test_psi_matches_a_hand_computation_for_a_small_shift() -> None:
    # Deciles of 0..99 are 9.9, 19.8, ..., 89.1: ten bins of ten values each.
    previous = np.arange(100.0)
    # Current: 15 values in the first bin, 5 in the second, 10 in each of the other eight.
    current = np.concatenate([np.full(15, 1.0), np.full(5, 15.0), np.arange(20.0, 100.0)])
    expected = 0.05 * math.log(0.15 / 0.10) + (-0.05) * math.log(0.05 / 0.10)
    result = drift.population_stability_index(previous, current)
    assert result.psi == pytest.approx(expected, rel=1e-12)  # 0.0549
    assert result.band == "stable"


def test_psi_uses_epsilon_for_empty_bins() -> None:
    previous = np.arange(100.0)
    current = np.concatenate([np.zeros(20), np.full(80, 50.0)])  # bin 1 and bin 6 only
    eps = drift.PSI_EPSILON
    expected = (
        (0.2 - 0.1) * math.log(0.2 / 0.1)
        + (0.8 - 0.1) * math.log(0.8 / 0.1)
        + 8 * (eps - 0.1) * math.log(eps / 0.1)
    )
    result = drift.population_stability_index(previous, current)
    assert result.psi == pytest.approx(expected, rel=1e-12)  # 7.05
    assert result.band == "significant"


def test_point_masses_merge_decile_edges() -> None:
    previous = np.concatenate([np.zeros(70), np.arange(1.0, 31.0)])  # 70% zeros
    edges = drift.decile_edges(previous)
    assert edges[0] == 0.0 and len(edges) == len(set(edges)) < 9
    # Values above the previous range land in the last bin; the two dates share the bins.
    result = drift.population_stability_index(previous, previous + 100.0)
    assert result.actual_shares[len(edges)] == pytest.approx(1.0)


def test_a_value_on_an_edge_falls_in_the_bin_below() -> None:
    previous = np.arange(11.0)  # deciles exactly 1, 2, ..., 9
    assert list(drift.decile_edges(previous)) == [float(e) for e in range(1, 10)]
    current = np.array([-np.inf, 1.0, 1.5, 9.0, 9.0001, np.inf, np.nan, 5.0])
    result = drift.population_stability_index(previous, current)
    per_bin = [round(share * len(current)) for share in result.actual_shares]
    #         <=1 (1,2] (2,3] (3,4] (4,5] (5,6] (6,7] (7,8] (8,9] >9 missing
    assert per_bin == [2, 1, 0, 0, 1, 0, 0, 0, 1, 2, 1]
    assert result.bins[0] == "<= 1" and result.bins[9] == "> 9"


def test_missing_values_form_their_own_bin() -> None:
    previous = np.arange(100.0)
    current = np.concatenate([np.arange(90.0), np.full(10, np.nan)])
    result = drift.population_stability_index(previous, current)
    assert result.bins[-1] == "<missing>"
    assert result.actual_shares[-1] == pytest.approx(0.1)


def test_categorical_psi_matches_a_hand_computation() -> None:
    previous = ["a"] * 50 + ["b"] * 50
    current = ["a"] * 25 + ["b"] * 25 + ["c"] * 50
    eps = drift.PSI_EPSILON
    expected = 2 * (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.5 - eps) * math.log(0.5 / eps)
    result = drift.categorical_stability_index(previous, current)
    assert result.bins == ("a", "b", "c")
    assert result.psi == pytest.approx(expected, rel=1e-12)  # 4.60


def test_categorical_none_and_nan_share_the_missing_bin() -> None:
    previous = pd.Series(["a", None, float("nan"), "a"])
    current = ["a", "a", "a", None]
    result = drift.categorical_stability_index(previous, current)
    assert result.bins == ("<missing>", "a")
    assert result.expected_shares == (0.5, 0.5)
    assert result.actual_shares == (0.25, 0.75)


@pytest.mark.parametrize(
    ("psi", "band"),
    [
        (0.0, "stable"),
        (0.0999, "stable"),
        (0.1, "moderate"),
        (0.25, "moderate"),
        (0.2501, "significant"),
    ],
)
def test_conventional_bands(psi: float, band: str) -> None:
    assert drift.psi_band(psi) == band


def test_feature_drift_covers_numeric_and_categorical_features() -> None:
    previous = pd.DataFrame({"x": np.arange(100.0), "c": ["a"] * 50 + ["b"] * 50})
    current = pd.DataFrame({"x": np.arange(100.0), "c": ["a"] * 25 + ["b"] * 25 + ["c"] * 50})
    table = drift.feature_drift(previous, current, ["x", "absent"], ["c"])
    assert table["feature"].tolist() == ["x", "c"]
    assert table["kind"].tolist() == ["numeric", "categorical"]
    assert table["band"].tolist() == ["stable", "significant"]
    assert table["bins"].tolist() == [11, 3]


def test_segment_share_changes_and_mix_psi() -> None:
    previous = pd.DataFrame(
        {"segment_id": ["seg_1", "seg_2"], "name": ["A", "B"], "share": [0.5, 0.5]}
    )
    current = pd.DataFrame(
        {"segment_id": ["seg_2", "seg_10"], "name": ["B", "C"], "share": [0.6, 0.4]}
    )
    changes = drift.segment_share_changes(previous, current)
    assert changes["segment_id"].tolist() == ["seg_1", "seg_2", "seg_10"]
    assert changes["name"].tolist() == ["A", "B", "C"]
    assert changes["share_change"].tolist() == pytest.approx([-0.5, 0.1, 0.4])
    eps = drift.PSI_EPSILON
    expected = (
        (eps - 0.5) * math.log(eps / 0.5)
        + 0.1 * math.log(0.6 / 0.5)
        + (0.4 - eps) * math.log(0.4 / eps)
    )
    assert drift.segment_share_psi(changes) == pytest.approx(expected, rel=1e-12)


def test_share_moved_counts_only_customers_present_on_both_dates() -> None:
    migration = pd.DataFrame(
        {
            "from_segment_id": ["seg_1", "seg_1", "seg_2", None, "seg_2"],
            "to_segment_id": ["seg_1", "seg_2", "seg_2", "seg_1", None],
            "customers": [60, 15, 25, 7, 3],
        }
    )
    summary = drift.summarize_migration(migration)
    assert (summary.customers_in_both, summary.customers_moved) == (100, 15)
    assert (summary.customers_new, summary.customers_gone) == (7, 3)
    assert summary.share_moved == pytest.approx(0.15)
    assert summary.band == "moderate"
    flows = drift.segment_flows(migration).set_index("segment_id")
    assert flows.loc["seg_1"].to_dict() == {
        "stayed": 60, "moved_in": 0, "moved_out": 15, "new": 7, "gone": 0
    }  # fmt: skip
    assert flows.loc["seg_2"].to_dict() == {
        "stayed": 25, "moved_in": 15, "moved_out": 0, "new": 0, "gone": 3
    }  # fmt: skip


def test_no_migration_means_nothing_moved() -> None:
    summary = drift.summarize_migration(
        pd.DataFrame({"from_segment_id": [], "to_segment_id": [], "customers": []})
    )
    assert summary.share_moved == 0.0 and summary.band == "stable"
