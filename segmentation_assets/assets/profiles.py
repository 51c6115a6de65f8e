"""Stage 3 — ``profiles``: one row of business-readable traits per surviving customer."""

from __future__ import annotations

import json

import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from segmentation_assets.assets.common import (
    DUCKDB_POOL,
    KINDS,
    OWNERS,
    PER_DATE_BACKFILL,
    as_of_dates,
    frame_metadata,
)
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.profiles import (
    PROFILE_RUNS_TABLE,
    PROFILES_TABLE,
    ValueModelSettings,
    build_profiles,
)
from segmentation_assets.resources import WarehouseResource
from segmentation_assets.warehouse import replace_rows, transaction


class ProfilesConfig(Config):
    """Window and value-model settings (defaults: 365 days, 12-month CLV, 1 % monthly discount)."""

    window_days: int = Field(default=365, ge=7)
    clv_horizon_months: int = Field(default=12, ge=1)
    monthly_discount_rate: float = Field(default=0.01, ge=0, lt=1)


@asset(
    deps=["raw_events", "merged_ids"],
    partitions_def=daily_partitions,
    backfill_policy=PER_DATE_BACKFILL,
    group_name="profiles",
    kinds=KINDS,
    owners=OWNERS,
    pool=DUCKDB_POOL,
    tags={"stage": "3"},
)
def profiles(
    context: AssetExecutionContext, config: ProfilesConfig, warehouse: WarehouseResource
) -> MaterializeResult:
    """One row per surviving customer active in the window ending at the as-of date: value net of
    refunds, purchase rhythm, engagement, category taste, device and time habits, RFM scores and
    group, and BG/NBD + Gamma-Gamma expected purchases, probability alive, churn risk and
    predicted CLV. Every column is defined in the trait registry."""
    settings = ValueModelSettings(
        horizon_months=config.clv_horizon_months, monthly_discount_rate=config.monthly_discount_rate
    )
    metadata: dict[str, object] = {}
    with warehouse.connection() as con:
        for as_of in as_of_dates(context):
            build = build_profiles(con, as_of, config.window_days, settings)
            frame = build.profiles
            run = pd.DataFrame(
                {
                    "as_of_date": [as_of],
                    "window_days": [config.window_days],
                    "customers": [len(frame)],
                    "value_model": [json.dumps(_jsonable(build.value_model), sort_keys=True)],
                }
            )
            with transaction(con):
                replace_rows(
                    con, PROFILES_TABLE, frame, where="as_of_date = $d", params={"d": as_of}
                )
                replace_rows(
                    con, PROFILE_RUNS_TABLE, run, where="as_of_date = $d", params={"d": as_of}
                )
            metadata = {
                **frame_metadata(frame),
                "as_of_date": str(as_of),
                "window_days": config.window_days,
                "customers": len(frame),
                "buyers": int((frame["orders"] > 0).sum()),
                "net_revenue_total": float(frame["net_revenue"].sum()),
                "predicted_clv_total": float(frame["predicted_clv"].sum()),
                "value_model": MetadataValue.json(_jsonable(build.value_model)),
                "rfm_groups": MetadataValue.json(frame["rfm_segment"].value_counts().to_dict()),
            }
    return MaterializeResult(metadata=metadata)


def _jsonable(value: object) -> object:
    """Diagnostics may hold numpy scalars or dataclasses; metadata needs plain JSON."""
    return json.loads(json.dumps(value, default=lambda o: getattr(o, "__dict__", str(o))))
