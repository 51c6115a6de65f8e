"""The one prompt every provider gets, rendered from aggregate statistics and the trait registry.

The system message carries the task, the WHO/WHAT/WHEN/HOW definitions, the confidence rule, the play
catalogue and the registry definitions of exactly the traits the summary carries. The human message
carries a readable table of the segment and the same statistics as a fenced JSON block
(```json segment_summary ...```), which is what the offline rules model reads back.

Everything rendered comes from a validated :class:`~segmentation_assets.llm.models.SegmentSummary`, so
nothing row-level can reach a prompt. Bump :data:`PROMPT_VERSION` whenever the wording, the catalogue,
the rendering or the output schema changes: it is part of every cache key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate

from segmentation_assets.llm.models import SegmentSummary
from segmentation_assets.llm.plays import render_catalogue
from segmentation_assets.traits import TRAITS

PROMPT_VERSION = "segment-actionability/v1"

_BLOCK_TAG = "segment_summary"
_BLOCK_PATTERN = re.compile(r"```json " + _BLOCK_TAG + r"\n(.*?)\n```", re.DOTALL)

SYSTEM_TEMPLATE = """\
You are a CRM strategist reviewing one customer segment produced by a clustering model for an \
e-commerce business. You see aggregate statistics only (no individual customers).

Decide whether the segment is actionable and explain it for a marketer. Assess four dimensions:
- WHO: the segment is big enough to address and its members are distinguishable from the rest of \
the base (some trait has an absolute standardized difference of at least 0.5).
- WHAT: a category concentration (top_category mix, top_category_share) or a value trait \
(avg_order_value, net_revenue, predicted_clv, discount_share) sets the offer.
- WHEN: recency, churn risk, purchase rhythm (regularity, days between orders) or lifecycle stage \
(new customers) gives a timing lever.
- HOW: email engagement (email_open_rate, email_click_rate) or the device mix gives a channel.
A segment is actionable only when at least {min_dimensions} of the four dimensions are supported; \
reject segments that are tiny, indistinct, or low-value with no offer or timing lever.

Rules for your answer:
- Every piece of evidence cites trait names with the segment value and the population value (or \
size, share, category shares) exactly as given. Never invent numbers.
- recommended_campaign is one play id from the catalogue below; pick the play whose conditions the \
statistics meet.
- expected_roi: copy the input's expected_roi exactly, or null when it is null.
- confidence_level: high if robustness_score >= 0.75 and validation_passed is true; medium if \
robustness_score >= 0.6; otherwise low (also low when robustness_score is null). Justify it with \
the robustness score/tier and the validation result.

Play catalogue:
{play_catalogue}

Trait definitions (the registry; "z" below means standardized difference from the population):
{trait_definitions}
"""

HUMAN_TEMPLATE = """\
Segment to review:
{segment_overview}

The same statistics as JSON:
```json {block_tag}
{segment_json}
```
"""


def build_prompt() -> ChatPromptTemplate:
    """The chat prompt shared by every provider."""
    return ChatPromptTemplate.from_messages(
        [("system", SYSTEM_TEMPLATE), ("human", HUMAN_TEMPLATE)]
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def trait_definitions(summary: SegmentSummary) -> str:
    """Registry definitions of the traits this summary carries, in registry order."""
    present = {t.name for t in summary.traits} | set(summary.categorical_mix)
    lines = [
        f"- {t.name} ({t.label}; {t.unit}): {t.definition}" for t in TRAITS if t.name in present
    ]
    return "\n".join(lines) if lines else "- (the summary carries no trait comparisons)"


def segment_overview(summary: SegmentSummary) -> str:
    """A readable rendering of the summary's aggregate statistics."""
    lines = [
        f"segment_id: {summary.segment_id}",
        f"name: {summary.name}",
        f"size: {summary.size:,} customers = {summary.share:.1%} of {summary.population_size:,}",
        f"total_net_revenue: {_fmt(summary.total_net_revenue)}; "
        f"avg_net_revenue: {_fmt(summary.avg_net_revenue)}",
        f"total_predicted_clv: {_fmt(summary.total_predicted_clv)}; "
        f"avg_predicted_clv: {_fmt(summary.avg_predicted_clv)}; "
        f"avg_churn_risk: {_fmt(summary.avg_churn_risk)}",
        f"robustness_score: {_fmt(summary.robustness_score)}; "
        f"robustness_tier: {summary.robustness_tier or 'n/a'}; "
        f"requires_monitoring: {summary.requires_monitoring}",
        f"validation_passed: {summary.validation_passed}; validation_reasons: "
        + ("; ".join(summary.validation_reasons) or "none"),
        f"expected_roi: {_fmt(summary.expected_roi)}; best_play: {summary.best_play or 'n/a'}; "
        f"best_play_roi: {_fmt(summary.best_play_roi)}",
        "numeric traits (segment mean vs population mean, z = standardized difference):",
    ]
    for t in summary.traits:
        lines.append(
            f"  - {t.name} ({t.label}, {t.unit}): {_fmt(t.segment_value)} vs "
            f"{_fmt(t.population_value)}, z = {t.standardized_difference:+.2f}"
        )
    if not summary.traits:
        lines.append("  - none")
    lines.append("category mix (share of members):")
    for trait_name, shares in summary.categorical_mix.items():
        ordered = sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))
        lines.append(f"  - {trait_name}: " + ", ".join(f"{k} {v:.0%}" for k, v in ordered))
    if not summary.categorical_mix:
        lines.append("  - none")
    return "\n".join(lines)


def prompt_payload(summary: SegmentSummary, *, min_dimensions: int) -> dict[str, Any]:
    """The JSON block the human message carries (and the rules model reads back)."""
    return {"min_dimensions": min_dimensions, "segment": summary.model_dump(mode="json")}


def prompt_inputs(summary: SegmentSummary, *, min_dimensions: int = 1) -> dict[str, str]:
    """The template variables for one summary."""
    return {
        "min_dimensions": str(min_dimensions),
        "play_catalogue": render_catalogue(),
        "trait_definitions": trait_definitions(summary),
        "segment_overview": segment_overview(summary),
        "block_tag": _BLOCK_TAG,
        "segment_json": json.dumps(
            prompt_payload(summary, min_dimensions=min_dimensions), indent=2, sort_keys=True
        ),
    }


def render_messages(summary: SegmentSummary, *, min_dimensions: int = 1) -> list[BaseMessage]:
    """The exact messages a model receives for ``summary``."""
    return build_prompt().format_messages(**prompt_inputs(summary, min_dimensions=min_dimensions))


def prompt_hash(messages: Sequence[BaseMessage]) -> str:
    """sha256 of the rendered prompt (message types and text), the cache's content key."""
    canonical = json.dumps(
        [[m.type, m.content] for m in messages], sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def extract_payload(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """Read the fenced ``segment_summary`` JSON block back out of the last message carrying one.

    Raises ValueError when no message carries a block (the rules model cannot answer then).
    """
    for message in reversed(messages):
        text = str(message.text)
        match = _BLOCK_PATTERN.search(text)
        if match:
            payload = json.loads(match.group(1))
            if not isinstance(payload, dict) or "segment" not in payload:
                raise ValueError("the segment_summary block has no 'segment' object")
            return payload
    raise ValueError("no ```json segment_summary``` block found in the prompt")
