"""Is a segment worth acting on? Validation criteria and campaign economics, per segment.

* :func:`validate_segment` checks a segment's statistics against :class:`ValidationCriteria` and
  records every failed criterion as a sentence with the value and the threshold.
* :func:`assess_viability` estimates a play's return on a segment with :class:`CampaignEconomics`
  and scores how targetable, sales-relevant, personalizable and timeable the segment is.
* :func:`build_segment_stats` computes the statistics from profiles, labels and (optionally)
  assignments and robustness; :func:`evaluate_segments` runs both checks for every segment.

All money is in the base currency of the profiles (``predicted_clv`` and ``cost_per_contact`` must be
in the same currency).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from segmentation_assets.segmentation.features import SegmentationError, transform_traits
from segmentation_assets.traits import DEFAULT_CLUSTER_FEATURES

#: Expected uplift per play: the fraction by which the play raises the contacted segment's predicted
#: CLV over the campaign horizon. Conservative planning defaults, *not* measurements: replace them
#: with results of your own hold-out tests. Retention and win-back plays on lapsing customers and cart
#: recovery move more value than broad nurture e-mails; discount weaning mostly protects margin.
DEFAULT_UPLIFT: dict[str, float] = {
    "win_back": 0.05,
    "vip_retention": 0.03,
    "onboarding_second_purchase": 0.08,
    "cart_recovery": 0.06,
    "category_cross_sell": 0.04,
    "discount_weaning": 0.02,
    "reactivation_email": 0.03,
    "nurture": 0.02,
}

#: Segment size at which the size part of targetability saturates (customers).
REFERENCE_SEGMENT_SIZE = 10_000
#: Recency scale of the timing score: exp(-days / 90), i.e. 0.37 at 90 days since last activity.
RECENCY_DECAY_DAYS = 90.0


class ValidationCriteria(BaseModel):
    """Thresholds a segment must meet to be acted on (see :func:`validate_segment`)."""

    model_config = ConfigDict(frozen=True)

    min_segment_size: int = Field(default=20, ge=0)
    max_segment_size_pct: float = Field(default=0.4, gt=0, le=1)
    min_total_clv: float = 5000.0
    min_avg_clv: float = 100.0
    min_feature_stability: float = Field(default=0.5, ge=0, le=1)
    min_overall_robustness: float = Field(default=0.6, ge=0, le=1)
    min_expected_roi: float = 1.0


class SegmentStats(BaseModel):
    """What the checks need to know about one segment. Optional fields may be unknown (None).

    Attributes:
        segment_index, segment_id, name: identification.
        size: customers in the segment.
        share: size / all customers (0-1).
        total_clv, avg_clv: sum and mean of predicted CLV (base currency).
        value_index: (segment's share of total CLV) / (its share of customers); 1 = average.
        distinctiveness: mean |standardized difference| of the clustering traits vs the population.
        feature_stability: lowest best-match Jaccard when a feature is removed (0-1).
        overall_robustness: combined robustness score (0-1).
        expected_roi: ROI of the planned play (ratio; 0 = break-even).
        avg_recency_days, avg_interpurchase_regularity, avg_email_open_rate, avg_churn_risk,
        avg_membership_confidence: segment means for the scores.
    """

    model_config = ConfigDict(extra="ignore")

    segment_index: int | None = None
    segment_id: str | None = None
    name: str | None = None
    size: int = Field(ge=0)
    share: float | None = Field(default=None, ge=0, le=1)
    total_clv: float | None = None
    avg_clv: float | None = None
    value_index: float | None = Field(default=None, ge=0)
    distinctiveness: float | None = Field(default=None, ge=0)
    feature_stability: float | None = None
    overall_robustness: float | None = None
    expected_roi: float | None = None
    avg_recency_days: float | None = None
    avg_interpurchase_regularity: float | None = None
    avg_email_open_rate: float | None = None
    avg_churn_risk: float | None = None
    avg_membership_confidence: float | None = None

    def clv_mean(self) -> float | None:
        """Average predicted CLV, derived from the total when only that is known."""
        if self.avg_clv is not None:
            return self.avg_clv
        if self.total_clv is not None and self.size > 0:
            return self.total_clv / self.size
        return None

    def clv_total(self) -> float | None:
        """Total predicted CLV, derived from the average when only that is known."""
        if self.total_clv is not None:
            return self.total_clv
        if self.avg_clv is not None:
            return self.avg_clv * self.size
        return None


class ValidationResult(BaseModel):
    """Outcome of :func:`validate_segment`.

    ``passed`` is True when no evaluated criterion failed; ``reasons`` has one sentence per failed
    criterion; ``not_evaluated`` names criteria skipped because the statistic is unknown.
    """

    passed: bool
    reasons: list[str]
    not_evaluated: list[str] = Field(default_factory=list)


def _as_stats(stats: SegmentStats | Mapping[str, Any]) -> SegmentStats:
    if isinstance(stats, SegmentStats):
        return stats
    clean = {k: (None if _is_missing(v) else v) for k, v in dict(stats).items()}
    return SegmentStats.model_validate(clean)


def _is_missing(value: object) -> bool:
    try:
        return value is None or bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def validate_segment(
    stats: SegmentStats | Mapping[str, Any], criteria: ValidationCriteria | None = None
) -> ValidationResult:
    """Check one segment against ``criteria`` (defaults when None).

    Criteria: size ≥ min_segment_size; share ≤ max_segment_size_pct; total CLV ≥ min_total_clv;
    average CLV ≥ min_avg_clv; feature_stability ≥ min_feature_stability; overall_robustness ≥
    min_overall_robustness; expected_roi ≥ min_expected_roi. A criterion whose statistic is unknown is
    listed in ``not_evaluated`` and does not fail the segment.
    """
    s = _as_stats(stats)
    c = criteria or ValidationCriteria()
    reasons: list[str] = []
    skipped: list[str] = []

    def check(name: str, value: float | None, ok: bool | None, text: str) -> None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            skipped.append(name)
        elif not ok:
            reasons.append(text)

    check(
        "min_segment_size",
        s.size,
        s.size >= c.min_segment_size,
        f"segment has {s.size} customers, fewer than the minimum {c.min_segment_size}",
    )
    check(
        "max_segment_size_pct",
        s.share,
        s.share is not None and s.share <= c.max_segment_size_pct,
        f"segment holds {_pct(s.share)} of customers, more than the maximum "
        f"{_pct(c.max_segment_size_pct)}; it is too broad to target",
    )
    total, avg = s.clv_total(), s.clv_mean()
    check(
        "min_total_clv",
        total,
        total is not None and total >= c.min_total_clv,
        f"total predicted CLV {_money(total)} is below the minimum {_money(c.min_total_clv)}",
    )
    check(
        "min_avg_clv",
        avg,
        avg is not None and avg >= c.min_avg_clv,
        f"average predicted CLV {_money(avg)} is below the minimum {_money(c.min_avg_clv)}",
    )
    check(
        "min_feature_stability",
        s.feature_stability,
        s.feature_stability is not None and s.feature_stability >= c.min_feature_stability,
        f"feature stability {_num(s.feature_stability)} is below the minimum "
        f"{_num(c.min_feature_stability)}; the segment depends on a single trait",
    )
    check(
        "min_overall_robustness",
        s.overall_robustness,
        s.overall_robustness is not None and s.overall_robustness >= c.min_overall_robustness,
        f"overall robustness {_num(s.overall_robustness)} is below the minimum "
        f"{_num(c.min_overall_robustness)}",
    )
    check(
        "min_expected_roi",
        s.expected_roi,
        s.expected_roi is not None and s.expected_roi >= c.min_expected_roi,
        f"expected ROI {_num(s.expected_roi)} is below the minimum {_num(c.min_expected_roi)}",
    )
    return ValidationResult(passed=not reasons, reasons=reasons, not_evaluated=skipped)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


class CampaignEconomics(BaseModel):
    """Assumptions for the return of a play on a segment.

    Attributes:
        cost_per_contact: cost of contacting one customer once over the horizon (base currency).
        gross_margin: share of incremental revenue kept as profit (0-1).
        uplift_by_play: play → expected fractional CLV uplift (see :data:`DEFAULT_UPLIFT`).
        horizon_months: campaign horizon over which the uplift applies.
        clv_horizon_months: horizon of ``predicted_clv``; CLV is prorated by
            horizon_months / clv_horizon_months.
    """

    model_config = ConfigDict(frozen=True)

    cost_per_contact: float = Field(default=0.5, ge=0)
    gross_margin: float = Field(default=0.3, ge=0, le=1)
    uplift_by_play: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_UPLIFT))
    horizon_months: int = Field(default=12, ge=1)
    clv_horizon_months: int = Field(default=12, ge=1)


class Viability(BaseModel):
    """Outcome of :func:`assess_viability` (money in base currency, scores in [0, 1])."""

    play: str
    size: int
    avg_clv: float
    uplift: float
    expected_incremental_revenue: float
    incremental_profit: float
    cost: float
    roi: float
    break_even_uplift: float
    is_profitable: bool
    marketing_targetability: float
    sales_prioritization: float
    personalization: float
    timing: float


def _mean_available(values: list[float | None]) -> float:
    present = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.clip(np.mean(present), 0.0, 1.0)) if present else 0.0


def assess_viability(
    segment_stats: SegmentStats | Mapping[str, Any],
    play: str,
    economics: CampaignEconomics | None = None,
) -> Viability:
    """Expected return of ``play`` on a segment, and how actionable the segment is.

    Money (base currency):

    * avg CLV over the horizon = avg predicted CLV × horizon_months / clv_horizon_months
    * expected incremental revenue = size × avg CLV over the horizon × uplift(play)
    * incremental profit = expected incremental revenue × gross_margin
    * cost = size × cost_per_contact
    * ROI = (incremental profit − cost) / cost. **Break-even is ROI = 0**; ROI 1.0 means every unit
      spent comes back doubled. ``break_even_uplift`` is the uplift at which ROI = 0:
      cost_per_contact / (avg CLV over the horizon × gross_margin). With cost 0, ROI is +inf when
      profit > 0 (0 otherwise).

    Scores in [0, 1] (each the mean of its available parts; 0 when none is known):

    * marketing_targetability = mean(size part, distinctiveness part, email reach) with size part
      = min(1, log(1 + size) / log(1 + 10,000)), distinctiveness part = d / (1 + d) for the mean
      |standardized difference| d, email reach = average email open rate;
    * sales_prioritization = mean(value part, retention part) with value part = v / (1 + v) for the
      value index v (0.5 at an average segment) and retention part = 1 − average churn risk;
    * personalization = mean(distinctiveness part, average membership confidence): distinct and
      cleanly separated segments can be given their own message;
    * timing = mean(average order regularity, exp(−average recency days / 90)): regular, recently
      active customers can be contacted at a predictable moment.

    Raises:
        SegmentationError: unknown play (lists the known ones) or unknown average CLV.
    """
    s = _as_stats(segment_stats)
    eco = economics or CampaignEconomics()
    if play not in eco.uplift_by_play:
        raise SegmentationError(
            f"unknown play {play!r}; known plays: {', '.join(sorted(eco.uplift_by_play))}"
        )
    avg = s.clv_mean()
    if avg is None:
        raise SegmentationError("assess_viability needs avg_clv or total_clv of the segment")
    uplift = float(eco.uplift_by_play[play])
    clv_h = avg * eco.horizon_months / eco.clv_horizon_months
    revenue = s.size * clv_h * uplift
    profit = revenue * eco.gross_margin
    cost = s.size * eco.cost_per_contact
    roi = (profit - cost) / cost if cost > 0 else (math.inf if profit > 0 else 0.0)
    margin_value = clv_h * eco.gross_margin
    break_even = eco.cost_per_contact / margin_value if margin_value > 0 else math.inf

    size_part = min(1.0, math.log1p(s.size) / math.log1p(REFERENCE_SEGMENT_SIZE))
    d = s.distinctiveness
    dist_part = None if d is None else d / (1.0 + d)
    v = s.value_index
    value_part = None if v is None else v / (1.0 + v)
    retention = None if s.avg_churn_risk is None else 1.0 - s.avg_churn_risk
    recency_part = (
        None
        if s.avg_recency_days is None
        else math.exp(-max(s.avg_recency_days, 0.0) / RECENCY_DECAY_DAYS)
    )
    return Viability(
        play=play,
        size=s.size,
        avg_clv=float(avg),
        uplift=uplift,
        expected_incremental_revenue=float(revenue),
        incremental_profit=float(profit),
        cost=float(cost),
        roi=float(roi),
        break_even_uplift=float(break_even),
        is_profitable=bool(roi > 0),
        marketing_targetability=_mean_available([size_part, dist_part, s.avg_email_open_rate]),
        sales_prioritization=_mean_available([value_part, retention]),
        personalization=_mean_available([dist_part, s.avg_membership_confidence]),
        timing=_mean_available([s.avg_interpurchase_regularity, recency_part]),
    )


#: Profile traits averaged per segment by :func:`build_segment_stats` (trait → stats field).
_MEAN_FIELDS = {
    "recency_days": "avg_recency_days",
    "interpurchase_regularity": "avg_interpurchase_regularity",
    "email_open_rate": "avg_email_open_rate",
    "churn_risk": "avg_churn_risk",
}


def build_segment_stats(
    profiles: pd.DataFrame,
    labels: np.ndarray,
    *,
    membership_confidence: np.ndarray | None = None,
    robustness: pd.DataFrame | None = None,
    names: Mapping[int, str] | None = None,
    segment_ids: Mapping[int, str] | None = None,
    distinct_features: tuple[str, ...] = DEFAULT_CLUSTER_FEATURES,
) -> pd.DataFrame:
    """One row per segment with the :class:`SegmentStats` fields.

    Args:
        profiles: one row per customer (n rows); uses ``predicted_clv`` (CLV), the traits of
            ``_MEAN_FIELDS`` when present, and ``distinct_features`` for distinctiveness.
        labels: shape (n,), segment_index per row.
        membership_confidence: shape (n,), from the assignments (optional).
        robustness: a :func:`score_robustness` frame (segment_index, feature_jaccard_min,
            robustness_score) (optional).
        names, segment_ids: segment_index → name / id (optional).
    """
    labels = np.asarray(labels)
    if labels.shape != (len(profiles),):
        raise SegmentationError(
            f"labels must have one entry per profile row: {labels.shape} vs {len(profiles)}"
        )
    n = len(labels)
    frame = pd.DataFrame({"segment_index": labels})
    frame["clv"] = (
        profiles["predicted_clv"].to_numpy(dtype=float)
        if "predicted_clv" in profiles.columns
        else np.nan
    )
    for trait, field_name in _MEAN_FIELDS.items():
        if trait in profiles.columns:
            frame[field_name] = profiles[trait].to_numpy(dtype=float)
    if membership_confidence is not None:
        frame["avg_membership_confidence"] = np.asarray(membership_confidence, dtype=float)
    grouped = frame.groupby("segment_index", sort=True)
    out = grouped.size().rename("size").reset_index()
    out["share"] = out["size"] / n
    clv_sum = grouped["clv"].sum(min_count=1)
    out["total_clv"] = out["segment_index"].map(clv_sum)
    out["avg_clv"] = out["total_clv"] / out["size"]
    total_all = float(np.nansum(frame["clv"]))
    out["value_index"] = (out["total_clv"] / total_all) / out["share"] if total_all > 0 else np.nan
    for col in (*_MEAN_FIELDS.values(), "avg_membership_confidence"):
        if col in frame.columns:
            out[col] = out["segment_index"].map(grouped[col].mean())

    feats = [f for f in distinct_features if f in profiles.columns]
    if feats:
        trans = transform_traits(profiles, feats)
        mu, sd = np.nanmean(trans, axis=0), np.nanstd(trans, axis=0)
        seg_means = pd.DataFrame(trans, columns=feats).groupby(labels).mean()
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(sd > 0, (seg_means.to_numpy() - mu) / sd, 0.0)
        dist = pd.Series(np.nanmean(np.abs(z), axis=1), index=seg_means.index)
        out["distinctiveness"] = out["segment_index"].map(dist)
    if robustness is not None:
        rob = robustness.set_index("segment_index")
        if "feature_jaccard_min" in rob:
            out["feature_stability"] = out["segment_index"].map(rob["feature_jaccard_min"])
        if "robustness_score" in rob:
            out["overall_robustness"] = out["segment_index"].map(rob["robustness_score"])
    if names is not None:
        out["name"] = out["segment_index"].map(dict(names))
    if segment_ids is not None:
        out["segment_id"] = out["segment_index"].map(dict(segment_ids))
    return out


#: Columns of :func:`evaluate_segments`.
EVALUATION_COLUMNS: tuple[str, ...] = (
    "segment_index",
    "play",
    "roi",
    "expected_incremental_revenue",
    "incremental_profit",
    "cost",
    "break_even_uplift",
    "marketing_targetability",
    "sales_prioritization",
    "personalization",
    "timing",
    "passed",
    "reasons",
)


def evaluate_segments(
    stats: pd.DataFrame,
    play_by_segment: Mapping[int, str],
    economics: CampaignEconomics | None = None,
    criteria: ValidationCriteria | None = None,
) -> pd.DataFrame:
    """Viability and validation for every segment of a :func:`build_segment_stats` frame.

    ``play_by_segment`` maps segment_index → play; segments without a play are validated without the
    ROI criterion. Returns columns :data:`EVALUATION_COLUMNS` (``reasons`` a list of sentences; a
    sentence may itself contain a semicolon, so they are never joined).
    """
    rows = []
    for record in stats.to_dict("records"):
        seg = int(record["segment_index"])
        play = play_by_segment.get(seg)
        row: dict[str, Any] = {"segment_index": seg, "play": play}
        if play is not None:
            via = assess_viability(record, play, economics)
            record = {**record, "expected_roi": via.roi}
            row.update(
                via.model_dump(exclude={"play", "size", "avg_clv", "uplift", "is_profitable"})
            )
        result = validate_segment(record, criteria)
        row["passed"] = result.passed
        row["reasons"] = list(result.reasons)
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=list(EVALUATION_COLUMNS))
