"""The report as versioned JSON (``schema_version`` 1.0) and as a markdown summary table.

:func:`build_report_json` is the single place where the input tables are joined per segment; the HTML
report renders from the same dict, so the two never disagree. The structure is described by
``report_schema.json`` (JSON Schema draft 2020-12) next to this module; bump :data:`SCHEMA_VERSION`
and the schema together whenever a field changes meaning or disappears.

Determinism: keys are sorted when written, segments and lists follow natural segment-id order,
NaN and infinities become ``null``, and no wall-clock time is recorded anywhere.
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from segmentation_assets.reporting.data import (
    DIMENSION_KEYS,
    LIST_SEPARATORS,
    RUN_KEYS,
    VALIDATION_CRITERIA,
    ReportData,
    as_dict,
    as_list,
    check_report_data,
    is_missing,
    opt_bool,
    opt_float,
    opt_str,
    ordered_segments,
    rows_by_segment,
    segment_sort_key,
    to_jsonable,
)
from segmentation_assets.traits import TRAITS_BY_NAME

SCHEMA_VERSION = "1.0"
SCHEMA_RESOURCE = "report_schema.json"
REPORT_JSON_NAME = "segmentation_report.json"


@cache
def play_name(play_id: str) -> str | None:
    """The catalogue name of a play id, or None for an id the catalogue does not know.

    Imported lazily: the catalogue lives in the llm package, whose import pulls in LangChain, and
    most callers of this module (notebooks reading JSON) never need it.
    """
    from segmentation_assets.llm.plays import PLAYS_BY_ID

    known = PLAYS_BY_ID.get(play_id)
    return known.name if known is not None else None


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that every :func:`build_report_json` output satisfies."""
    text = resources.files("segmentation_assets.reporting").joinpath(SCHEMA_RESOURCE).read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def _int(value: Any) -> int | None:
    number = opt_float(value)
    return None if number is None else round(number)


def _traits(profile: pd.DataFrame, segment_id: str) -> list[dict[str, Any]]:
    """The segment's trait comparisons in registry order (unknown traits last, alphabetically)."""
    if profile.empty:
        return []
    rows = profile[profile["segment_id"].astype(str) == segment_id]
    order = {name: i for i, name in enumerate(TRAITS_BY_NAME)}
    out: list[dict[str, Any]] = []
    for row in rows.to_dict(orient="records"):
        name = str(row["trait"])
        known = TRAITS_BY_NAME.get(name)
        out.append(
            {
                "trait": name,
                "label": known.label if known else name,
                "unit": known.unit if known else None,
                "segment_value": opt_float(row["segment_value"]),
                "population_value": opt_float(row["population_value"]),
                "standardized_difference": opt_float(row["standardized_difference"]),
            }
        )
    out.sort(key=lambda t: (order.get(t["trait"], len(order)), t["trait"]))
    return out


def _robustness(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "score": opt_float(row["robustness_score"]),
        "tier": opt_str(row["tier"]),
        "requires_monitoring": bool(opt_bool(row["requires_monitoring"])),
        "bootstrap_jaccard": opt_float(row["bootstrap_jaccard"]),
        "feature_jaccard_min": opt_float(row["feature_jaccard_min"]),
        "window_jaccard": opt_float(row["window_jaccard"]),
        "temporal_jaccard": opt_float(row["temporal_jaccard"]),
        "critical_features": [
            str(f) for f in as_list(row["critical_features"], LIST_SEPARATORS["critical_features"])
        ],
        "notes": opt_str(row["notes"]),
    }


def _criterion(value: Any) -> bool | float | None:
    """A validation criterion is a pass/fail flag or a score, depending on the validation stage."""
    value = to_jsonable(value)
    if value is None or isinstance(value, bool):
        return value
    return opt_float(value)


