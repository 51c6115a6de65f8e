"""The report's input: :class:`ReportData`, its validation, value coercion and a sample factory.

:class:`ReportData` holds the warehouse tables of ONE as-of date as pandas DataFrames plus the run
facts. Nothing in it carries a wall-clock timestamp, so every output built from it (JSON, HTML,
activation files) is byte-identical for the same inputs.

List and mapping cells arrive in whatever shape the warehouse hands back: a Python list or dict, a
NumPy array (DuckDB ``LIST`` columns), a JSON string (``VARCHAR`` columns) or a missing value.
:func:`as_list` and :func:`as_dict` accept all of them so the lead can pass query results unchanged.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segmentation_assets.traits import NUMERIC_TRAITS, TRAITS_BY_NAME

#: Hennig (2007), "Cluster-wise assessment of cluster stability", Comput. Stat. Data Anal. 52(1):
#: a mean bootstrap Jaccard >= 0.85 is highly stable, >= 0.75 stable (a valid cluster), 0.6-0.75
#: indicates a pattern whose exact membership is doubtful; below 0.6 it should not be trusted.
#: Ordered high to low; the report draws each as a reference line.
ROBUSTNESS_THRESHOLDS: tuple[tuple[float, str], ...] = (
    (0.85, "highly stable"),
    (0.75, "stable"),
    (0.6, "pattern only"),
)
#: What a score below the lowest threshold means (Hennig: "do not trust", "dissolved" at <= 0.5).
BELOW_THRESHOLDS = "do not trust"

#: Separators of the joined-text list columns other stages write (see :func:`as_list`).
LIST_SEPARATORS: dict[str, str] = {
    "critical_features": ", ",
    "reasons": "; ",
    "defining_traits": ",",
}

#: Run facts every report carries (``ReportData.run`` keys).
RUN_KEYS: tuple[str, ...] = (
    "as_of_date",
    "window_days",
    "data_source",
    "model_version",
    "llm_model",
    "prompt_version",
    "configuration",
    "generated_by",
)

#: Columns each table must have when it has rows. An empty table may have no columns at all, which
#: is how the lead passes "k was fixed" (k_scores) or "first run" (migration).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "segments": (
        "segment_id",
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
    ),
    "trait_profile": (
        "segment_id",
        "trait",
        "segment_value",
        "population_value",
        "standardized_difference",
    ),
    "k_scores": (
        "k",
        "silhouette",
        "calinski_harabasz",
        "davies_bouldin",
        "prediction_strength",
        "chosen",
    ),
    "robustness": (
        "segment_id",
        "bootstrap_jaccard",
        "feature_jaccard_min",
        "window_jaccard",
        "temporal_jaccard",
        "robustness_score",
        "tier",
        "requires_monitoring",
        "critical_features",
        "notes",
    ),
    "validation": (
        "segment_id",
        "passed",
        "reasons",
        "play",
        "expected_roi",
        "incremental_profit",
        "campaign_cost",
        "marketing_targetability",
        "sales_prioritization",
        "personalization",
        "timing",
    ),
    "actionability": (
        "segment_id",
        "is_actionable",
        "dimensions",
        "recommended_action",
        "executive_summary",
        "key_characteristics",
        "recommended_campaign",
        "business_hypothesis",
        "confidence_level",
        "confidence_justification",
        "provider",
        "model_name",
        "fell_back",
        "fallback_reason",
    ),
    "rfm_grid": ("rfm_recency_score", "rfm_frequency_score", "customers", "avg_net_revenue"),
    "migration": ("from_segment_id", "to_segment_id", "customers"),
    "assignments": ("customer_id", "segment_id"),
}

#: Per-segment tables: at most one row per segment, and only segments that exist.
PER_SEGMENT_TABLES: tuple[str, ...] = ("robustness", "validation", "actionability")

#: Actionability dimensions, lower case as in ``segmentation_assets.llm.models.DIMENSIONS``.
DIMENSION_KEYS: tuple[str, ...] = ("who", "what", "when", "how")

#: The validation criteria columns, reported together under ``criteria``.
VALIDATION_CRITERIA: tuple[str, ...] = (
    "marketing_targetability",
    "sales_prioritization",
    "personalization",
    "timing",
)


@dataclass(frozen=True)
class ReportData:
    """Everything one report shows, for ONE as-of date.

    ``run`` holds the run facts (:data:`RUN_KEYS`); every other field is a DataFrame read from the
    warehouse with the columns of :data:`REQUIRED_COLUMNS`. ``assignments`` (customer → segment)
    feeds only the activation export: customer ids never reach the HTML or JSON report.
    """

    run: dict[str, Any]
    segments: pd.DataFrame
    trait_profile: pd.DataFrame = field(default_factory=pd.DataFrame)
    k_scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    robustness: pd.DataFrame = field(default_factory=pd.DataFrame)
    validation: pd.DataFrame = field(default_factory=pd.DataFrame)
    actionability: pd.DataFrame = field(default_factory=pd.DataFrame)
    rfm_grid: pd.DataFrame = field(default_factory=pd.DataFrame)
    migration: pd.DataFrame = field(default_factory=pd.DataFrame)
    assignments: pd.DataFrame = field(default_factory=pd.DataFrame)


# --- value coercion ------------------------------------------------------------------------------


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and pandas NA (scalars only; containers are never missing)."""
    if value is None:
        return True
    if isinstance(value, list | tuple | dict | np.ndarray):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def as_list(value: Any, sep: str | None = None) -> list[Any]:
    """A list from a list, tuple, NumPy array, JSON array string or missing value (→ ``[]``).

    A plain (non-JSON) string is split on ``sep`` when given, which reads the joined-text columns
    other stages write (robustness ``critical_features`` joined with ", ", validation ``reasons``
    joined with "; "); without ``sep`` it becomes a one-element list.
    """
    if is_missing(value):
        return []
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            parsed = json.loads(text)
            if not isinstance(parsed, list):  # pragma: no cover - startswith("[") guarantees it
                raise ValueError(f"expected a JSON array, got {text[:60]!r}")
            return [to_jsonable(v) for v in parsed]
        if sep is not None:
            return [part.strip() for part in text.split(sep) if part.strip()]
        return [text]
    raise TypeError(f"cannot read a list from {type(value).__name__} value {value!r}")


