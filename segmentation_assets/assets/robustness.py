"""Stage 5 — ``robustness``: per-segment stability, validation criteria and economic viability."""

import json
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from segmentation_assets import economics
from segmentation_assets.assets.common import (
    DUCKDB_POOL,
    OWNERS,
    PER_DATE_BACKFILL,
    as_of_dates,
    frame_metadata,
)
from segmentation_assets.assets.segments import previous_date
from segmentation_assets.llm.rules_model import assess_segment
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.profiles import build_profiles
from segmentation_assets.resources import PipelineSettingsResource, WarehouseResource
from segmentation_assets.robustness import assess_robustness
from segmentation_assets.segment_summaries import build_summaries, categorical_mix
from segmentation_assets.segmentation.model import fit_segmentation
from segmentation_assets.warehouse import replace_rows, transaction

ROBUSTNESS_TABLE = "segment_robustness"
VALIDATION_TABLE = "segment_validation"


@asset(
    deps=["clusters"],
    partitions_def=daily_partitions,
    backfill_policy=PER_DATE_BACKFILL,
    group_name="segmentation",
    kinds={"duckdb", "scikit-learn"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    tags={"stage": "5"},
)
def robustness(
    context: AssetExecutionContext,
    settings: PipelineSettingsResource,
    warehouse: WarehouseResource,
) -> MaterializeResult:
    """How far each segment can be trusted, and whether it is worth a campaign. Stability: bootstrap
    Jaccard (Hennig's clusterboot), refits without each feature, profiles really recomputed from
    events over shorter windows ending at the same date, and agreement with the previous as-of
    date; combined into a score and a Hennig tier. Then the validation criteria and the campaign
    economics (ROI of the segment's recommended play, break-even at ROI = 0)."""
    base_config = settings.segmentation()
    metadata: dict[str, Any] = {}
    with warehouse.connection() as con:
        for as_of in as_of_dates(context):
            params = {"d": as_of}
            profiles = con.execute(
                "SELECT * FROM profiles WHERE as_of_date = $d ORDER BY customer_id", params
            ).df()
            segments = con.execute("SELECT * FROM segments WHERE as_of_date = $d", params).df()
            assignments = con.execute(
                "SELECT customer_id, segment_id, membership_confidence FROM segment_assignments "
                "WHERE as_of_date = $d ORDER BY customer_id",
                params,
            ).df()
            trait_profile = con.execute(
                "SELECT * FROM segment_trait_profile WHERE as_of_date = $d", params
            ).df()
            k = len(segments)
            config = base_config.with_fixed_k(k)
            # Refitting with the stored k and seed reproduces the clusters stage exactly; check it.
            base = fit_segmentation(profiles, config)
            ids = dict(
                zip(segments["segment_index"].astype(int), segments["segment_id"], strict=True)
            )
            refit_ids = pd.Series(base.labels).map(ids).to_numpy()
            if not (refit_ids == assignments["segment_id"].to_numpy()).all():
                raise RuntimeError(
                    f"robustness for {as_of}: refit does not reproduce the stored clusters; "
                    "re-materialize clusters for this date"
                )
            alt = {
                days: build_profiles(con, as_of, days, settings.value_model()).profiles
                for days in settings.sensitivity_windows_days
                if days < settings.window_days
            }
            previous = previous_date(con, "segment_assignments", as_of)
            prev_assignments = (
                con.execute(
                    "SELECT customer_id, segment_id FROM segment_assignments WHERE as_of_date = $d",
                    {"d": previous},
                ).df()
                if previous
                else None
            )
            scores = assess_robustness(
                profiles,
                config,
                base,
                n_bootstrap=settings.bootstrap_samples,
                alt_profiles_by_window=alt or None,
                prev_assignments=prev_assignments,
                segment_ids=ids,
                sample_size=settings.robustness_sample_size,
                random_state=settings.random_state,
            )
            names = dict(zip(segments["segment_index"].astype(int), segments["name"], strict=True))
            stats = economics.build_segment_stats(
                profiles,
                base.labels,
                membership_confidence=assignments["membership_confidence"].to_numpy(),
                robustness=scores,
                names=names,
                segment_ids=ids,
            )
            # The play whose economics are validated is the one the rules model recommends.
            mix = categorical_mix(profiles, assignments.set_index("customer_id")["segment_id"])
            summaries = build_summaries(
                segments, trait_profile, mix, robustness=scores.set_index("segment_id")
            )
            index_of = {v: k_ for k_, v in ids.items()}
            plays = {
                index_of[str(s.segment_id)]: str(assess_segment(s).explanation.recommended_campaign)
                for s in summaries
            }
            evaluation = economics.evaluate_segments(
                stats, plays, settings.economics(), settings.criteria()
            )
            robustness_rows = scores.assign(
                as_of_date=as_of,
                critical_features=scores["critical_features"].map(
                    lambda v: json.dumps([p.strip() for p in str(v or "").split(",") if p.strip()])
                ),
            )
            validation_rows = evaluation.assign(
                as_of_date=as_of,
                segment_id=evaluation["segment_index"].map(ids),
                reasons=evaluation["reasons"].map(lambda reasons: json.dumps(list(reasons))),
            )
            with transaction(con):
                replace_rows(
                    con, ROBUSTNESS_TABLE, robustness_rows, where="as_of_date = $d", params=params
                )
                replace_rows(
                    con, VALIDATION_TABLE, validation_rows, where="as_of_date = $d", params=params
                )
            metadata = {
                **frame_metadata(
                    scores[["segment_id", "robustness_score", "tier", "requires_monitoring"]]
                ),
                "as_of_date": str(as_of),
                "bootstrap_samples": settings.bootstrap_samples,
                "sensitivity_windows_days": MetadataValue.json(sorted(alt)),
                "previous_as_of_date": str(previous) if previous else "none",
                "valid_segments": int(evaluation["passed"].sum()),
                "validation": MetadataValue.md(
                    validation_rows[["segment_id", "play", "roi", "passed", "reasons"]].to_markdown(
                        index=False
                    )
                ),
            }
    return MaterializeResult(metadata=metadata)
