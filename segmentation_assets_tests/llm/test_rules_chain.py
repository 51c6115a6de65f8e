"""The offline rules model through the real chain (prompt -> structured output -> parser)."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage

from segmentation_assets.llm import (
    PLAY_IDS,
    PROMPT_VERSION,
    ActionabilityVerdict,
    RulesChatModel,
    SegmentSummary,
    build_chain,
    evaluate_segments,
    render_messages,
)
from segmentation_assets.llm.prompts import prompt_inputs
from segmentation_assets.llm.rules_model import assess_segment, choose_play, confidence_for
from segmentation_assets_tests.llm.conftest import make_summary, tc


def test_chain_returns_a_parsed_verdict_from_a_tool_call(
    lapsing_high_value: SegmentSummary,
) -> None:
    result = build_chain(RulesChatModel()).invoke(prompt_inputs(lapsing_high_value))
    raw, parsed = result["raw"], result["parsed"]
    assert result["parsing_error"] is None
    assert isinstance(raw, AIMessage)
    assert [c["name"] for c in raw.tool_calls] == ["ActionabilityVerdict"]
    assert isinstance(parsed, ActionabilityVerdict)
    assert parsed.explanation.recommended_campaign in PLAY_IDS


def test_unbound_rules_model_answers_with_verdict_json(new_customers: SegmentSummary) -> None:
    message = RulesChatModel().invoke(render_messages(new_customers))
    verdict = ActionabilityVerdict.model_validate(json.loads(str(message.content)))
    assert verdict.explanation.recommended_campaign == "onboarding_second_purchase"


def test_tiny_low_value_segment_is_rejected_with_a_reason(tiny_low_value: SegmentSummary) -> None:
    [verdict] = evaluate_segments([tiny_low_value])
    assert verdict.is_actionable is False
    assert verdict.dimensions.who.supported is False
    assert "too small" in verdict.reasoning
    assert "12 customers" in verdict.reasoning
    assert "low value" in verdict.reasoning
    assert verdict.recommended_action.startswith("No dedicated campaign")
    assert verdict.explanation.confidence_level == "low"
    assert verdict.explanation.expected_roi is None


def test_large_lapsing_high_value_segment_gets_win_back(lapsing_high_value: SegmentSummary) -> None:
    [verdict] = evaluate_segments([lapsing_high_value])
    assert verdict.is_actionable is True
    assert verdict.explanation.recommended_campaign == "win_back"
    assert verdict.dimensions.who.supported and verdict.dimensions.when.supported
    assert "recency_days 182 days vs 45 days" in verdict.dimensions.when.evidence
    assert "churn_risk" in verdict.dimensions.when.evidence
    assert verdict.explanation.expected_roi == 3.2  # copied from the input
    assert verdict.explanation.confidence_level == "high"
    assert "0.84" in verdict.explanation.confidence_justification
    assert verdict.provider == "rules" and verdict.prompt_version == PROMPT_VERSION
    assert verdict.segment_id == 3 and not verdict.cached and not verdict.fell_back


def test_new_customer_segment_gets_onboarding(new_customers: SegmentSummary) -> None:
    [verdict] = evaluate_segments([new_customers])
    assert verdict.is_actionable is True
    assert verdict.explanation.recommended_campaign == "onboarding_second_purchase"
    assert "tenure_days" in verdict.dimensions.when.evidence
    assert verdict.explanation.confidence_level == "medium"


def test_verdicts_are_deterministic(
    tiny_low_value: SegmentSummary,
    lapsing_high_value: SegmentSummary,
    new_customers: SegmentSummary,
) -> None:
    summaries = [tiny_low_value, lapsing_high_value, new_customers]
    first = [v.model_dump() for v in evaluate_segments(summaries, max_concurrency=3)]
    second = [v.model_dump() for v in evaluate_segments(summaries, max_concurrency=1)]
    assert first == second
    assert [v["segment_id"] for v in first] == [7, 3, 5]  # input order kept


def test_indistinct_segment_is_rejected() -> None:
    summary = make_summary(
        traits=[tc("net_revenue", 125.0, 120.0, 0.05), tc("recency_days", 58.0, 60.0, -0.1)],
        categorical_mix={},
    )
    verdict = assess_segment(summary)
    assert not verdict.is_actionable
    assert "indistinct" in verdict.reasoning
    assert "recency_days" in verdict.dimensions.who.evidence


def test_min_dimensions_is_respected() -> None:
    summary = make_summary()  # WHO + WHAT only
    [lenient] = evaluate_segments([summary], min_dimensions=1)
    [strict] = evaluate_segments([summary], min_dimensions=3)
    assert (
        lenient.is_actionable and lenient.explanation.recommended_campaign == "category_cross_sell"
    )
    assert not strict.is_actionable
    assert "only 2 of 4 dimensions supported, at least 3 required" in strict.reasoning


@pytest.mark.parametrize(
    ("traits", "expected"),
    [
        (
            [
                tc("net_revenue", 400.0, 120.0, 1.2),
                tc("recency_days", 10.0, 45.0, -0.9),
                tc("purchase_frequency_per_month", 2.0, 0.4, 1.3),
            ],
            "vip_retention",
        ),
        ([tc("cart_abandonment_rate", 0.7, 0.3, 1.1)], "cart_recovery"),
        ([tc("discount_share", 0.8, 0.25, 1.4)], "discount_weaning"),
        (
            [tc("sessions", 30.0, 9.0, 1.2), tc("orders", 0.2, 2.1, -0.8)],
            "nurture",
        ),
        (
            [
                tc("net_revenue", 40.0, 120.0, -0.6),
                tc("recency_days", 150.0, 45.0, 1.1),
                tc("email_open_rate", 0.45, 0.22, 1.0),
            ],
            "reactivation_email",
        ),
        ([tc("top_category_share", 0.9, 0.5, 1.2)], "category_cross_sell"),
    ],
)
def test_play_rules(traits: list, expected: str) -> None:
    summary = make_summary(traits=traits, avg_churn_risk=0.2)
    assert choose_play(summary)[0] == expected


def test_high_mean_churn_risk_alone_triggers_win_back() -> None:
    summary = make_summary(traits=[tc("net_revenue", 400.0, 120.0, 1.2)], avg_churn_risk=0.7)
    play_id, why = choose_play(summary)
    assert play_id == "win_back" and "mean churn risk 0.70" in why


@pytest.mark.parametrize(
    ("score", "passed", "level"),
    [
        (0.8, True, "high"),
        (0.8, False, "medium"),
        (0.65, True, "medium"),
        (0.4, True, "low"),
        (None, True, "low"),
    ],
)
def test_confidence_is_tied_to_robustness(score: float | None, passed: bool, level: str) -> None:
    summary = make_summary(
        robustness_score=score,
        validation_passed=passed,
        validation_reasons=[] if passed else ["stability check failed"],
    )
    got, why = confidence_for(summary)
    assert got == level
    assert ("robustness_score" in why) and (passed or "stability check failed" in why)
