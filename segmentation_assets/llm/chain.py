"""One chain for every provider, and the batch evaluator around it.

``build_chain(model)`` is ``ChatPromptTemplate | model.with_structured_output(ActionabilityVerdict,
method="function_calling", include_raw=True)`` - the same prompt, tool schema and
``PydanticToolsParser`` whether the model is the offline :class:`RulesChatModel` or a hosted provider.

:func:`evaluate_segments` renders each summary, looks the answer up in the cache, asks the model for
the misses (bounded concurrency, optional rate limit), retries unparseable answers with exponential
backoff, and never lets a provider problem escape: a failure, refusal, timeout or unparseable answer
makes that one segment fall back to the rules model with ``fell_back=True`` and the reason. Then code,
not the model, has the last word (:func:`finalize_verdict`): ``is_actionable`` requires the minimum
number of supported dimensions, a supported dimension must cite the summary's statistics,
``expected_roi`` is copied from the input and confidence is capped by the robustness rule.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from langchain_core.exceptions import ModelRefusalError
from langchain_core.language_models import BaseChatModel
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import ValidationError

from segmentation_assets.llm.cache import CacheKey, LLMCache
from segmentation_assets.llm.models import (
    DIMENSIONS,
    ActionabilityVerdict,
    ConfidenceLevel,
    DimensionAssessment,
    SegmentSummary,
    answer_payload,
)
from segmentation_assets.llm.prompts import (
    PROMPT_VERSION,
    build_prompt,
    prompt_hash,
    prompt_inputs,
)
from segmentation_assets.llm.providers import (
    PROVIDERS,
    RULES,
    ModelSpec,
    build_chat_model,
    parse_model_spec,
)
from segmentation_assets.llm.rules_model import RULES_MODEL_NAME, RulesChatModel, confidence_for

logger = logging.getLogger(__name__)

#: USD per one million (input, output) tokens, list prices when this table was written. Used only for
#: the usage report's estimate; pass ``price_table`` to :func:`evaluate_segments` to override.
PRICES_PER_MILLION_TOKENS: dict[str, tuple[float, float]] = {
    "openai:gpt-4o-mini": (0.15, 0.60),
    "openai:gpt-4o": (2.50, 10.00),
    "openai:gpt-4.1-mini": (0.40, 1.60),
    "openai:gpt-4.1": (2.00, 8.00),
    "anthropic:claude-3-5-haiku-latest": (0.80, 4.00),
    "anthropic:claude-sonnet-4-5": (3.00, 15.00),
}
#: Providers that cost nothing per token (offline rules, a local Ollama server).
FREE_PROVIDERS: frozenset[str] = frozenset({RULES, "ollama"})

_CONFIDENCE_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2}
_SECRET_PATTERN = re.compile(r"\b(sk|sk-ant|sk-proj)-[A-Za-z0-9_-]{8,}")


class LLMEvaluationError(RuntimeError):
    """Raised only when ``fallback=False`` and some segments could not be evaluated."""

    def __init__(self, failures: Mapping[str, str]) -> None:
        self.failures = dict(failures)
        detail = "; ".join(f"segment {k}: {v}" for k, v in self.failures.items())
        super().__init__(f"{len(self.failures)} segment(s) failed without fallback: {detail}")


@dataclass
class UsageReport:
    """What one :func:`evaluate_segments` run cost.

    ``calls_made`` counts requests to the requested model (answer retries included; the SDK's own
    transport retries are not visible here); ``rules_fallback_calls`` counts the offline fallbacks.
    Tokens come from ``AIMessage.usage_metadata`` when the provider reports it.
    """

    model_spec: str
    prompt_version: str = PROMPT_VERSION
    segments: int = 0
    calls_made: int = 0
    cache_hits: int = 0
    calls_with_usage: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    estimated_cost_usd: float | None = None
    fallback_count: int = 0
    fallback_reasons: dict[str, str] = field(default_factory=dict)
    rules_fallback_calls: int = 0


class VerdictList(list[ActionabilityVerdict]):
    """The verdicts, in input order, with the run's :class:`UsageReport` as ``.usage``."""

    def __init__(self, verdicts: Sequence[ActionabilityVerdict], usage: UsageReport) -> None:
        super().__init__(verdicts)
        self.usage = usage


