"""Describing and naming segments in business words.

:func:`describe_segments` compares each segment with the whole population, trait by trait.
The **standardized difference** of a trait in a segment is

    (mean of t(x) in the segment − mean of t(x) overall) / standard deviation of t(x) overall

where t is the trait's clustering transform (log1p for counts and money, identity for shares and
days). Using the clustering scale means a few extreme customers cannot hide (or fake) a difference in
a heavy-tailed trait, and it is the scale on which the segments were actually formed. The reported
``segment_mean`` / ``population_mean`` are plain arithmetic means in trait units, for people.

:func:`name_segments` builds a name from the most distinguishing traits via :data:`PHRASES`, a table
keyed by (trait, direction): adjectives from the top one or two traits, and a noun ("regulars",
"browsers", ...) when one of the top three traits has one, else "customers" — e.g.
"Lapsing high-value regulars". Names are unique within a run (see :func:`name_segments`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from segmentation_assets.segmentation.features import SegmentationError, transform_trait_matrix
from segmentation_assets.traits import DEFAULT_CLUSTER_FEATURES, TRAITS_BY_NAME

Direction = Literal["high", "low"]

#: Columns of :func:`describe_segments`.
DESCRIBE_COLUMNS: tuple[str, ...] = (
    "segment_index",
    "size",
    "share",
    "trait",
    "label",
    "unit",
    "segment_mean",
    "population_mean",
    "standardized_difference",
    "direction",
    "rank",
    "is_defining",
)

#: Columns of :func:`name_segments`.
NAME_COLUMNS: tuple[str, ...] = (
    "segment_index",
    "name",
    "description",
    "size",
    "share",
    "defining_traits",
)


@dataclass(frozen=True)
class Phrase:
    """Business words for a trait being high or low: an adjective and optionally a noun."""

    adjective: str | None
    noun: str | None = None


#: (trait, direction) → phrase. Adjectives are lower-case; the name's first letter is capitalized.
PHRASES: dict[tuple[str, Direction], Phrase] = {
    ("orders", "high"): Phrase("repeat-buying", "regulars"),
    ("orders", "low"): Phrase("rarely-buying"),
    ("net_revenue", "high"): Phrase("high-value"),
    ("net_revenue", "low"): Phrase("low-value"),
    ("avg_order_value", "high"): Phrase("big-basket"),
    ("avg_order_value", "low"): Phrase("small-basket"),
    ("refund_rate", "high"): Phrase("return-prone"),
    ("refund_rate", "low"): Phrase("low-return"),
    ("discount_share", "high"): Phrase("deal-seeking"),
    ("discount_share", "low"): Phrase("full-price"),
    ("recency_days", "high"): Phrase("lapsing"),
    ("recency_days", "low"): Phrase("recently active"),
    ("tenure_days", "high"): Phrase("long-standing"),
    ("tenure_days", "low"): Phrase("new", "newcomers"),
    ("purchase_frequency_per_month", "high"): Phrase("frequent", "regulars"),
    ("purchase_frequency_per_month", "low"): Phrase("occasional"),
    ("interpurchase_days_mean", "high"): Phrase("slow-cycle"),
    ("interpurchase_days_mean", "low"): Phrase("fast-cycle"),
    ("interpurchase_regularity", "high"): Phrase("clockwork"),
    ("interpurchase_regularity", "low"): Phrase("irregular"),
    ("sessions", "high"): Phrase("highly engaged"),
    ("sessions", "low"): Phrase("low-engagement"),
    ("item_views", "high"): Phrase("heavy-browsing", "browsers"),
    ("item_views", "low"): Phrase("light-browsing"),
    ("category_views", "high"): Phrase("category-exploring"),
    ("category_views", "low"): Phrase("category-skipping"),
    ("cart_adds", "high"): Phrase("cart-building"),
    ("cart_adds", "low"): Phrase("few-cart"),
    ("cart_removes", "high"): Phrase("cart-editing"),
    ("cart_removes", "low"): Phrase("cart-keeping"),
    ("cart_abandonment_rate", "high"): Phrase("cart-abandoning"),
    ("cart_abandonment_rate", "low"): Phrase("decisive"),
    ("email_open_rate", "high"): Phrase("email-engaged"),
    ("email_open_rate", "low"): Phrase("email-dormant"),
    ("email_click_rate", "high"): Phrase("email-clicking"),
    ("email_click_rate", "low"): Phrase("non-clicking"),
    ("top_category_share", "high"): Phrase("category-loyal"),
    ("top_category_share", "low"): Phrase("multi-category"),
    ("category_breadth", "high"): Phrase("wide-ranging", "explorers"),
    ("category_breadth", "low"): Phrase("narrow-focus"),
    ("mobile_share", "high"): Phrase("mobile-first"),
    ("mobile_share", "low"): Phrase("desktop-first"),
    ("weekend_share", "high"): Phrase("weekend", "weekend shoppers"),
    ("weekend_share", "low"): Phrase("weekday"),
    ("rfm_recency_score", "high"): Phrase("recently active"),
    ("rfm_recency_score", "low"): Phrase("lapsing"),
    ("rfm_frequency_score", "high"): Phrase("frequent", "regulars"),
    ("rfm_frequency_score", "low"): Phrase("occasional"),
    ("rfm_monetary_score", "high"): Phrase("high-spending"),
    ("rfm_monetary_score", "low"): Phrase("low-spending"),
    ("expected_purchases", "high"): Phrase("high-potential"),
    ("expected_purchases", "low"): Phrase("low-potential"),
    ("p_alive", "high"): Phrase("active"),
    ("p_alive", "low"): Phrase("likely churned"),
    ("churn_risk", "high"): Phrase("at-risk"),
    ("churn_risk", "low"): Phrase("secure"),
    ("predicted_clv", "high"): Phrase("high-CLV"),
    ("predicted_clv", "low"): Phrase("low-CLV"),
}

#: Pairs of (trait, direction) that together mean more than each alone; checked before PHRASES.
COMBINED_PHRASES: dict[frozenset[tuple[str, Direction]], Phrase] = {
    frozenset({("orders", "low"), ("sessions", "high")}): Phrase("browsing", "browsers"),
    frozenset({("orders", "low"), ("item_views", "high")}): Phrase("browsing", "browsers"),
}

#: Default minimum |standardized difference| for a trait to count as defining a segment.
MIN_EFFECT = 0.3


def _phrase(trait: str, direction: Direction) -> Phrase:
    found = PHRASES.get((trait, direction))
    if found is not None:
        return found
    # A trait added to the registry without a phrase still gets readable (if plain) words.
    return Phrase(f"{direction} {TRAITS_BY_NAME[trait].label.lower()}")


def _resolve_features(profiles: pd.DataFrame, features: Sequence[str] | None) -> list[str]:
    chosen = list(DEFAULT_CLUSTER_FEATURES) if features is None else list(features)
    bad = [f for f in chosen if f not in TRAITS_BY_NAME or TRAITS_BY_NAME[f].kind != "numeric"]
    if bad:
        raise SegmentationError(f"not numeric traits of the registry: {', '.join(bad)}")
    missing = [f for f in chosen if f not in profiles.columns]
    if missing:
        raise SegmentationError(f"profiles frame lacks trait column(s): {', '.join(missing)}")
    return chosen


def describe_segments(
    profiles: pd.DataFrame,
    labels: np.ndarray,
    features: Sequence[str] | None = None,
    *,
    top_n: int = 3,
    min_effect: float = MIN_EFFECT,
) -> pd.DataFrame:
    """Per segment and trait, how the segment differs from the population.

    Args:
        profiles: one row per customer (n rows) with the trait columns.
        labels: shape (n,), segment_index per row (non-negative ints).
        features: numeric traits to describe (default: the registry's clustering defaults).
        top_n: how many of the most distinguishing traits may be marked defining per segment.
        min_effect: minimum |standardized difference| for a trait to be defining.

    Returns:
        Tidy frame, one row per (segment_index, trait), columns :data:`DESCRIBE_COLUMNS`:
        size (customers), share (of all customers, 0-1), segment_mean / population_mean (trait
        units, NaN ignored), standardized_difference (module docstring), direction ("high"/"low"),
        rank (1 = largest |difference| within the segment) and is_defining (rank ≤ top_n and
        |difference| ≥ min_effect). Sorted by segment_index then rank.
    """
    feats = _resolve_features(profiles, features)
    labels = np.asarray(labels)
    if labels.shape != (len(profiles),):
        raise SegmentationError(
            f"labels must have one entry per profile row: shape {labels.shape} vs {len(profiles)} rows"
        )
    if len(profiles) == 0:
        raise SegmentationError("profiles frame is empty: nothing to describe")
    raw = profiles.loc[:, feats].to_numpy(dtype=float, na_value=np.nan)
    trans = transform_trait_matrix(raw, feats)
    seg_raw = pd.DataFrame(raw, columns=feats).groupby(labels).mean()
    seg_t = pd.DataFrame(trans, columns=feats).groupby(labels).mean()
    pop_raw = np.nanmean(raw, axis=0)
    pop_t = np.nanmean(trans, axis=0)
    pop_sd = np.nanstd(trans, axis=0)
    sizes = pd.Series(labels).value_counts().sort_index()
    n = len(labels)

    rows = []
    for seg in seg_raw.index:
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(pop_sd > 0, (seg_t.loc[seg].to_numpy() - pop_t) / pop_sd, 0.0)
        d = np.nan_to_num(d, nan=0.0)
        for j, name in enumerate(feats):
            tr = TRAITS_BY_NAME[name]
            rows.append(
                {
                    "segment_index": int(seg),
                    "size": int(sizes[seg]),
                    "share": float(sizes[seg] / n),
                    "trait": name,
                    "label": tr.label,
                    "unit": tr.unit,
                    "segment_mean": float(seg_raw.loc[seg, name]),
                    "population_mean": float(pop_raw[j]),
                    "standardized_difference": float(d[j]),
                    "direction": "high" if d[j] >= 0 else "low",
                }
            )
    unranked = pd.DataFrame(rows, columns=list(DESCRIBE_COLUMNS[:-2]))
    return _ranked(unranked, feats, top_n, min_effect)


def _ranked(
    described: pd.DataFrame, features: Sequence[str], top_n: int, min_effect: float
) -> pd.DataFrame:
    """``described`` (rows of ``features``, without rank) with rank and is_defining, sorted by
    segment_index then rank. Rank 1 is the largest |difference| within the segment; ties go by the
    order of ``features``, so the output is deterministic."""
    position = described["trait"].map({name: j for j, name in enumerate(features)})
    order = np.lexsort(
        (
            position.to_numpy(),
            -described["standardized_difference"].abs().to_numpy(),
            described["segment_index"].to_numpy(),
        )
    )
    out = described.iloc[order].reset_index(drop=True)
    out["rank"] = out.groupby("segment_index").cumcount().to_numpy() + 1
    out["is_defining"] = (out["rank"] <= top_n) & (
        out["standardized_difference"].abs() >= min_effect
    )
    return out[list(DESCRIBE_COLUMNS)]


def restrict_description(
    described: pd.DataFrame,
    features: Sequence[str],
    *,
    top_n: int = 3,
    min_effect: float = MIN_EFFECT,
) -> pd.DataFrame:
    """The :func:`describe_segments` frame of a subset ``features`` of the traits ``described``
    holds, as ``describe_segments(..., features, top_n=top_n, min_effect=min_effect)`` returns it,
    without reading the profiles again: every value but the rank is per trait."""
    described_traits = set(described["trait"])
    missing = [f for f in features if f not in described_traits]
    if missing:
        raise SegmentationError(f"the description has no rows for trait(s): {', '.join(missing)}")
    part = described[described["trait"].isin(list(features))]
    return _ranked(part.drop(columns=["rank", "is_defining"]), features, top_n, min_effect)


def format_value(value: float, unit: str) -> str:
    """A trait value for people: shares and probabilities as %, others rounded by magnitude."""
    if not np.isfinite(value):
        return "n/a"
    if unit.startswith(("share", "probability")):
        return f"{value * 100:.0f}%"
    magnitude = abs(value)
    number = (
        f"{value:,.0f}"
        if magnitude >= 100
        else f"{value:.1f}"
        if magnitude >= 10
        else f"{value:.2f}"
    )
    if unit in ("count", "label") or unit.startswith(("score", "quintile")):
        return number
    return f"{number} {unit}"


def _name_from(ranked: list[tuple[str, Direction]], n_adjectives: int) -> str:
    """Name from (trait, direction) pairs ranked most distinguishing first."""
    order = {pair: i for i, pair in enumerate(ranked)}
    # Pool of (position, phrase): a combined phrase replaces both of its traits and takes the
    # position of its better-ranked member.
    pool: list[tuple[int, Phrase]] = []
    used: set[tuple[str, Direction]] = set()
    for combo, phrase in COMBINED_PHRASES.items():
        if combo <= set(ranked) and not (combo & used):
            pool.append((min(order[p] for p in combo), phrase))
            used |= combo
    pool += [(order[p], _phrase(*p)) for p in ranked if p not in used]
    pool.sort(key=lambda item: item[0])

    noun_at = next((i for i, (_, ph) in enumerate(pool[:3]) if ph.noun), None)
    adjectives: list[str] = []
    for i, (_, phrase) in enumerate(pool):
        if len(adjectives) >= n_adjectives:
            break
        if i == noun_at or phrase.adjective is None or phrase.adjective in adjectives:
            continue
        adjectives.append(phrase.adjective)
    noun = pool[noun_at][1].noun if noun_at is not None else None
    name = " ".join([*adjectives, noun or "customers"])
    return name[:1].upper() + name[1:]


def name_segments(
    profiles: pd.DataFrame,
    labels: np.ndarray,
    features: Sequence[str] | None = None,
    *,
    max_name_traits: int = 2,
    min_effect: float = MIN_EFFECT,
    description: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Business name and description per segment.

    Args:
        profiles, labels, features: as :func:`describe_segments`.
        max_name_traits: adjectives in a name (the most distinguishing traits).
        min_effect: minimum |standardized difference| for a trait to be used in a name.
        description: a :func:`describe_segments` frame to reuse (computed when None).

    Returns:
        One row per segment, columns :data:`NAME_COLUMNS`: name (unique), description (sentence
        listing defining traits as "label: segment value vs population value overall" in trait
        units), size, share, defining_traits (comma-separated trait names, most distinguishing first).

    Uniqueness, deterministic: segments that would share a name get one more adjective from their
    own next distinguishing trait; any still equal get " 2", " 3"... in segment_index order (the
    lowest segment_index keeps the plain name). A segment with no trait beyond ``min_effect`` is
    "Typical customers".
    """
    desc = (
        description
        if description is not None
        else describe_segments(profiles, labels, features, min_effect=min_effect)
    )
    base: dict[int, str] = {}
    ranked_by_seg: dict[int, list[tuple[str, Direction]]] = {}
    rows: dict[int, dict[str, object]] = {}
    for seg, part in desc.groupby("segment_index", sort=True):
        part = part.sort_values("rank", kind="stable")
        strong = part[part["standardized_difference"].abs() >= min_effect]
        ranked: list[tuple[str, Direction]] = list(
            zip(strong["trait"], strong["direction"], strict=True)
        )
        ranked_by_seg[int(seg)] = ranked
        defining = part[part["is_defining"]]
        name = _name_from(ranked, max_name_traits) if ranked else "Typical customers"
        base[int(seg)] = name
        size, share = int(part["size"].iloc[0]), float(part["share"].iloc[0])
        facts = [
            f"{r.label}: {format_value(r.segment_mean, r.unit)} vs "
            f"{format_value(r.population_mean, r.unit)} overall"
            for r in defining.itertuples()
        ]
        text = f"{size:,} customers ({share * 100:.1f}% of all). " + (
            "Defining traits: " + "; ".join(facts) + "."
            if facts
            else "No trait differs clearly from the population."
        )
        rows[int(seg)] = {
            "segment_index": int(seg),
            "description": text,
            "size": size,
            "share": share,
            "defining_traits": ", ".join(defining["trait"]),
        }

    names = dict(base)
    counts = pd.Series(names).value_counts()
    for dup_name in counts[counts > 1].index:
        for seg in sorted(s for s, nm in names.items() if nm == dup_name):
            ranked = ranked_by_seg[seg]
            if len(ranked) > max_name_traits:
                names[seg] = _name_from(ranked, max_name_traits + 1)
    seen: dict[str, int] = {}
    for seg in sorted(names):
        nm = names[seg]
        seen[nm] = seen.get(nm, 0) + 1
        if seen[nm] > 1:
            candidate = f"{nm} {seen[nm]}"
            while candidate in names.values():
                seen[nm] += 1
                candidate = f"{nm} {seen[nm]}"
            names[seg] = candidate
    out = pd.DataFrame([{**rows[s], "name": names[s]} for s in sorted(rows)])
    return out[list(NAME_COLUMNS)]
