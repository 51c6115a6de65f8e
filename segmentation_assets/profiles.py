"""Customer profiles: one row per surviving customer over a window ending at the as-of date.

Event-scale aggregation is SQL (``sql/customer_profiles.sql``, BigQuery dialect transpiled to DuckDB);
only the per-customer result reaches pandas, where RFM scores and the CLV models are added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from segmentation_assets import ingest, sql
from segmentation_assets.rfm import add_rfm
from segmentation_assets.traits import PROFILE_COLUMNS

PROFILES_TABLE = "profiles"
#: One row per as-of date: the window and value-model facts the profiles were built with.
PROFILE_RUNS_TABLE = "profile_runs"

#: Helper columns the SQL returns for the value model; they are not traits and are not stored.
_VALUE_MODEL_INPUTS = (
    "gross_revenue",
    "refunded_revenue",
    "repeat_purchase_days",
    "first_to_last_order_days",
    "first_order_age_days",
    "repeat_order_value",
)


@dataclass
class ValueModelSettings:
    """CLV horizon and discounting; the BG/NBD time unit is weeks as in the literature."""

    horizon_months: int = 12
    monthly_discount_rate: float = 0.01
    min_repeat_buyers: int = 20


@dataclass
class ProfileBuild:
    """The profiles frame plus what the value model reported (fit, fallback)."""

    profiles: pd.DataFrame
    value_model: dict[str, Any] = field(default_factory=dict)


def aggregate_profiles_sql(
    con: Any,
    as_of: date,
    window_days: int,
    raw_events: str = "raw_events",
    merged_ids: str = "merged_ids",
) -> pd.DataFrame:
    """Run the profile aggregation for the window ``(as_of - window_days, as_of]``.

    The SQL reads the compact activity tables the ingest writes with ``raw_events`` (the same
    events counted per day and customer; days whose counts no longer match raw_events are rebuilt
    first). For any other events table the activity of the window is aggregated on the fly into
    temporary tables, with the same SQL.
    """
    window_start = as_of - timedelta(days=window_days - 1)
    if raw_events == ingest.RAW_EVENTS_TABLE:
        ingest.refresh_stale_activity(con, window_start, as_of)
        tables = {grain: table for grain, (table, _) in ingest.ACTIVITY_TABLES.items()}
    else:
        tables = {}
        for grain in ingest.ACTIVITY_TABLES:
            tables[grain] = f"_profile_activity_{grain}"
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {tables[grain]} AS "
                f"{ingest.activity_sql(grain, raw_events)}",
                {"day_start": window_start, "day_end": as_of + timedelta(days=1)},
            )
    query = sql.duckdb_sql(
        "customer_profiles.sql",
        daily_activity=tables["daily"],
        category_activity=tables["categories"],
        device_activity=tables["devices"],
        purchase_activity=tables["purchases"],
        merged_ids=merged_ids,
    )
    params = {"as_of_date": as_of, "window_start": window_start}
    return con.execute(query, params).df()


def add_value_model(
    frame: pd.DataFrame, settings: ValueModelSettings
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Add expected_purchases, p_alive, churn_risk and predicted_clv from the BG/NBD + Gamma-Gamma fit."""
    from segmentation_assets import clv

    weeks = 7.0
    summary = pd.DataFrame(
        {
            "frequency": frame["repeat_purchase_days"].astype(float),
            "recency": frame["first_to_last_order_days"].astype(float) / weeks,
            "T": frame["first_order_age_days"].astype(float) / weeks,
            "monetary_value": frame["repeat_order_value"].astype(float).clip(lower=0),
        },
        index=frame.index,
    )
    buyers = frame["orders"] > 0
    out = frame.copy()
    for column in ("expected_purchases", "p_alive", "predicted_clv"):
        out[column] = 0.0
    diagnostics: dict[str, Any] = {"buyers": int(buyers.sum())}
    if buyers.any():
        result = clv.predict_clv(
            summary[buyers],
            horizon_months=settings.horizon_months,
            monthly_discount_rate=settings.monthly_discount_rate,
            time_unit_days=weeks,
            min_repeat_buyers=settings.min_repeat_buyers,
        )
        predictions = result.customers
        out.loc[buyers, "expected_purchases"] = predictions["expected_purchases"].to_numpy()
        out.loc[buyers, "p_alive"] = predictions["p_alive"].to_numpy()
        out.loc[buyers, "predicted_clv"] = predictions["predicted_clv"].to_numpy()
        diagnostics.update(result.diagnostics)
    # Never-buyers are not modelled by BG/NBD (it starts at the first purchase): they have no
    # purchase process to be "alive" in, so they count as churned for value purposes.
    out["churn_risk"] = 1.0 - out["p_alive"]
    return out, diagnostics


def build_profiles(
    con: Any,
    as_of: date,
    window_days: int,
    settings: ValueModelSettings | None = None,
    raw_events: str = "raw_events",
    merged_ids: str = "merged_ids",
) -> ProfileBuild:
    """Aggregate, score RFM, fit the value model; columns in registry order (``PROFILE_COLUMNS``)."""
    frame = aggregate_profiles_sql(con, as_of, window_days, raw_events, merged_ids)
    frame, diagnostics = add_value_model(frame, settings or ValueModelSettings())
    frame = add_rfm(frame)
    frame["as_of_date"] = pd.Timestamp(as_of).date()
    frame["weekend_share"] = frame["weekend_share"].fillna(0.0)
    for column in ("preferred_weekday", "preferred_hour"):
        frame[column] = frame[column].astype("int64")
    profiles = frame[list(PROFILE_COLUMNS)].sort_values("customer_id").reset_index(drop=True)
    numeric = profiles.select_dtypes(include=[np.number])
    if not np.isfinite(numeric.to_numpy(dtype=float)).all():
        bad = [
            c for c in numeric.columns if not np.isfinite(numeric[c].to_numpy(dtype=float)).all()
        ]
        raise ValueError(f"profiles for {as_of}: non-finite values in {', '.join(bad)}")
    return ProfileBuild(profiles=profiles, value_model=diagnostics)
