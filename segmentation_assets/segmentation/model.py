"""Fitting and applying the k-means customer segmentation.

:func:`fit_segmentation` turns a ``profiles`` frame (one row per customer) into segments:

1. :class:`~segmentation_assets.segmentation.features.FeatureTransformer` (trait transforms, clipping,
   robust scaling);
2. k: ``config.n_clusters`` when set (always honoured), otherwise
   :func:`~segmentation_assets.segmentation.k_selection.select_k` on a seeded sample;
3. :class:`sklearn.cluster.KMeans`, or :class:`sklearn.cluster.MiniBatchKMeans` above
   ``config.minibatch_threshold`` customers;
4. segments are renumbered by size (segment_index 0 = largest; ties by the estimator's order) so the
   numbering does not depend on k-means' arbitrary label order.

Per customer (``SegmentationResult.assignments``):

* ``distance_to_centroid``: Euclidean distance to the own segment's centroid in the scaled space;
* ``membership_confidence`` = 1 − d₁ / d₂ where d₁, d₂ are the distances to the nearest and the
  second-nearest centroid. It is in [0, 1]: 1 at the centroid, 0 on the boundary between two segments
  (0 as well in the degenerate d₂ = 0 case).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning

from segmentation_assets.segmentation.features import (
    FeatureTransformer,
    NanPolicy,
    SegmentationError,
    has_repeats,
    resolve_features,
)
from segmentation_assets.segmentation.k_selection import KSelection, select_k

#: Columns of :attr:`SegmentationResult.assignments` and of :func:`score_new_customers`.
ASSIGNMENT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "segment_index",
    "distance_to_centroid",
    "membership_confidence",
)

#: Rows per chunk when computing centroid distances, to bound memory at 1M+ customers.
_CHUNK_ROWS = 250_000


class SegmentationConfig(BaseModel):
    """Settings of one segmentation fit (immutable; hashable into the model version).

    Attributes:
        n_clusters: fixed number of segments; when set it is always used and k selection is skipped.
        k_range: inclusive candidate range for automatic k selection.
        random_state: seed of every random choice (sampling, k-means initialisation).
        n_init: k-means restarts (best inertia kept).
        minibatch_threshold: above this many customers MiniBatchKMeans is used.
        minibatch_batch_size: MiniBatchKMeans batch size.
        include_features / exclude_features: clustering traits (default registry set).
        k_selection_sample_size: rows sampled for k selection.
        k_selection_n_init: k-means restarts per candidate k during selection.
        prediction_strength_cutoff: see :func:`select_k`.
        clip_quantiles: outlier clipping quantiles (None disables).
        nan_policy: ``"raise"`` or ``"median"`` (see features module).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_clusters: int | None = Field(default=None, ge=2)
    k_range: tuple[int, int] = (3, 10)
    random_state: int = 42
    n_init: int = Field(default=10, ge=1)
    minibatch_threshold: int = Field(default=200_000, ge=1)
    minibatch_batch_size: int = Field(default=4096, ge=16)
    include_features: tuple[str, ...] | None = None
    exclude_features: tuple[str, ...] = ()
    k_selection_sample_size: int = Field(default=20_000, ge=10)
    # As many restarts as the final fit: with fewer, the half-sample fits of prediction strength land
    # in different local optima and a real segment structure looks unreproducible.
    k_selection_n_init: int = Field(default=10, ge=1)
    prediction_strength_cutoff: float = Field(default=0.8, ge=0.0, le=1.0)
    clip_quantiles: tuple[float, float] | None = (0.01, 0.99)
    nan_policy: NanPolicy = "raise"

    @field_validator("k_range")
    @classmethod
    def _check_k_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] < 2 or value[1] < value[0]:
            raise ValueError(f"k_range must satisfy 2 <= low <= high, got {value}")
        return value

    @model_validator(mode="after")
    def _check_features(self) -> SegmentationConfig:
        try:
            resolve_features(self.include_features, self.exclude_features)
        except SegmentationError as exc:
            raise ValueError(str(exc)) from None
        return self

    def with_fixed_k(self, k: int, **updates: object) -> SegmentationConfig:
        """A copy with ``n_clusters=k`` (used by robustness refits) and optional other changes."""
        return self.model_validate({**self.model_dump(), **updates, "n_clusters": k})


