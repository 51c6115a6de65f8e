"""Stage 5 — ``robustness``: per-segment stability, validation criteria and economic viability."""

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from segmentation_assets import economics
from segmentation_assets.assets.common import (
    DUCKDB_POOL,
    OWNERS,
    PER_DATE_BACKFILL,
    as_of_dates,
    attach_date_metadata,
    frame_metadata,
    run_key_of,
)
from segmentation_assets.assets.segments import previous_date
from segmentation_assets.identity import MERGED_IDS_TABLE
from segmentation_assets.ingest import CUSTOMER_KEYS_TABLE, refresh_stale_activity
from segmentation_assets.llm.rules_model import assess_segment
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.profiles import (
    build_profiles,
    customer_key_map,
    profiled_customers_by_window,
    stored_profiles,
)
from segmentation_assets.resources import PipelineSettingsResource, WarehouseResource
from segmentation_assets.robustness import assess_robustness, native_thread_limit, window_sample
from segmentation_assets.segment_summaries import build_summaries, categorical_mix
from segmentation_assets.segmentation.features import resolve_features
from segmentation_assets.segmentation.model import (
    SegmentationConfig,
    SegmentationModel,
    SegmentationResult,
    fit_segmentation,
    result_from_model,
)
from segmentation_assets.warehouse import replace_rows, table_exists, transaction

ROBUSTNESS_TABLE = "segment_robustness"
VALIDATION_TABLE = "segment_validation"
MODELS_TABLE = "segmentation_models"


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
    metadata: dict[str, Any] = {}
    with warehouse.connection() as con:
        for as_of in as_of_dates(context):
            result = assess_date(con, as_of, settings, log=context.log, run_key=run_key_of(context))
            params = {"d": as_of}
            robustness_rows, validation_rows = result.robustness_rows, result.validation_rows
            with transaction(con):
                replace_rows(
                    con, ROBUSTNESS_TABLE, robustness_rows, where="as_of_date = $d", params=params
                )
                replace_rows(
                    con, VALIDATION_TABLE, validation_rows, where="as_of_date = $d", params=params
                )
            metadata = {
                **frame_metadata(
                    result.scores[["segment_id", "robustness_score", "tier", "requires_monitoring"]]
                ),
                "as_of_date": str(as_of),
                "bootstrap_samples": settings.bootstrap_samples,
                "sensitivity_windows_days": MetadataValue.json(sorted(result.window_customers)),
                "sensitivity_window_customers": MetadataValue.json(
                    {str(days): n for days, n in sorted(result.window_customers.items())}
                ),
                "base_result": result.base_source,
                "previous_as_of_date": str(result.previous) if result.previous else "none",
                "valid_segments": int(validation_rows["passed"].sum()),
                "validation": MetadataValue.md(
                    validation_rows[["segment_id", "play", "roi", "passed", "reasons"]].to_markdown(
                        index=False
                    )
                ),
            }
            attach_date_metadata(context, as_of, metadata)
    return MaterializeResult(metadata=metadata)


@dataclass
class DateAssessment:
    """What :func:`assess_date` computed for one as-of date (nothing written yet).

    Attributes:
        scores: :func:`~segmentation_assets.robustness.assess_robustness` rows.
        robustness_rows / validation_rows: the rows of segment_robustness / segment_validation.
        window_customers: window days → customers whose profiles were built for it.
        base_source: "stored model" or "refit" (warehouses without a stored model).
        previous: the previous as-of date with assignments, if any.
    """

    scores: pd.DataFrame
    robustness_rows: pd.DataFrame
    validation_rows: pd.DataFrame
    window_customers: dict[int, int]
    base_source: str
    previous: date | None


#: SegmentationConfig fields used only to choose k; with k fixed they do not change a fit.
_K_SELECTION_FIELDS = frozenset(
    {
        "n_clusters",
        "k_range",
        "k_selection_sample_size",
        "k_selection_n_init",
        "prediction_strength_cutoff",
    }
)


