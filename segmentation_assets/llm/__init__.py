"""Segment actionability verdicts and business explanations through one LangChain chain.

The offline default (``model_spec='rules'``) is :class:`RulesChatModel`, a deterministic chat model
that answers through the same prompt, structured-output schema and parser as hosted providers
(``'openai:<model>'``, ``'anthropic:<model>'``, ``'ollama:<model>'``; optional extras). Only aggregate
segment statistics (:class:`SegmentSummary`) ever reach a prompt. No Dagster import here: assets call
:func:`evaluate_segments`.
"""

from segmentation_assets.llm.cache import CacheKey, DuckDBLLMCache, InMemoryLLMCache, LLMCache
from segmentation_assets.llm.chain import (
    PRICES_PER_MILLION_TOKENS,
    LLMEvaluationError,
    UsageReport,
    VerdictList,
    build_chain,
    estimate_cost,
    evaluate_segments,
    finalize_verdict,
)
from segmentation_assets.llm.models import (
    ActionabilityDimensions,
    ActionabilityVerdict,
    BusinessExplanation,
    DimensionAssessment,
    SegmentSummary,
    TraitComparison,
)
from segmentation_assets.llm.plays import PLAY_IDS, PLAYS, Play, PlayId, play
from segmentation_assets.llm.prompts import PROMPT_VERSION, build_prompt, render_messages
from segmentation_assets.llm.providers import (
    MissingCredentialsError,
    ProviderNotInstalledError,
    build_chat_model,
    parse_model_spec,
)
from segmentation_assets.llm.rules_model import RulesChatModel, RuleThresholds, assess_segment

__all__ = [
    "PLAYS",
    "PLAY_IDS",
    "PRICES_PER_MILLION_TOKENS",
    "PROMPT_VERSION",
    "ActionabilityDimensions",
    "ActionabilityVerdict",
    "BusinessExplanation",
    "CacheKey",
    "DimensionAssessment",
    "DuckDBLLMCache",
    "InMemoryLLMCache",
    "LLMCache",
    "LLMEvaluationError",
    "MissingCredentialsError",
    "Play",
    "PlayId",
    "ProviderNotInstalledError",
    "RuleThresholds",
    "RulesChatModel",
    "SegmentSummary",
    "TraitComparison",
    "UsageReport",
    "VerdictList",
    "assess_segment",
    "build_chain",
    "build_chat_model",
    "build_prompt",
    "estimate_cost",
    "evaluate_segments",
    "finalize_verdict",
    "parse_model_spec",
    "play",
    "render_messages",
]