def as_dict(value: Any) -> dict[str, Any]:
    """A dict from a dict, a JSON object string or a missing value (→ ``{}``)."""
    if is_missing(value):
        return {}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return {}
        parsed = json.loads(text)
        if not isinstance(parsed, dict):
            raise ValueError(f"expected a JSON object, got {text[:60]!r}")
        return {str(k): to_jsonable(v) for k, v in parsed.items()}
    raise TypeError(f"cannot read a mapping from {type(value).__name__} value {value!r}")


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from pandas/NumPy values: NaN and infinities → None, NumPy scalars → Python.

    Infinities become None too because JSON has no literal for them and a ROI of +inf (zero cost)
    is better reported as unknown than as a huge made-up number.
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def opt_float(value: Any) -> float | None:
    """A finite float or None."""
    if is_missing(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def opt_bool(value: Any) -> bool | None:
    """A bool or None (accepts NumPy bools and the strings 'true'/'false')."""
    if is_missing(value):
        return None
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "t", "1", "yes"}:
            return True
        if lowered in {"false", "f", "0", "no"}:
            return False
        raise ValueError(f"cannot read a boolean from {value!r}")
    return bool(value)


def opt_str(value: Any) -> str | None:
    """A string or None."""
    return None if is_missing(value) else str(value)


def segment_sort_key(segment_id: Any) -> tuple[Any, ...]:
    """Natural order of segment ids: ``seg_2`` before ``seg_10``."""
    parts = re.split(r"(\d+)", str(segment_id))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def trait_label(name: str) -> str:
    """The registry label of a trait (the raw name for a trait the registry does not know)."""
    known = TRAITS_BY_NAME.get(name)
    return known.label if known is not None else name


# --- validation ----------------------------------------------------------------------------------


