"""Per-segment robustness: bootstrap, feature, window and temporal stability."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from segmentation_assets.robustness import (
    ROBUSTNESS_COLUMNS,
    assess_robustness,
    best_match_jaccard,
    bootstrap_stability,
    feature_sensitivity,
    native_thread_limit,
    score_robustness,
    stability_tier,
    temporal_stability,
    window_sample,
    window_sensitivity,
)
from segmentation_assets.segmentation.model import SegmentationConfig, fit_segmentation
from segmentation_assets_tests.segmentation.synthetic import make_profiles, planted, uniform_blob

CFG = SegmentationConfig(n_clusters=4, n_init=2)


@pytest.fixture(scope="module")
def separated() -> tuple:
    frame, _ = planted(80, k=4)
    return frame, fit_segmentation(frame, CFG)


def test_best_match_jaccard_by_hand() -> None:
    ref = np.array([0, 0, 0, 1, 1, 2])
    other = np.array([5, 5, 7, 7, 7, 7])
    # seg 0 {0,1,2}: vs 5 {0,1} -> 2/3; seg 1 {3,4}: vs 7 {2..5} -> 2/4; seg 2 {5}: 1/4
    assert np.allclose(best_match_jaccard(ref, other, 4)[:3], [2 / 3, 0.5, 0.25])
    assert np.isnan(best_match_jaccard(ref, other, 4)[3])


def test_tiers_follow_hennig() -> None:
    assert [stability_tier(v) for v in (0.9, 0.8, 0.7, 0.55, 0.5, float("nan"))] == [
        "highly stable",
        "stable",
        "pattern only",
        "do not trust",
        "dissolved",
        "not assessed",
    ]


def test_bootstrap_separates_real_clusters_from_noise(separated: tuple) -> None:
    frame, result = separated
    real = bootstrap_stability(frame, CFG, result, n_bootstrap=8, random_state=1)
    assert (real.per_segment["bootstrap_jaccard"] > 0.85).all()
    assert (real.per_segment["tier"] == "highly stable").all()
    assert real.jaccards.shape == (8, 4) and not real.failures

    noise = uniform_blob(320, seed=3)  # no structure: k-means splits it into 4 by force
    noise_result = fit_segmentation(noise, CFG)
    weak = bootstrap_stability(noise, CFG, noise_result, n_bootstrap=8, random_state=1)
    weak_jaccard = weak.per_segment["bootstrap_jaccard"]
    assert weak_jaccard.mean() < 0.5
    # Every forced split of noise is far less stable than any real segment.
    assert weak_jaccard.max() < real.per_segment["bootstrap_jaccard"].min() - 0.2
    assert weak.per_segment["dissolved_share"].mean() > 0.5
    assert weak.per_segment["tier"].isin({"dissolved", "do not trust"}).mean() >= 0.75


def test_bootstrap_respects_sample_size(separated: tuple) -> None:
    frame, result = separated
    out = bootstrap_stability(frame, CFG, result, n_bootstrap=2, sample_size=100)
    assert out.sample_size == 100
    with pytest.raises(ValueError, match="labels but profiles has"):
        bootstrap_stability(frame.iloc[:10], CFG, result, n_bootstrap=1)


def test_feature_sensitivity_names_the_critical_feature() -> None:
    # clusters 2 and 3 share the discount shift; only mobile_share separates 3 from 2
    shifts = [{"net_revenue": 8}, {"recency_days": 8}, {"discount_share": 8}]
    shifts.append({"discount_share": 8, "mobile_share": 8})
    frame, truth = make_profiles([100, 100, 200, 100], shifts, seed=4)
    result = fit_segmentation(frame, CFG)
    out = feature_sensitivity(frame, CFG, result)
    seg = int(np.bincount(result.labels[truth == 3]).argmax())
    row = out.per_segment.set_index("segment_index").loc[seg]
    assert "mobile_share" in row["critical_features"].split(", ")
    assert row["feature_jaccard_min"] < 0.5
    drop = out.detail[(out.detail["dropped"] == "orders") & (out.detail["segment_index"] == seg)]
    assert drop["jaccard"].iloc[0] > 0.9  # a noise feature is not critical
    ari = out.overall.set_index("dropped")["ari"]
    assert ari["orders"] > 0.9 and ari["mobile_share"] < 0.8
    by_group = feature_sensitivity(frame, CFG, result, by="group")
    assert "habits" in set(by_group.overall["dropped"])


def test_window_sensitivity_on_shorter_windows(separated: tuple) -> None:
    frame, result = separated
    rng = np.random.default_rng(0)
    similar = frame.copy()
    similar["tenure_days"] = similar["tenure_days"] * rng.uniform(0.95, 1.05, len(frame))
    shuffled = frame.copy()
    for col in ("net_revenue", "recency_days", "discount_share", "mobile_share", "churn_risk"):
        shuffled[col] = rng.permutation(shuffled[col].to_numpy())
    out = window_sensitivity(result, {90: similar.iloc[:250], 30: shuffled}, CFG)
    detail = out.detail.pivot(index="segment_index", columns="window_days", values="jaccard")
    assert (detail[90] > 0.9).all()
    assert detail[30].mean() < 0.7
    assert out.overall.set_index("window_days").loc[90, "n_common"] == 250
    assert (out.per_segment["worst_window"] == 30).all()


def test_temporal_stability() -> None:
    prev = pd.DataFrame({"customer_id": list("abcdef"), "segment_id": list("XXXYYY")})
    curr = pd.DataFrame({"customer_id": list("abcdeg"), "segment_id": list("XXYYYZ")})
    out = temporal_stability(prev, curr)
    j = out.per_segment.set_index("segment_id")["temporal_jaccard"]
    # common a..e: X {a,b,c} -> {a,b}: 2/3; Y {d,e} -> {c,d,e}: 2/3; Z new -> NaN
    assert j["X"] == pytest.approx(2 / 3) and j["Y"] == pytest.approx(2 / 3)
    assert np.isnan(j["Z"])
    assert out.n_common == 5 and -1 <= out.ari <= 1
    same = temporal_stability(prev, prev)
    assert same.ari == pytest.approx(1.0)
    assert (same.per_segment["temporal_jaccard"] == 1.0).all()


def test_score_formula_values_in_unit_interval(separated: tuple) -> None:
    frame, result = separated
    boot = bootstrap_stability(frame, CFG, result, n_bootstrap=3)
    feat = feature_sensitivity(frame, CFG, result, sample_size=200)
    ids = {i: f"seg_{i + 1}" for i in range(4)}
    curr = result.assignments.assign(segment_id=[ids[i] for i in result.labels])
    temp = temporal_stability(curr, curr)
    table = score_robustness(boot, feat, None, temp, segment_ids=ids)
    assert list(table.columns) == list(ROBUSTNESS_COLUMNS)
    numeric = ["bootstrap_jaccard", "feature_jaccard_min", "temporal_jaccard", "robustness_score"]
    assert table[numeric].apply(lambda c: c.between(0, 1)).all().all()
    assert table["window_jaccard"].isna().all()
    # weighted mean over available components: (0.4 b + 0.2 f + 0.2 t) / 0.8
    row = table.iloc[0]
    expected = (0.4 * row["bootstrap_jaccard"] + 0.2 * row["feature_jaccard_min"] + 0.2 * 1.0) / 0.8
    assert row["robustness_score"] == pytest.approx(expected)
    assert table["notes"].str.len().gt(10).all()


def test_score_flags_weak_segments_for_monitoring() -> None:
    from segmentation_assets.robustness import BootstrapStability, FeatureSensitivity

    boot = BootstrapStability(
        pd.DataFrame({"segment_index": [0, 1], "bootstrap_jaccard": [0.95, 0.55]}),
        np.zeros((1, 2)),
        [],
        10,
    )
    feat = FeatureSensitivity(
        pd.DataFrame(
            {
                "segment_index": [0, 1],
                "feature_jaccard_min": [0.9, 0.3],
                "most_sensitive_to": ["orders", "mobile_share"],
                "critical_features": ["", "mobile_share"],
            }
        ),
        pd.DataFrame(),
        pd.DataFrame(),
        {},
    )
    table = score_robustness(boot, feat).set_index("segment_index")
    assert table.loc[0, "robustness_score"] == pytest.approx((0.4 * 0.95 + 0.2 * 0.9) / 0.6)
    assert not table.loc[0, "requires_monitoring"] and table.loc[0, "tier"] == "highly stable"
    assert table.loc[1, "robustness_score"] == pytest.approx((0.4 * 0.55 + 0.2 * 0.3) / 0.6)
    assert table.loc[1, "requires_monitoring"] and table.loc[1, "tier"] == "dissolved"
    assert "mobile_share" in table.loc[1, "notes"]
    with pytest.raises(ValueError, match="needs bootstrap"):
        score_robustness()


def test_assess_robustness_end_to_end(separated: tuple) -> None:
    frame, result = separated
    ids = {i: f"seg_{i + 1}" for i in range(4)}
    prev = result.assignments.assign(segment_id=[ids[i] for i in result.labels])
    table = assess_robustness(
        frame,
        CFG,
        result,
        n_bootstrap=2,
        alt_profiles_by_window={30: frame},
        prev_assignments=prev,
        segment_ids=ids,
        sample_size=150,
    )
    assert len(table) == 4 and table["segment_id"].tolist() == list(ids.values())
    assert table["robustness_score"].between(0, 1).all()
    assert (table["temporal_jaccard"] == 1.0).all()


def test_window_sensitivity_needs_only_the_window_sample(separated: tuple) -> None:
    # Upstream profiles only window_sample's customers of a window; the refit must see the same
    # rows as when it gets every customer's profile (here all columns are per customer).
    frame, result = separated
    rng = np.random.default_rng(2)
    shorter = frame.iloc[15:].copy()  # some base customers are not active in the shorter window
    shorter["tenure_days"] = shorter["tenure_days"] * rng.uniform(0.9, 1.1, len(shorter))
    newcomer = shorter.iloc[:5].assign(customer_id=[f"new_{i}" for i in range(5)])
    shorter = pd.concat([shorter, newcomer]).sort_values("customer_id", ignore_index=True)
    base_ids = result.assignments["customer_id"]
    chosen = window_sample(shorter["customer_id"], base_ids, 90, sample_size=150, random_state=3)
    assert len(chosen) == 150 and len(set(chosen)) == 150
    assert set(chosen) <= set(base_ids) & set(shorter["customer_id"])
    assert list(chosen) == sorted(chosen)  # in the window profiles' order
    # Seeded: the same call gives the same customers, another window other ones.
    again = window_sample(shorter["customer_id"], base_ids, 90, sample_size=150, random_state=3)
    assert list(again) == list(chosen)
    other = window_sample(shorter["customer_id"], base_ids, 180, sample_size=150, random_state=3)
    assert list(other) != list(chosen)
    kw = {"sample_size": 150, "random_state": 3}
    everyone = window_sensitivity(result, {90: shorter}, CFG, **kw)
    sampled = window_sensitivity(
        result, {90: shorter[shorter["customer_id"].isin(chosen)]}, CFG, **kw
    )
    pd.testing.assert_frame_equal(sampled.detail, everyone.detail)
    pd.testing.assert_frame_equal(sampled.overall, everyone.overall)
    assert everyone.overall["n_common"].tolist() == [150]
    # A sample as large as the window takes every customer both have.
    both = shorter["customer_id"].isin(base_ids)
    assert list(window_sample(shorter["customer_id"], base_ids, 90, sample_size=10_000)) == list(
        shorter.loc[both, "customer_id"]
    )


def test_native_thread_limit_caps_openmp_and_blas_threads() -> None:
    import sklearn.cluster  # noqa: F401  (loads the OpenMP runtime the refits use)
    from threadpoolctl import threadpool_info

    with native_thread_limit(1):
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    with native_thread_limit(None):
        pass
    with pytest.raises(ValueError, match="max_threads"):
        native_thread_limit(0)


def test_results_do_not_depend_on_the_number_of_workers(separated: tuple) -> None:
    frame, result = separated
    ids = {i: f"seg_{i + 1}" for i in range(4)}
    shorter = frame.iloc[10:].reset_index(drop=True)
    kw = {
        "n_bootstrap": 6,
        "alt_profiles_by_window": {30: shorter, 90: frame},
        "segment_ids": ids,
        "sample_size": 200,
        "random_state": 5,
        "max_threads": 1,
    }
    one = assess_robustness(frame, CFG, result, workers=1, **kw)
    two = assess_robustness(frame, CFG, result, workers=2, **kw)
    pd.testing.assert_frame_equal(one, two)
    with native_thread_limit(1):
        boot_one = bootstrap_stability(frame, CFG, result, n_bootstrap=6, random_state=5)
        boot_two = bootstrap_stability(frame, CFG, result, n_bootstrap=6, random_state=5, workers=3)
    np.testing.assert_array_equal(boot_one.jaccards, boot_two.jaccards)


def test_window_profiles_made_beside_the_refits_give_the_same_scores(separated: tuple) -> None:
    frame, result = separated
    ids = {i: f"seg_{i + 1}" for i in range(4)}
    windows = {30: frame.iloc[10:].reset_index(drop=True), 90: frame}
    kw = {
        "n_bootstrap": 6,
        "segment_ids": ids,
        "sample_size": 200,
        "random_state": 5,
        "max_threads": 1,
    }
    expected = assess_robustness(frame, CFG, result, alt_profiles_by_window=windows, **kw)
    assert expected["window_jaccard"].notna().all()
    calls: list[int] = []

    def make_windows() -> dict[int, pd.DataFrame]:
        calls.append(1)
        # The value model's optimizer silences warnings the same way, on this thread, while the
        # refits do on theirs.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return windows

    before = list(warnings.filters)
    for workers in (1, 2):
        scores = assess_robustness(
            frame, CFG, result, alt_profiles_by_window=make_windows, workers=workers, **kw
        )
        pd.testing.assert_frame_equal(scores, expected)
    assert len(calls) == 2
    assert warnings.filters == before
    no_windows = assess_robustness(frame, CFG, result, alt_profiles_by_window=dict, workers=2, **kw)
    assert no_windows["window_jaccard"].isna().all()


def test_a_refit_that_cannot_be_made_is_reported_not_raised(separated: tuple) -> None:
    frame, result = separated
    single = feature_sensitivity(
        frame, CFG, result, groups={"all": list(result.features)}, workers=2
    )
    assert single.skipped == {"all": "removing it leaves no feature"}
    assert single.detail.empty