def _fit_settings(config: SegmentationConfig) -> dict[str, Any]:
    """The settings that decide a fit of fixed k (features resolved, so spellings compare equal)."""
    out = config.model_dump(
        exclude=set(_K_SELECTION_FIELDS | {"include_features", "exclude_features"})
    )
    out["features"] = resolve_features(config.include_features, config.exclude_features)
    return out


def _stored_model(con: Any, as_of: date, log: Any) -> SegmentationModel | None:
    """The model the clusters stage stored for ``as_of``, or None (older warehouse, unreadable)."""
    if not table_exists(con, MODELS_TABLE):
        return None
    row = con.execute(
        f"SELECT model FROM {MODELS_TABLE} WHERE as_of_date = $d", {"d": as_of}
    ).fetchone()
    if row is None or row[0] is None:
        return None
    try:
        return SegmentationModel.from_bytes(bytes(row[0]))
    except Exception as exc:  # a model pickled by another library version: refit instead
        if log is not None:
            log.warning(f"stored model for {as_of} not readable ({exc}); refitting it")
        return None


def base_result(
    con: Any,
    as_of: date,
    profiles: pd.DataFrame,
    assignments: pd.DataFrame,
    segment_ids: dict[int, str],
    config: SegmentationConfig,
    log: Any = None,
) -> tuple[SegmentationResult, str]:
    """The clusters stage's result for ``as_of`` and where it came from, checked against the stored
    assignments (``profiles`` and ``assignments`` both ordered by customer_id).

    The stored model scores the profiles (no refit: the clusters stage labelled every customer by
    its nearest centroid, which is what scoring does). Its fit settings must be ``config``'s (k
    apart): the robustness refits use ``config``. Without a stored model, the profiles are refitted
    with the stored k and seed, which reproduces the clusters stage. Either way the labels must be
    the stored assignments; otherwise a RuntimeError asks to re-materialize clusters.
    """
    model = _stored_model(con, as_of, log)
    if model is not None:
        stored, current = _fit_settings(model.config), _fit_settings(config)
        differ = sorted(key for key in current if stored.get(key) != current[key])
        if differ or model.k != config.n_clusters:
            detail = ", ".join(f"{key}: {stored.get(key)!r} → {current[key]!r}" for key in differ)
            raise RuntimeError(
                f"robustness for {as_of}: the stored clusters were fitted with other settings "
                f"({detail or f'k {model.k} vs {config.n_clusters} segments'}); re-materialize "
                "clusters for this date"
            )
        base, source = result_from_model(model, profiles), "stored model"
    else:
        base, source = fit_segmentation(profiles, config), "refit"
    same_customers = len(assignments) == len(profiles) and bool(
        (assignments["customer_id"].to_numpy() == profiles["customer_id"].to_numpy()).all()
    )
    same_labels = same_customers and bool(
        (
            pd.Series(base.labels).map(segment_ids).to_numpy()
            == assignments["segment_id"].to_numpy()
        ).all()
    )
    if not same_labels:
        what = "the stored model" if source == "stored model" else "refit"
        raise RuntimeError(
            f"robustness for {as_of}: {what} does not reproduce the stored clusters "
            f"({'different segments' if same_customers else 'different customers than the profiles'}); "
            "re-materialize clusters for this date"
        )
    return base, source