def build_chain(model: BaseChatModel) -> Runnable[dict[str, Any], Any]:
    """``prompt | model.with_structured_output(ActionabilityVerdict, include_raw=True)``.

    The output is ``{"raw": AIMessage, "parsed": ActionabilityVerdict | None, "parsing_error": ...}``.
    """
    structured = model.with_structured_output(
        ActionabilityVerdict, method="function_calling", include_raw=True
    )
    return build_prompt() | structured


def estimate_cost(
    model_spec: str,
    input_tokens: int,
    output_tokens: int,
    price_table: Mapping[str, tuple[float, float]] | None = None,
) -> float | None:
    """USD estimate from the price table; 0 for free providers, None for an unknown model."""
    parsed = parse_model_spec(model_spec)
    if parsed.provider in FREE_PROVIDERS:
        return 0.0
    prices = (price_table or PRICES_PER_MILLION_TOKENS).get(parsed.spec)
    if prices is None:
        return None
    return round((input_tokens * prices[0] + output_tokens * prices[1]) / 1_000_000, 6)


def _safe_reason(prefix: str, exc: BaseException) -> str:
    """``prefix: ExceptionType: message`` with any API key redacted, at most 400 characters."""
    text = f"{prefix}: {type(exc).__name__}: {exc}"
    for info in PROVIDERS.values():
        secret = os.environ.get(info.key_env) if info.key_env else None
        if secret:
            text = text.replace(secret, "***")
    text = _SECRET_PATTERN.sub("***", text)
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:397] + "..."


@dataclass
class _Outcome:
    answer: ActionabilityVerdict | None = None
    reason: str | None = None
    calls: int = 0
    calls_with_usage: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0

    def add_usage(self, raw: Any) -> None:
        usage = getattr(raw, "usage_metadata", None)
        if usage:
            self.calls_with_usage += 1
            self.input_tokens += int(usage.get("input_tokens", 0) or 0)
            self.output_tokens += int(usage.get("output_tokens", 0) or 0)
            self.total_tokens += int(usage.get("total_tokens", 0) or 0)


def _ask(
    chain: Runnable[dict[str, Any], Any],
    inputs: dict[str, Any],
    config: RunnableConfig,
    *,
    answer_retries: int,
    retry_backoff_seconds: float,
) -> _Outcome:
    """One segment against the model: never raises, retries only unparseable answers."""
    out = _Outcome()
    attempts = answer_retries + 1
    for attempt in range(attempts):
        out.calls += 1
        try:
            result = chain.invoke(inputs, config=config)
        except ModelRefusalError as exc:
            out.reason = _safe_reason("refusal", exc)
            return out
        except Exception as exc:  # provider errors after the SDK's own retries, timeouts, bugs
            out.reason = _safe_reason("provider error", exc)
            return out
        out.add_usage(result.get("raw"))
        error, parsed = result.get("parsing_error"), result.get("parsed")
        if isinstance(error, ModelRefusalError):
            out.reason = _safe_reason("refusal", error)
            return out
        if error is None and isinstance(parsed, ActionabilityVerdict):
            out.answer = parsed
            out.reason = None
            return out
        out.reason = (
            _safe_reason("unparseable answer", error)
            if error is not None
            else "unparseable answer: no ActionabilityVerdict tool call in the response"
        ) + f" (attempt {attempt + 1} of {attempts})"
        if attempt + 1 < attempts and retry_backoff_seconds > 0:
            time.sleep(retry_backoff_seconds * (2**attempt) * (1 + random.random() / 4))
    return out


def _cites_statistics(evidence: str, summary: SegmentSummary) -> bool:
    """Whether evidence names something the summary carries and quotes at least one number."""
    text = evidence.lower()
    tokens = {"size", "share", "customers"} | set(summary.categorical_mix)
    for t in summary.traits:
        tokens.add(t.name.lower())
        tokens.add(t.label.lower())
    return any(tok in text for tok in tokens) and re.search(r"\d", text) is not None


