"""Aggregate-only segment summaries for the actionability model, built from the stage tables.

Shared by the robustness stage (a first summary picks the play whose economics are validated) and
the actionability stage (the full summary, with validation, goes to the model).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from segmentation_assets.llm import SegmentSummary, TraitComparison

#: Categorical traits summarized as member shares (values are labels, never ids).
CATEGORICAL_MIX_TRAITS = ("top_category", "primary_device", "rfm_segment")


def categorical_mix(
    profiles: pd.DataFrame, segment_of_customer: pd.Series
) -> dict[str, dict[str, dict[str, float]]]:
    """segment_id → categorical trait → value → share of members.

    ``segment_of_customer`` is indexed by customer_id (one row per profiled customer).
    """
    frame = profiles[["customer_id", *CATEGORICAL_MIX_TRAITS]].copy()
    frame["segment_id"] = frame["customer_id"].map(segment_of_customer)
    mix: dict[str, dict[str, dict[str, float]]] = {}
    for trait in CATEGORICAL_MIX_TRAITS:
        shares = frame.groupby("segment_id")[trait].value_counts(normalize=True).sort_index()
        for (segment_id, value), share in shares.items():
            mix.setdefault(str(segment_id), {}).setdefault(trait, {})[str(value)] = round(
                float(share), 4
            )
    return mix


def _reasons(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str) and value.startswith("["):
        return [str(v) for v in json.loads(value)]
    return [part for part in str(value or "").split("; ") if part]


def build_summaries(
    segments: pd.DataFrame,
    trait_profile: pd.DataFrame,
    mix: Mapping[str, Mapping[str, Mapping[str, float]]],
    robustness: pd.DataFrame | None = None,
    validation: pd.DataFrame | None = None,
) -> list[SegmentSummary]:
    """One :class:`SegmentSummary` per row of ``segments`` (sorted by segment_id).

    ``robustness`` and ``validation`` are indexed by segment_id when given.
    """
    population = int(segments["size"].sum())
    summaries = []
    for seg in segments.sort_values("segment_id").itertuples(index=False):
        seg_traits = trait_profile[trait_profile["segment_id"] == seg.segment_id]
        extra: dict[str, Any] = {}
        if robustness is not None:
            rob = robustness.loc[seg.segment_id]
            extra |= {
                "robustness_score": float(rob["robustness_score"]),
                "robustness_tier": str(rob["tier"]),
                "requires_monitoring": bool(rob["requires_monitoring"]),
            }
        if validation is not None:
            val = validation.loc[seg.segment_id]
            extra |= {
                "validation_passed": bool(val["passed"]),
                "validation_reasons": _reasons(val["reasons"]),
                "expected_roi": float(val["roi"]),
                "best_play": str(val["play"]),
                "best_play_roi": float(val["roi"]),
            }
        summaries.append(
            SegmentSummary(
                segment_id=str(seg.segment_id),
                name=str(seg.name),
                size=int(seg.size),
                share=float(seg.share),
                population_size=population,
                total_net_revenue=float(seg.total_net_revenue),
                avg_net_revenue=float(seg.avg_net_revenue),
                total_predicted_clv=float(seg.total_predicted_clv),
                avg_predicted_clv=float(seg.avg_predicted_clv),
                avg_churn_risk=min(1.0, max(0.0, float(seg.avg_churn_risk))),
                traits=[
                    TraitComparison(
                        name=t.trait,
                        segment_value=float(t.segment_value),
                        population_value=float(t.population_value),
                        standardized_difference=float(t.standardized_difference),
                    )
                    for t in seg_traits.itertuples(index=False)
                ],
                categorical_mix={k: dict(v) for k, v in mix.get(str(seg.segment_id), {}).items()},
                **extra,
            )
        )
    return summaries
