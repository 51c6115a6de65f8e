"""Per-segment robustness of a fitted segmentation, measured by refitting the real pipeline.

Four views, each returning per-segment values in [0, 1]:

* :func:`bootstrap_stability` — Hennig's *clusterboot* (Hennig 2007, "Cluster-wise assessment of
  cluster stability", Computational Statistics & Data Analysis 52:258–271): refit on B resamples drawn
  with replacement and, for each original segment, take the best Jaccard similarity with any bootstrap
  cluster over the resampled customers; average over B.
* :func:`feature_sensitivity` — refit without each feature (or each trait group); per segment the
  best-match Jaccard, overall the adjusted Rand index. A feature whose removal drops a segment's
  Jaccard below 0.5 is *critical* for that segment.
* :func:`window_sensitivity` — refit on profiles computed over shorter look-back windows (computed
  upstream) and compare on the customers present in both. Only a seeded sample of customers is
  refitted, so upstream needs the profiles of :func:`window_sample` only, not of everyone.
* :func:`temporal_stability` — each segment_id's members today vs on the previous date.

Stability tiers follow Hennig (2007) and the documentation of ``fpc::clusterboot``: mean Jaccard
≥ 0.85 "highly stable", ≥ 0.75 "stable", 0.6–0.75 "pattern only" (the segment indicates a pattern but
which customers belong to it is doubtful), < 0.6 "do not trust", ≤ 0.5 "dissolved".

Every refit keeps the base result's k and runs on a seeded subsample of at most ``sample_size``
customers (default :data:`DEFAULT_REFIT_ROWS`), so the cost is bounded whatever the number of
customers. The refits are many small k-means fits; :func:`assess_robustness` runs them with
``max_threads`` native threads (OpenMP/BLAS, through threadpoolctl): on a small shared machine one
thread is several times faster than oversubscribed cores.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.cluster import contingency_matrix
from threadpoolctl import threadpool_limits

from segmentation_assets.segmentation.features import SegmentationError
from segmentation_assets.segmentation.model import (
    SegmentationConfig,
    SegmentationResult,
    fit_segmentation,
)
from segmentation_assets.segmentation.parallel import map_fits, run_beside
from segmentation_assets.segmentation.stable_ids import segment_ids_of_labels
from segmentation_assets.traits import TRAITS_BY_NAME

#: Customer ids, in order: a sequence, array, index or series.
CustomerIds: TypeAlias = Sequence[Any] | np.ndarray | pd.Index | pd.Series

#: Default maximum number of customers per refit.
DEFAULT_REFIT_ROWS = 20_000

#: Weights of the components of the overall robustness score (renormalized over available ones).
DEFAULT_WEIGHTS: dict[str, float] = {
    "bootstrap_jaccard": 0.4,
    "feature_jaccard_min": 0.2,
    "window_jaccard": 0.2,
    "temporal_jaccard": 0.2,
}

#: Jaccard below which removing a feature makes it critical for a segment.
CRITICAL_JACCARD = 0.5

#: Columns of :func:`score_robustness`.
ROBUSTNESS_COLUMNS: tuple[str, ...] = (
    "segment_index",
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
)


def stability_tier(jaccard: float) -> str:
    """Hennig (2007) tier of a mean Jaccard in [0, 1] ("not assessed" for NaN)."""
    if jaccard is None or not np.isfinite(jaccard):
        return "not assessed"
    if jaccard >= 0.85:
        return "highly stable"
    if jaccard >= 0.75:
        return "stable"
    if jaccard >= 0.6:
        return "pattern only"
    if jaccard > 0.5:
        return "do not trust"
    return "dissolved"


def best_match_jaccard(reference: np.ndarray, other: np.ndarray, n_segments: int) -> np.ndarray:
    """For each reference segment 0..n_segments-1, the max Jaccard with any ``other`` cluster.

    ``reference`` and ``other`` are label arrays over the same customers, shape (n,). Returns shape
    (n_segments,), NaN for segments without any customer in ``reference``.
    """
    out = np.full(n_segments, np.nan)
    if len(reference) == 0:
        return out
    ref_codes, ref_inverse = np.unique(reference, return_inverse=True)
    table = contingency_matrix(ref_inverse, other).astype(float)
    ref_sizes = table.sum(axis=1, keepdims=True)
    other_sizes = table.sum(axis=0, keepdims=True)
    jaccard = table / (ref_sizes + other_sizes - table)
    best = jaccard.max(axis=1)
    for code, value in zip(ref_codes, best, strict=True):
        if 0 <= int(code) < n_segments:
            out[int(code)] = float(value)
    return out


def _sample_positions(n: int, sample_size: int | None, rng: np.random.Generator) -> np.ndarray:
    m = min(n, sample_size or DEFAULT_REFIT_ROWS)
    if m >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=m, replace=False))


def _check_base(profiles: pd.DataFrame, base_result: SegmentationResult) -> None:
    if len(base_result.labels) != len(profiles):
        raise SegmentationError(
            f"base_result has {len(base_result.labels)} labels but profiles has {len(profiles)} rows; "
            "pass the profiles the base result was fitted on"
        )


def _refit(
    frame: pd.DataFrame, config: SegmentationConfig, k: int, seed: int, **updates: object
) -> SegmentationResult:
    return fit_segmentation(frame, config.with_fixed_k(k, random_state=seed, **updates))


def _try_refit(
    frame: pd.DataFrame, config: SegmentationConfig, k: int, seed: int, **updates: object
) -> SegmentationResult | SegmentationError:
    """:func:`_refit`, with a refit that cannot be made returned instead of raised (for map_fits)."""
    try:
        return _refit(frame, config, k, seed, **updates)
    except SegmentationError as exc:
        return exc


# --- bootstrap ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class BootstrapStability:
    """Outcome of :func:`bootstrap_stability`.

    Attributes:
        per_segment: columns segment_index, bootstrap_jaccard (mean over replicates), jaccard_std,
            recovered_share (share of replicates with Jaccard > 0.5), dissolved_share (≤ 0.5),
            n_replicates (successful refits), tier.
        jaccards: shape (n_bootstrap, k); NaN rows for failed refits.
        failures: messages of refits that raised SegmentationError.
        sample_size: customers per refit.
    """

    per_segment: pd.DataFrame
    jaccards: np.ndarray = field(repr=False)
    failures: list[str]
    sample_size: int


def bootstrap_stability(
    profiles: pd.DataFrame,
    config: SegmentationConfig,
    base_result: SegmentationResult,
    n_bootstrap: int = 50,
    sample_size: int | None = None,
    random_state: int = 0,
    workers: int = 1,
) -> BootstrapStability:
    """Hennig's clusterboot on the real fitting function, with the base result's k.

    A seeded subsample of at most ``sample_size`` customers (default :data:`DEFAULT_REFIT_ROWS`) is
    the data; each replicate draws that many rows with replacement and refits. A customer drawn
    several times is one point in the Jaccard comparison (duplicates get the same k-means label), and
    gets distinct customer_ids only so the refit accepts the frame. ``workers`` replicates are
    refitted at once (:func:`~segmentation_assets.segmentation.parallel.map_fits`); the result does
    not depend on it.
    """
    _check_base(profiles, base_result)
    if n_bootstrap < 1:
        raise SegmentationError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    k = base_result.k
    rng = np.random.default_rng(random_state)
    pos = _sample_positions(len(profiles), sample_size, rng)
    data = profiles.iloc[pos].reset_index(drop=True)
    base = base_result.labels[pos]
    m = len(data)
    # Every replicate's rows are drawn, in replicate order, before any is refitted: the draws are
    # then the same whatever the number of workers.
    draws = [rng.integers(0, m, size=m) for _ in range(n_bootstrap)]

    def replicate(b: int) -> np.ndarray | SegmentationError:
        frame = data.iloc[draws[b]].reset_index(drop=True)
        frame["customer_id"] = np.arange(m)
        refit = _try_refit(frame, config, k, seed=random_state + 1 + b)
        if isinstance(refit, SegmentationError):
            return refit
        unique, first = np.unique(draws[b], return_index=True)
        return best_match_jaccard(base[unique], refit.labels[first], k)

    jaccards = np.full((n_bootstrap, k), np.nan)
    failures: list[str] = []
    for b, outcome in enumerate(map_fits(replicate, range(n_bootstrap), workers)):
        if isinstance(outcome, SegmentationError):
            failures.append(f"replicate {b}: {outcome}")
        else:
            jaccards[b] = outcome

    valid = ~np.isnan(jaccards)
    n_valid = valid.sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean = np.where(n_valid > 0, np.nansum(jaccards, axis=0) / np.maximum(n_valid, 1), np.nan)
        sq = np.nansum((jaccards - mean) ** 2, axis=0)
        std = np.where(n_valid > 0, np.sqrt(sq / np.maximum(n_valid, 1)), np.nan)
        recovered = np.where(
            n_valid > 0, ((jaccards > 0.5) & valid).sum(axis=0) / np.maximum(n_valid, 1), np.nan
        )
    per_segment = pd.DataFrame(
        {
            "segment_index": np.arange(k),
            "bootstrap_jaccard": mean,
            "jaccard_std": std,
            "recovered_share": recovered,
            "dissolved_share": np.where(n_valid > 0, 1.0 - recovered, np.nan),
            "n_replicates": n_valid.astype(np.int64),
            "tier": [stability_tier(v) for v in mean],
        }
    )
    return BootstrapStability(per_segment, jaccards, failures, m)


# --- features ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureSensitivity:
    """Outcome of :func:`feature_sensitivity`.

    Attributes:
        per_segment: columns segment_index, feature_jaccard_min (lowest best-match Jaccard over all
            removals), most_sensitive_to (the removal giving it), critical_features (comma-separated
            removals with Jaccard < threshold; "" when none).
        detail: columns dropped, segment_index, jaccard (one row per removal × segment).
        overall: columns dropped, ari (adjusted Rand index vs the base labels).
        skipped: removals that could not be refitted, with the reason.
    """

    per_segment: pd.DataFrame
    detail: pd.DataFrame
    overall: pd.DataFrame
    skipped: dict[str, str]


def feature_sensitivity(
    profiles: pd.DataFrame,
    config: SegmentationConfig,
    base_result: SegmentationResult,
    *,
    by: Literal["feature", "group"] = "feature",
    groups: Mapping[str, Sequence[str]] | None = None,
    sample_size: int | None = None,
    random_state: int = 0,
    critical_threshold: float = CRITICAL_JACCARD,
    workers: int = 1,
) -> FeatureSensitivity:
    """Refit without each feature (``by="feature"``), each registry trait group (``by="group"``) or
    each entry of ``groups`` (name → traits), with the base k, on a seeded subsample.

    Agreement is measured against the base labels of the same customers. ``workers`` removals are
    refitted at once (:func:`~segmentation_assets.segmentation.parallel.map_fits`).
    """
    _check_base(profiles, base_result)
    k = base_result.k
    features = list(base_result.features)
    if groups is not None:
        removals = {str(name): list(traits) for name, traits in groups.items()}
    elif by == "group":
        removals = {}
        for f in features:
            removals.setdefault(TRAITS_BY_NAME[f].group, []).append(f)
    else:
        removals = {f: [f] for f in features}
    rng = np.random.default_rng(random_state)
    pos = _sample_positions(len(profiles), sample_size, rng)
    data = profiles.iloc[pos].reset_index(drop=True)
    base = base_result.labels[pos]

    def refit_without(traits: list[str]) -> SegmentationResult | SegmentationError:
        dropped = set(traits)
        remaining = tuple(f for f in features if f not in dropped)
        if not remaining:
            return SegmentationError("removing it leaves no feature")
        return _try_refit(
            data,
            config,
            k,
            seed=config.random_state,
            include_features=remaining,
            exclude_features=(),
        )

    detail_rows: list[dict[str, object]] = []
    overall_rows: list[dict[str, object]] = []
    skipped: dict[str, str] = {}
    refits = map_fits(refit_without, removals.values(), workers)
    for name, refit in zip(removals, refits, strict=True):
        if isinstance(refit, SegmentationError):
            skipped[name] = str(refit)
            continue
        jac = best_match_jaccard(base, refit.labels, k)
        detail_rows += [
            {"dropped": name, "segment_index": s, "jaccard": float(jac[s])} for s in range(k)
        ]
        overall_rows.append(
            {"dropped": name, "ari": float(adjusted_rand_score(base, refit.labels))}
        )
    detail = pd.DataFrame(detail_rows, columns=["dropped", "segment_index", "jaccard"])
    overall = pd.DataFrame(overall_rows, columns=["dropped", "ari"])

    per_rows: list[dict[str, object]] = []
    for s in range(k):
        part = detail[(detail["segment_index"] == s) & detail["jaccard"].notna()]
        if len(part):
            worst = part.loc[part["jaccard"].idxmin()]
            critical = part.loc[part["jaccard"] < critical_threshold, "dropped"].tolist()
            per_rows.append(
                {
                    "segment_index": s,
                    "feature_jaccard_min": float(worst["jaccard"]),
                    "most_sensitive_to": str(worst["dropped"]),
                    "critical_features": ", ".join(critical),
                }
            )
        else:
            per_rows.append(
                {
                    "segment_index": s,
                    "feature_jaccard_min": np.nan,
                    "most_sensitive_to": None,
                    "critical_features": "",
                }
            )
    return FeatureSensitivity(pd.DataFrame(per_rows), detail, overall, skipped)


# --- windows -----------------------------------------------------------------------------------
def _window_positions(
    window_customers: CustomerIds,
    base_customers: CustomerIds,
    window: int,
    sample_size: int | None,
    random_state: int,
) -> np.ndarray:
    """Positions in ``window_customers`` of the customers :func:`window_sensitivity` refits."""
    ids = np.asarray(window_customers, dtype=object)
    rng = np.random.default_rng(random_state + int(window))
    # Sample among customers the base also has, so the comparison uses the whole subsample. An
    # Index keeps its hash table between lookups, so callers pass the same Index for every window.
    base = base_customers if isinstance(base_customers, pd.Index) else pd.Index(base_customers)
    found = base.get_indexer(ids) >= 0 if base.is_unique else pd.Series(ids).isin(base).to_numpy()
    in_base = np.flatnonzero(found)
    return in_base[_sample_positions(len(in_base), sample_size, rng)]


def window_sample(
    window_customers: CustomerIds,
    base_customers: CustomerIds,
    window: int,
    *,
    sample_size: int | None = None,
    random_state: int = 0,
) -> np.ndarray:
    """The customer_ids :func:`window_sensitivity` refits for ``window``, without its profiles.

    ``window_customers`` are the customer_ids of the window's profiles in their order (sorted, as
    :func:`~segmentation_assets.profiles.build_profiles` returns them; see
    :func:`~segmentation_assets.profiles.profiled_customers`), ``base_customers`` those of the base
    result. Passing :func:`window_sensitivity` the window's profiles of just these customers gives
    the same refit data as passing it every customer's (up to the profile columns that depend on the
    population, see :func:`~segmentation_assets.profiles.build_profiles`).
    """
    ids = np.asarray(window_customers, dtype=object)
    return ids[_window_positions(ids, base_customers, window, sample_size, random_state)]


@dataclass(frozen=True)
class WindowSensitivity:
    """Outcome of :func:`window_sensitivity`.

    Attributes:
        per_segment: columns segment_index, window_jaccard (lowest over windows), worst_window.
        detail: columns window_days, segment_index, jaccard.
        overall: columns window_days, ari, n_common (customers compared).
        skipped: window → reason for windows that could not be refitted or compared.
    """

    per_segment: pd.DataFrame
    detail: pd.DataFrame
    overall: pd.DataFrame
    skipped: dict[int, str]


def window_sensitivity(
    base_result: SegmentationResult,
    alt_profiles_by_window: Mapping[int, pd.DataFrame],
    config: SegmentationConfig,
    *,
    sample_size: int | None = None,
    random_state: int = 0,
    workers: int = 1,
) -> WindowSensitivity:
    """Refit (base k) on profiles of other look-back windows; compare on customers in both.

    ``alt_profiles_by_window`` maps a window length in days to a profiles frame computed upstream
    for that window. Each frame is refitted on a seeded subsample of at most ``sample_size`` of its
    customers that the base result also has (:func:`window_sample`); the agreement is the best-match
    Jaccard per base segment over them. A frame that holds only :func:`window_sample`'s customers
    is refitted whole, so upstream may build just those profiles. ``workers`` windows are refitted
    at once (:func:`~segmentation_assets.segmentation.parallel.map_fits`).
    """
    k = base_result.k
    base_by_customer = pd.Series(
        base_result.labels, index=base_result.assignments["customer_id"].to_numpy()
    )
    detail_rows: list[dict[str, object]] = []
    overall_rows: list[dict[str, object]] = []
    skipped: dict[int, str] = {}
    samples: dict[int, pd.DataFrame] = {}
    for window in sorted(alt_profiles_by_window):
        frame = alt_profiles_by_window[window]
        positions = _window_positions(
            frame["customer_id"].to_numpy(),
            base_by_customer.index,
            window,
            sample_size,
            random_state,
        )
        if len(positions) == 0:
            skipped[int(window)] = "no customer in common with the base result"
            continue
        samples[window] = frame.iloc[positions].reset_index(drop=True)
    refits = map_fits(
        lambda data: _try_refit(data, config, k, seed=config.random_state),
        samples.values(),
        workers,
    )
    for (window, data), refit in zip(samples.items(), refits, strict=True):
        if isinstance(refit, SegmentationError):
            skipped[int(window)] = str(refit)
            continue
        base = base_by_customer.loc[data["customer_id"].to_numpy()].to_numpy()
        jac = best_match_jaccard(base, refit.labels, k)
        detail_rows += [
            {"window_days": int(window), "segment_index": s, "jaccard": float(jac[s])}
            for s in range(k)
        ]
        overall_rows.append(
            {
                "window_days": int(window),
                "ari": float(adjusted_rand_score(base, refit.labels)),
                "n_common": len(data),
            }
        )
    detail = pd.DataFrame(detail_rows, columns=["window_days", "segment_index", "jaccard"])
    overall = pd.DataFrame(overall_rows, columns=["window_days", "ari", "n_common"])
    per_rows: list[dict[str, object]] = []
    for s in range(k):
        part = detail[(detail["segment_index"] == s) & detail["jaccard"].notna()]
        if len(part):
            worst = part.loc[part["jaccard"].idxmin()]
            per_rows.append(
                {
                    "segment_index": s,
                    "window_jaccard": float(worst["jaccard"]),
                    "worst_window": int(worst["window_days"]),
                }
            )
        else:
            per_rows.append({"segment_index": s, "window_jaccard": np.nan, "worst_window": None})
    return WindowSensitivity(pd.DataFrame(per_rows), detail, overall, skipped)


# --- time --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TemporalStability:
    """Outcome of :func:`temporal_stability`.

    Attributes:
        per_segment: columns segment_id, temporal_jaccard (NaN for a segment_id absent before),
            n_previous, n_current (members among the customers in both runs).
        ari: adjusted Rand index between the two runs on the customers in both (NaN if none).
        n_common: customers in both runs.
    """

    per_segment: pd.DataFrame
    ari: float
    n_common: int


def temporal_stability(
    prev_assignments: pd.DataFrame,
    curr_assignments: pd.DataFrame,
    *,
    segment_column: str = "segment_id",
) -> TemporalStability:
    """Per current segment_id, the Jaccard of its members now vs the same id's members before.

    Both frames need ``customer_id`` and ``segment_column``; only customers in both runs count.
    """
    for label, frame in (("previous", prev_assignments), ("current", curr_assignments)):
        missing = {"customer_id", segment_column} - set(frame.columns)
        if missing:
            raise SegmentationError(
                f"{label} assignments lack column(s): {', '.join(sorted(missing))}"
            )
    both = prev_assignments[["customer_id", segment_column]].merge(
        curr_assignments[["customer_id", segment_column]],
        on="customer_id",
        suffixes=("_prev", "_curr"),
    )
    # Segment ids as integer codes of one shared vocabulary: comparing and pairing a million
    # strings per segment (and ARI's sort of them) cost seconds; codes give the same partitions.
    codes, vocabulary = pd.factorize(
        pd.concat(
            [both[f"{segment_column}_prev"], both[f"{segment_column}_curr"]], ignore_index=True
        ).astype(str)
    )
    prev, curr = codes[: len(both)], codes[len(both) :]
    code_of = {str(seg): i for i, seg in enumerate(vocabulary)}
    # The distinct ids first: a million str() calls per frame cost more than the comparisons.
    known_before = {str(seg) for seg in prev_assignments[segment_column].unique()}
    rows = []
    for seg in sorted({str(seg) for seg in curr_assignments[segment_column].unique()}):
        code = code_of.get(seg, -1)
        in_prev, in_curr = prev == code, curr == code
        union = int((in_prev | in_curr).sum())
        known = seg in known_before
        rows.append(
            {
                "segment_id": seg,
                "temporal_jaccard": (
                    float((in_prev & in_curr).sum() / union) if known and union else np.nan
                ),
                "n_previous": int(in_prev.sum()),
                "n_current": int(in_curr.sum()),
            }
        )
    ari = float(adjusted_rand_score(prev, curr)) if len(both) else float("nan")
    return TemporalStability(pd.DataFrame(rows), ari, len(both))


# --- overall -----------------------------------------------------------------------------------
def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.2f}"


def score_robustness(
    bootstrap: BootstrapStability | None = None,
    feature: FeatureSensitivity | None = None,
    window: WindowSensitivity | None = None,
    temporal: TemporalStability | None = None,
    *,
    segment_ids: Mapping[int, str] | None = None,
    weights: Mapping[str, float] | None = None,
    monitor_below: float = 0.75,
) -> pd.DataFrame:
    """Combine the robustness views into one row per segment (columns :data:`ROBUSTNESS_COLUMNS`).

    ``robustness_score`` = Σ wᵢ·cᵢ / Σ wᵢ over the components cᵢ that are available (not NaN) for the
    segment: bootstrap_jaccard (w = 0.4), feature_jaccard_min (0.2), window_jaccard (0.2),
    temporal_jaccard (0.2) by default (``weights`` overrides). Every component and the score are in
    [0, 1]; the score is NaN only when no component is available. ``tier`` applies Hennig's
    thresholds (:func:`stability_tier`) to the score. ``requires_monitoring`` is True when the score
    is below ``monitor_below`` (0.75, Hennig's "stable"), any component is below 0.6, or the segment
    has critical features. ``temporal`` needs ``segment_ids`` (segment_index → segment_id).
    """
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    parts = [p.per_segment for p in (bootstrap, feature, window) if p is not None]
    if not parts:
        raise SegmentationError("score_robustness needs bootstrap, feature or window results")
    if temporal is not None and segment_ids is None:
        raise SegmentationError("temporal stability needs segment_ids (segment_index → segment_id)")
    index = sorted({int(s) for p in parts for s in p["segment_index"]})
    out = pd.DataFrame({"segment_index": index})
    out["segment_id"] = [segment_ids.get(s) if segment_ids else None for s in index]
    out["bootstrap_jaccard"] = np.nan
    out["feature_jaccard_min"] = np.nan
    out["window_jaccard"] = np.nan
    out["temporal_jaccard"] = np.nan
    out["critical_features"] = ""
    for source, cols in (
        (bootstrap, ["bootstrap_jaccard"]),
        (feature, ["feature_jaccard_min", "critical_features"]),
        (window, ["window_jaccard"]),
    ):
        if source is not None:
            mapped = source.per_segment.set_index("segment_index")
            for col in cols:
                out[col] = out["segment_index"].map(mapped[col]).fillna(out[col])
    if temporal is not None:
        by_id = temporal.per_segment.set_index("segment_id")["temporal_jaccard"]
        out["temporal_jaccard"] = out["segment_id"].map(by_id).astype(float)

    components = list(DEFAULT_WEIGHTS)
    values = out[components].to_numpy(dtype=float)
    wvec = np.array([w.get(c, 0.0) for c in components])
    have = ~np.isnan(values)
    denom = (have * wvec).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(denom > 0, (np.nan_to_num(values) * wvec).sum(axis=1) / denom, np.nan)
    out["robustness_score"] = np.clip(score, 0.0, 1.0)
    out["tier"] = [stability_tier(v) for v in out["robustness_score"]]

    monitor, notes = [], []
    for row, vals in zip(out.itertuples(), values, strict=True):
        msgs = []
        weak = [c for c, v in zip(components, vals, strict=True) if np.isfinite(v) and v < 0.6]
        if np.isfinite(row.bootstrap_jaccard):
            msgs.append(
                f"bootstrap Jaccard {_fmt(row.bootstrap_jaccard)} "
                f"({stability_tier(row.bootstrap_jaccard)})"
            )
        if row.critical_features:
            msgs.append(f"falls apart without: {row.critical_features}")
        elif np.isfinite(row.feature_jaccard_min):
            msgs.append(
                f"survives removing any one feature (min Jaccard {_fmt(row.feature_jaccard_min)})"
            )
        if np.isfinite(row.window_jaccard):
            msgs.append(f"shorter windows agree at {_fmt(row.window_jaccard)}")
        if np.isfinite(row.temporal_jaccard):
            msgs.append(f"{_fmt(row.temporal_jaccard)} of members overlap with the previous run")
        elif temporal is not None:
            msgs.append("no previous run of this segment")
        if weak:
            msgs.append("weak on " + ", ".join(weak))
        flag = bool(
            not np.isfinite(row.robustness_score)
            or row.robustness_score < monitor_below
            or weak
            or row.critical_features
        )
        monitor.append(flag)
        lead = "Monitor: " if flag else "Robust: "
        notes.append(lead + "; ".join(msgs) + ".")
    out["requires_monitoring"] = monitor
    out["notes"] = notes
    return out[list(ROBUSTNESS_COLUMNS)]


def assess_robustness(
    profiles: pd.DataFrame,
    config: SegmentationConfig,
    base_result: SegmentationResult,
    *,
    n_bootstrap: int = 50,
    alt_profiles_by_window: (
        Mapping[int, pd.DataFrame] | Callable[[], Mapping[int, pd.DataFrame]] | None
    ) = None,
    prev_assignments: pd.DataFrame | None = None,
    segment_ids: Mapping[int, str] | None = None,
    sample_size: int | None = None,
    random_state: int = 0,
    max_threads: int | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """Run every available view and :func:`score_robustness` them (one row per segment).

    ``prev_assignments`` (customer_id, segment_id) of the previous date enables temporal stability;
    it needs ``segment_ids`` for the current segments. ``alt_profiles_by_window`` may hold only the
    :func:`window_sample` customers of each window. It may also be a function that makes them
    (say, from a database connection): it is called on this thread while the bootstrap and feature
    refits run beside it, when ``workers`` > 1, so that its single-threaded parts use the core the
    refits leave idle. ``max_threads`` caps the native threads of the refits, and of that function
    (see :func:`native_thread_limit`; None leaves the libraries' defaults); ``workers`` refits run at
    once (:func:`~segmentation_assets.segmentation.parallel.map_fits`). Neither changes the result.
    """

    def refit_views() -> tuple[BootstrapStability, FeatureSensitivity]:
        boot = bootstrap_stability(
            profiles, config, base_result, n_bootstrap, sample_size, random_state, workers=workers
        )
        feat = feature_sensitivity(
            profiles,
            config,
            base_result,
            sample_size=sample_size,
            random_state=random_state,
            workers=workers,
        )
        return boot, feat

    # The refits silence k-means' warnings with warnings.catch_warnings, which is not thread-safe
    # (see map_fits), and so may the window profiles (the value model's optimizer): this outer
    # context puts the caller's filters back however the threads' own ones interleave.
    with warnings.catch_warnings(), native_thread_limit(max_threads):
        windows: Mapping[int, pd.DataFrame] | None
        if not callable(alt_profiles_by_window):
            (boot, feat), windows = refit_views(), alt_profiles_by_window
        elif workers > 1:
            (boot, feat), windows = run_beside(refit_views, alt_profiles_by_window)
        else:
            (boot, feat), windows = refit_views(), alt_profiles_by_window()
        win = (
            window_sensitivity(
                base_result,
                windows,
                config,
                sample_size=sample_size,
                random_state=random_state,
                workers=workers,
            )
            if windows
            else None
        )
    temp = None
    if prev_assignments is not None and segment_ids is not None:
        curr = base_result.assignments[["customer_id"]].assign(
            segment_id=segment_ids_of_labels(base_result.labels, segment_ids, base_result.k)
        )
        temp = temporal_stability(prev_assignments, curr)
    return score_robustness(boot, feat, win, temp, segment_ids=segment_ids)


def native_thread_limit(max_threads: int | None) -> AbstractContextManager[object]:
    """Context capping OpenMP and BLAS threads (k-means, distances) at ``max_threads``; None: no cap.

    Used around the robustness refits and the clusters stage's fit (setting ``native_threads``). The
    refits are many k-means fits of at most a few ten thousand rows, too small to gain from threads:
    on a 2-core machine shared with other work, 2 threads spinning on busy cores made them up to ten
    times slower than one. K-means with another thread count can differ in the last bits
    of its sums, so a rare tie may go the other way; the seeds and k are the same.
    """
    if max_threads is None:
        return nullcontext()
    if max_threads < 1:
        raise SegmentationError(f"max_threads must be >= 1 or None, got {max_threads}")
    return threadpool_limits(limits=max_threads)