def check_report_data(data: ReportData) -> None:
    """Raise ``ValueError`` naming the table and column when ``data`` cannot make a report.

    Checks: run facts present; required columns of every non-empty table; at least one segment;
    unique segment ids; per-segment tables with at most one row per segment and no unknown ids.
    """
    missing_run = [k for k in RUN_KEYS if k not in data.run]
    if missing_run:
        raise ValueError(f"ReportData.run is missing {', '.join(missing_run)}")
    for table, columns in REQUIRED_COLUMNS.items():
        frame = getattr(data, table)
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"ReportData.{table} must be a pandas DataFrame")
        if frame.empty and table != "segments":
            continue
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise ValueError(f"table {table} is missing column(s) {', '.join(absent)}")
    if data.segments.empty:
        raise ValueError("table segments has no rows; a report needs at least one segment")
    ids = data.segments["segment_id"].astype(str)
    duplicated = sorted(set(ids[ids.duplicated()]), key=segment_sort_key)
    if duplicated:
        raise ValueError(f"table segments has duplicate segment_id {', '.join(duplicated)}")
    known = set(ids)
    for table in PER_SEGMENT_TABLES:
        frame = getattr(data, table)
        if frame.empty:
            continue
        sid = frame["segment_id"].astype(str)
        dup = sorted(set(sid[sid.duplicated()]), key=segment_sort_key)
        if dup:
            raise ValueError(f"table {table} has more than one row for segment_id {', '.join(dup)}")
        unknown = sorted(set(sid) - known, key=segment_sort_key)
        if unknown:
            raise ValueError(f"table {table} has segment_id {', '.join(unknown)} not in segments")
    if not data.trait_profile.empty:
        unknown = sorted(
            set(data.trait_profile["segment_id"].astype(str)) - known, key=segment_sort_key
        )
        if unknown:
            raise ValueError(
                f"table trait_profile has segment_id {', '.join(unknown)} not in segments"
            )


