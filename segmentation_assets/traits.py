"""The trait registry: every customer-profile column with its plain-language definition.

One registry feeds the profile SQL's column contract, the clustering feature set, the report, the docs
and the LLM prompts, so a trait is defined once. Traits are business-readable by construction: each one
is a count, an amount, a rate or a label a marketer can check by hand. No latent factors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TraitKind = Literal["numeric", "categorical"]
TraitGroup = Literal["value", "rhythm", "engagement", "taste", "habits", "lifecycle", "value_model"]
Transform = Literal["none", "log1p", "signed_log1p"]


@dataclass(frozen=True)
class Trait:
    """One customer-level trait.

    ``transform`` is how clustering treats it: heavy-tailed counts and money are log-transformed
    before robust scaling. ``cluster_default`` marks the documented default clustering feature set:
    value, rhythm, engagement with offers and email, channel, and modelled churn risk. Taste
    (top-category share, breadth), visit volume and weekend habits describe segments in the report
    and the prompts but do not drive distances: they split customers by noise rather than by
    behaviour a campaign acts on (on the synthetic archetypes their share of between-archetype
    variance was 0.09-0.15, against 0.4-0.7 for the value and rhythm traits).
    """

    name: str
    label: str
    unit: str
    definition: str
    group: TraitGroup
    kind: TraitKind = "numeric"
    transform: Transform = "none"
    cluster_default: bool = False
    higher_is_better: bool | None = None


TRAITS: tuple[Trait, ...] = (
    # --- value -------------------------------------------------------------------------------
    Trait(
        "orders",
        "Orders",
        "count",
        "Distinct successful purchase occasions (distinct purchase_id with status success) in the window. Refunds are not orders.",
        "value",
        transform="log1p",
        cluster_default=True,
        higher_is_better=True,
    ),
    Trait(
        "net_revenue",
        "Net revenue",
        "base currency",
        "Sum of successful purchase totals minus refunded totals in the window, in the base currency. May be negative.",
        "value",
        transform="signed_log1p",
        cluster_default=True,
        higher_is_better=True,
    ),
    Trait(
        "avg_order_value",
        "Average order value",
        "base currency",
        "Gross successful purchase value divided by orders (0 when there are no orders).",
        "value",
        transform="log1p",
        cluster_default=True,
        higher_is_better=True,
    ),
    Trait(
        "refund_rate",
        "Refund rate",
        "share 0-1",
        "Refunded value divided by gross successful purchase value (capped at 1; 0 with no purchases).",
        "value",
        cluster_default=False,
        higher_is_better=False,
    ),
    Trait(
        "discount_share",
        "Discount share",
        "share 0-1",
        "Share of orders that used a voucher or discount.",
        "value",
        cluster_default=True,
    ),
    # --- rhythm ------------------------------------------------------------------------------
    Trait(
        "recency_days",
        "Days since last activity",
        "days",
        "Days from the customer's last purchase (or last event when they never bought) to the as-of date.",
        "rhythm",
        transform="log1p",
        cluster_default=True,
        higher_is_better=False,
    ),
    Trait(
        "tenure_days",
        "Tenure",
        "days",
        "Days from the customer's first event in the window to the as-of date.",
        "rhythm",
        cluster_default=True,
    ),
    Trait(
        "purchase_frequency_per_month",
        "Purchases per month",
        "orders / 30 days",
        "Orders divided by the months between first purchase and the as-of date, with that span floored at one month so one-time buyers and same-week repeaters do not explode it.",
        "rhythm",
        transform="log1p",
        cluster_default=True,
        higher_is_better=True,
    ),
    Trait(
        "interpurchase_days_mean",
        "Mean days between orders",
        "days",
        "Mean gap between consecutive order days (0 with fewer than two order days).",
        "rhythm",
        transform="log1p",
    ),
    Trait(
        "interpurchase_regularity",
        "Order regularity",
        "score 0-1",
        "1 / (1 + coefficient of variation of the gaps between order days); 1 means clockwork, 0 with fewer than three order days.",
        "rhythm",
        cluster_default=True,
    ),
    # --- engagement --------------------------------------------------------------------------
    Trait(
        "sessions",
        "Sessions",
        "count",
        "session_start events in the window.",
        "engagement",
        transform="log1p",
        higher_is_better=True,
    ),
    Trait(
        "item_views",
        "Item views",
        "count",
        "view_item events in the window.",
        "engagement",
        transform="log1p",
    ),
    Trait(
        "category_views",
        "Category views",
        "count",
        "view_category events in the window.",
        "engagement",
        transform="log1p",
    ),
    Trait(
        "cart_adds",
        "Cart adds",
        "count",
        "cart_update events with action add.",
        "engagement",
        transform="log1p",
    ),
    Trait(
        "cart_removes",
        "Cart removes",
        "count",
        "cart_update events with action remove.",
        "engagement",
        transform="log1p",
    ),
    Trait(
        "cart_abandonment_rate",
        "Cart abandonment rate",
        "share 0-1",
        "1 - orders / days with a cart add, floored at 0 (0 when the customer never added to cart).",
        "engagement",
        cluster_default=True,
        higher_is_better=False,
    ),
    Trait(
        "email_open_rate",
        "Email open rate",
        "share 0-1",
        "Campaign emails opened divided by emails delivered (0 when none delivered).",
        "engagement",
        cluster_default=True,
        higher_is_better=True,
    ),
    Trait(
        "email_click_rate",
        "Email click rate",
        "share 0-1",
        "Campaign emails clicked divided by emails delivered (0 when none delivered).",
        "engagement",
        higher_is_better=True,
    ),
    # --- taste -------------------------------------------------------------------------------
    Trait(
        "top_category",
        "Top category",
        "label",
        "The category_level_1 with the most item views and purchased items (ties broken alphabetically); 'none' without any.",
        "taste",
        kind="categorical",
    ),
    Trait(
        "top_category_share",
        "Top-category share",
        "share 0-1",
        "Share of the customer's category interactions that fall in the top category.",
        "taste",
    ),
    Trait(
        "category_breadth",
        "Category breadth",
        "count",
        "Distinct category_level_1 values viewed or bought.",
        "taste",
    ),
    # --- habits ------------------------------------------------------------------------------
    Trait(
        "primary_device",
        "Primary device",
        "label",
        "Most frequent session device (mobile, desktop, tablet; ties alphabetical); 'unknown' without sessions.",
        "habits",
        kind="categorical",
    ),
    Trait(
        "mobile_share",
        "Mobile share",
        "share 0-1",
        "Share of sessions on a mobile device.",
        "habits",
        cluster_default=True,
    ),
    Trait(
        "preferred_weekday",
        "Preferred weekday",
        "ISO weekday 1-7",
        "The ISO weekday (1 = Monday) with the most events, UTC; ties go to the earliest.",
        "habits",
        kind="categorical",
    ),
    Trait(
        "preferred_hour",
        "Preferred hour",
        "hour 0-23",
        "The UTC hour of day with the most events; ties go to the earliest.",
        "habits",
        kind="categorical",
    ),
    Trait(
        "weekend_share",
        "Weekend share",
        "share 0-1",
        "Share of events on Saturday or Sunday (UTC).",
        "habits",
    ),
    # --- lifecycle ---------------------------------------------------------------------------
    Trait(
        "rfm_recency_score",
        "RFM recency score",
        "quintile 1-5",
        "Quintile of days since last purchase, reversed so 5 = most recent; ties share a score.",
        "lifecycle",
    ),
    Trait(
        "rfm_frequency_score",
        "RFM frequency score",
        "quintile 1-5",
        "Quintile of orders; ties share a score.",
        "lifecycle",
    ),
    Trait(
        "rfm_monetary_score",
        "RFM monetary score",
        "quintile 1-5",
        "Quintile of net revenue; ties share a score.",
        "lifecycle",
    ),
    Trait(
        "rfm_segment",
        "RFM group",
        "label",
        "The conventional named RFM group (Champions, Loyal, Potential Loyalist, New, Promising, Need Attention, About to Sleep, At Risk, Can't Lose Them, Hibernating, Lost) from the recency and frequency-monetary scores.",
        "lifecycle",
        kind="categorical",
    ),
    # --- value model -------------------------------------------------------------------------
    Trait(
        "expected_purchases",
        "Expected purchases",
        "orders over horizon",
        "BG/NBD expected number of repeat purchases over the CLV horizon.",
        "value_model",
        transform="log1p",
    ),
    Trait(
        "p_alive",
        "Probability still active",
        "probability 0-1",
        "BG/NBD probability that the customer has not churned as of the as-of date.",
        "value_model",
        higher_is_better=True,
    ),
    Trait(
        "churn_risk",
        "Churn risk",
        "probability 0-1",
        "1 - probability still active.",
        "value_model",
        cluster_default=True,
        higher_is_better=False,
    ),
    Trait(
        "predicted_clv",
        "Predicted CLV",
        "base currency",
        "Expected purchases over the horizon times Gamma-Gamma expected order value, discounted monthly.",
        "value_model",
        transform="log1p",
        higher_is_better=True,
    ),
)

TRAITS_BY_NAME: dict[str, Trait] = {t.name: t for t in TRAITS}
NUMERIC_TRAITS: tuple[str, ...] = tuple(t.name for t in TRAITS if t.kind == "numeric")
CATEGORICAL_TRAITS: tuple[str, ...] = tuple(t.name for t in TRAITS if t.kind == "categorical")
DEFAULT_CLUSTER_FEATURES: tuple[str, ...] = tuple(t.name for t in TRAITS if t.cluster_default)

#: Columns of the ``profiles`` table, in order: key columns then every trait.
PROFILE_KEY_COLUMNS: tuple[str, ...] = ("as_of_date", "customer_id")
PROFILE_COLUMNS: tuple[str, ...] = PROFILE_KEY_COLUMNS + tuple(t.name for t in TRAITS)


def trait(name: str) -> Trait:
    """Return the trait called ``name``; a clear error lists the known names otherwise."""
    try:
        return TRAITS_BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"unknown trait {name!r}; known traits: {', '.join(TRAITS_BY_NAME)}"
        ) from None
