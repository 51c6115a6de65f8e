"""The offline default: a deterministic LangChain chat model that applies documented rules.

:class:`RulesChatModel` is a real :class:`~langchain_core.language_models.BaseChatModel`. It supports
``bind_tools`` and therefore ``with_structured_output(ActionabilityVerdict)``: it answers with an
``AIMessage`` carrying one tool call whose arguments are a valid verdict, so its answers go through the
same prompt, chain and ``PydanticToolsParser`` as a hosted provider's. It reads the segment statistics
back from the fenced JSON block the prompt renders (:func:`prompts.extract_payload`), needs no network
and gives the same answer for the same prompt.

The rules (``z`` = standardized difference of the segment mean from the population mean; every
threshold is a :class:`RuleThresholds` field):

Dimensions
  * WHO  - size >= ``min_size`` and share >= ``min_share`` AND some trait has |z| >= ``distinct_z``.
  * WHAT - one ``top_category`` holds >= ``category_concentration`` of members, or
    top_category_share z >= ``lever_z``, or avg_order_value |z| >= ``lever_z``, or a discount-reliant
    mix (discount_share z >= ``lever_z`` and mean >= ``high_share``), or high value (see below).
  * WHEN - lapsing (recency_days z >= ``lever_z``), high churn risk (churn_risk z >= ``lever_z`` or mean
    churn risk >= ``high_churn_risk``), regular cadence (interpurchase_regularity z >= ``lever_z``),
    new customers (tenure_days z <= -``lever_z`` or mean tenure <= ``new_tenure_days``), an
    abandoned-cart trigger (cart_abandonment_rate z >= ``lever_z`` and mean >= ``high_share``), or a
    weekend rhythm (weekend_share |z| >= ``lever_z``).
  * HOW  - email engaged (email_open_rate or email_click_rate z >= ``lever_z``, or mean open rate >=
    ``email_open_floor``) or a device channel (one ``primary_device`` for >= ``device_concentration``
    of members, or mobile_share |z| >= ``lever_z``).

Rejection (not actionable, with the reason in ``reasoning``): tiny (WHO size test fails), indistinct
(no |z| >= ``distinct_z``), low value (mean z of net_revenue and predicted_clv <= -``lever_z``) with no
WHAT or WHEN lever, or fewer supported dimensions than the prompt's ``min_dimensions``.

Play, first match wins: high value + lapsing/at risk -> win_back; high value + recent (recency_days
z <= -``lever_z``) + frequent (purchase_frequency_per_month or orders z >= ``lever_z``) ->
vip_retention; new + about one order (mean orders in [0.5, 1.5]) -> onboarding_second_purchase; high
cart abandonment -> cart_recovery; high discount share -> discount_weaning; browsing without buying
(sessions or item_views z >= ``lever_z`` and mean orders < 0.5 or orders z <= -``lever_z``) -> nurture;
email engaged + lapsing/at risk + not high value -> reactivation_email; otherwise category_cross_sell.

Confidence: high if robustness_score >= 0.75 and validation passed, medium if >= 0.6, else low
(:func:`confidence_for`, which the chain also uses as a ceiling on any provider's answer).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from segmentation_assets.llm.models import (
    ActionabilityDimensions,
    ActionabilityVerdict,
    BusinessExplanation,
    ConfidenceLevel,
    DimensionAssessment,
    SegmentSummary,
    answer_payload,
)
from segmentation_assets.llm.plays import PlayId, play
from segmentation_assets.llm.prompts import extract_payload

RULES_MODEL_NAME = "segment-rules-v1"
VERDICT_TOOL_NAME = ActionabilityVerdict.__name__


@dataclass(frozen=True)
class RuleThresholds:
    """Every threshold the rules use (see the module docstring)."""

    min_size: int = 30
    min_share: float = 0.01
    distinct_z: float = 0.5
    lever_z: float = 0.5
    category_concentration: float = 0.5
    device_concentration: float = 0.6
    email_open_floor: float = 0.25
    high_churn_risk: float = 0.5
    new_tenure_days: float = 90.0
    high_share: float = 0.3


def _num(value: float, unit: str = "") -> str:
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return f"{text} days" if unit == "days" else text


class _Facts:
    """Derived facts about one summary, each with the citation that supports it."""

    def __init__(self, summary: SegmentSummary, th: RuleThresholds) -> None:
        self.s = summary
        self.th = th
        value_z = [z for z in (self.z("net_revenue"), self.z("predicted_clv")) if z is not None]
        self.value_z: float | None = sum(value_z) / len(value_z) if value_z else None
        self.high_value = self.value_z is not None and self.value_z >= th.lever_z
        self.low_value = self.value_z is not None and self.value_z <= -th.lever_z
        self.lapsing = self.z_at_least("recency_days", th.lever_z)
        self.at_risk = self.z_at_least("churn_risk", th.lever_z) or (
            summary.avg_churn_risk is not None and summary.avg_churn_risk >= th.high_churn_risk
        )
        self.recent = self.z_at_most("recency_days", -th.lever_z)
        self.frequent = self.z_at_least("purchase_frequency_per_month", th.lever_z) or (
            self.z_at_least("orders", th.lever_z)
        )
        tenure = summary.trait("tenure_days")
        self.new = self.z_at_most("tenure_days", -th.lever_z) or (
            tenure is not None and tenure.segment_value <= th.new_tenure_days
        )
        orders = summary.trait("orders")
        self.one_order = orders is not None and 0.5 <= orders.segment_value <= 1.5
        self.few_orders = orders is not None and (
            orders.segment_value < 0.5 or orders.standardized_difference <= -th.lever_z
        )
        self.cart_high = self.z_at_least(
            "cart_abandonment_rate", th.lever_z
        ) and self.mean_at_least("cart_abandonment_rate", th.high_share)
        self.discount_high = self.z_at_least("discount_share", th.lever_z) and self.mean_at_least(
            "discount_share", th.high_share
        )
        self.browsing = self.z_at_least("sessions", th.lever_z) or self.z_at_least(
            "item_views", th.lever_z
        )
        self.email_engaged = (
            self.z_at_least("email_open_rate", th.lever_z)
            or self.z_at_least("email_click_rate", th.lever_z)
            or self.mean_at_least("email_open_rate", th.email_open_floor)
        )

    # -- primitives -------------------------------------------------------------------------
    def z(self, name: str) -> float | None:
        t = self.s.trait(name)
        return None if t is None else t.standardized_difference

    def z_at_least(self, name: str, bound: float) -> bool:
        z = self.z(name)
        return z is not None and z >= bound

    def z_at_most(self, name: str, bound: float) -> bool:
        z = self.z(name)
        return z is not None and z <= bound

    def mean_at_least(self, name: str, bound: float) -> bool:
        t = self.s.trait(name)
        return t is not None and t.segment_value >= bound

    def cite(self, name: str) -> str:
        """``name`` with segment vs population value and z, e.g. 'recency_days 182 vs 45 (z=+1.60)'."""
        t = self.s.trait(name)
        if t is None:
            return f"{name} n/a"
        return (
            f"{t.name} {_num(t.segment_value, t.unit)} vs {_num(t.population_value, t.unit)} "
            f"(z={t.standardized_difference:+.2f})"
        )

    def distinct_traits(self) -> list[str]:
        ranked = sorted(self.s.traits, key=lambda t: (-abs(t.standardized_difference), t.name))
        return [t.name for t in ranked if abs(t.standardized_difference) >= self.th.distinct_z]

    def largest_trait(self) -> str | None:
        if not self.s.traits:
            return None
        return min(self.s.traits, key=lambda t: (-abs(t.standardized_difference), t.name)).name

    @property
    def too_small(self) -> bool:
        return self.s.size < self.th.min_size or self.s.share < self.th.min_share


def _who(f: _Facts) -> DimensionAssessment:
    s, th = f.s, f.th
    size = f"{s.size:,} customers ({s.share:.1%} of {s.population_size:,})"
    distinct = f.distinct_traits()
    if f.too_small:
        return DimensionAssessment(
            supported=False,
            evidence=(
                f"size {size} is below the minimum of {th.min_size} customers and "
                f"{th.min_share:.0%} share needed to address the segment on its own."
            ),
        )
    if not distinct:
        largest = f.largest_trait()
        tail = f"; the largest difference is {f.cite(largest)}" if largest else ""
        return DimensionAssessment(
            supported=False,
            evidence=(
                f"size {size}, but no trait differs from the population by |z| >= "
                f"{th.distinct_z}{tail}."
            ),
        )
    cites = ", ".join(f.cite(n) for n in distinct[:3])
    return DimensionAssessment(
        supported=True, evidence=f"size {size}; members stand out on {cites}."
    )


def _what(f: _Facts) -> DimensionAssessment:
    th, levers = f.th, []
    top = f.s.dominant("top_category", exclude=("none",))
    if top is not None and top[1] >= th.category_concentration:
        levers.append(f"top_category '{top[0]}' for {top[1]:.0%} of members")
    if f.z_at_least("top_category_share", th.lever_z):
        levers.append(f.cite("top_category_share"))
    aov = f.z("avg_order_value")
    if aov is not None and abs(aov) >= th.lever_z:
        levers.append(f"{f.cite('avg_order_value')} sets the price tier")
    if f.discount_high:
        levers.append(f"{f.cite('discount_share')} calls for a non-voucher offer")
    if f.high_value:
        for name in ("net_revenue", "predicted_clv"):
            if f.z_at_least(name, th.lever_z):
                levers.append(f"{f.cite(name)} justifies premium perks")
    if levers:
        return DimensionAssessment(
            supported=True, evidence="Offer set by " + "; ".join(levers) + "."
        )
    return DimensionAssessment(
        supported=False,
        evidence=(
            "No category concentration (no top_category >= "
            f"{th.category_concentration:.0%} of members) and no value trait with |z| >= "
            f"{th.lever_z} to set an offer."
        ),
    )


def _when(f: _Facts) -> DimensionAssessment:
    th, levers = f.th, []
    if f.lapsing:
        levers.append(f"lapsing: {f.cite('recency_days')}")
    if f.at_risk:
        if f.z_at_least("churn_risk", th.lever_z):
            levers.append(f"high churn risk: {f.cite('churn_risk')}")
        else:
            levers.append(f"high churn risk: avg_churn_risk {f.s.avg_churn_risk:.2f}")
    if f.z_at_least("interpurchase_regularity", th.lever_z):
        cadence = f"regular cadence: {f.cite('interpurchase_regularity')}"
        if f.s.trait("interpurchase_days_mean") is not None:
            cadence += f", {f.cite('interpurchase_days_mean')}"
        levers.append(cadence)
    if f.new:
        levers.append(f"new customers: {f.cite('tenure_days')}")
    if f.cart_high:
        levers.append(f"abandoned-cart trigger: {f.cite('cart_abandonment_rate')}")
    ws = f.z("weekend_share")
    if ws is not None and abs(ws) >= th.lever_z:
        levers.append(f"weekend rhythm: {f.cite('weekend_share')}")
    if levers:
        return DimensionAssessment(
            supported=True, evidence="Timing from " + "; ".join(levers) + "."
        )
    return DimensionAssessment(
        supported=False,
        evidence=(
            "No timing lever: recency_days, churn_risk, interpurchase_regularity, tenure_days "
            f"and cart_abandonment_rate are all within |z| < {th.lever_z} of the population."
        ),
    )


def _how(f: _Facts) -> DimensionAssessment:
    th, levers = f.th, []
    if f.email_engaged:
        name = (
            "email_click_rate"
            if f.z_at_least("email_click_rate", th.lever_z)
            and not f.z_at_least("email_open_rate", th.lever_z)
            else "email_open_rate"
        )
        levers.append(f"email: {f.cite(name)}")
    device = f.s.dominant("primary_device", exclude=("unknown",))
    if device is not None and device[1] >= th.device_concentration:
        levers.append(f"device: primary_device '{device[0]}' for {device[1]:.0%} of members")
    mobile = f.z("mobile_share")
    if mobile is not None and abs(mobile) >= th.lever_z:
        levers.append(f"device: {f.cite('mobile_share')}")
    if levers:
        return DimensionAssessment(
            supported=True, evidence="Channel from " + "; ".join(levers) + "."
        )
    return DimensionAssessment(
        supported=False,
        evidence=(
            "No channel signal: email_open_rate and email_click_rate are not above the population "
            f"and no primary_device holds {th.device_concentration:.0%} of members."
        ),
    )


def choose_play(
    summary: SegmentSummary, thresholds: RuleThresholds | None = None
) -> tuple[PlayId, str]:
    """The play the rules pick for ``summary`` and why (first matching rule wins)."""
    f = _Facts(summary, thresholds or RuleThresholds())
    if f.lapsing:
        risk = f.cite("recency_days")
    elif f.z_at_least("churn_risk", f.th.lever_z):
        risk = f"churn risk ({f.cite('churn_risk')})"
    else:
        risk = f"mean churn risk {summary.avg_churn_risk or 0.0:.2f}"
    value = f"high value (mean value z {f.value_z:+.2f})" if f.value_z is not None else ""
    rules: list[tuple[bool, PlayId, Callable[[], str]]] = [
        (f.high_value and (f.lapsing or f.at_risk), "win_back", lambda: f"{value} and {risk}"),
        (
            f.high_value and f.recent and f.frequent,
            "vip_retention",
            lambda: f"{value}, recent ({f.cite('recency_days')}) and frequent",
        ),
        (
            f.new and f.one_order,
            "onboarding_second_purchase",
            lambda: (
                f"new customers ({f.cite('tenure_days')}) with about one order ({f.cite('orders')})"
            ),
        ),
        (f.cart_high, "cart_recovery", lambda: f"high {f.cite('cart_abandonment_rate')}"),
        (f.discount_high, "discount_weaning", lambda: f"high {f.cite('discount_share')}"),
        (
            f.browsing and f.few_orders,
            "nurture",
            lambda: f"browsing ({f.cite('sessions')}) without buying ({f.cite('orders')})",
        ),
        (
            f.email_engaged and (f.lapsing or f.at_risk) and not f.high_value,
            "reactivation_email",
            lambda: f"email-engaged ({f.cite('email_open_rate')}) and {risk}, not high value",
        ),
    ]
    for matched, play_id, why in rules:
        if matched:
            return play_id, why()
    return "category_cross_sell", "no specific play condition met; broaden the basket"


def confidence_for(summary: SegmentSummary) -> tuple[ConfidenceLevel, str]:
    """Confidence from robustness and validation, with a justification citing both."""
    r, tier = summary.robustness_score, summary.robustness_tier
    tier_text = f" (tier '{tier}')" if tier else ""
    validation = (
        "validation passed"
        if summary.validation_passed
        else "validation failed: " + ("; ".join(summary.validation_reasons) or "no reason given")
    )
    monitoring = " The segment requires monitoring." if summary.requires_monitoring else ""
    if r is None:
        return "low", f"No robustness_score is available; {validation}.{monitoring}"
    if r >= 0.75 and summary.validation_passed:
        level: ConfidenceLevel = "high"
        rule = "robustness_score >= 0.75 and validation passed"
    elif r >= 0.6:
        level = "medium"
        rule = "robustness_score >= 0.6" + (
            "" if summary.validation_passed or r < 0.75 else " but validation did not pass"
        )
    else:
        level, rule = "low", "robustness_score is below 0.6"
    return level, f"robustness_score {r:.2f}{tier_text}; {validation}; {rule}.{monitoring}"


def _phrase(f: _Facts, name: str) -> str:
    t = f.s.trait(name)
    if t is None:
        return name
    side = "above" if t.standardized_difference > 0 else "below"
    return (
        f"{t.label.lower()} {side} average ({_num(t.segment_value, t.unit)} vs "
        f"{_num(t.population_value, t.unit)})"
    )


def _characteristics(f: _Facts) -> list[str]:
    ranked = sorted(f.s.traits, key=lambda t: (-abs(t.standardized_difference), t.name))
    items = [
        f"{t.label} ({t.name}): {_num(t.segment_value, t.unit)} vs {_num(t.population_value, t.unit)} "
        f"overall, z={t.standardized_difference:+.2f}"
        for t in ranked[:5]
        if abs(t.standardized_difference) >= 0.3
    ]
    for categorical in ("top_category", "primary_device", "rfm_segment"):
        top = f.s.dominant(categorical)
        if top is not None and top[1] >= 0.4:
            items.append(f"{categorical}: '{top[0]}' for {top[1]:.0%} of members")
    if not items:
        items.append("No trait differs markedly from the population (all |z| < 0.3).")
    return items


_HYPOTHESES: dict[str, str] = {
    "win_back": "These valuable customers are drifting away; a timely, personal, value-led offer "
    "should bring a share of them back before their predicted value is lost.",
    "vip_retention": "These are the most valuable active customers; recognition and service perks "
    "should protect their frequency without eroding margin through discounts.",
    "onboarding_second_purchase": "Most first-time buyers never order again; a guided second "
    "purchase should turn part of them into repeat customers.",
    "cart_recovery": "These customers show purchase intent but drop out at the cart; a timely "
    "reminder should recover part of the abandoned value.",
    "category_cross_sell": "Their buying concentrates in a few categories; relevant adjacent "
    "recommendations should widen their basket.",
    "discount_weaning": "Their orders lean on vouchers; non-monetary value should keep them buying "
    "at better margin.",
    "reactivation_email": "They still read email but have stopped buying; a cheap email sequence "
    "should reactivate some at minimal cost to serve.",
    "nurture": "They browse without buying; reminders of viewed items and social proof should "
    "convert browsing into orders.",
}


def assess_segment(
    summary: SegmentSummary,
    *,
    min_dimensions: int = 1,
    thresholds: RuleThresholds | None = None,
) -> ActionabilityVerdict:
    """Apply the rules to one summary (pure and deterministic; provenance left empty)."""
    th = thresholds or RuleThresholds()
    f = _Facts(summary, th)
    dims = ActionabilityDimensions(who=_who(f), what=_what(f), when=_when(f), how=_how(f))
    supported = [d for d in ("who", "what", "when", "how") if getattr(dims, d).supported]

    reasons: list[str] = []
    if f.too_small:
        reasons.append(
            f"too small: {summary.size:,} customers ({summary.share:.1%}), minimum {th.min_size} "
            f"customers and {th.min_share:.0%}"
        )
    if not f.distinct_traits():
        largest = f.largest_trait()
        reasons.append(
            f"indistinct: no trait differs from the population by |z| >= {th.distinct_z}"
            + (f" (largest: {f.cite(largest)})" if largest else "")
        )
    if f.low_value and not (dims.what.supported or dims.when.supported):
        reasons.append(f"low value (mean value z {f.value_z:+.2f}) with no offer or timing lever")
    if len(supported) < min_dimensions:
        reasons.append(
            f"only {len(supported)} of 4 dimensions supported, at least {min_dimensions} required"
        )
    actionable = not reasons

    play_id, why = choose_play(summary, th)
    chosen = play(play_id)
    level, justification = confidence_for(summary)

    if actionable:
        reasoning = (
            f"Actionable: {len(supported)} of 4 dimensions supported "
            f"({', '.join(d.upper() for d in supported)}); at least {min_dimensions} required. "
            f"Play {play_id} because {why}."
        )
        action = (
            f"Run the {chosen.name} play ({play_id}): {chosen.description} "
            f"Channel: {chosen.channel} Timing: {chosen.timing} Measure: {chosen.success_metric}"
        )
        if summary.requires_monitoring:
            action += " Monitor the segment's stability before scaling the budget."
        if not summary.validation_passed:
            action += " Resolve the failed validation checks before launch."
    else:
        reasoning = "Not actionable: " + "; ".join(reasons) + "."
        action = (
            "No dedicated campaign: " + reasons[0] + ". Keep these customers in the default "
            "lifecycle programme and re-evaluate at the next segmentation run."
        )

    distinct = f.distinct_traits()
    described = " and ".join(_phrase(f, n) for n in distinct[:2]) or "no marked differences"
    revenue = ""
    nr = summary.trait("net_revenue")
    if nr is not None and nr.population_value * summary.population_size > 0:
        rev_share = summary.total_net_revenue / (nr.population_value * summary.population_size)
        revenue = f", holding about {rev_share:.0%} of net revenue"
    verdict_text = (
        f"Recommended play: {chosen.name}."
        if actionable
        else f"Not worth a dedicated campaign ({reasons[0]})."
    )
    summary_text = (
        f"'{summary.name}' is {summary.size:,} customers ({summary.share:.1%} of the base"
        f"{revenue}) with {described}. {verdict_text}"
    )
    hypothesis = _HYPOTHESES[play_id] + f" Evidence: {why}."
    if not actionable:
        hypothesis = "Only if targeted later: " + hypothesis

    return ActionabilityVerdict(
        dimensions=dims,
        is_actionable=actionable,
        reasoning=reasoning,
        recommended_action=action,
        explanation=BusinessExplanation(
            executive_summary=summary_text,
            key_characteristics=_characteristics(f),
            recommended_campaign=play_id,
            business_hypothesis=hypothesis,
            expected_roi=summary.expected_roi,
            confidence_level=level,
            confidence_justification=justification,
        ),
    )


class RulesChatModel(BaseChatModel):
    """Deterministic, offline chat model that answers the segment prompt with the rules.

    Bound to the ``ActionabilityVerdict`` tool (which ``with_structured_output`` does) it answers
    with that tool call; unbound it answers with the verdict JSON as text.
    """

    model_name: str = RULES_MODEL_NAME
    thresholds: RuleThresholds = Field(default_factory=RuleThresholds)

    @property
    def _llm_type(self) -> str:
        return "segmentation-rules"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (OpenAI tool format); only the ActionabilityVerdict tool can be answered."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        payload = extract_payload(messages)
        summary = SegmentSummary.model_validate(payload["segment"])
        min_dimensions = int(payload.get("min_dimensions", 1))
        verdict = assess_segment(summary, min_dimensions=min_dimensions, thresholds=self.thresholds)
        args = answer_payload(verdict)
        text = json.dumps(args, sort_keys=True)
        tools = kwargs.get("tools") or []
        if tools:
            names = [t.get("function", {}).get("name") for t in tools]
            if VERDICT_TOOL_NAME not in names:
                raise ValueError(
                    f"RulesChatModel can only answer the {VERDICT_TOOL_NAME} tool; bound: {names}"
                )
            call_id = "call_rules_" + hashlib.sha256(text.encode()).hexdigest()[:16]
            message = AIMessage(
                content="",
                tool_calls=[
                    {"name": VERDICT_TOOL_NAME, "args": args, "id": call_id, "type": "tool_call"}
                ],
                response_metadata={"model_name": self.model_name},
            )
        else:
            message = AIMessage(content=text, response_metadata={"model_name": self.model_name})
        return ChatResult(generations=[ChatGeneration(message=message)])
