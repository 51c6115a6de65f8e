"""Stage 4 — ``clusters``: named, stable segments from the profiles."""

from datetime import date
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from segmentation_assets.assets.common import (
    DUCKDB_POOL,
    OWNERS,
    PER_DATE_BACKFILL,
    as_of_dates,
    attach_date_metadata,
    frame_metadata,
)
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.profiles import stored_profiles
from segmentation_assets.resources import PipelineSettingsResource, WarehouseResource
from segmentation_assets.robustness import native_thread_limit
from segmentation_assets.segmentation.outputs import previous_centroids_frame, segment_customers
from segmentation_assets.warehouse import replace_rows, table_exists, transaction

#: Table name → the SegmentationOutputs attribute stored in it.
CLUSTER_TABLES = {
    "segments": "segments",
    "segment_assignments": "assignments",
    "segment_trait_profile": "trait_profile",
    "segment_centroids": "centroids",
    "k_selection_scores": "k_scores",
    "segment_migration": "migration",
}


def previous_date(con: Any, table: str, as_of: date) -> date | None:
    """The latest as-of date before ``as_of`` that ``table`` holds."""
    if not table_exists(con, table):
        return None
    row = con.execute(
        f"SELECT max(as_of_date) FROM {table} WHERE as_of_date < $d", {"d": as_of}
    ).fetchone()
    return row[0] if row and row[0] is not None else None


@asset(
    deps=["profiles"],
    partitions_def=daily_partitions,
    backfill_policy=PER_DATE_BACKFILL,
    group_name="segmentation",
    kinds={"duckdb", "scikit-learn"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    tags={"stage": "4"},
)
def clusters(
    context: AssetExecutionContext,
    settings: PipelineSettingsResource,
    warehouse: WarehouseResource,
) -> MaterializeResult:
    """Customers grouped into segments by KMeans on log-transformed, clipped, robust-scaled traits
    from the registry; k is fixed by configuration or chosen from the data (silhouette, guarded by
    prediction strength). Each segment is named in business words from the traits that set it apart,
    and keeps its id and name across nightly runs by centroid matching with the previous as-of date.
    Writes segments, assignments (with membership confidence), the segment × trait profile, the
    k-selection scores, the migration from the previous date and the versioned model."""
    config = settings.segmentation()
    metadata: dict[str, Any] = {}
    with warehouse.connection() as con:
        # The first date has no migration rows; typing the table from that empty frame would
        # give it numeric id columns that the second date's segment ids cannot enter.
        con.execute(
            "CREATE TABLE IF NOT EXISTS segment_migration (as_of_date DATE NOT NULL, "
            "from_segment_id VARCHAR, to_segment_id VARCHAR, customers BIGINT NOT NULL)"
        )
        for as_of in as_of_dates(context):
            profiles = stored_profiles(con, as_of)
            previous = previous_date(con, "segment_centroids", as_of)
            prev_centroids = prev_assignments = None
            issued: tuple[str, ...] = ()
            if previous is not None:
                prev_centroids = previous_centroids_frame(
                    con.execute(
                        "SELECT segment_id, name, trait, value FROM segment_centroids WHERE as_of_date = $d",
                        {"d": previous},
                    ).df()
                )
                prev_assignments = con.execute(
                    "SELECT customer_id, segment_id FROM segment_assignments WHERE as_of_date = $d",
                    {"d": previous},
                ).df()
                issued = tuple(
                    r[0]
                    for r in con.execute(
                        "SELECT DISTINCT segment_id FROM segments WHERE as_of_date < $d",
                        {"d": as_of},
                    ).fetchall()
                )
            with native_thread_limit(settings.native_threads):
                outputs = segment_customers(
                    profiles,
                    config,
                    as_of,
                    previous_centroids=prev_centroids,
                    previous_assignments=prev_assignments,
                    issued_ids=issued,
                    workers=settings.parallel_fits,
                )
            model_row = pd.DataFrame(
                {
                    "as_of_date": [as_of],
                    "model_version": [outputs.result.version],
                    "k": [outputs.result.k],
                    "features": [",".join(outputs.result.features)],
                    "model": [outputs.result.model.to_bytes()],
                }
            )
            with transaction(con):
                for table, attribute in CLUSTER_TABLES.items():
                    replace_rows(
                        con,
                        table,
                        getattr(outputs, attribute),
                        where="as_of_date = $d",
                        params={"d": as_of},
                    )
                replace_rows(
                    con,
                    "segmentation_models",
                    model_row,
                    where="as_of_date = $d",
                    params={"d": as_of},
                )
            segments = outputs.segments
            metadata = {
                **frame_metadata(
                    segments[
                        [
                            "segment_id",
                            "name",
                            "size",
                            "share",
                            "avg_predicted_clv",
                            "avg_churn_risk",
                        ]
                    ]
                ),
                "as_of_date": str(as_of),
                "k": outputs.result.k,
                "k_chosen_by": "configuration"
                if outputs.result.k_selection is None
                else outputs.result.k_selection.reason,
                "k_scores": MetadataValue.md(
                    outputs.k_scores.drop(columns=["as_of_date"]).to_markdown(index=False)
                ),
                "model_version": outputs.result.version,
                "previous_as_of_date": str(previous) if previous else "none",
                "customers_moved": int(
                    outputs.migration.loc[
                        outputs.migration["from_segment_id"].notna()
                        & outputs.migration["to_segment_id"].notna()
                        & (
                            outputs.migration["from_segment_id"]
                            != outputs.migration["to_segment_id"]
                        ),
                        "customers",
                    ].sum()
                )
                if len(outputs.migration)
                else 0,
                "warnings": MetadataValue.json(outputs.result.warnings),
            }
            attach_date_metadata(context, as_of, metadata)
    return MaterializeResult(metadata=metadata)
