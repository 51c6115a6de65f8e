"""Checks on ``raw_events``: contract, volume, quarantine rate, row accounting."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from segmentation_assets.assets.ingest import raw_events
from segmentation_assets.checks.common import DUCKDB_POOL, window_bounds
from segmentation_assets.checks.gx_suite import Expectation, run_suite
from segmentation_assets.ingest import INGEST_LOG_TABLE, QUARANTINE_TABLE, RAW_EVENTS_TABLE
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.resources import WarehouseResource

RAW_EVENTS_CONTRACT = "raw_events_contract"
RAW_EVENTS_NOT_EMPTY = "raw_events_not_empty"
RAW_EVENTS_QUARANTINE_RATE = "raw_events_quarantine_rate"
RAW_EVENTS_ACCOUNTING = "raw_events_accounting_closes"

#: Quarantine share above which the day is considered broken and downstream stages are blocked.
MAX_QUARANTINE_RATE = 0.05
CONTRACT_SAMPLE_ROWS = 200_000

RAW_EVENTS_SUITE = [
    Expectation("ExpectColumnValuesToNotBeNull", column="internal_customer_id"),
    Expectation("ExpectColumnValuesToNotBeNull", column="event_timestamp"),
    Expectation("ExpectColumnValuesToNotBeNull", column="source_table"),
    Expectation(
        "ExpectColumnValuesToBeInSet",
        column="purchase_status",
        value_set=["success", "refund", "pending", "cancelled"],
    ),
    Expectation("ExpectColumnValuesToBeBetween", column="amount_base", min_value=0),
    Expectation("ExpectColumnValuesToBeBetween", column="price_base", min_value=0),
    Expectation(
        "ExpectColumnValuesToBeInSet",
        column="device",
        value_set=["mobile", "desktop", "tablet", "other"],
    ),
    Expectation("ExpectColumnValuesToBeInSet", column="cart_action", value_set=["add", "remove"]),
]


@asset_check(
    asset=raw_events,
    name=RAW_EVENTS_CONTRACT,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description="Typed columns hold what the contract promises (Great Expectations, on a sample).",
)
def raw_events_contract(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    start, end = window_bounds(context)
    with warehouse.connection() as con:
        frame = con.execute(
            f"SELECT * FROM {RAW_EVENTS_TABLE} WHERE event_date >= $s AND event_date < $e "
            f"LIMIT {CONTRACT_SAMPLE_ROWS}",
            {"s": start, "e": end},
        ).df()
    outcome = run_suite(frame, RAW_EVENTS_CONTRACT, RAW_EVENTS_SUITE)
    return AssetCheckResult(
        passed=outcome.success,
        severity=AssetCheckSeverity.ERROR,
        metadata={"rows_checked": len(frame), **outcome.to_metadata()},
    )


@asset_check(
    asset=raw_events,
    name=RAW_EVENTS_NOT_EMPTY,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    description="The partition has events (an empty day usually means a missing export).",
)
def raw_events_not_empty(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    start, end = window_bounds(context)
    with warehouse.connection() as con:
        row = con.execute(
            f"SELECT count(*) FROM {RAW_EVENTS_TABLE} WHERE event_date >= $s AND event_date < $e",
            {"s": start, "e": end},
        ).fetchone()
    rows = int(row[0]) if row else 0
    return AssetCheckResult(
        passed=rows > 0, severity=AssetCheckSeverity.WARN, metadata={"rows": rows}
    )


@asset_check(
    asset=raw_events,
    name=RAW_EVENTS_QUARANTINE_RATE,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description=f"Quarantined rows stay under {MAX_QUARANTINE_RATE:.0%} of rows read.",
)
def raw_events_quarantine_rate(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    start, end = window_bounds(context)
    with warehouse.connection() as con:
        row = con.execute(
            f"SELECT coalesce(sum(rows_read), 0), coalesce(sum(rows_quarantined), 0) "
            f"FROM {INGEST_LOG_TABLE} WHERE event_date >= $s AND event_date < $e",
            {"s": start, "e": end},
        ).fetchone()
        reasons = con.execute(
            f"SELECT quarantine_reason, count(*) AS n FROM {QUARANTINE_TABLE} "
            "WHERE event_date >= $s AND event_date < $e GROUP BY 1 ORDER BY 2 DESC",
            {"s": start, "e": end},
        ).fetchall()
    read, quarantined = (int(v) for v in row) if row else (0, 0)
    rate = quarantined / read if read else 0.0
    return AssetCheckResult(
        passed=rate <= MAX_QUARANTINE_RATE,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "rows_read": read,
            "rows_quarantined": quarantined,
            "quarantine_rate": rate,
            "threshold": MAX_QUARANTINE_RATE,
            "by_reason": MetadataValue.json({str(r): int(n) for r, n in reasons}),
        },
    )


@asset_check(
    asset=raw_events,
    name=RAW_EVENTS_ACCOUNTING,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description="Rows read = accepted + quarantined + duplicates, and the tables hold exactly that.",
)
def raw_events_accounting_closes(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    start, end = window_bounds(context)
    params = {"s": start, "e": end}
    with warehouse.connection() as con:
        log = con.execute(
            f"SELECT coalesce(sum(rows_read), 0), coalesce(sum(rows_accepted), 0), "
            f"coalesce(sum(rows_quarantined), 0), coalesce(sum(duplicates_dropped), 0) "
            f"FROM {INGEST_LOG_TABLE} WHERE event_date >= $s AND event_date < $e",
            params,
        ).fetchone()
        stored = con.execute(
            f"SELECT (SELECT count(*) FROM {RAW_EVENTS_TABLE} WHERE event_date >= $s AND event_date < $e), "
            f"(SELECT count(*) FROM {QUARANTINE_TABLE} WHERE event_date >= $s AND event_date < $e)",
            params,
        ).fetchone()
    assert log is not None and stored is not None
    read, accepted, quarantined, duplicates = (int(v) for v in log)
    closes = read == accepted + quarantined + duplicates
    matches = (int(stored[0]), int(stored[1])) == (accepted, quarantined)
    return AssetCheckResult(
        passed=closes and matches,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "rows_read": read,
            "rows_accepted": accepted,
            "rows_quarantined": quarantined,
            "duplicates_dropped": duplicates,
            "raw_events_rows": int(stored[0]),
            "quarantine_rows": int(stored[1]),
        },
    )


INGEST_CHECKS = [
    raw_events_contract,
    raw_events_not_empty,
    raw_events_quarantine_rate,
    raw_events_accounting_closes,
]
