"""Stage 3 — ``profiles``: one row of business-readable traits per surviving customer."""

import json
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from segmentation_assets.assets.common import (
    DUCKDB_POOL,
    KINDS,
    OWNERS,
    PER_DATE_BACKFILL,
    as_of_dates,
    attach_date_metadata,
    frame_metadata,
    run_key_of,
)
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.profiles import (
    PROFILE_RUNS_TABLE,
    PROFILES_TABLE,
    build_profiles,
)
from segmentation_assets.resources import PipelineSettingsResource, WarehouseResource
from segmentation_assets.warehouse import replace_rows, transaction


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
    context: AssetExecutionContext,
    settings: PipelineSettingsResource,
    warehouse: WarehouseResource,
) -> MaterializeResult:
    """One row per surviving customer active in the window ending at the as-of date: value net of
    refunds, purchase rhythm, engagement, category taste, device and time habits, RFM scores and
    group, and BG/NBD + Gamma-Gamma expected purchases, probability alive, churn risk and
    predicted CLV. Every column is defined in the trait registry."""
    metadata: dict[str, Any] = {}
    with warehouse.connection() as con:
        for as_of in as_of_dates(context):
            build = build_profiles(
                con,
                as_of,
                settings.window_days,
                settings.value_model(),
                run_key=run_key_of(context),
            )
            frame = build.profiles
            run = pd.DataFrame(
                {
                    "as_of_date": [as_of],
                    "window_days": [settings.window_days],
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
                "window_days": settings.window_days,
                "customers": len(frame),
                "buyers": int((frame["orders"] > 0).sum()),
                "net_revenue_total": float(frame["net_revenue"].sum()),
                "predicted_clv_total": float(frame["predicted_clv"].sum()),
                "value_model": MetadataValue.json(_jsonable(build.value_model)),
                "rfm_groups": MetadataValue.json(frame["rfm_segment"].value_counts().to_dict()),
            }
            attach_date_metadata(context, as_of, metadata)
    return MaterializeResult(metadata=metadata)


def _jsonable(value: object) -> Any:
    """Diagnostics may hold numpy scalars or dataclasses; metadata needs plain JSON."""
    return json.loads(json.dumps(value, default=lambda o: getattr(o, "__dict__", str(o))))
