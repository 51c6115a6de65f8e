"""Segment summaries and fake chat models shared by the LLM tests."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field

from segmentation_assets.llm.models import SegmentSummary, TraitComparison
from segmentation_assets.llm.rules_model import RulesChatModel


def tc(name: str, segment: float, population: float, z: float) -> TraitComparison:
    return TraitComparison(
        name=name, segment_value=segment, population_value=population, standardized_difference=z
    )


def make_summary(**overrides: Any) -> SegmentSummary:
    """A mid-sized, distinct, moderately valuable segment; override any field."""
    base: dict[str, Any] = {
        "segment_id": 1,
        "name": "Category loyalists",
        "size": 600,
        "share": 0.06,
        "population_size": 10_000,
        "total_net_revenue": 90_000.0,
        "avg_net_revenue": 150.0,
        "total_predicted_clv": 60_000.0,
        "avg_predicted_clv": 100.0,
        "avg_churn_risk": 0.3,
        "traits": [
            tc("net_revenue", 150.0, 120.0, 0.2),
            tc("predicted_clv", 100.0, 90.0, 0.1),
            tc("top_category_share", 0.82, 0.5, 1.1),
            tc("category_breadth", 1.4, 2.8, -0.9),
            tc("recency_days", 55.0, 60.0, -0.05),
        ],
        "categorical_mix": {"top_category": {"Garden": 0.71, "Home": 0.29}},
        "robustness_score": 0.8,
        "robustness_tier": "stable",
        "expected_roi": 1.7,
    }
    base.update(overrides)
    return SegmentSummary(**base)


@pytest.fixture
def tiny_low_value() -> SegmentSummary:
    return make_summary(
        segment_id=7,
        name="Stragglers",
        size=12,
        share=0.0012,
        total_net_revenue=240.0,
        avg_net_revenue=20.0,
        total_predicted_clv=120.0,
        avg_predicted_clv=10.0,
        traits=[
            tc("net_revenue", 20.0, 120.0, -0.8),
            tc("predicted_clv", 10.0, 90.0, -0.7),
            tc("recency_days", 70.0, 60.0, 0.1),
            tc("email_open_rate", 0.05, 0.22, -0.4),
        ],
        categorical_mix={"top_category": {"Home": 0.34, "Garden": 0.33, "Toys": 0.33}},
        robustness_score=0.3,
        robustness_tier="fragile",
        expected_roi=None,
    )


@pytest.fixture
def lapsing_high_value() -> SegmentSummary:
    return make_summary(
        segment_id=3,
        name="Lapsing high spenders",
        size=1_200,
        share=0.12,
        total_net_revenue=600_000.0,
        avg_net_revenue=500.0,
        total_predicted_clv=450_000.0,
        avg_predicted_clv=375.0,
        avg_churn_risk=0.62,
        traits=[
            tc("net_revenue", 500.0, 120.0, 1.4),
            tc("predicted_clv", 375.0, 90.0, 1.2),
            tc("orders", 6.2, 2.1, 1.1),
            tc("recency_days", 182.0, 45.0, 1.6),
            tc("churn_risk", 0.62, 0.31, 1.0),
            tc("email_open_rate", 0.34, 0.22, 0.6),
            tc("tenure_days", 400.0, 210.0, 0.9),
        ],
        categorical_mix={
            "top_category": {"Electronics": 0.58, "Home": 0.42},
            "primary_device": {"desktop": 0.66, "mobile": 0.34},
            "rfm_segment": {"At Risk": 0.55, "Can't Lose Them": 0.45},
        },
        robustness_score=0.84,
        robustness_tier="stable",
        expected_roi=3.2,
    )


@pytest.fixture
def new_customers() -> SegmentSummary:
    return make_summary(
        segment_id=5,
        name="First-time buyers",
        size=900,
        share=0.09,
        total_net_revenue=54_000.0,
        avg_net_revenue=60.0,
        total_predicted_clv=45_000.0,
        avg_predicted_clv=50.0,
        traits=[
            tc("net_revenue", 60.0, 120.0, -0.4),
            tc("predicted_clv", 50.0, 90.0, -0.3),
            tc("orders", 1.0, 2.1, -0.6),
            tc("tenure_days", 28.0, 210.0, -1.5),
            tc("recency_days", 20.0, 45.0, -0.7),
            tc("email_open_rate", 0.41, 0.22, 0.9),
        ],
        categorical_mix={"rfm_segment": {"New": 0.8, "Promising": 0.2}},
        robustness_score=0.66,
        robustness_tier="moderate",
        expected_roi=1.1,
    )


class CountingRulesModel(RulesChatModel):
    """The rules model, counting how often it is actually asked."""

    counter: dict[str, int] = Field(default_factory=lambda: {"calls": 0})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.counter["calls"] += 1
        return super()._generate(messages, stop, run_manager, **kwargs)


class ScriptedModel(BaseChatModel):
    """A chat model that raises or returns a fixed message, counting calls.

    ``error`` is raised when set; otherwise ``message`` is returned (as a deep copy).
    """

    error: Exception | None = None
    message: AIMessage | None = None
    counter: dict[str, int] = Field(default_factory=lambda: {"calls": 0})

    model_config = {"arbitrary_types_allowed": True}

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(
        self, tools: Any, *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=tools, tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.counter["calls"] += 1
        if self.error is not None:
            raise self.error
        assert self.message is not None
        return ChatResult(generations=[ChatGeneration(message=self.message.model_copy(deep=True))])
