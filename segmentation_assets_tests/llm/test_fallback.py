"""Provider failures never raise: the segment falls back to the rules with the reason recorded."""

from __future__ import annotations

import os

import pytest
from langchain_core.messages import AIMessage

from segmentation_assets.llm import (
    InMemoryLLMCache,
    LLMEvaluationError,
    SegmentSummary,
    evaluate_segments,
)
from segmentation_assets.llm import providers as providers_module
from segmentation_assets.llm.models import answer_payload
from segmentation_assets.llm.rules_model import assess_segment
from segmentation_assets_tests.llm.conftest import ScriptedModel


def _tool_message(args: dict, usage: dict | None = None) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[
            {"name": "ActionabilityVerdict", "args": args, "id": "call_1", "type": "tool_call"}
        ],
        usage_metadata=usage,
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RuntimeError("upstream exploded"), "provider error: RuntimeError: upstream exploded"),
        (TimeoutError("request timed out"), "provider error: TimeoutError: request timed out"),
    ],
)
def test_raising_model_falls_back(
    error: Exception,
    expected: str,
    lapsing_high_value: SegmentSummary,
    new_customers: SegmentSummary,
) -> None:
    model = ScriptedModel(error=error)
    verdicts = evaluate_segments(
        [lapsing_high_value, new_customers],
        "openai:gpt-4o-mini",
        model=model,
        retry_backoff_seconds=0.0,
    )
    assert model.counter["calls"] == 2  # one each: transport retries are the SDK's job
    for verdict in verdicts:
        assert verdict.fell_back and verdict.fallback_reason == expected
        assert verdict.provider == "rules" and verdict.model_spec == "openai:gpt-4o-mini"
    assert verdicts[0].explanation.recommended_campaign == "win_back"
    assert verdicts.usage.fallback_count == 2 and verdicts.usage.rules_fallback_calls == 2
    assert verdicts.usage.fallback_reasons == {"3": expected, "5": expected}


def test_garbage_answer_is_retried_then_falls_back(new_customers: SegmentSummary) -> None:
    model = ScriptedModel(message=AIMessage(content="Sure! This segment looks great :)"))
    cache = InMemoryLLMCache()
    [verdict] = evaluate_segments(
        [new_customers], "openai:gpt-4o-mini", cache=cache, model=model, retry_backoff_seconds=0.0
    )
    assert len(cache) == 0  # fallbacks are never cached under the provider's key
    assert model.counter["calls"] == 2  # the first answer and one retry
    assert verdict.fell_back
    assert verdict.fallback_reason is not None
    assert verdict.fallback_reason.startswith(
        "unparseable answer: no ActionabilityVerdict tool call"
    )
    assert "(attempt 2 of 2)" in verdict.fallback_reason
    assert verdict.explanation.recommended_campaign == "onboarding_second_purchase"


def test_schema_invalid_answer_falls_back(new_customers: SegmentSummary) -> None:
    args = answer_payload(assess_segment(new_customers))
    args["explanation"]["recommended_campaign"] = "free_iphone_giveaway"  # not a catalogue play
    model = ScriptedModel(message=_tool_message(args))
    [verdict] = evaluate_segments(
        [new_customers],
        "anthropic:claude-x",
        model=model,
        answer_retries=2,
        retry_backoff_seconds=0.0,
    )
    assert model.counter["calls"] == 3
    assert verdict.fell_back and "ValidationError" in (verdict.fallback_reason or "")
    assert verdict.explanation.recommended_campaign == "onboarding_second_purchase"


def test_refusal_falls_back_without_retry(new_customers: SegmentSummary) -> None:
    refusal = AIMessage(content=[{"type": "refusal", "refusal": "I can't help with that."}])
    model = ScriptedModel(message=refusal)
    [verdict] = evaluate_segments(
        [new_customers], "openai:gpt-4o-mini", model=model, retry_backoff_seconds=0.0
    )
    assert model.counter["calls"] == 1
    assert verdict.fell_back
    assert (verdict.fallback_reason or "").startswith("refusal: ModelRefusalError")
    assert "I can't help with that." in (verdict.fallback_reason or "")


def test_overreaching_answer_is_corrected_in_code(tiny_low_value: SegmentSummary) -> None:
    """A model claiming actionability without evidence, an invented ROI and high confidence."""
    args = answer_payload(assess_segment(tiny_low_value))
    for dim in ("who", "what", "when", "how"):
        args["dimensions"][dim] = {"supported": dim == "how", "evidence": "Trust me."}
    args["is_actionable"] = True
    args["explanation"]["expected_roi"] = 12.5
    args["explanation"]["confidence_level"] = "high"
    usage = {"input_tokens": 1000, "output_tokens": 200, "total_tokens": 1200}
    model = ScriptedModel(message=_tool_message(args, usage))
    result = evaluate_segments(
        [tiny_low_value], "openai:gpt-4o-mini", model=model, retry_backoff_seconds=0.0
    )
    [verdict] = result
    assert not verdict.fell_back
    assert verdict.provider == "openai" and verdict.model_name == "gpt-4o-mini"
    assert verdict.dimensions.how.supported is False  # evidence cited no statistic
    assert verdict.is_actionable is False
    assert "checked in code" in verdict.reasoning
    assert verdict.explanation.expected_roi is None  # copied from the input, not invented
    assert verdict.explanation.confidence_level == "low"
    assert "capped at low" in verdict.explanation.confidence_justification
    assert (result.usage.input_tokens, result.usage.output_tokens) == (1000, 200)
    assert result.usage.estimated_cost_usd == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)


def test_fallback_false_raises(new_customers: SegmentSummary) -> None:
    model = ScriptedModel(error=ConnectionError("no route"))
    with pytest.raises(LLMEvaluationError, match="segment 5: provider error: ConnectionError"):
        evaluate_segments([new_customers], "openai:gpt-4o-mini", model=model, fallback=False)


def test_missing_extra_falls_back_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, new_customers: SegmentSummary
) -> None:
    monkeypatch.setattr(providers_module, "_package_installed", lambda package: False)
    [verdict] = evaluate_segments([new_customers], "openai:gpt-4o-mini")
    assert verdict.fell_back
    assert "ProviderNotInstalledError" in (verdict.fallback_reason or "")
    assert "pip install 'segmentation_assets[openai]'" in (verdict.fallback_reason or "")


def test_secrets_are_redacted_from_reasons(
    monkeypatch: pytest.MonkeyPatch, new_customers: SegmentSummary
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdefghijklmnop")
    secret = os.environ["OPENAI_API_KEY"]
    model = ScriptedModel(error=PermissionError(f"bad key {secret} for org"))
    [verdict] = evaluate_segments([new_customers], "openai:gpt-4o-mini", model=model)
    assert verdict.fell_back and secret not in (verdict.fallback_reason or "")
    assert "***" in (verdict.fallback_reason or "")


def test_rate_limited_run_keeps_order_and_leaves_the_model_untouched(
    lapsing_high_value: SegmentSummary, new_customers: SegmentSummary
) -> None:
    args = answer_payload(assess_segment(new_customers))
    model = ScriptedModel(message=_tool_message(args))
    result = evaluate_segments(
        [lapsing_high_value, new_customers],
        "ollama:llama3.1",
        model=model,
        rate_limit_per_second=100.0,
        max_concurrency=2,
    )
    assert model.rate_limiter is None  # a copy got the limiter
    assert model.counter["calls"] == 2 and [v.segment_id for v in result] == [3, 5]
    assert result.usage.estimated_cost_usd == 0.0
