"""Stage 2 — ``merged_ids``: the identity graph as of the partition's date."""

from typing import Any

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from segmentation_assets import identity
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
from segmentation_assets.resources import PipelineSettingsResource, WarehouseResource
from segmentation_assets.warehouse import replace_rows, transaction


@asset(
    deps=["raw_events"],
    partitions_def=daily_partitions,
    backfill_policy=PER_DATE_BACKFILL,
    group_name="identity",
    kinds=KINDS,
    owners=OWNERS,
    pool=DUCKDB_POOL,
    tags={"stage": "2"},
)
def merged_ids(
    context: AssetExecutionContext,
    settings: PipelineSettingsResource,
    warehouse: WarehouseResource,
) -> MaterializeResult:
    """Every customer id seen up to the as-of date mapped to exactly one surviving id: merge chains
    resolved transitively, merges timestamped after the as-of date not applied, cycles and
    contested merges resolved deterministically and listed in ``identity_conflicts``."""
    metadata: dict[str, Any] = {}
    with warehouse.connection() as con:
        identity.ensure_identity_tables(con)
        for as_of in as_of_dates(context):
            resolution = identity.build_merged_ids(
                con, as_of, settings.window_days, run_key=run_key_of(context)
            )
            mapping = resolution.mapping.assign(as_of_date=as_of)[
                ["as_of_date", "internal_customer_id", "surviving_id"]
            ]
            conflicts = resolution.conflicts.assign(as_of_date=as_of)[
                ["as_of_date", "conflict_type", "ids", "chosen_survivor"]
            ]
            with transaction(con):
                replace_rows(
                    con,
                    identity.MERGED_IDS_TABLE,
                    mapping,
                    where="as_of_date = $d",
                    params={"d": as_of},
                )
                replace_rows(
                    con,
                    identity.CONFLICTS_TABLE,
                    conflicts,
                    where="as_of_date = $d",
                    params={"d": as_of},
                )
            metadata = {
                **frame_metadata(mapping),
                "as_of_date": str(as_of),
                "ids": len(mapping),
                "surviving_customers": int(mapping["surviving_id"].nunique()),
                "merged_ids": resolution.merged_id_count,
                "conflicts": len(conflicts),
                "conflicts_by_type": MetadataValue.json(
                    conflicts["conflict_type"].value_counts().sort_index().to_dict()
                ),
            }
            attach_date_metadata(context, as_of, metadata)
    return MaterializeResult(metadata=metadata)
