"""Synthetic ``profiles`` frames with planted clusters, built with numpy in trait space.

Each default clustering trait has a typical value and a within-cluster spread in its *transformed*
units (log1p for counts and money); a planted cluster shifts chosen traits by a number of spreads.
Values are mapped back to trait units, so the frame looks like the profile SQL's output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from segmentation_assets.segmentation.features import invert_transform
from segmentation_assets.traits import (
    CATEGORICAL_TRAITS,
    NUMERIC_TRAITS,
    PROFILE_COLUMNS,
    TRAITS_BY_NAME,
)

#: (typical value, within-cluster spread) in transformed units, per default clustering trait.
BASE: dict[str, tuple[float, float]] = {
    "orders": (1.5, 0.15),
    "net_revenue": (5.5, 0.2),
    "avg_order_value": (4.0, 0.15),
    "discount_share": (0.3, 0.04),
    "recency_days": (3.0, 0.2),
    "tenure_days": (400.0, 40.0),
    "purchase_frequency_per_month": (0.5, 0.05),
    "sessions": (2.5, 0.2),
    "cart_abandonment_rate": (0.4, 0.05),
    "email_open_rate": (0.3, 0.05),
    "top_category_share": (0.5, 0.05),
    "category_breadth": (4.0, 0.5),
    "mobile_share": (0.5, 0.05),
    "weekend_share": (0.3, 0.04),
    "churn_risk": (0.3, 0.05),
}
_SHARES = {n for n in NUMERIC_TRAITS if TRAITS_BY_NAME[n].unit.startswith(("share", "probability"))}

#: Five well-separated planted clusters (shifts in spreads), each with one or two obvious traits.
PLANTED: list[dict[str, float]] = [
    {"net_revenue": 8, "avg_order_value": 6},  # high-value
    {"recency_days": 8, "churn_risk": 7},  # lapsing, at-risk
    {"discount_share": 8, "cart_abandonment_rate": 6},  # deal-seeking
    {"mobile_share": 8, "weekend_share": 7},  # mobile-first
    {"tenure_days": -7, "email_open_rate": 8},  # new, email-engaged
]


def make_profiles(
    sizes: Sequence[int],
    shifts: Sequence[Mapping[str, float]],
    seed: int = 0,
    id_offset: int = 0,
    noise: float = 1.0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Return (profiles with every PROFILE_COLUMNS column, planted label per row)."""
    rng = np.random.default_rng(seed)
    n = int(sum(sizes))
    truth = np.repeat(np.arange(len(sizes)), sizes)
    data: dict[str, object] = {
        "as_of_date": pd.Timestamp("2024-06-30").date(),
        "customer_id": [f"c{i + id_offset:07d}" for i in range(n)],
    }
    for name in NUMERIC_TRAITS:
        if name in BASE:
            mu, sd = BASE[name]
            shift = np.array([s.get(name, 0.0) for s in shifts])[truth]
            t = mu + sd * (shift + noise * rng.standard_normal(n))
            values = invert_transform(t, TRAITS_BY_NAME[name].transform)
        else:
            values = rng.uniform(0, 1, n) if name in _SHARES else rng.gamma(2.0, 2.0, n)
        if name in _SHARES:
            values = np.clip(values, 0.0, 1.0)
        elif TRAITS_BY_NAME[name].transform == "log1p" or name == "tenure_days":
            values = np.maximum(values, 0.0)
        data[name] = values
    for name in CATEGORICAL_TRAITS:
        data[name] = rng.choice(["a", "b", "c"], n)
    frame = pd.DataFrame(data)[list(PROFILE_COLUMNS)]
    return frame, truth


def planted(n_per_cluster: int = 200, seed: int = 0, k: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    """``k`` (≤ 5) well-separated planted clusters of ``n_per_cluster`` customers each."""
    return make_profiles([n_per_cluster] * k, PLANTED[:k], seed=seed)


def uniform_blob(n: int, seed: int = 0) -> pd.DataFrame:
    """Profiles without structure: every clustering trait uniform over typical ± 3 spreads."""
    frame, _ = make_profiles([n], [{}], seed=seed)
    rng = np.random.default_rng(seed + 1)
    for name, (mu, sd) in BASE.items():
        t = rng.uniform(mu - 3 * sd, mu + 3 * sd, n)
        values = invert_transform(t, TRAITS_BY_NAME[name].transform)
        frame[name] = np.clip(values, 0.0, 1.0) if name in _SHARES else np.maximum(values, 0.0)
    return frame
