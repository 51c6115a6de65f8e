"""RFM quintile scores and the conventional named RFM groups."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: (recency score range, frequency-monetary score range) → group, checked top to bottom. The grid is
#: the widely used 11-group RFM map on R and the rounded mean of F and M; "Lost" is the floor.
RFM_GROUPS: tuple[tuple[tuple[int, int], tuple[int, int], str], ...] = (
    ((5, 5), (4, 5), "Champions"),
    ((4, 4), (5, 5), "Champions"),
    ((3, 5), (3, 5), "Loyal"),
    ((4, 5), (2, 3), "Potential Loyalist"),
    ((5, 5), (1, 1), "New"),
    ((4, 4), (1, 1), "Promising"),
    ((3, 3), (2, 3), "Need Attention"),
    ((3, 3), (1, 1), "About to Sleep"),
    ((1, 2), (5, 5), "Can't Lose Them"),
    ((1, 2), (3, 4), "At Risk"),
    ((2, 2), (1, 2), "Hibernating"),
    ((1, 1), (1, 2), "Lost"),
)
RFM_GROUP_NAMES: tuple[str, ...] = tuple(dict.fromkeys(name for _, _, name in RFM_GROUPS))


def quintile_scores(values: pd.Series, *, reverse: bool = False) -> pd.Series:
    """Scores 1-5 by quintile of ``values``; tied values share a score (rank by 'min').

    With ``reverse`` the smallest values score 5 (used for recency: recent is good).
    """
    if values.empty:
        return pd.Series([], dtype="int64", index=values.index)
    ranks = (-values if reverse else values).rank(method="min", pct=True)
    return pd.Series(
        np.clip(np.ceil(ranks.to_numpy() * 5), 1, 5).astype("int64"), index=values.index
    )


def rfm_group(
    recency_score: pd.Series, frequency_score: pd.Series, monetary_score: pd.Series
) -> pd.Series:
    """The named RFM group of each customer (every score combination maps to exactly one group)."""
    fm = np.floor((frequency_score.to_numpy() + monetary_score.to_numpy()) / 2 + 0.5).astype(int)
    r = recency_score.to_numpy()
    out = np.full(len(r), "", dtype=object)
    for (r_lo, r_hi), (fm_lo, fm_hi), name in RFM_GROUPS:
        hit = (out == "") & (r >= r_lo) & (r <= r_hi) & (fm >= fm_lo) & (fm <= fm_hi)
        out[hit] = name
    if (out == "").any():  # defensive: the table above covers the whole 5x5 grid
        raise AssertionError("RFM group table does not cover every score combination")
    return pd.Series(out, index=recency_score.index, dtype="object")


def rfm_columns(profiles: pd.DataFrame) -> dict[str, pd.Series]:
    """rfm_recency_score, rfm_frequency_score, rfm_monetary_score and rfm_segment of each row of
    ``profiles`` (series on its index)."""
    recency = quintile_scores(profiles["recency_days"], reverse=True)
    frequency = quintile_scores(profiles["orders"])
    monetary = quintile_scores(profiles["net_revenue"])
    # A customer who never bought has the lowest frequency and monetary standing by definition,
    # whatever share of the population ties with them.
    never_bought = profiles["orders"] <= 0
    frequency = frequency.mask(never_bought, 1)
    monetary = monetary.mask(never_bought, 1)
    return {
        "rfm_recency_score": recency,
        "rfm_frequency_score": frequency,
        "rfm_monetary_score": monetary,
        "rfm_segment": rfm_group(recency, frequency, monetary),
    }