def finalize_verdict(
    answer: ActionabilityVerdict,
    summary: SegmentSummary,
    *,
    min_dimensions: int,
    model_spec: str,
    provider: str,
    model_name: str,
    cached: bool = False,
    fell_back: bool = False,
    fallback_reason: str | None = None,
) -> ActionabilityVerdict:
    """Apply the code-level checks to a model's answer and stamp the provenance.

    Code can only withdraw what the model claims, never grant it: a supported dimension whose
    evidence cites no statistic of the summary becomes unsupported; ``is_actionable`` stays True only
    if the model said so AND at least ``min_dimensions`` dimensions remain supported;
    ``expected_roi`` is the input's; confidence is capped by :func:`confidence_for`.
    """
    notes: list[str] = []
    dims = answer.dimensions
    for name in DIMENSIONS:
        dim: DimensionAssessment = getattr(dims, name)
        if dim.supported and not _cites_statistics(dim.evidence, summary):
            dims = dims.model_copy(
                update={
                    name: DimensionAssessment(
                        supported=False,
                        evidence="[not supported: the evidence cites no statistic of the segment] "
                        + dim.evidence,
                    )
                }
            )
            notes.append(f"{name.upper()} evidence cites no segment statistic")
    supported = dims.supported_count()
    actionable = answer.is_actionable and supported >= min_dimensions
    if answer.is_actionable and not actionable:
        notes.append(f"only {supported} of 4 dimensions supported, {min_dimensions} required")
    reasoning = answer.reasoning
    if notes:
        prefix = (
            "Not actionable (checked in code): " if answer.is_actionable and not actionable else ""
        )
        reasoning = prefix + reasoning + " [Code checks: " + "; ".join(notes) + ".]"

    explanation = answer.explanation
    ceiling, justification = confidence_for(summary)
    level: ConfidenceLevel = explanation.confidence_level
    if _CONFIDENCE_RANK[level] > _CONFIDENCE_RANK[ceiling]:
        justification = (
            f"{justification} (capped at {ceiling}: the model said {level}, above what the "
            "robustness rule allows)"
        )
        level = ceiling
    else:
        justification = explanation.confidence_justification
    explanation = explanation.model_copy(
        update={
            "expected_roi": summary.expected_roi,
            "confidence_level": level,
            "confidence_justification": justification,
        }
    )
    return answer.model_copy(
        update={
            "dimensions": dims,
            "is_actionable": actionable,
            "reasoning": reasoning,
            "explanation": explanation,
            "segment_id": summary.segment_id,
            "model_spec": model_spec,
            "provider": provider,
            "model_name": model_name,
            "prompt_version": PROMPT_VERSION,
            "cached": cached,
            "fell_back": fell_back,
            "fallback_reason": fallback_reason,
        }
    )


def _config(summary: SegmentSummary, spec: ModelSpec) -> RunnableConfig:
    return RunnableConfig(
        run_name="segment_actionability",
        tags=["segmentation_assets", "actionability"],
        metadata={
            "segment_id": str(summary.segment_id),
            "model_spec": spec.spec,
            "prompt_version": PROMPT_VERSION,
        },
    )