def window_profiles(
    con: Any,
    as_of: date,
    base: SegmentationResult,
    settings: PipelineSettingsResource,
    run_key: str | None = None,
) -> dict[int, pd.DataFrame]:
    """Profiles over each shorter sensitivity window, of the customers the window refit uses.

    Only :func:`~segmentation_assets.robustness.window_sample`'s customers (a seeded sample of at
    most ``robustness_sample_size`` of the window's customers that the base also has) are profiled,
    so the cost does not grow with the population. When the sample is the whole window population
    the profiles are built as the profiles stage builds them. Otherwise the population-dependent
    columns (RFM quintiles, value model) come from the sample: the BG/NBD and Gamma-Gamma are
    fitted on the sampled buyers rather than on every buyer of the window. The parameters of the
    base window cannot stand in for them (another observation period: their purchase rates and
    dropout fit 365 days, not 90), and fitting on every buyer needs the whole population's
    aggregation, which is the cost this avoids; a uniform sample of 20,000 customers estimates the
    handful of parameters closely, and only churn_risk of the default clustering features uses them.
    The identity snapshot's key map is made once for every window (0.7-1.2 s each at a million
    customers); ``run_key``: see :func:`~segmentation_assets.profiles.aggregate_profiles_sql`.
    """
    # One Index for every window: its hash table is built once (see window_sample).
    base_customers = pd.Index(base.assignments["customer_id"])
    windows = sorted({d for d in settings.sensitivity_windows_days if d < settings.window_days})
    if not windows:
        return {}
    # The activity of the longest window is checked first: a rewritten day can give new ids keys,
    # which the key map must then hold.
    refresh_stale_activity(con, as_of - timedelta(days=windows[-1] - 1), as_of, run_key)
    key_map = customer_key_map(
        con, as_of, CUSTOMER_KEYS_TABLE, MERGED_IDS_TABLE, name="_robustness_customer_key_map"
    )
    try:
        # One pass finds every window's customers.
        customers = profiled_customers_by_window(
            con, as_of, windows, refresh_activity=False, key_map=key_map
        )
        out: dict[int, pd.DataFrame] = {}
        for days in windows:
            eligible = customers[days]
            chosen = window_sample(
                eligible,
                base_customers,
                days,
                sample_size=settings.robustness_sample_size,
                random_state=settings.random_state,
            )
            sampled = len(chosen) < len(eligible)
            out[days] = build_profiles(
                con,
                as_of,
                days,
                settings.value_model(),
                customers=chosen if sampled else None,
                refresh_activity=False,
                key_map=key_map,
            ).profiles
    finally:
        con.execute(f"DROP TABLE IF EXISTS {key_map}")
    return out


def assess_date(
    con: Any,
    as_of: date,
    settings: PipelineSettingsResource,
    log: Any = None,
    run_key: str | None = None,
) -> DateAssessment:
    """Robustness, validation and economics of the clusters of ``as_of`` (reads only; ``run_key``:
    see :func:`window_profiles`)."""
    params = {"d": as_of}
    profiles = stored_profiles(con, as_of)
    segments = con.execute("SELECT * FROM segments WHERE as_of_date = $d", params).df()
    assignments = con.execute(
        "SELECT customer_id, segment_id, membership_confidence FROM segment_assignments "
        "WHERE as_of_date = $d ORDER BY customer_id",
        params,
    ).df()
    trait_profile = con.execute(
        "SELECT * FROM segment_trait_profile WHERE as_of_date = $d", params
    ).df()
    config = settings.segmentation().with_fixed_k(len(segments))
    ids = dict(zip(segments["segment_index"].astype(int), segments["segment_id"], strict=True))
    with native_thread_limit(settings.native_threads):
        base, source = base_result(con, as_of, profiles, assignments, ids, config, log)
    alt: dict[int, pd.DataFrame] = {}

    def make_windows() -> dict[int, pd.DataFrame]:
        # Called by assess_robustness while the bootstrap and feature refits run beside it.
        alt.update(window_profiles(con, as_of, base, settings, run_key))
        return alt

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
        alt_profiles_by_window=make_windows,
        prev_assignments=prev_assignments,
        segment_ids=ids,
        sample_size=settings.robustness_sample_size,
        random_state=settings.random_state,
        max_threads=settings.native_threads,
        workers=settings.parallel_fits,
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
    return DateAssessment(
        scores=scores,
        robustness_rows=robustness_rows,
        validation_rows=validation_rows,
        window_customers={days: len(frame) for days, frame in alt.items()},
        base_source=source,
        previous=previous,
    )
