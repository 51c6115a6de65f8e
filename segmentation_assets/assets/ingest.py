"""Stage 1 — ``raw_events``: EBQ event tables typed into one canonical long table."""

from datetime import date, timedelta

import pandas as pd
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from segmentation_assets import ingest
from segmentation_assets.assets.common import (
    DUCKDB_POOL,
    IO_RETRY,
    KINDS,
    OWNERS,
    attach_date_metadata,
    table_schema_metadata,
)
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.resources import EBQSource, WarehouseResource


class IngestConfig(Config):
    """Ingest knobs; the defaults suit Bloomreach's EBQ export."""

    future_tolerance_minutes: int = 60
    fx_to_base: dict[str, float] = dict(ingest.DEFAULT_FX_TO_BASE)


@asset(
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="ingest",
    kinds=KINDS,
    owners=OWNERS,
    pool=DUCKDB_POOL,
    retry_policy=IO_RETRY,
    tags={"stage": "1"},
)
def raw_events(
    context: AssetExecutionContext,
    config: IngestConfig,
    warehouse: WarehouseResource,
    source: EBQSource,
) -> MaterializeResult:
    """Every EBQ event whose business ``timestamp`` falls on the partition's UTC day(s), typed into
    one canonical table (amounts in the base currency). Exact duplicates are dropped and counted;
    unusable rows go to ``raw_events_quarantine`` with a reason and the original record. A range
    backfill is committed a chunk of whole days at a time (about 4M events each): every day is
    wholly replaced or as it was, and a re-run is idempotent. Customer id tables are snapshotted
    for the identity stage."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    # The checks of this stage validate with Great Expectations: its import is built while the
    # ingest keeps DuckDB busy. (Imported here: the checks package imports this module.)
    from segmentation_assets.checks.gx_suite import warm_up_in_background

    warm_up_in_background()
    with warehouse.connection() as con:
        try:
            views = source.register_views(con, start, end)
            stats = ingest.ingest_window(
                con,
                views,
                start,
                end,
                field_mapping=source.field_mapping(),
                fx_to_base=config.fx_to_base,
                future_tolerance_minutes=config.future_tolerance_minutes,
            )
        except (ingest.IngestError, FileNotFoundError) as exc:
            # A broken contract (missing table, column or folder) does not heal on retry.
            raise Failure(description=str(exc), allow_retries=False) from exc
        snapshot = ingest.snapshot_customer_tables(con, views, end - timedelta(days=1))
        by_day = con.execute(
            f"SELECT event_date, sum(rows_read) AS rows_read, sum(rows_accepted) AS accepted, "
            f"sum(rows_quarantined) AS quarantined, sum(duplicates_dropped) AS duplicates "
            f"FROM {ingest.INGEST_LOG_TABLE} WHERE event_date >= $s AND event_date < $e "
            "GROUP BY 1 ORDER BY 1",
            {"s": start, "e": end},
        ).df()
        schema = table_schema_metadata(con, ingest.RAW_EVENTS_TABLE)
    attach_daily_counts(context, by_day)
    context.log.info(
        "ingested %s..%s from %s: %s read, %s accepted, %s quarantined, %s duplicates",
        start,
        end,
        source.describe(),
        stats.rows_read,
        stats.rows_accepted,
        stats.rows_quarantined,
        stats.duplicates_dropped,
    )
    # In a range run these counts are the window's; each day's own override them (see above).
    return MaterializeResult(
        metadata={
            **schema,
            "dagster/row_count": MetadataValue.int(stats.rows_accepted),
            "source": source.describe(),
            "window": f"{start} .. {end - timedelta(days=1)}",
            "rows_read": stats.rows_read,
            "rows_accepted": stats.rows_accepted,
            "rows_quarantined": stats.rows_quarantined,
            "duplicates_dropped": stats.duplicates_dropped,
            "accounting_closes": stats.closes,
            "quarantined_by_reason": MetadataValue.json(stats.quarantined_by_reason),
            "rows_by_table": MetadataValue.json(stats.rows_by_table),
            "customer_snapshot_rows": MetadataValue.json(snapshot),
            "by_day": MetadataValue.md(
                by_day.tail(31).to_markdown(index=False) if len(by_day) else "_no events_"
            ),
        }
    )


def attach_daily_counts(context: AssetExecutionContext, by_day: pd.DataFrame) -> None:
    """Give each day of a range run its own row counts (see :func:`attach_date_metadata`):
    without them each day of a year's ingest would show the year's ``dagster/row_count`` in the
    UI. Days without events get zeros."""
    columns = ("rows_read", "accepted", "quarantined", "duplicates")
    counts = {
        day: tuple(int(n) for n in row)
        for day, *row in zip(
            pd.to_datetime(by_day["event_date"]).dt.date,
            *(by_day[c] for c in columns),
            strict=True,
        )
    }
    for key in context.partition_keys:
        day = date.fromisoformat(key)
        read, accepted, quarantined, duplicates = counts.get(day, (0, 0, 0, 0))
        attach_date_metadata(
            context,
            day,
            {
                "dagster/row_count": MetadataValue.int(accepted),
                "rows_read": read,
                "rows_accepted": accepted,
                "rows_quarantined": quarantined,
                "duplicates_dropped": duplicates,
                "accounting_closes": read == accepted + quarantined + duplicates,
            },
        )
