"""What every stage asset shares: partition keys, metadata in Dagster's standard keys, owners."""

import warnings
from datetime import date
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Backoff,
    BetaWarning,
    Jitter,
    MetadataValue,
    PreviewWarning,
    RetryPolicy,
    TableColumn,
    TableSchema,
)

# Partitioned asset checks are a preview feature in dagster 1.13 and this project relies on them
# on purpose; the warning would repeat on every definitions load.
warnings.filterwarnings("ignore", category=PreviewWarning)
warnings.filterwarnings("ignore", category=BetaWarning)

OWNERS = ["team:marketing-analytics"]
DUCKDB_POOL = "duckdb"
KINDS = {"duckdb", "python"}

#: Downstream stages segment one as-of date per run: each date uses only data up to itself.
PER_DATE_BACKFILL = BackfillPolicy.multi_run(max_partitions_per_run=1)
#: I/O-bound steps (source reads) retry with backoff and jitter before failing the run.
IO_RETRY = RetryPolicy(
    max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


def as_of_dates(context: AssetExecutionContext) -> list[date]:
    """Every as-of date this run materializes (one for a normal run, several in a range backfill)."""
    return [date.fromisoformat(key) for key in context.partition_keys]


def date_metadata(
    context: AssetExecutionContext, as_of: date, metadata: dict[str, Any]
) -> dict[str, Any]:
    """``metadata`` of one as-of date, attached to that date's materialization.

    Dagster copies the metadata an asset returns to every partition of its run. In a run of
    several dates (a range launched by hand) each date's materialization would then show the last
    date's figures; partition-scoped metadata gives each date its own. Returns ``metadata``.
    """
    if len(context.partition_keys) > 1:
        context.add_asset_metadata(metadata, partition_key=as_of.isoformat())
    return metadata


def frame_metadata(frame: pd.DataFrame, preview_rows: int = 10) -> dict[str, Any]:
    """Row count, column schema and a markdown preview in Dagster's standard metadata keys."""
    schema = TableSchema(
        columns=[TableColumn(name=str(c), type=str(t)) for c, t in frame.dtypes.items()]
    )
    preview = frame.head(preview_rows)
    return {
        "dagster/row_count": MetadataValue.int(len(frame)),
        "dagster/column_schema": schema,
        "preview": MetadataValue.md(
            preview.to_markdown(index=False) if len(preview) else "_empty_"
        ),
    }


def table_schema_metadata(con: Any, table: str) -> dict[str, Any]:
    """Column schema of a warehouse table (the UI's schema pane and schema-change checks use it)."""
    rows = con.execute(f"DESCRIBE {table}").fetchall()
    return {
        "dagster/column_schema": TableSchema(
            columns=[TableColumn(name=str(r[0]), type=str(r[1])) for r in rows]
        )
    }