def rows_by_segment(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """segment_id (as str) → that row as a dict; empty for an empty table."""
    if frame.empty:
        return {}
    records = frame.to_dict(orient="records")
    return {str(r["segment_id"]): r for r in records}


def ordered_segments(segments: pd.DataFrame) -> pd.DataFrame:
    """``segments`` in natural segment-id order with a clean index (the order of every output)."""
    keys = [segment_sort_key(s) for s in segments["segment_id"]]
    order = sorted(range(len(segments)), key=keys.__getitem__)
    return segments.iloc[order].reset_index(drop=True)


def segment_labels(segments: pd.DataFrame, *, max_len: int = 30) -> dict[str, str]:
    """segment_id → "seg_1 · Name" (name shortened to ``max_len`` characters) for plot axes."""
    labels: dict[str, str] = {}
    for sid, name in zip(segments["segment_id"].astype(str), segments["name"], strict=True):
        text = "" if is_missing(name) else str(name)
        if len(text) > max_len:
            text = text[: max_len - 1].rstrip() + "…"
        labels[sid] = f"{sid} · {text}" if text else sid
    return labels


# --- sample data ---------------------------------------------------------------------------------

_SAMPLE_NAMES: tuple[str, ...] = (
    "High-value loyalists",
    "Lapsing big spenders",
    "New one-time buyers",
    "Discount-driven regulars",
    "Cart abandoners",
    "Email-engaged occasionals",
    "Mobile weekend browsers",
    "Dormant low spenders",
)
#: The traits that earn each sample name (standardized differences), so names match the profile.
_SAMPLE_SIGNATURES: dict[str, dict[str, float]] = {
    "High-value loyalists": {
        "net_revenue": 1.4,
        "predicted_clv": 1.3,
        "purchase_frequency_per_month": 1.2,
        "recency_days": -0.9,
        "churn_risk": -0.8,
    },
    "Lapsing big spenders": {"net_revenue": 1.0, "recency_days": 1.3, "churn_risk": 1.1},
    "New one-time buyers": {"tenure_days": -1.3, "orders": -0.9},
    "Discount-driven regulars": {"discount_share": 1.5, "orders": 0.6},
    "Cart abandoners": {"cart_abandonment_rate": 1.6, "cart_adds": 1.0},
    "Email-engaged occasionals": {"email_open_rate": 1.4, "email_click_rate": 1.1},
    "Mobile weekend browsers": {"mobile_share": 1.3, "weekend_share": 1.2, "sessions": 0.8},
    "Dormant low spenders": {"recency_days": 1.5, "net_revenue": -0.9, "churn_risk": 1.3},
}
_SAMPLE_PLAYS: tuple[str, ...] = (
    "vip_retention",
    "win_back",
    "onboarding_second_purchase",
    "discount_weaning",
    "cart_recovery",
    "reactivation_email",
    "nurture",
    "category_cross_sell",
)

#: Plausible population means per unit for the sample's trait profile.
_UNIT_MEANS: dict[str, float] = {
    "count": 6.0,
    "base currency": 140.0,
    "share 0-1": 0.3,
    "days": 95.0,
    "orders / 30 days": 0.6,
    "score 0-1": 0.4,
    "quintile 1-5": 3.0,
    "orders over horizon": 1.8,
    "probability 0-1": 0.55,
}
_BOUNDED_UNITS: frozenset[str] = frozenset({"share 0-1", "score 0-1", "probability 0-1"})


def _tier(score: float) -> str:
    """Tier names as ``segmentation_assets.robustness.stability_tier`` writes them."""
    for threshold, name in ROBUSTNESS_THRESHOLDS:
        if score >= threshold:
            return name
    return "do not trust" if score > 0.5 else "dissolved"


def sample_report_data(
    n_segments: int = 4, seed: int = 0, *, k_fixed: bool = False, first_run: bool = False
) -> ReportData:
    """A realistic, internally consistent :class:`ReportData` for tests and notebooks.

    Seeded NumPy randomness only, so the same arguments always give the same data. The last segment
    fails validation and (with three or more segments) the second-to-last is not actionable, so the
    valid, actionable and production-ready lists differ. ``k_fixed`` leaves ``k_scores`` empty and
    ``first_run`` leaves ``migration`` empty. List cells come in the shapes the other stages write:
    JSON strings (defining_traits, key_characteristics, dimensions) and joined text (reasons with
    "; ", critical_features with ", "). Tier names and criterion scores follow the robustness and
    economics modules.
    """
    if n_segments < 1:
        raise ValueError("n_segments must be at least 1")
    rng = np.random.default_rng(seed)
    ids = [f"seg_{i + 1}" for i in range(n_segments)]
    names = [
        _SAMPLE_NAMES[i % len(_SAMPLE_NAMES)]
        + ("" if i < len(_SAMPLE_NAMES) else f" {i // len(_SAMPLE_NAMES) + 1}")
        for i in range(n_segments)
    ]
    plays = [_SAMPLE_PLAYS[i % len(_SAMPLE_PLAYS)] for i in range(n_segments)]

    # Assignments first, so segment sizes are exactly the member counts.
    n_customers = 250 * n_segments
    weights = rng.dirichlet(np.full(n_segments, 4.0))
    labels = rng.choice(n_segments, size=n_customers, p=weights)
    labels[:n_segments] = np.arange(n_segments)  # every segment has at least one member
    customer_ids = [f"cust_{i:06d}" for i in rng.permutation(n_customers) + 100_000]
    assignments = pd.DataFrame(
        {"customer_id": customer_ids, "segment_id": [ids[label] for label in labels]}
    )
    sizes = np.bincount(labels, minlength=n_segments)

    # Trait profile: every numeric registry trait, segment mean vs population mean.
    z = rng.normal(0.0, 0.35, size=(n_segments, len(NUMERIC_TRAITS)))
    col = {name: j for j, name in enumerate(NUMERIC_TRAITS)}
    for i in range(n_segments):
        for name, value in _SAMPLE_SIGNATURES[_SAMPLE_NAMES[i % len(_SAMPLE_NAMES)]].items():
            z[i, col[name]] = value + float(rng.normal(0.0, 0.1))
    profile_rows = []
    for j, name in enumerate(NUMERIC_TRAITS):
        unit = TRAITS_BY_NAME[name].unit
        mean = _UNIT_MEANS.get(unit, 1.0)
        sd = 0.2 if unit in _BOUNDED_UNITS else mean * 0.8
        for i in range(n_segments):
            value = mean + z[i, j] * sd
            if unit in _BOUNDED_UNITS:
                value = float(np.clip(value, 0.0, 1.0))
            elif unit != "base currency":
                value = max(value, 0.0)
            profile_rows.append(
                {
                    "segment_id": ids[i],
                    "trait": name,
                    "segment_value": round(value, 4),
                    "population_value": mean,
                    "standardized_difference": round(float(z[i, j]), 4),
                }
            )
    trait_profile = pd.DataFrame(profile_rows)

    avg_rev = 140.0 * np.exp(0.5 * z[:, col["net_revenue"]])
    avg_clv = 110.0 * np.exp(0.5 * z[:, col["predicted_clv"]])
    churn = np.clip(0.45 + 0.2 * z[:, col["churn_risk"]], 0.02, 0.98)
    top3 = np.argsort(-np.abs(z), axis=1, kind="stable")[:, :3]
    segments = pd.DataFrame(
        {
            "segment_id": ids,
            "name": names,
            "description": [
                f"{names[i]}: customers whose {trait_label(NUMERIC_TRAITS[top3[i, 0]]).lower()} "
                "sets them apart from the base."
                for i in range(n_segments)
            ],
            "size": sizes.astype("int64"),
            "share": sizes / n_customers,
            "total_net_revenue": np.round(avg_rev * sizes, 2),
            "avg_net_revenue": np.round(avg_rev, 2),
            "total_predicted_clv": np.round(avg_clv * sizes, 2),
            "avg_predicted_clv": np.round(avg_clv, 2),
            "avg_churn_risk": np.round(churn, 4),
            # JSON strings, as a VARCHAR column returns them.
            "defining_traits": [
                json.dumps([NUMERIC_TRAITS[j] for j in top3[i]]) for i in range(n_segments)
            ],
        }
    )

    # Robustness: components around a segment-specific level; the score is their minimum.
    # Levels spread over every tier so the robustness plot shows each band.
    level = rng.permutation(np.linspace(0.93, 0.55, n_segments))
    comps = np.clip(level[:, None] + rng.normal(0.0, 0.04, size=(n_segments, 4)), 0.0, 1.0)
    temporal = np.full(n_segments, np.nan) if first_run else comps[:, 3]
    score = np.nanmin(np.column_stack([comps[:, :3], temporal]), axis=1)
    robustness = pd.DataFrame(
        {
            "segment_id": ids,
            "bootstrap_jaccard": np.round(comps[:, 0], 4),
            "feature_jaccard_min": np.round(comps[:, 1], 4),
            "window_jaccard": np.round(comps[:, 2], 4),
            "temporal_jaccard": np.round(temporal, 4),
            "robustness_score": np.round(score, 4),
            "tier": [_tier(s) for s in score],
            "requires_monitoring": score < 0.75,
            # Joined text, as the robustness stage writes it.
            "critical_features": [
                NUMERIC_TRAITS[top3[i, 0]] if score[i] < 0.6 else "" for i in range(n_segments)
            ],
            "notes": [
                "Membership shifts when the window moves; monitor before scaling spend."
                if score[i] < 0.75
                else "Stable under resampling, feature drops and window shifts."
                for i in range(n_segments)
            ],
        }
    )

    # Validation: the last segment's best play loses money (ROI = incremental profit / cost).
    cost = np.round(sizes * 0.9 + 150.0, 2)
    roi = np.round(rng.uniform(0.3, 2.5, size=n_segments), 4)
    roi[-1] = -0.35
    profit = np.round((1.0 + roi) * cost, 2)  # economics: ROI = (profit - cost) / cost
    passed = roi > 0
    validation = pd.DataFrame(
        {
            "segment_id": ids,
            "passed": passed,
            # Joined with "; ", as the economics stage writes it.
            "reasons": [
                ""
                if passed[i]
                else f"expected ROI {roi[i]:.2f} is below the minimum 0.00; "
                "timing score 0.20 is below the minimum 0.40"
                for i in range(n_segments)
            ],
            "play": plays,
            "expected_roi": roi,
            "incremental_profit": profit,
            "campaign_cost": cost,
            # Criterion scores in [0, 1], as the economics stage computes them.
            "marketing_targetability": np.round(rng.uniform(0.45, 0.9, n_segments), 3),
            "sales_prioritization": np.round(np.where(passed, 0.7, 0.3), 3),
            "personalization": np.round(rng.uniform(0.5, 0.95, n_segments), 3),
            "timing": np.round(np.where(passed, rng.uniform(0.5, 0.9, n_segments), 0.2), 3),
        }
    )

    actionable = np.ones(n_segments, dtype=bool)
    if n_segments >= 3:
        actionable[-2] = False
    fell_back = np.zeros(n_segments, dtype=bool)
    fell_back[0] = n_segments > 1
    action_rows = []
    for i in range(n_segments):
        supported = {
            "who": True,
            "what": True,
            "when": bool(actionable[i]),
            "how": bool(actionable[i]) or i % 2 == 0,
        }
        top = NUMERIC_TRAITS[top3[i, 0]]
        dims = {
            d.upper(): {
                "supported": s,
                "evidence": (
                    f"{trait_label(top)} z = {z[i, col[top]]:+.2f} vs population."
                    if s
                    else "No trait separates this segment on this dimension."
                ),
            }
            for d, s in supported.items()
        }
        confidence = "high" if score[i] >= 0.75 and passed[i] else "medium"
        if score[i] < 0.6:
            confidence = "low"
        action_rows.append(
            {
                "segment_id": ids[i],
                "is_actionable": bool(actionable[i]),
                "dimensions": json.dumps(dims, sort_keys=True),
                "recommended_action": f"Run the {plays[i]} play for {names[i].lower()}.",
                "executive_summary": (
                    f"{names[i]} are {sizes[i] / n_customers:.0%} of customers with an average "
                    f"net revenue of {avg_rev[i]:.0f}. Their {trait_label(top).lower()} "
                    "stands out most."
                ),
                "key_characteristics": json.dumps(
                    [
                        f"{trait_label(NUMERIC_TRAITS[j])}: z = {z[i, j]:+.2f} vs population"
                        for j in top3[i]
                    ]
                ),
                "recommended_campaign": plays[i],
                "business_hypothesis": (
                    f"Addressing the {trait_label(top).lower()} gap should lift repeat purchases."
                ),
                "confidence_level": confidence,
                "confidence_justification": (
                    f"robustness_score {score[i]:.2f}; validation "
                    f"{'passed' if passed[i] else 'failed'}."
                ),
                "provider": "rules" if fell_back[i] else "openai",
                "model_name": "rules-v1" if fell_back[i] else "gpt-4o-mini",
                "fell_back": bool(fell_back[i]),
                "fallback_reason": "provider timed out" if fell_back[i] else None,
            }
        )
    actionability = pd.DataFrame(action_rows)

    # RFM grid: customers per (recency, frequency) score; revenue rises with both scores.
    grid_rows = []
    counts = rng.multinomial(n_customers, np.full(25, 1 / 25))
    for r in range(1, 6):
        for f in range(1, 6):
            n = int(counts[(r - 1) * 5 + (f - 1)])
            grid_rows.append(
                {
                    "rfm_recency_score": r,
                    "rfm_frequency_score": f,
                    "customers": n,
                    "avg_net_revenue": round(30.0 * f + 8.0 * r + float(rng.normal(0, 5)), 2),
                }
            )
    rfm_grid = pd.DataFrame(grid_rows)

    if k_fixed:
        k_scores = pd.DataFrame()
    else:
        ks = np.arange(2, max(8, n_segments + 2) + 1)
        peak = -np.abs(ks - n_segments)
        k_scores = pd.DataFrame(
            {
                "k": ks,
                "silhouette": np.round(0.32 + 0.03 * peak + rng.normal(0, 0.005, ks.size), 4),
                "calinski_harabasz": np.round(900 + 60 * peak + rng.normal(0, 10, ks.size), 2),
                "davies_bouldin": np.round(1.1 - 0.08 * peak + rng.normal(0, 0.02, ks.size), 4),
                "prediction_strength": np.where(
                    ks <= n_segments + 2, np.round(0.95 - 0.04 * ks + 0.02 * peak, 4), np.nan
                ),
                "chosen": ks == n_segments,
            }
        )

    if first_run:
        migration = pd.DataFrame()
    else:
        flows = []
        for i in range(n_segments):
            stay = int(sizes[i] * 0.8)
            flows.append({"from_segment_id": ids[i], "to_segment_id": ids[i], "customers": stay})
            nxt = ids[(i + 1) % n_segments]
            if nxt != ids[i]:
                flows.append(
                    {
                        "from_segment_id": ids[i],
                        "to_segment_id": nxt,
                        "customers": int(sizes[i] * 0.1),
                    }
                )
            # Customers who were not profiled on the previous date have no previous segment.
            flows.append(
                {"from_segment_id": None, "to_segment_id": ids[i], "customers": int(sizes[i] * 0.1)}
            )
        migration = pd.DataFrame(flows)

    run = {
        "as_of_date": "2024-06-30",
        "window_days": 365,
        "data_source": "synthetic",
        "model_version": f"kmeans-k{n_segments}-seed{seed}",
        "llm_model": "openai:gpt-4o-mini",
        "prompt_version": "v1",
        "configuration": {
            "k": n_segments if k_fixed else "auto",
            "features": "default",
            "min_segment_share": 0.02,
            "random_state": seed,
        },
        "generated_by": "segmentation_assets 0.1.0",
    }
    return ReportData(
        run=run,
        segments=segments,
        trait_profile=trait_profile,
        k_scores=k_scores,
        robustness=robustness,
        validation=validation,
        actionability=actionability,
        rfm_grid=rfm_grid,
        migration=migration,
        assignments=assignments,
    )