@dataclass
class SegmentationModel:
    """Everything needed to assign new customers without refitting; picklable.

    Attributes:
        transformer: fitted FeatureTransformer.
        estimator: fitted KMeans / MiniBatchKMeans (its own label order).
        segment_order: shape (k,); ``segment_order[i]`` is the estimator label of segment_index i.
        centroids_scaled: shape (k, n_features), segment_index order, scaled space.
        config: the config it was fitted with.
        version: 16 hex chars, SHA-256 of config + features + rounded centroids.
    """

    transformer: FeatureTransformer
    estimator: KMeans | MiniBatchKMeans
    segment_order: np.ndarray
    centroids_scaled: np.ndarray
    config: SegmentationConfig
    version: str = ""

    def __post_init__(self) -> None:
        if not self.version:
            self.version = model_version(self.config, self.features, self.centroids_scaled)

    @property
    def features(self) -> tuple[str, ...]:
        """Traits used, in centroid column order."""
        return tuple(self.transformer.features_)

    @property
    def k(self) -> int:
        return int(self.centroids_scaled.shape[0])

    @property
    def centroids_original(self) -> pd.DataFrame:
        """Centroids mapped back to trait units: (k rows = segment_index, one column per feature)."""
        return pd.DataFrame(
            self.transformer.inverse_transform(self.centroids_scaled),
            columns=list(self.features),
            index=pd.RangeIndex(self.k, name="segment_index"),
        )

    def distances(self, x: np.ndarray) -> np.ndarray:
        """Distances (n, k) from scaled points to every centroid, columns in segment_index order."""
        out = np.empty((x.shape[0], self.k), dtype=float)
        for start in range(0, x.shape[0], _CHUNK_ROWS):
            block = x[start : start + _CHUNK_ROWS]
            out[start : start + len(block)] = self.estimator.transform(block)[:, self.segment_order]
        return out

    def assign(self, profiles: pd.DataFrame) -> pd.DataFrame:
        """Assignments (columns :data:`ASSIGNMENT_COLUMNS`) for a profiles frame."""
        return score_new_customers(self, profiles)

    def to_bytes(self) -> bytes:
        """Serialize with pickle (load only bytes you produced: pickle runs code on load)."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes) -> SegmentationModel:
        """Inverse of :meth:`to_bytes`; checks the payload is a SegmentationModel."""
        obj = pickle.loads(data)
        if not isinstance(obj, cls):
            raise SegmentationError(f"bytes do not hold a SegmentationModel but {type(obj)}")
        return obj


def model_version(
    config: SegmentationConfig, features: tuple[str, ...], centroids: np.ndarray
) -> str:
    """Deterministic 16-hex-digit version of a fitted model (config, features, centroids)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode())
    digest.update(json.dumps(list(features)).encode())
    # Rounding keeps the version stable across platforms' last-bit floating point differences.
    digest.update(np.round(np.asarray(centroids, dtype=float), 8).tobytes())
    return digest.hexdigest()[:16]


@dataclass
class SegmentationResult:
    """Output of :func:`fit_segmentation`.

    Attributes:
        model: the reusable :class:`SegmentationModel`.
        k: number of segments.
        k_selection: the k-selection record, or None when ``config.n_clusters`` fixed k.
        labels: shape (n_customers,), segment_index per input row (input order).
        assignments: one row per input row, columns :data:`ASSIGNMENT_COLUMNS`.
        centroids_scaled: (k × features) in the scaled space, index segment_index.
        centroids_original: (k × features) in trait units, index segment_index.
        warnings: notes from feature preparation (dropped constants, ...).
    """

    model: SegmentationModel
    k: int
    k_selection: KSelection | None
    labels: np.ndarray = field(repr=False)
    assignments: pd.DataFrame = field(repr=False)
    centroids_scaled: pd.DataFrame = field(repr=False)
    centroids_original: pd.DataFrame = field(repr=False)
    warnings: list[str] = field(default_factory=list)

    @property
    def transformer(self) -> FeatureTransformer:
        return self.model.transformer

    @property
    def estimator(self) -> KMeans | MiniBatchKMeans:
        return self.model.estimator

    @property
    def features(self) -> tuple[str, ...]:
        return self.model.features

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def feature_scale(self) -> pd.Series:
        """Scale per feature in transformed units (for :func:`assign_stable_ids`)."""
        return self.model.transformer.feature_scale