def _validation(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    raw_roi = None if is_missing(row["expected_roi"]) else float(row["expected_roi"])
    roi = opt_float(raw_roi)
    return {
        "passed": bool(opt_bool(row["passed"])),
        "reasons": [str(r) for r in as_list(row["reasons"], LIST_SEPARATORS["reasons"])],
        "criteria": {c: _criterion(row[c]) for c in VALIDATION_CRITERIA},
        "viability": {
            "play": opt_str(row["play"]),
            "expected_roi": roi,
            "incremental_profit": opt_float(row["incremental_profit"]),
            "campaign_cost": opt_float(row["campaign_cost"]),
            # Viable = ROI above break-even (0). Read before NaN/inf cleaning: a free campaign has
            # ROI +inf, reported as null but still viable.
            "economically_viable": None if raw_roi is None or math.isnan(raw_roi) else raw_roi > 0,
        },
    }


def _dimensions(value: Any) -> dict[str, dict[str, Any]]:
    """WHO/WHAT/WHEN/HOW in lower case (the llm package's keys), each {supported, evidence}."""
    raw = {k.lower(): v for k, v in as_dict(value).items()}
    out: dict[str, dict[str, Any]] = {}
    for key in DIMENSION_KEYS:
        item = raw.get(key)
        item = as_dict(item) if item is not None else {}
        out[key] = {
            "supported": bool(opt_bool(item.get("supported"))),
            "evidence": opt_str(item.get("evidence")),
        }
    return out


def _actionability(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    campaign = opt_str(row["recommended_campaign"])
    return {
        "is_actionable": bool(opt_bool(row["is_actionable"])),
        "dimensions": _dimensions(row["dimensions"]),
        "recommended_action": opt_str(row["recommended_action"]),
        "recommended_campaign": campaign,
        "confidence_level": opt_str(row["confidence_level"]),
        "confidence_justification": opt_str(row["confidence_justification"]),
        "provider": opt_str(row["provider"]),
        "model_name": opt_str(row["model_name"]),
        "fell_back": bool(opt_bool(row["fell_back"])),
        "fallback_reason": opt_str(row["fallback_reason"]),
    }


def _explanation(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "executive_summary": opt_str(row["executive_summary"]),
        "key_characteristics": [str(c) for c in as_list(row["key_characteristics"])],
        "business_hypothesis": opt_str(row["business_hypothesis"]),
    }


def _segment(
    seg: dict[str, Any],
    data: ReportData,
    robustness: dict[str, dict[str, Any]],
    validation: dict[str, dict[str, Any]],
    actionability: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    sid = str(seg["segment_id"])
    rob = _robustness(robustness.get(sid))
    val = _validation(validation.get(sid))
    act = _actionability(actionability.get(sid))
    is_valid = val is not None and val["passed"]
    is_actionable = act is not None and act["is_actionable"]
    # The actionability verdict's play is the recommendation; the validation stage's ROI-best play
    # stands in when no verdict exists, so every segment that has any play shows one.
    play = (act or {}).get("recommended_campaign") or ((val or {}).get("viability") or {}).get(
        "play"
    )
    return {
        "segment_id": sid,
        "name": opt_str(seg["name"]) or sid,
        "description": opt_str(seg["description"]),
        "size": _int(seg["size"]) or 0,
        "share": opt_float(seg["share"]),
        "value": {
            "total_net_revenue": opt_float(seg["total_net_revenue"]),
            "avg_net_revenue": opt_float(seg["avg_net_revenue"]),
            "total_predicted_clv": opt_float(seg["total_predicted_clv"]),
            "avg_predicted_clv": opt_float(seg["avg_predicted_clv"]),
            "avg_churn_risk": opt_float(seg["avg_churn_risk"]),
        },
        "defining_traits": [
            str(t) for t in as_list(seg["defining_traits"], LIST_SEPARATORS["defining_traits"])
        ],
        "traits": _traits(data.trait_profile, sid),
        "robustness": rob,
        "validation": val,
        "actionability": act,
        "explanation": _explanation(actionability.get(sid)),
        "recommended_play": play,
        "recommended_play_name": play_name(play) if play else None,
        "is_valid": is_valid,
        "is_actionable": is_actionable,
        "production_ready": is_valid and is_actionable,
    }


def _k_selection(k_scores: pd.DataFrame) -> dict[str, Any]:
    if k_scores.empty:
        return {"k_fixed": True, "chosen_k": None, "scores": []}
    frame = k_scores.sort_values("k", kind="stable")
    scores = [
        {
            "k": _int(r["k"]),
            "silhouette": opt_float(r["silhouette"]),
            "calinski_harabasz": opt_float(r["calinski_harabasz"]),
            "davies_bouldin": opt_float(r["davies_bouldin"]),
            "prediction_strength": opt_float(r["prediction_strength"]),
            "chosen": bool(opt_bool(r["chosen"])),
        }
        for r in frame.to_dict(orient="records")
    ]
    chosen = [s["k"] for s in scores if s["chosen"]]
    return {"k_fixed": False, "chosen_k": chosen[0] if chosen else None, "scores": scores}


def _rfm_grid(grid: pd.DataFrame) -> list[dict[str, Any]]:
    if grid.empty:
        return []
    frame = grid.sort_values(["rfm_recency_score", "rfm_frequency_score"], kind="stable")
    return [
        {
            "rfm_recency_score": _int(r["rfm_recency_score"]),
            "rfm_frequency_score": _int(r["rfm_frequency_score"]),
            "customers": _int(r["customers"]) or 0,
            "avg_net_revenue": opt_float(r["avg_net_revenue"]),
        }
        for r in frame.to_dict(orient="records")
    ]


def _migration(migration: pd.DataFrame) -> dict[str, Any]:
    if migration.empty:
        return {"first_run": True, "flows": []}
    flows = [
        {
            "from_segment_id": opt_str(r["from_segment_id"]),
            "to_segment_id": opt_str(r["to_segment_id"]),
            "customers": _int(r["customers"]) or 0,
        }
        for r in migration.to_dict(orient="records")
    ]
    # None (new or departed customers) sorts first so the order is total and stable.
    flows.sort(
        key=lambda f: (
            f["from_segment_id"] is not None,
            segment_sort_key(f["from_segment_id"] or ""),
            f["to_segment_id"] is not None,
            segment_sort_key(f["to_segment_id"] or ""),
        )
    )
    return {"first_run": False, "flows": flows}


def build_report_json(data: ReportData) -> dict[str, Any]:
    """The whole report as JSON-ready data (schema ``report_schema.json``, version 1.0).

    Per segment: size, share, value and CLV, traits vs population, robustness (tier, notes),
    validation (result, reasons, criteria, viability and ROI), actionability verdict, explanation
    and the recommended play. Top level: run facts, summary counts, the ``valid_segments``,
    ``actionable_segments`` and ``production_ready_segments`` id lists (production-ready = valid
    AND actionable), k selection, the RFM grid and segment migration. No customer ids.

    Raises ``ValueError`` (naming table and column) when ``data`` is incomplete.
    """
    check_report_data(data)
    robustness = rows_by_segment(data.robustness)
    validation = rows_by_segment(data.validation)
    actionability = rows_by_segment(data.actionability)
    segments = [
        _segment(seg, data, robustness, validation, actionability)
        for seg in ordered_segments(data.segments).to_dict(orient="records")
    ]
    valid = [s["segment_id"] for s in segments if s["is_valid"]]
    actionable = [s["segment_id"] for s in segments if s["is_actionable"]]
    ready = [s["segment_id"] for s in segments if s["production_ready"]]
    tiers: dict[str, int] = {}
    for s in segments:
        tier = (s["robustness"] or {}).get("tier") or "unknown"
        tiers[tier] = tiers.get(tier, 0) + 1
    k_selection = _k_selection(data.k_scores)
    run = {key: to_jsonable(data.run[key]) for key in RUN_KEYS}
    run["as_of_date"] = str(run["as_of_date"])[:10]
    run["window_days"] = _int(run["window_days"])
    run["configuration"] = as_dict(run["configuration"])
    report = {
        "schema_version": SCHEMA_VERSION,
        "run": run,
        "summary": {
            "segments": len(segments),
            "customers": sum(s["size"] for s in segments),
            "valid_segments": len(valid),
            "actionable_segments": len(actionable),
            "production_ready_segments": len(ready),
            "requires_monitoring": sum(
                1 for s in segments if (s["robustness"] or {}).get("requires_monitoring")
            ),
            "fell_back_to_rules": sum(
                1 for s in segments if (s["actionability"] or {}).get("fell_back")
            ),
            "robustness_tiers": dict(sorted(tiers.items())),
            "chosen_k": k_selection["chosen_k"],
            "k_fixed": k_selection["k_fixed"],
        },
        "segments": segments,
        "valid_segments": valid,
        "actionable_segments": actionable,
        "production_ready_segments": ready,
        "k_selection": k_selection,
        "rfm_grid": _rfm_grid(data.rfm_grid),
        "migration": _migration(data.migration),
    }
    # One final pass so no NumPy scalar or NaN survives anywhere in the tree.
    cleaned: dict[str, Any] = to_jsonable(report)
    return cleaned


def dumps_report_json(report: dict[str, Any]) -> str:
    """The canonical text of a report dict: sorted keys, 2-space indent, UTF-8, trailing newline.

    ``allow_nan=False`` makes a stray NaN an error instead of invalid JSON.
    """
    return json.dumps(report, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_report_json(data: ReportData | dict[str, Any], path: str | Path) -> Path:
    """Write :func:`build_report_json` to ``path`` (UTF-8, canonical form); return the path.

    A folder path gets ``segmentation_report.json`` inside it. Accepts the :class:`ReportData` or
    an already built report dict (to avoid building it twice).
    """
    target = Path(path)
    if target.is_dir():
        target = target / REPORT_JSON_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    report = data if isinstance(data, dict) else build_report_json(data)
    target.write_text(dumps_report_json(report), encoding="utf-8")
    return target


def _md(text: Any) -> str:
    """A markdown table cell: pipes escaped, newlines flattened."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_markdown(data: ReportData | dict[str, Any]) -> str:
    """A markdown table of the segments for Dagster metadata.

    Columns: segment, name, size, share, avg predicted CLV, avg churn risk, robustness tier, valid,
    actionable, production-ready, play. Accepts the :class:`ReportData` or an already built report
    dict (to avoid building it twice).
    """
    report = data if isinstance(data, dict) else build_report_json(data)
    header = (
        "| Segment | Name | Size | Share | Avg CLV | Churn risk | Robustness | Valid | "
        "Actionable | Production-ready | Play |"
    )
    lines = [header, "|" + "---|" * 2 + "---:|" * 4 + "---|" * 5]

    def num(value: float | None, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    for s in report["segments"]:
        rob = s["robustness"] or {}
        cells = [
            s["segment_id"],
            s["name"],
            f"{s['size']:,}",
            num(s["share"], ".1%"),
            num(s["value"]["avg_predicted_clv"], ",.2f"),
            num(s["value"]["avg_churn_risk"], ".0%"),
            rob.get("tier") or "n/a",
            "yes" if s["is_valid"] else "no",
            "yes" if s["is_actionable"] else "no",
            "yes" if s["production_ready"] else "no",
            s["recommended_play"] or "n/a",
        ]
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    summary = report["summary"]
    lines.append("")
    lines.append(
        f"{summary['production_ready_segments']} of {summary['segments']} segments are "
        f"production-ready (valid and actionable); as of {report['run']['as_of_date']}."
    )
    return "\n".join(lines) + "\n"
