"""Validation criteria and campaign economics on hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from segmentation_assets.economics import (
    DEFAULT_UPLIFT,
    EVALUATION_COLUMNS,
    CampaignEconomics,
    SegmentStats,
    ValidationCriteria,
    assess_viability,
    build_segment_stats,
    evaluate_segments,
    validate_segment,
)
from segmentation_assets.segmentation.features import SegmentationError


def test_every_failed_criterion_is_a_reason_with_value_and_threshold() -> None:
    stats = SegmentStats(
        size=10,
        share=0.5,
        total_clv=4000,
        avg_clv=400,
        feature_stability=0.3,
        overall_robustness=0.7,
        expected_roi=0.5,
    )
    result = validate_segment(stats, ValidationCriteria())
    assert not result.passed
    assert result.reasons == [
        "segment has 10 customers, fewer than the minimum 20",
        "segment holds 50.0% of customers, more than the maximum 40.0%; it is too broad to target",
        "total predicted CLV 4,000.00 is below the minimum 5,000.00",
        "feature stability 0.30 is below the minimum 0.50; the segment depends on a single trait",
        "expected ROI 0.50 is below the minimum 1.00",
    ]
    assert result.not_evaluated == []


def test_thresholds_are_inclusive_and_unknown_stats_are_not_evaluated() -> None:
    at_limits = {
        "size": 20,
        "share": 0.4,
        "total_clv": 5000.0,
        "avg_clv": 250.0,
        "feature_stability": 0.5,
        "overall_robustness": 0.6,
        "expected_roi": 1.0,
    }
    assert validate_segment(at_limits).passed
    partial = validate_segment({"size": 50, "avg_clv": 150.0, "expected_roi": float("nan")})
    assert partial.passed  # total CLV derived from avg: 50 × 150 = 7,500 ≥ 5,000
    assert partial.not_evaluated == [
        "max_segment_size_pct",
        "min_feature_stability",
        "min_overall_robustness",
        "min_expected_roi",
    ]
    strict = ValidationCriteria(min_avg_clv=200)
    assert validate_segment({"size": 50, "avg_clv": 150.0}, strict).reasons == [
        "average predicted CLV 150.00 is below the minimum 200.00"
    ]


def test_roi_by_hand() -> None:
    eco = CampaignEconomics(cost_per_contact=0.5, gross_margin=0.3)
    v = assess_viability(SegmentStats(size=1000, avg_clv=200.0), "win_back", eco)
    # revenue 1000 × 200 × 0.05 = 10,000; profit × 0.3 = 3,000; cost 1000 × 0.5 = 500
    assert v.uplift == DEFAULT_UPLIFT["win_back"] == 0.05
    assert v.expected_incremental_revenue == pytest.approx(10_000)
    assert v.incremental_profit == pytest.approx(3_000)
    assert v.cost == pytest.approx(500)
    assert v.roi == pytest.approx(5.0)  # (3000 - 500) / 500
    assert v.break_even_uplift == pytest.approx(0.5 / (200 * 0.3))
    assert v.is_profitable

    half = CampaignEconomics(horizon_months=6, clv_horizon_months=12)
    assert assess_viability({"size": 1000, "avg_clv": 200.0}, "win_back", half).roi == (
        pytest.approx(2.0)  # CLV prorated to 100: profit 1,500, cost 500
    )
    loss = assess_viability({"size": 100, "total_clv": 1000.0}, "nurture", eco)
    # revenue 100 × 10 × 0.02 = 20; profit 6; cost 50
    assert loss.roi == pytest.approx((6 - 50) / 50) and not loss.is_profitable
    # at the break-even uplift ROI is exactly 0
    even = CampaignEconomics(uplift_by_play={"test": loss.break_even_uplift})
    assert assess_viability({"size": 100, "avg_clv": 10.0}, "test", even).roi == pytest.approx(0)
    free = CampaignEconomics(cost_per_contact=0)
    assert math.isinf(assess_viability({"size": 10, "avg_clv": 10.0}, "nurture", free).roi)


def test_scores_by_hand() -> None:
    stats = SegmentStats(
        size=1000,
        avg_clv=200,
        distinctiveness=1.0,
        avg_email_open_rate=0.3,
        value_index=3.0,
        avg_churn_risk=0.2,
        avg_membership_confidence=0.7,
        avg_interpurchase_regularity=0.4,
        avg_recency_days=90,
    )
    v = assess_viability(stats, "vip_retention")
    size_part = math.log(1001) / math.log(10_001)
    assert v.marketing_targetability == pytest.approx((size_part + 0.5 + 0.3) / 3)
    assert v.sales_prioritization == pytest.approx((0.75 + 0.8) / 2)
    assert v.personalization == pytest.approx((0.5 + 0.7) / 2)
    assert v.timing == pytest.approx((0.4 + math.exp(-1)) / 2)
    bare = assess_viability(SegmentStats(size=5, avg_clv=1.0), "nurture")
    scores = [bare.marketing_targetability, bare.sales_prioritization, bare.timing]
    assert all(0 <= s <= 1 for s in scores) and bare.personalization == 0


def test_unknown_play_and_missing_clv_are_clear_errors() -> None:
    with pytest.raises(SegmentationError, match="unknown play 'spam'; known plays: cart_recovery"):
        assess_viability({"size": 1, "avg_clv": 1.0}, "spam")
    with pytest.raises(SegmentationError, match="needs avg_clv"):
        assess_viability({"size": 1}, "nurture")


def test_build_stats_and_evaluate_segments() -> None:
    profiles = pd.DataFrame(
        {
            "predicted_clv": [100.0, 300.0, 10.0, 10.0, 10.0],
            "churn_risk": [0.1, 0.3, 0.8, 0.9, 0.7],
            "recency_days": [5.0, 15.0, 200.0, 300.0, 250.0],
        }
    )
    labels = np.array([0, 0, 1, 1, 1])
    robustness = pd.DataFrame(
        {"segment_index": [0, 1], "feature_jaccard_min": [0.9, 0.4], "robustness_score": [0.9, 0.5]}
    )
    stats = build_segment_stats(
        profiles,
        labels,
        membership_confidence=np.array([0.9, 0.8, 0.5, 0.5, 0.5]),
        robustness=robustness,
        distinct_features=("churn_risk", "recency_days"),
    )
    s0 = stats.set_index("segment_index").loc[0]
    assert s0["size"] == 2 and s0["share"] == pytest.approx(0.4)
    assert s0["total_clv"] == pytest.approx(400) and s0["avg_clv"] == pytest.approx(200)
    assert s0["value_index"] == pytest.approx((400 / 430) / 0.4)
    assert s0["avg_churn_risk"] == pytest.approx(0.2)
    assert s0["avg_membership_confidence"] == pytest.approx(0.85)
    assert s0["feature_stability"] == 0.9 and s0["overall_robustness"] == 0.9
    assert s0["distinctiveness"] > 0
    SegmentStats.model_validate(stats.iloc[0].to_dict())

    lenient = ValidationCriteria(min_segment_size=1, max_segment_size_pct=1, min_total_clv=0)
    table = evaluate_segments(stats, {0: "vip_retention"}, criteria=lenient)
    assert list(table.columns) == list(EVALUATION_COLUMNS)
    row0, row1 = table.iloc[0], table.iloc[1]
    # segment 0: revenue 2 × 200 × 0.03 = 12; profit 3.6; cost 1 → ROI 2.6
    assert row0["roi"] == pytest.approx(2.6) and row0["passed"]
    assert np.isnan(row1["roi"]) and not row1["passed"]
    assert any("average predicted CLV 10.00" in reason for reason in row1["reasons"])
    assert "overall robustness 0.50 is below the minimum 0.60" in row1["reasons"]
    # A sentence with a semicolon stays one reason.
    assert len(row1["reasons"]) == 3
