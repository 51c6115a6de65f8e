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
    run_key_of,
    table_schema_metadata,
)
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.resources import PipelineSettingsResource, WarehouseResource


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
            snapshot = identity.write_merged_ids(
                con, as_of, settings.window_days, run_key=run_key_of(context)
            )
            conflicts = snapshot.conflicts
            preview = con.execute(
                f"SELECT * FROM {identity.MERGED_IDS_TABLE} WHERE as_of_date = $d "
                "ORDER BY internal_customer_id LIMIT 10",
                {"d": as_of},
            ).df()
            metadata = {
                **table_schema_metadata(con, identity.MERGED_IDS_TABLE),
                "dagster/row_count": MetadataValue.int(snapshot.ids),
                "preview": MetadataValue.md(
                    preview.to_markdown(index=False) if len(preview) else "_empty_"
                ),
                "as_of_date": str(as_of),
                "ids": snapshot.ids,
                "surviving_customers": snapshot.surviving_customers,
                "merged_ids": snapshot.merged_ids,
                "conflicts": len(conflicts),
                "conflicts_by_type": MetadataValue.json(
                    conflicts["conflict_type"].value_counts().sort_index().to_dict()
                ),
            }
            attach_date_metadata(context, as_of, metadata)
    return MaterializeResult(metadata=metadata)
