"""Choosing the number of segments k on a seeded sample of the scaled feature matrix.

For every k in the range, on one seeded sample (default 20,000 rows):

* KMeans inertia, silhouette (:func:`sklearn.metrics.silhouette_score`), Calinski–Harabasz and
  Davies–Bouldin;
* prediction strength (Tibshirani & Walther 2005, "Cluster validation by prediction strength",
  JCGS 14(3)): the sample is split into two seeded halves; k-means is fitted on each half; for the
  *test* half's own clusters, prediction strength is the minimum over those clusters of the share of
  within-cluster pairs that the *training* half's centroids also put together. It is computed in both
  directions (A→B and B→A) and averaged. Tibshirani & Walther suggest a cutoff of 0.8–0.9.

Decision rule: among the k whose prediction strength is ≥ the cutoff (default 0.8), keep those whose
silhouette is within ``silhouette_tolerance`` (default 0.05, absolute) of the best silhouette among
them, and choose the LARGEST — Tibshirani & Walther's own rule is "the largest k whose prediction strength is
above the cutoff"; the silhouette tolerance keeps a k that stays reproducible but separates clearly
worse from being chosen. Silhouette alone favours the smallest k on customer data (it is nearly flat
over k and highest for a coarse split), which hides real, reproducible segments. If no k passes,
choose the smallest k in the range and record why.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.metrics.cluster import contingency_matrix

from segmentation_assets.segmentation.features import SegmentationError
from segmentation_assets.segmentation.parallel import map_fits

#: Columns of :attr:`KSelection.scores`.
K_SCORE_COLUMNS: tuple[str, ...] = (
    "k",
    "inertia",
    "silhouette",
    "calinski_harabasz",
    "davies_bouldin",
    "prediction_strength",
    "passes_cutoff",
)


@dataclass(frozen=True)
class KSelection:
    """Outcome of :func:`select_k`.

    Attributes:
        chosen_k: the selected number of segments.
        reason: one plain-language sentence explaining the choice.
        scores: one row per candidate k, columns :data:`K_SCORE_COLUMNS`; silhouette in [-1, 1]
            (higher better), Calinski–Harabasz ≥ 0 (higher better), Davies–Bouldin ≥ 0 (lower
            better), prediction strength in [0, 1] (NaN when a half is too small for k).
        k_range: the candidate range actually evaluated (after clipping to the data).
        sample_size: rows in the sample the scores were computed on.
        prediction_strength_cutoff: the cutoff used by the rule.
    """

    chosen_k: int
    reason: str
    scores: pd.DataFrame = field(repr=False)
    k_range: tuple[int, int]
    sample_size: int
    prediction_strength_cutoff: float


def _kmeans(k: int, n_init: int, seed: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed)


def _fit_quiet(model: KMeans, x: np.ndarray) -> KMeans:
    # Duplicate-heavy samples make KMeans warn about fewer distinct clusters; the callers check
    # cluster counts themselves, so the warning would only be noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x)


def _prediction_strength_one_way(test_labels: np.ndarray, predicted: np.ndarray) -> float:
    """Min over test clusters of the share of their pairs co-assigned by the training centroids."""
    table = contingency_matrix(test_labels, predicted)
    n_j = table.sum(axis=1).astype(float)
    same_pairs = (table * (table - 1)).sum(axis=1).astype(float)
    ok = n_j >= 2  # a singleton cluster has no pairs: Tibshirani & Walther leave it out
    if not ok.any():
        return float("nan")
    return float(np.min(same_pairs[ok] / (n_j[ok] * (n_j[ok] - 1))))


def prediction_strength(x: np.ndarray, k: int, random_state: int = 0, n_init: int = 4) -> float:
    """Prediction strength of k-means with k clusters on ``x`` (n, p); NaN if a half has ≤ k rows.

    Seeded two-way split into halves A and B; the value is the mean of PS(train A, test B) and
    PS(train B, test A).
    """
    n = x.shape[0]
    rng = np.random.default_rng(random_state)
    perm = rng.permutation(n)
    half_a, half_b = x[perm[: n // 2]], x[perm[n // 2 :]]
    if min(len(half_a), len(half_b)) <= k:
        return float("nan")
    km_a = _fit_quiet(_kmeans(k, n_init, random_state), half_a)
    km_b = _fit_quiet(_kmeans(k, n_init, random_state + 1), half_b)
    ps_ab = _prediction_strength_one_way(km_b.labels_, km_a.predict(half_b))
    ps_ba = _prediction_strength_one_way(km_a.labels_, km_b.predict(half_a))
    return float(np.nanmean([ps_ab, ps_ba]))


def _score_k(
    sample: np.ndarray,
    k: int,
    random_state: int,
    n_init: int,
    prediction_strength_cutoff: float,
    silhouette_sample_size: int | None,
) -> dict[str, object]:
    """The scores of one candidate k on the selection sample (one row of ``KSelection.scores``)."""
    km = _fit_quiet(_kmeans(k, n_init, random_state), sample)
    labels = km.labels_
    n_labels = len(np.unique(labels))
    if 2 <= n_labels < len(sample):
        sil = float(
            silhouette_score(
                sample,
                labels,
                sample_size=(
                    silhouette_sample_size
                    if silhouette_sample_size and silhouette_sample_size < len(sample)
                    else None
                ),
                random_state=random_state,
            )
        )
        ch = float(calinski_harabasz_score(sample, labels))
        db = float(davies_bouldin_score(sample, labels))
    else:
        sil = ch = db = float("nan")
    ps = prediction_strength(sample, k, random_state=random_state + k, n_init=n_init)
    return {
        "k": k,
        "inertia": float(km.inertia_),
        "silhouette": sil,
        "calinski_harabasz": ch,
        "davies_bouldin": db,
        "prediction_strength": ps,
        "passes_cutoff": bool(ps >= prediction_strength_cutoff),
    }


def select_k(
    X: np.ndarray,
    k_range: tuple[int, int] = (3, 10),
    sample_size: int = 20000,
    random_state: int = 0,
    n_init: int = 4,
    prediction_strength_cutoff: float = 0.8,
    *,
    silhouette_sample_size: int | None = 5000,
    silhouette_tolerance: float = 0.05,
    workers: int = 1,
) -> KSelection:
    """Choose k for k-means on the scaled matrix ``X`` (n_samples, n_features).

    Rule: among k in ``k_range`` (inclusive) whose prediction strength ≥ ``prediction_strength_cutoff``
    and whose silhouette ≥ the best silhouette among those k minus ``silhouette_tolerance``
    (absolute; differences under 0.05 are within the noise of a sampled silhouette), take the
    largest; if no k passes the cutoff, take the smallest k and say so in ``reason``.

    ``k_range`` is clipped so that k < number of distinct sampled rows (and ≥ 2). All scores are
    computed on one seeded sample of at most ``sample_size`` rows; the silhouette additionally on a
    seeded sub-sample of ``silhouette_sample_size`` rows (its cost is quadratic; ``None`` = whole
    sample). ``workers`` candidate ks are scored at once (see
    :func:`~segmentation_assets.segmentation.parallel.map_fits`); the result does not depend on it.

    Raises:
        SegmentationError: invalid range, or too few (distinct) samples for even the smallest k.
    """
    x = np.asarray(X, dtype=float)
    if x.ndim != 2:
        raise SegmentationError(f"X must be 2-D (n_samples, n_features), got shape {x.shape}")
    k_lo, k_hi = int(k_range[0]), int(k_range[1])
    if k_lo < 2 or k_hi < k_lo:
        raise SegmentationError(f"k_range must satisfy 2 <= low <= high, got {k_range}")
    n = x.shape[0]
    rng = np.random.default_rng(random_state)
    sample = x[np.sort(rng.choice(n, size=sample_size, replace=False))] if n > sample_size else x
    n_distinct = int(np.unique(sample, axis=0).shape[0])
    k_max = min(k_hi, n_distinct - 1)
    if k_max < k_lo:
        raise SegmentationError(
            f"too few customers to choose k in {k_lo}..{k_hi}: {n} customers with "
            f"{n_distinct} distinct profiles in the sample; k must be below the number of distinct "
            f"profiles. Lower k_range or add customers."
        )

    def score(k: int) -> dict[str, object]:
        return _score_k(
            sample, k, random_state, n_init, prediction_strength_cutoff, silhouette_sample_size
        )

    rows = map_fits(score, range(k_lo, k_max + 1), workers)
    scores = pd.DataFrame(rows, columns=list(K_SCORE_COLUMNS))

    passing = scores[scores["passes_cutoff"] & scores["silhouette"].notna()]
    clipped = (k_lo, k_max)
    clip_note = f" (range clipped from {k_lo}..{k_hi} to {k_lo}..{k_max})" if k_max < k_hi else ""
    if len(passing):
        best_silhouette = float(passing["silhouette"].max())
        floor = best_silhouette - silhouette_tolerance
        eligible = passing[passing["silhouette"] >= floor]
        best = eligible.loc[eligible["k"].idxmax()]
        chosen = int(best["k"])
        reason = (
            f"k={chosen} is the largest of the {len(passing)} k with prediction strength >= "
            f"{prediction_strength_cutoff:g} (its {best['prediction_strength']:.3f}) whose silhouette "
            f"({best['silhouette']:.3f}) is within {silhouette_tolerance:g} of the best "
            f"({best_silhouette:.3f}){clip_note}"
        )
    else:
        chosen = k_lo
        ps_max = scores["prediction_strength"].max()
        where = (
            f"best was {ps_max:.3f} at k={int(scores.loc[scores['prediction_strength'].idxmax(), 'k'])}"
            if pd.notna(ps_max)
            else "not computable on this sample"
        )
        reason = (
            f"no k in {k_lo}..{k_max} reached prediction strength {prediction_strength_cutoff:g} "
            f"({where}); fell back to the smallest k={chosen}, treat the segments as weak"
            f"{clip_note}"
        )
    return KSelection(
        chosen_k=chosen,
        reason=reason,
        scores=scores,
        k_range=clipped,
        sample_size=len(sample),
        prediction_strength_cutoff=prediction_strength_cutoff,
    )