def evaluate_segments(
    summaries: Sequence[SegmentSummary],
    model_spec: str = RULES,
    cache: LLMCache | None = None,
    min_dimensions: int = 1,
    max_concurrency: int = 4,
    rate_limit_per_second: float | None = None,
    fallback: bool = True,
    *,
    model: BaseChatModel | None = None,
    as_of_date: date | None = None,
    timeout_seconds: float = 60.0,
    max_retries: int = 2,
    answer_retries: int = 1,
    retry_backoff_seconds: float = 0.5,
    price_table: Mapping[str, tuple[float, float]] | None = None,
) -> VerdictList:
    """Judge every segment; the verdicts come back in input order with ``.usage``.

    ``model_spec`` names the model (``'rules'`` or ``'<provider>:<model>'``, see
    :mod:`providers`) and is part of the cache key; ``model`` optionally supplies an already built
    chat model for that spec (tests, custom clients). The model is built only when some summary
    misses the cache. ``timeout_seconds``/``max_retries`` go to the provider client;
    ``answer_retries`` re-asks after an unparseable answer, sleeping ``retry_backoff_seconds``
    doubled each time. With ``fallback=False`` failures raise :class:`LLMEvaluationError` instead
    of falling back to the rules. ``as_of_date`` is recorded on new cache rows.
    """
    if not 1 <= min_dimensions <= len(DIMENSIONS):
        raise ValueError("min_dimensions must be between 1 and 4")
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    if rate_limit_per_second is not None and rate_limit_per_second <= 0:
        raise ValueError("rate_limit_per_second must be positive")
    if answer_retries < 0:
        raise ValueError("answer_retries must be >= 0")
    spec = parse_model_spec(model_spec)
    usage = UsageReport(model_spec=spec.spec, segments=len(summaries))

    inputs = [prompt_inputs(s, min_dimensions=min_dimensions) for s in summaries]
    prompt = build_prompt()
    keys = [
        CacheKey(spec.spec, PROMPT_VERSION, prompt_hash(prompt.format_messages(**inp)))
        for inp in inputs
    ]

    answers: list[ActionabilityVerdict | None] = [None] * len(summaries)
    from_cache = [False] * len(summaries)
    if cache is not None:
        for i, key in enumerate(keys):
            hit = cache.get(key)
            if hit is None:
                continue
            try:
                answers[i] = ActionabilityVerdict.model_validate_json(hit)
            except ValidationError:
                logger.warning(
                    "ignoring an unreadable cache entry for segment %s", summaries[i].segment_id
                )
                continue
            from_cache[i] = True
            usage.cache_hits += 1

    failures: dict[int, str] = {}
    misses = [i for i, a in enumerate(answers) if a is None]
    if misses:
        primary: BaseChatModel | None = None
        limiter = (
            InMemoryRateLimiter(
                requests_per_second=rate_limit_per_second,
                check_every_n_seconds=min(0.1, 0.5 / rate_limit_per_second),
                max_bucket_size=1,
            )
            if rate_limit_per_second
            else None
        )
        try:
            if model is None:
                primary = build_chat_model(
                    spec.spec,
                    timeout=timeout_seconds,
                    max_retries=max_retries,
                    rate_limiter=limiter,
                )
            else:
                primary = (
                    model if limiter is None else model.model_copy(update={"rate_limiter": limiter})
                )
            chain = build_chain(primary)
        except Exception as exc:
            reason = _safe_reason(f"could not build model {spec.spec!r}", exc)
            failures = dict.fromkeys(misses, reason)
        else:
            with ThreadPoolExecutor(
                max_workers=min(max_concurrency, len(misses)), thread_name_prefix="llm-eval"
            ) as pool:
                outcomes = list(
                    pool.map(
                        lambda i: _ask(
                            chain,
                            inputs[i],
                            _config(summaries[i], spec),
                            answer_retries=answer_retries,
                            retry_backoff_seconds=retry_backoff_seconds,
                        ),
                        misses,
                    )
                )
            for i, out in zip(misses, outcomes, strict=True):
                usage.calls_made += out.calls
                usage.calls_with_usage += out.calls_with_usage
                usage.input_tokens += out.input_tokens
                usage.output_tokens += out.output_tokens
                usage.total_tokens += out.total_tokens
                if out.answer is None:
                    failures[i] = out.reason or "no answer"
                    continue
                answers[i] = out.answer
                if cache is not None:
                    payload = json.dumps(answer_payload(out.answer), sort_keys=True)
                    cache.put(keys[i], payload, as_of_date=as_of_date)

    if failures and not fallback:
        raise LLMEvaluationError(
            {str(summaries[i].segment_id): reason for i, reason in failures.items()}
        )
    if failures:
        rules_chain = build_chain(RulesChatModel())
        for i, reason in failures.items():
            logger.warning(
                "segment %s falls back to the rules model: %s", summaries[i].segment_id, reason
            )
            result = rules_chain.invoke(inputs[i], config=_config(summaries[i], spec))
            usage.rules_fallback_calls += 1
            parsed = result.get("parsed")
            if not isinstance(parsed, ActionabilityVerdict):  # a bug in the rules, not a provider
                raise RuntimeError(f"rules fallback failed: {result.get('parsing_error')!r}")
            answers[i] = parsed
            usage.fallback_reasons[str(summaries[i].segment_id)] = reason
        usage.fallback_count = len(failures)

    verdicts: list[ActionabilityVerdict] = []
    for i, summary in enumerate(summaries):
        answer = answers[i]
        assert answer is not None
        fell_back = i in failures
        verdicts.append(
            finalize_verdict(
                answer,
                summary,
                min_dimensions=min_dimensions,
                model_spec=spec.spec,
                provider=RULES if fell_back else spec.provider,
                model_name=RULES_MODEL_NAME if fell_back else spec.model,
                cached=from_cache[i],
                fell_back=fell_back,
                fallback_reason=failures.get(i),
            )
        )
    usage.estimated_cost_usd = estimate_cost(
        spec.spec, usage.input_tokens, usage.output_tokens, price_table
    )
    return VerdictList(verdicts, usage)
