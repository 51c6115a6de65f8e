"""Segment ids and names that survive nightly refreshes, and customer migration between runs.

k-means numbers its clusters arbitrarily, so each night's segments are matched to the previous night's
by their centroids:

1. both centroid sets (trait units) are mapped to the trait's clustering scale (log1p / signed_log1p /
   identity) and divided by a per-trait scale in those units — normally the current model's
   ``SegmentationResult.feature_scale`` (the robust scaler's IQR), i.e. the clustering's own geometry.
   The scale is required for matching: one estimated from a handful of centroids would make traits on which
   all segments agree look decisive;
2. the distance between two centroids is the root-mean-square of the standardized per-trait
   differences (Euclidean distance / √n_traits), so the threshold does not depend on how many traits
   are used; only traits present in both runs count;
3. :func:`scipy.optimize.linear_sum_assignment` (Hungarian algorithm) finds the one-to-one matching
   with the least total distance; a matched pair further apart than ``max_distance`` is unmatched.

Matched segments keep the previous ``segment_id`` **and** ``name``. Unmatched new segments get fresh ids
``seg_<n>``, n continuing after the highest number ever issued (previous ids plus ``issued_ids``), in
segment_index order, so the result is deterministic and retired ids are never reused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from segmentation_assets.segmentation.features import (
    SegmentationError,
    apply_transform,
    has_repeats,
)
from segmentation_assets.traits import TRAITS_BY_NAME

ID_PREFIX = "seg_"
_ID_PATTERN = re.compile(r"^seg_(\d+)$")

#: Columns of :attr:`StableIds.table`.
STABLE_ID_COLUMNS: tuple[str, ...] = (
    "segment_index",
    "segment_id",
    "name",
    "matched",
    "match_distance",
)

#: Columns of :func:`migration_table`.
MIGRATION_COLUMNS: tuple[str, ...] = ("from_segment_id", "to_segment_id", "customers")


@dataclass(frozen=True)
class StableIds:
    """Outcome of :func:`assign_stable_ids`.

    Attributes:
        segment_ids: segment_index → segment_id.
        names: segment_index → name (previous name when matched, else the proposed current name,
            suffixed " 2", " 3"... if a previous segment had it; None when no name was proposed).
        table: one row per current segment, columns :data:`STABLE_ID_COLUMNS`; match_distance is the
            RMS standardized centroid distance to the matched previous segment (NaN when new).
        retired_ids: previous segment ids with no current match.
        traits_compared: traits the distances used.
    """

    segment_ids: dict[int, str]
    names: dict[int, str | None]
    table: pd.DataFrame = field(repr=False)
    retired_ids: tuple[str, ...] = ()
    traits_compared: tuple[str, ...] = ()


def _id_number(segment_id: str) -> int | None:
    m = _ID_PATTERN.match(str(segment_id))
    return int(m.group(1)) if m else None


def _to_clustering_scale(frame: pd.DataFrame, traits: list[str]) -> np.ndarray:
    values = frame.loc[:, traits].to_numpy(dtype=float)
    for j, name in enumerate(traits):
        values[:, j] = apply_transform(values[:, j], TRAITS_BY_NAME[name].transform)
    return values


def centroid_distances(
    current: pd.DataFrame,
    previous: pd.DataFrame,
    scale: Mapping[str, float] | pd.Series,
) -> tuple[np.ndarray, list[str]]:
    """RMS standardized distances (n_current, n_previous) between centroid rows; and traits used."""
    traits = [
        c
        for c in current.columns
        if c in previous.columns
        and c in scale
        and c in TRAITS_BY_NAME
        and TRAITS_BY_NAME[c].kind == "numeric"
    ]
    if not traits:
        raise SegmentationError(
            "current and previous centroids share no numeric trait column with a scale; cannot "
            "match segments"
        )
    cur = _to_clustering_scale(current, traits)
    prev = _to_clustering_scale(previous, traits)
    s = np.array([float(scale[t]) if t in scale else np.nan for t in traits])
    unknown = [t for t, v in zip(traits, s, strict=True) if not (np.isfinite(v) and v > 0)]
    if unknown:
        raise SegmentationError(
            f"scale lacks a positive value for trait(s) {', '.join(unknown)}; pass "
            "SegmentationResult.feature_scale"
        )
    diff = (cur[:, None, :] - prev[None, :, :]) / s
    return np.sqrt(np.mean(diff**2, axis=2)), traits


def assign_stable_ids(
    current_centroids: pd.DataFrame,
    previous: pd.DataFrame | None,
    *,
    scale: Mapping[str, float] | pd.Series | None = None,
    current_names: Mapping[int, str] | None = None,
    max_distance: float = 0.5,
    issued_ids: Iterable[str] = (),
) -> StableIds:
    """Give each current segment a stable id (and name) by matching it to the previous run.

    Args:
        current_centroids: (k rows, index = segment_index) × trait columns, trait units
            (``SegmentationResult.centroids_original``).
        previous: the previous run's segments: columns ``segment_id``, ``name`` and the same trait
            columns (centroids in trait units), one row per segment; None or empty on the first run.
        current_names: segment_index → proposed name (e.g. from :func:`name_segments`), used for
            unmatched segments.
        scale: per-trait scale in *transformed* units, normally ``SegmentationResult.feature_scale``
            of the current run; only traits in both runs and in ``scale`` are compared. Required
            when ``previous`` has rows.
        max_distance: largest RMS standardized distance at which two centroids are the same segment
            (0.5 = half a scale unit per trait on average).
        issued_ids: every id issued before (also retired ones), so fresh numbers never repeat.

    Returns:
        :class:`StableIds`.
    """
    k = len(current_centroids)
    seg_index = [int(i) for i in current_centroids.index]
    names_in = dict(current_names or {})
    numbers = [_id_number(i) for i in issued_ids]
    matched: dict[int, tuple[str, str | None, float]] = {}
    retired: tuple[str, ...] = ()
    traits: list[str] = []

    if previous is not None and len(previous):
        missing = {"segment_id", "name"} - set(previous.columns)
        if missing:
            raise SegmentationError(
                f"previous segments lack column(s): {', '.join(sorted(missing))}"
            )
        if previous["segment_id"].duplicated().any():
            raise SegmentationError("previous segments repeat a segment_id")
        if scale is None:
            raise SegmentationError(
                "matching against previous segments needs scale=SegmentationResult.feature_scale"
            )
        numbers += [_id_number(i) for i in previous["segment_id"]]
        dist, traits = centroid_distances(current_centroids, previous, scale)
        rows, cols = linear_sum_assignment(dist)
        for r, c in zip(rows, cols, strict=True):
            if dist[r, c] <= max_distance:
                prev_row = previous.iloc[c]
                prev_name = None if pd.isna(prev_row["name"]) else str(prev_row["name"])
                matched[seg_index[r]] = (str(prev_row["segment_id"]), prev_name, float(dist[r, c]))
        kept = {m[0] for m in matched.values()}
        retired = tuple(str(i) for i in previous["segment_id"] if str(i) not in kept)

    next_number = max([n for n in numbers if n is not None], default=0) + 1
    segment_ids: dict[int, str] = {}
    names: dict[int, str | None] = {}
    # A fresh segment must not borrow any previous segment's name (kept or retired): readers
    # would take it for the old segment.
    taken_names = {m[1] for m in matched.values() if m[1] is not None}
    if previous is not None and "name" in previous.columns:
        taken_names |= {str(v) for v in previous["name"] if not pd.isna(v)}
    records = []
    for idx in sorted(seg_index):
        if idx in matched:
            sid, name, d = matched[idx]
            if name is None:
                name = names_in.get(idx)
            is_matched = True
        else:
            sid, d, is_matched = f"{ID_PREFIX}{next_number}", float("nan"), False
            next_number += 1
            name = names_in.get(idx)
            if name is not None and name in taken_names:
                n = 2
                while f"{name} {n}" in taken_names:
                    n += 1
                name = f"{name} {n}"
        if name is not None:
            taken_names.add(name)
        segment_ids[idx], names[idx] = sid, name
        records.append(
            {
                "segment_index": idx,
                "segment_id": sid,
                "name": name,
                "matched": is_matched,
                "match_distance": d,
            }
        )
    table = pd.DataFrame(records, columns=list(STABLE_ID_COLUMNS))
    if len(table) != k:  # pragma: no cover - defensive: index must be unique
        raise SegmentationError("current_centroids index must be unique segment indices")
    return StableIds(
        segment_ids=segment_ids,
        names=names,
        table=table,
        retired_ids=retired,
        traits_compared=tuple(traits),
    )


def previous_segments_frame(centroids_original: pd.DataFrame, stable: StableIds) -> pd.DataFrame:
    """The ``previous`` input for the next run: segment_id, name and centroid columns (trait units)."""
    out = centroids_original.copy()
    out.insert(0, "name", [stable.names[int(i)] for i in out.index])
    out.insert(0, "segment_id", [stable.segment_ids[int(i)] for i in out.index])
    return out.reset_index(drop=True)


def segment_ids_of_labels(labels: np.ndarray, segment_ids: Mapping[int, str], k: int) -> np.ndarray:
    """The segment id of each label (``segment_ids``: segment_index → segment_id for the k
    segments), by one array lookup instead of a dictionary lookup per customer."""
    return np.array([segment_ids[i] for i in range(k)], dtype=object)[labels]


def migration_table(
    prev_assignments: pd.DataFrame,
    curr_assignments: pd.DataFrame,
    *,
    segment_column: str = "segment_id",
    include_new_and_gone: bool = True,
) -> pd.DataFrame:
    """How customers moved between segments from the previous to the current run.

    Both frames need ``customer_id`` and ``segment_column`` (one row per customer).

    Returns:
        Columns :data:`MIGRATION_COLUMNS`, one row per (from, to) pair with at least one customer.
        Rows with both ids set count customers present in both runs (they sum to the customers in
        common). With ``include_new_and_gone``, customers only in the current run appear as rows with
        ``from_segment_id`` None (one per current segment) and customers only in the previous run as
        rows with ``to_segment_id`` None, so all rows sum to the customers in either run. Sorted:
        common pairs first, then new, then gone, each by segment ids.
    """
    for label, frame in (("previous", prev_assignments), ("current", curr_assignments)):
        missing = {"customer_id", segment_column} - set(frame.columns)
        if missing:
            raise SegmentationError(
                f"{label} assignments lack column(s): {', '.join(sorted(missing))}"
            )
        if has_repeats(frame["customer_id"]):
            raise SegmentationError(f"{label} assignments repeat a customer_id")
    prev = prev_assignments[["customer_id", segment_column]].rename(
        columns={segment_column: "from_segment_id"}
    )
    curr = curr_assignments[["customer_id", segment_column]].rename(
        columns={segment_column: "to_segment_id"}
    )
    both = prev.merge(curr, on="customer_id", how="outer", indicator=True)
    parts = [both[both["_merge"] == "both"]]
    if include_new_and_gone:
        parts += [both[both["_merge"] == "right_only"], both[both["_merge"] == "left_only"]]
    tables = []
    for part in parts:
        counted = (
            part.groupby(["from_segment_id", "to_segment_id"], sort=True, dropna=False)
            .size()
            .rename("customers")
            .reset_index()
        )
        tables.append(counted)
    table = pd.concat(tables, ignore_index=True)
    table["customers"] = table["customers"].astype(np.int64)
    # None (not NaN) marks "no segment" so the ids stay a clean object column for the warehouse.
    for col in ("from_segment_id", "to_segment_id"):
        table[col] = table[col].astype(object).where(table[col].notna(), None)
    return table[list(MIGRATION_COLUMNS)]
