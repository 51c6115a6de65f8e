"""What every stage asset shares: partition keys, metadata in Dagster's standard keys, owners."""

import warnings
from datetime import date
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetExecutionContext,
    BackfillPolicy,
    Backoff,
    BetaWarning,
    DagsterError,
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


def run_key_of(context: AssetExecutionContext | AssetCheckExecutionContext) -> str | None:
    """The id of the run, under which its steps share work done once per run (the activity check,
    ``ingest.refresh_stale_activity``); None for an asset or check invoked directly, outside a
    run, so that each such call does its own."""
    try:
        return context.run.run_id
    except DagsterError:  # directly invoked: the context has no run
        return None


def attach_date_metadata(
    context: AssetExecutionContext, as_of: date, metadata: dict[str, Any]
) -> None:
    """Attach ``metadata`` to the materialization of ``as_of`` alone, in a run of several dates.

    Dagster copies the metadata an asset returns to every partition of its run, so in a range run
    (a range ingest, or per-date stages launched over a range by hand) each date would show the
    figures of the whole range or of the last date; partition-scoped metadata overrides them for
    its date. A one-date run needs nothing: what the asset returns is that date's.
    """
    if len(context.partition_keys) > 1:
        context.add_asset_metadata(metadata, partition_key=as_of.isoformat())


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
