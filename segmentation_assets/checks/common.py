"""Shared pieces of the asset checks: the partition's as-of dates and check-name constants."""

from datetime import date

from dagster import AssetCheckExecutionContext

DUCKDB_POOL = "duckdb"


def check_dates(context: AssetCheckExecutionContext) -> list[date]:
    """The as-of dates the check covers (one, or every day of a range run)."""
    return [date.fromisoformat(k) for k in context.partition_keys]


def window_bounds(context: AssetCheckExecutionContext) -> tuple[date, date]:
    """[start, end) of the dates the check covers."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()
