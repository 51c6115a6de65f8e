"""The campaign play catalogue: every play a segment verdict may recommend.

A play is a reusable campaign recipe a CRM team can run in Bloomreach Engagement. Each entry says what
the play does, which trait conditions make it the right one (the rules model applies these literally;
the prompt shows them to LLM providers), the channel and the timing. Trait names are the registry's
(:mod:`segmentation_assets.traits`); "z" is the segment's standardized difference from the population.

The ids are a closed set: :data:`PlayId` is the type of ``BusinessExplanation.recommended_campaign``, so
a provider that answers with an unknown play fails validation and the segment falls back to the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

PlayId = Literal[
    "win_back",
    "vip_retention",
    "onboarding_second_purchase",
    "cart_recovery",
    "category_cross_sell",
    "discount_weaning",
    "reactivation_email",
    "nurture",
]


@dataclass(frozen=True)
class Play:
    """One campaign recipe."""

    id: PlayId
    name: str
    description: str
    applies_when: str
    channel: str
    timing: str
    success_metric: str


PLAYS: tuple[Play, ...] = (
    Play(
        id="win_back",
        name="Win-back",
        description=(
            "Personal, value-led offer (loyalty bonus or a curated selection from their favourite "
            "category) to recover valuable customers who are drifting away."
        ),
        applies_when=(
            "High value (net_revenue or predicted_clv z >= +0.5) AND lapsing "
            "(recency_days z >= +0.5) or at risk (churn_risk z >= +0.5 or mean churn risk >= 0.5)."
        ),
        channel="Email plus a paid-social retargeting audience; SMS for opted-in members.",
        timing=(
            "Start now, before recency passes the segment's usual gap; three touches over 14 days."
        ),
        success_metric="Share of members purchasing again within 30 days; recovered net revenue.",
    ),
    Play(
        id="vip_retention",
        name="VIP retention",
        description=(
            "Recognition rather than discounts: early access, free shipping tier, service perks for "
            "the most valuable active customers."
        ),
        applies_when=(
            "High value AND recent (recency_days z <= -0.5) AND frequent "
            "(purchase_frequency_per_month or orders z >= +0.5)."
        ),
        channel="Email and in-app / on-site personalisation; no paid media needed.",
        timing="Always-on; align drops with the segment's mean days between orders.",
        success_metric="Retention rate and purchase frequency vs. a hold-out group.",
    ),
    Play(
        id="onboarding_second_purchase",
        name="Onboarding to the second purchase",
        description=(
            "Welcome journey that converts first-time buyers into repeat buyers: product education, "
            "complementary items, a modest second-order incentive."
        ),
        applies_when=(
            "New customers (tenure_days z <= -0.5 or mean tenure <= 90 days) with about one order "
            "each (mean orders between 0.5 and 1.5)."
        ),
        channel="Email welcome series plus on-site recommendations; push for app users.",
        timing="Days 3, 10 and 21 after the first order.",
        success_metric="Second-order rate within 60 days of the first order.",
    ),
    Play(
        id="cart_recovery",
        name="Cart recovery",
        description="Triggered reminders for abandoned carts, with social proof and stock alerts.",
        applies_when=(
            "High cart abandonment (cart_abandonment_rate z >= +0.5 and segment mean >= 0.3)."
        ),
        channel="Triggered email and push; on-site cart reminder banner.",
        timing="1 hour and 24 hours after the abandoned cart; stop once they order.",
        success_metric="Recovered-cart conversion rate.",
    ),
    Play(
        id="category_cross_sell",
        name="Category cross-sell",
        description=(
            "Recommend adjacent categories to customers concentrated in one category, to broaden "
            "their basket."
        ),
        applies_when=(
            "Default play for distinct segments no other play fits; strongest when one top_category "
            "holds >= 50% of members or top_category_share z >= +0.5."
        ),
        channel="Email with category-driven recommendations; on-site recommendation slots.",
        timing="Shortly after a purchase in the dominant category, within the usual order gap.",
        success_metric="category_breadth and orders in the recommended categories.",
    ),
    Play(
        id="discount_weaning",
        name="Discount weaning",
        description=(
            "Move discount-dependent buyers to full price with non-monetary value (bundles, "
            "loyalty points, free shipping thresholds) instead of vouchers."
        ),
        applies_when="High discount reliance (discount_share z >= +0.5 and segment mean >= 0.3).",
        channel="Email and on-site messaging; suppress these members from blanket voucher sends.",
        timing="Over the next two purchase cycles; test progressively smaller incentives.",
        success_metric="Discount share and gross margin per order vs. a hold-out group.",
    ),
    Play(
        id="reactivation_email",
        name="Reactivation email",
        description=(
            "Low-cost email reactivation for lower-value lapsing customers who still open email."
        ),
        applies_when=(
            "Email-engaged (email_open_rate z >= +0.5 or mean open rate >= 0.25) AND lapsing or at "
            "risk AND not high value."
        ),
        channel="Email only (low cost to serve).",
        timing="A short 2-email sequence now; sunset members who do not open.",
        success_metric="Reactivation rate (any purchase within 30 days) at minimal cost.",
    ),
    Play(
        id="nurture",
        name="Browse-to-buy nurture",
        description=(
            "Turn browsing into buying: viewed-item reminders, reviews and content for engaged "
            "visitors who rarely order."
        ),
        applies_when=(
            "Browsing without buying (sessions or item_views z >= +0.5) with few orders "
            "(mean orders < 0.5 or orders z <= -0.5)."
        ),
        channel="Push / on-site personalisation for the dominant device; email for known contacts.",
        timing="Within 24 hours of a browsing session; weekly digest otherwise.",
        success_metric="First-order or next-order conversion rate from browsing sessions.",
    ),
)

PLAYS_BY_ID: dict[str, Play] = {p.id: p for p in PLAYS}
PLAY_IDS: tuple[str, ...] = tuple(p.id for p in PLAYS)

if set(PLAY_IDS) != set(get_args(PlayId)):  # pragma: no cover - import-time consistency guard
    raise RuntimeError("PLAYS and PlayId disagree; keep them in step")


def play(play_id: str) -> Play:
    """Return the play called ``play_id``; a clear error lists the known ids otherwise."""
    try:
        return PLAYS_BY_ID[play_id]
    except KeyError:
        raise KeyError(f"unknown play {play_id!r}; known plays: {', '.join(PLAY_IDS)}") from None


def render_catalogue() -> str:
    """The catalogue as plain text for prompts (stable order, no braces)."""
    blocks = []
    for p in PLAYS:
        blocks.append(
            f"- {p.id} ({p.name}): {p.description}\n"
            f"  applies when: {p.applies_when}\n"
            f"  channel: {p.channel}\n"
            f"  timing: {p.timing}"
        )
    return "\n".join(blocks)