def _check_profiles(profiles: pd.DataFrame) -> None:
    if not isinstance(profiles, pd.DataFrame):
        raise SegmentationError(
            f"profiles must be a pandas DataFrame, got {type(profiles).__name__}"
        )
    if "customer_id" not in profiles.columns:
        raise SegmentationError("profiles frame lacks the customer_id column")
    if len(profiles) == 0:
        raise SegmentationError("profiles frame is empty: nothing to segment")
    if has_repeats(profiles["customer_id"]):
        dup = profiles["customer_id"].duplicated()
        examples = profiles.loc[dup, "customer_id"].head(3).tolist()
        raise SegmentationError(
            f"profiles must have one row per customer, but {int(dup.sum())} customer_id value(s) "
            f"repeat (e.g. {examples})"
        )


def _assignments(customer_ids: pd.Series, dist: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    labels = np.argmin(dist, axis=1)
    if dist.shape[1] >= 2:
        two = np.partition(dist, 1, axis=1)[:, :2]
        d1, d2 = two[:, 0], two[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            confidence = np.where(d2 > 0, 1.0 - d1 / d2, 0.0)
    else:
        d1 = dist[:, 0]
        confidence = np.ones(len(dist))
    frame = pd.DataFrame(
        {
            "customer_id": customer_ids.to_numpy(),
            "segment_index": labels.astype(np.int64),
            "distance_to_centroid": d1,
            "membership_confidence": np.clip(confidence, 0.0, 1.0),
        }
    )
    return labels, frame


class ReusedWeightsRandomState(np.random.RandomState):
    """A :class:`numpy.random.RandomState` that draws weighted samples with replacement faster when
    the same weights come again, with exactly the numbers the plain one gives.

    MiniBatchKMeans draws every minibatch with ``choice(n, batch_size, p=weights)``, the same
    weights at every step, and numpy validates the weights and builds their cumulative sum on every
    call: 9.8 ms per call for a million weights against 0.5 ms for the same draw (1,024 rows) from
    a kept cumulative sum, and 3.3 s of the 3.9 s final fit of the 1M nightly before this;
    ``segment_customers`` took 1.9 s less (benchmarks/README.md). This keeps the cumulative sum of
    the last weights and reuses it while the weights are equal to a copy of them (compared in full,
    so an array changed in place is never mistaken for the one cached), then draws as numpy does:
    ``random_sample(size)`` located in the normalised cumulative sum. Every other call is numpy's
    own, so the stream of random numbers is the plain RandomState's whatever the caller does.
    """

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self._weights: np.ndarray | None = None
        self._cdf: np.ndarray | None = None

    def choice(self, a: Any, size: Any = None, replace: bool = True, p: Any = None) -> Any:  # type: ignore[override]
        reusable = (
            isinstance(a, int | np.integer)
            and isinstance(size, int | np.integer)
            and replace
            and isinstance(p, np.ndarray)
            and p.dtype == np.float64
            and p.shape == (int(a),)
        )
        if not reusable:
            return super().choice(a, size, replace, p)
        if self._weights is None or not np.array_equal(p, self._weights):
            # First sight of these weights: numpy validates them and draws.
            self._weights, self._cdf = p.copy(), None
            return super().choice(a, size, replace, p)
        if self._cdf is None:
            cdf = p.cumsum()
            cdf /= cdf[-1]
            self._cdf = cdf
        return self._cdf.searchsorted(self.random_sample(size), side="right")


def _make_estimator(config: SegmentationConfig, k: int, n: int) -> KMeans | MiniBatchKMeans:
    if n > config.minibatch_threshold:
        return MiniBatchKMeans(
            n_clusters=k,
            batch_size=config.minibatch_batch_size,
            n_init=config.n_init,
            random_state=ReusedWeightsRandomState(config.random_state),
        )
    return KMeans(n_clusters=k, n_init=config.n_init, random_state=config.random_state)


def fit_segmentation(
    profiles: pd.DataFrame, config: SegmentationConfig | None = None, *, workers: int = 1
) -> SegmentationResult:
    """Fit the segmentation on ``profiles`` (one row per customer; columns ``customer_id`` + traits).

    ``workers``: candidate ks of the k selection scored at once (see :func:`select_k`); the result
    does not depend on it.

    Raises:
        SegmentationError: empty frame, repeated customer_id, missing / non-numeric / NaN features,
            all features constant (identical customers), fewer customers or distinct profiles than k.
    """
    config = config or SegmentationConfig()
    _check_profiles(profiles)
    transformer = FeatureTransformer(
        include=config.include_features,
        exclude=config.exclude_features,
        clip_quantiles=config.clip_quantiles,
        nan_policy=config.nan_policy,
    )
    x = transformer.fit_transform(profiles)
    n = x.shape[0]

    k_selection: KSelection | None = None
    if config.n_clusters is not None:
        k = config.n_clusters
        if n < k:
            raise SegmentationError(
                f"too few customers for {k} segments: only {n} customer(s); lower n_clusters"
            )
    else:
        k_selection = select_k(
            x,
            k_range=config.k_range,
            sample_size=config.k_selection_sample_size,
            random_state=config.random_state,
            n_init=config.k_selection_n_init,
            prediction_strength_cutoff=config.prediction_strength_cutoff,
            workers=workers,
        )
        k = k_selection.chosen_k

    estimator = _make_estimator(config, k, n)
    with warnings.catch_warnings():
        # Fewer distinct points than k triggers this warning; we raise a clear error below instead.
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(x)
    raw_dist = np.empty((n, k), dtype=float)
    for start in range(0, n, _CHUNK_ROWS):
        block = x[start : start + _CHUNK_ROWS]
        raw_dist[start : start + len(block)] = estimator.transform(block)
    raw_labels = np.argmin(raw_dist, axis=1)
    sizes = np.bincount(raw_labels, minlength=k)
    if (sizes == 0).any():
        raise SegmentationError(
            f"cannot form {k} segments: only {int((sizes > 0).sum())} non-empty clusters, because "
            f"the {n} customers have too few distinct profiles on features "
            f"{', '.join(transformer.features_)}; lower n_clusters / k_range"
        )
    # The per-row training labels are not needed to score customers and would make the pickled
    # model grow with the customer count (4 MB at 1M rows); assignments carry them instead.
    if hasattr(estimator, "labels_"):
        del estimator.labels_
    # The seed, not the sampler it was turned into, so the fitted estimator (and the pickled
    # model) is the one an integer seed gives.
    estimator.set_params(random_state=config.random_state)
    # Largest segment first; a stable sort keeps the estimator order for equal sizes.
    order = np.argsort(-sizes, kind="stable")
    centroids = np.asarray(estimator.cluster_centers_, dtype=float)[order]
    model = SegmentationModel(
        transformer=transformer,
        estimator=estimator,
        segment_order=order,
        centroids_scaled=centroids,
        config=config,
    )
    labels, assignments = _assignments(profiles["customer_id"], raw_dist[:, order])
    index = pd.RangeIndex(k, name="segment_index")
    return SegmentationResult(
        model=model,
        k=k,
        k_selection=k_selection,
        labels=labels,
        assignments=assignments,
        centroids_scaled=pd.DataFrame(centroids, columns=list(model.features), index=index),
        centroids_original=model.centroids_original,
        warnings=list(transformer.warnings_),
    )


def result_from_model(model: SegmentationModel, profiles: pd.DataFrame) -> SegmentationResult:
    """The :class:`SegmentationResult` of ``model`` on ``profiles``, without refitting.

    For the profiles ``model`` was fitted on this is what :func:`fit_segmentation` returned, up to
    ``k_selection`` (None here): the fit labels every row by its nearest centroid in the same way
    (same transform, same distances), so labels, assignments and centroids are identical. For other
    profiles it is their assignment to the fitted segments. Much cheaper than a refit of a large
    population (one pass of distances instead of k-means with restarts).
    """
    _check_profiles(profiles)
    labels, assignments = _assignments(
        profiles["customer_id"], model.distances(model.transformer.transform(profiles))
    )
    index = pd.RangeIndex(model.k, name="segment_index")
    return SegmentationResult(
        model=model,
        k=model.k,
        k_selection=None,
        labels=labels,
        assignments=assignments,
        centroids_scaled=pd.DataFrame(
            model.centroids_scaled, columns=list(model.features), index=index
        ),
        centroids_original=model.centroids_original,
        warnings=list(model.transformer.warnings_),
    )


def score_new_customers(model: SegmentationModel, profiles: pd.DataFrame) -> pd.DataFrame:
    """Assign customers of ``profiles`` to the fitted segments without refitting.

    Returns one row per input row with columns :data:`ASSIGNMENT_COLUMNS` (distances in the scaled
    space of the fitted model; values outside the training clip range are clipped first).
    """
    _check_profiles(profiles)
    x = model.transformer.transform(profiles)
    _, frame = _assignments(profiles["customer_id"], model.distances(x))
    return frame
