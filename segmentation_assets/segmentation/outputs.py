"""The clusters stage as one pure function: fit, name, keep ids stable, and shape the output tables.

``segment_customers`` turns one as-of date's profiles (plus the previous date's segments) into the
frames the ``clusters`` asset writes; it holds no I/O so notebooks and tests can call it directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from segmentation_assets.segmentation.model import (
    SegmentationConfig,
    SegmentationResult,
    fit_segmentation,
)
from segmentation_assets.segmentation.naming import (
    describe_segments,
    name_segments,
    restrict_description,
)
from segmentation_assets.segmentation.stable_ids import (
    assign_stable_ids,
    migration_table,
    segment_ids_of_labels,
)
from segmentation_assets.traits import NUMERIC_TRAITS

#: Traits compared segment vs population in the trait profile (report heatmap, LLM prompt).
PROFILE_TRAITS: tuple[str, ...] = NUMERIC_TRAITS
#: Traits a segment may be named after: every business trait except the RFM scores (quintiles of
#: traits already here) and the model outputs that restate churn risk and CLV.
NAMING_TRAITS: tuple[str, ...] = tuple(
    t
    for t in NUMERIC_TRAITS
    if not t.startswith("rfm_") and t not in ("p_alive", "expected_purchases")
)


@dataclass
class SegmentationOutputs:
    """Everything the clusters stage stores for one as-of date."""

    result: SegmentationResult
    segments: pd.DataFrame
    assignments: pd.DataFrame
    trait_profile: pd.DataFrame
    centroids: pd.DataFrame
    k_scores: pd.DataFrame
    migration: pd.DataFrame
    segment_ids: dict[int, str]


def previous_centroids_frame(long_centroids: pd.DataFrame) -> pd.DataFrame | None:
    """Wide (segment_id, name, trait...) frame from the stored long centroid rows, or None."""
    if long_centroids.empty:
        return None
    wide = long_centroids.pivot_table(
        index=["segment_id", "name"], columns="trait", values="value", aggfunc="first"
    )
    return wide.reset_index().rename_axis(columns=None)


def segment_customers(
    profiles: pd.DataFrame,
    config: SegmentationConfig,
    as_of: date,
    *,
    previous_centroids: pd.DataFrame | None = None,
    previous_assignments: pd.DataFrame | None = None,
    issued_ids: tuple[str, ...] = (),
    workers: int = 1,
) -> SegmentationOutputs:
    """Segment ``profiles`` (one row per customer) and build the stage's tables.

    ``workers``: k-means fits run at once while choosing k (see :func:`fit_segmentation`).
    ``previous_centroids`` (segment_id, name, trait columns in trait units) and
    ``previous_assignments`` (customer_id, segment_id) come from the latest earlier as-of date.
    """
    result = fit_segmentation(profiles, config, workers=workers)
    labels = result.labels
    traits = [t for t in PROFILE_TRAITS if t in profiles.columns]
    described = describe_segments(profiles, labels, traits)
    naming = [t for t in NAMING_TRAITS if t in profiles.columns]
    # The naming traits are among the described ones: their description is re-ranked, not
    # recomputed from a million profiles.
    named = name_segments(
        profiles,
        labels,
        naming,
        description=restrict_description(described, naming),
    ).set_index("segment_index")
    stable = assign_stable_ids(
        result.centroids_original,
        previous_centroids,
        scale=result.feature_scale,
        current_names=named["name"].to_dict(),
        issued_ids=issued_ids,
    )
    ids = {int(i): str(s) for i, s in stable.segment_ids.items()}
    names = {int(i): str(n) for i, n in stable.names.items()}

    frame = profiles[["customer_id", "net_revenue", "predicted_clv", "churn_risk"]].assign(
        segment_index=labels
    )
    grouped = frame.groupby("segment_index")
    segments = pd.DataFrame(
        {
            "segment_index": grouped.size().index.astype(int),
            "size": grouped.size().to_numpy(),
            "total_net_revenue": grouped["net_revenue"].sum().to_numpy(),
            "total_predicted_clv": grouped["predicted_clv"].sum().to_numpy(),
            "avg_churn_risk": grouped["churn_risk"].mean().to_numpy(),
        }
    )
    segments["share"] = segments["size"] / len(profiles)
    segments["avg_net_revenue"] = segments["total_net_revenue"] / segments["size"]
    segments["avg_predicted_clv"] = segments["total_predicted_clv"] / segments["size"]
    segments["segment_id"] = segments["segment_index"].map(ids)
    segments["name"] = segments["segment_index"].map(names)
    segments["description"] = segments["segment_index"].map(named["description"])
    segments["defining_traits"] = segments["segment_index"].map(
        lambda i: json.dumps(list(named.loc[i, "defining_traits"]))
    )
    segments["model_version"] = result.version
    segments.insert(0, "as_of_date", as_of)
    segments = segments[
        [
            "as_of_date",
            "segment_id",
            "segment_index",
            "name",
            "description",
            "size",
            "share",
            "total_net_revenue",
            "avg_net_revenue",
            "total_predicted_clv",
            "avg_predicted_clv",
            "avg_churn_risk",
            "defining_traits",
            "model_version",
        ]
    ].sort_values("segment_id", key=lambda s: s.str.extract(r"(\d+)$")[0].astype(int))

    assignments = result.assignments.assign(
        as_of_date=as_of, segment_id=segment_ids_of_labels(labels, ids, result.k)
    )[["as_of_date", "customer_id", "segment_id", "distance_to_centroid", "membership_confidence"]]

    trait_profile = described.assign(
        as_of_date=as_of, segment_id=described["segment_index"].map(ids)
    ).rename(columns={"segment_mean": "segment_value", "population_mean": "population_value"})[
        [
            "as_of_date",
            "segment_id",
            "trait",
            "segment_value",
            "population_value",
            "standardized_difference",
            "is_defining",
        ]
    ]

    centroids = (
        result.centroids_original.rename_axis("segment_index")
        .reset_index()
        .melt(id_vars="segment_index", var_name="trait", value_name="value")
    )
    centroids = centroids.assign(
        as_of_date=as_of,
        segment_id=centroids["segment_index"].map(ids),
        name=centroids["segment_index"].map(names),
    )[["as_of_date", "segment_id", "name", "trait", "value"]]

    if result.k_selection is not None:
        k_scores = result.k_selection.scores.assign(
            chosen=lambda f: f["k"] == result.k_selection.chosen_k  # type: ignore[union-attr]
        )
    else:
        k_scores = pd.DataFrame(
            {
                "k": [result.k],
                "silhouette": [np.nan],
                "calinski_harabasz": [np.nan],
                "davies_bouldin": [np.nan],
                "prediction_strength": [np.nan],
                "chosen": [True],
            }
        )
    k_scores = k_scores.assign(as_of_date=as_of, fixed_k=result.k_selection is None)

    if previous_assignments is not None and len(previous_assignments):
        migration = migration_table(
            previous_assignments, assignments[["customer_id", "segment_id"]]
        )
    else:
        migration = pd.DataFrame(
            {
                "from_segment_id": pd.Series([], dtype="object"),
                "to_segment_id": pd.Series([], dtype="object"),
                "customers": pd.Series([], dtype="int64"),
            }
        )
    migration = migration.assign(as_of_date=as_of)
    return SegmentationOutputs(
        result=result,
        segments=segments.reset_index(drop=True),
        # Profiles arrive sorted by customer_id (stored_profiles); sorting a million ids again
        # costs most of a second.
        assignments=(
            assignments
            if assignments["customer_id"].is_monotonic_increasing
            else assignments.sort_values("customer_id")
        ).reset_index(drop=True),
        trait_profile=trait_profile.reset_index(drop=True),
        centroids=centroids,
        k_scores=k_scores,
        migration=migration,
        segment_ids=ids,
    )
