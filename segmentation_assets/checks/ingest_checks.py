"""Checks on ``raw_events``: contract, known values, quarantine rate, row accounting.

Volume and schema guards for the stage live in volume_checks.py and schema_checks.py.
"""

from datetime import date
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from segmentation_assets.assets.ingest import raw_events
from segmentation_assets.checks.common import DUCKDB_POOL, window_bounds
from segmentation_assets.checks.gx_suite import Expectation, Relation, run_suite
from segmentation_assets.ebq.schema import EVENT_TABLES
from segmentation_assets.ingest import INGEST_LOG_TABLE, QUARANTINE_TABLE, RAW_EVENTS_TABLE
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.resources import WarehouseResource

RAW_EVENTS_CONTRACT = "raw_events_contract"
RAW_EVENTS_KNOWN_VALUES = "raw_events_known_values"
RAW_EVENTS_NOT_EMPTY = "raw_events_not_empty"
RAW_EVENTS_QUARANTINE_RATE = "raw_events_quarantine_rate"
RAW_EVENTS_ACCOUNTING = "raw_events_accounting_closes"

#: Quarantine share above which the day is considered broken and downstream stages are blocked.
MAX_QUARANTINE_RATE = 0.05
#: The suites run on at most this many rows of the partition (the first ones the scan returns;
#: a sample, so a rare bad value can be missed: the quarantine and accounting checks see all rows).
#: DuckDB screens all of them; GX validates the ones that could fail and a sample of the others.
CONTRACT_SAMPLE_ROWS = 200_000

#: What every accepted event must satisfy; the ingest quarantines rows that do not, so a failure
#: means the ingest itself is broken and every later stage would read wrong events (ERROR, blocks).
RAW_EVENTS_SUITE = [
    Expectation("ExpectColumnValuesToNotBeNull", column="event_date"),
    Expectation("ExpectColumnValuesToNotBeNull", column="internal_customer_id"),
    Expectation("ExpectColumnValuesToNotBeNull", column="event_timestamp"),
    Expectation("ExpectColumnValuesToNotBeNull", column="source_table"),
    Expectation("ExpectColumnValuesToBeInTypeList", column="amount_base", type_list=["float64"]),
    Expectation("ExpectColumnValuesToBeBetween", column="amount_base", min_value=0),
    Expectation("ExpectColumnValuesToBeBetween", column="price_base", min_value=0),
    # Revenue counts 'success' minus 'refund'; any other status would silently drop revenue.
    Expectation(
        "ExpectColumnValuesToBeInSet",
        column="purchase_status",
        value_set=["success", "refund", "pending", "cancelled"],
    ),
]

#: Completeness and vocabularies a human should look at when they change: the profiles still
#: compute (an unknown device is just not mobile), so these warn instead of blocking.
RAW_EVENTS_KNOWN_VALUES_SUITE = [
    Expectation(
        "ExpectColumnValuesToNotBeNull", column="purchase_id", where=("source_table", "purchase")
    ),
    Expectation(
        "ExpectColumnValuesToNotBeNull", column="amount_base", where=("source_table", "purchase")
    ),
    Expectation(
        "ExpectColumnValuesToNotBeNull",
        column="product_id",
        where=("source_table", "purchase_item"),
    ),
    Expectation(
        "ExpectColumnValuesToNotBeNull",
        column="merged_customer_id",
        where=("source_table", "merge"),
    ),
    Expectation("ExpectColumnValuesToBeBetween", column="quantity", min_value=0),
    Expectation("ExpectColumnValuesToBeInSet", column="source_table", value_set=list(EVENT_TABLES)),
    Expectation(
        "ExpectColumnValuesToBeInSet",
        column="device",
        value_set=["mobile", "desktop", "tablet", "other"],
    ),
    Expectation("ExpectColumnValuesToBeInSet", column="cart_action", value_set=["add", "remove"]),
]


def _sample(con: Any, start: date, end: date) -> Relation:
    """Up to CONTRACT_SAMPLE_ROWS events of [start, end), evaluated once: the suite screens them in
    DuckDB and GX validates the suspicious ones (see gx_suite)."""
    return Relation(
        con,
        f"SELECT * FROM {RAW_EVENTS_TABLE} WHERE event_date >= $s AND event_date < $e "
        f"LIMIT {CONTRACT_SAMPLE_ROWS}",
        {"s": start, "e": end},
        materialize=True,
    )


@asset_check(
    asset=raw_events,
    name=RAW_EVENTS_CONTRACT,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description=(
        "Accepted events have a date, customer id, timestamp and table, non-negative amounts and a "
        "known purchase status (Great Expectations, on up to 200,000 rows of the day)."
    ),
)
def raw_events_contract(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """The typed events keep the ingest's promises (ERROR, blocking: every stage reads them)."""
    with warehouse.connection() as con:
        sample = _sample(con, *window_bounds(context))
        outcome = run_suite(sample, RAW_EVENTS_CONTRACT, RAW_EVENTS_SUITE)
    return AssetCheckResult(
        passed=outcome.success,
        severity=AssetCheckSeverity.ERROR,
        metadata={"rows_checked": outcome.rows[RAW_EVENTS_CONTRACT], **outcome.to_metadata()},
    )


@asset_check(
    asset=raw_events,
    name=RAW_EVENTS_KNOWN_VALUES,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    description=(
        "Purchases carry an id and an amount, items a product, merges a merged id; tables, devices "
        "and cart actions are the known ones (Great Expectations; warns)."
    ),
)
def raw_events_known_values(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """Completeness and vocabularies of the export (WARN: profiles still compute, but a new device
    name or purchases without ids change what the traits mean)."""
    with warehouse.connection() as con:
        sample = _sample(con, *window_bounds(context))
        outcome = run_suite(sample, RAW_EVENTS_KNOWN_VALUES, RAW_EVENTS_KNOWN_VALUES_SUITE)
    return AssetCheckResult(
        passed=outcome.success,
        severity=AssetCheckSeverity.WARN,
        metadata={"rows_checked": outcome.rows[RAW_EVENTS_KNOWN_VALUES], **outcome.to_metadata()},
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
    """The partition holds events (WARN: a quiet day is possible, a missing export more likely)."""
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
    description=(
        f"On every day of the partition, quarantined rows stay under {MAX_QUARANTINE_RATE:.0%} of "
        "rows read."
    ),
)
def raw_events_quarantine_rate(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """Share of unusable rows per day (ERROR, blocking: a day of mostly bad rows would enter the
    profiles as a day without activity)."""
    start, end = window_bounds(context)
    params = {"s": start, "e": end}
    with warehouse.connection() as con:
        # Per day: in a range backfill one broken day must not hide behind 89 good ones.
        days = con.execute(
            f"SELECT event_date, sum(rows_read), sum(rows_quarantined) FROM {INGEST_LOG_TABLE} "
            "WHERE event_date >= $s AND event_date < $e GROUP BY 1 ORDER BY 1",
            params,
        ).fetchall()
        reasons = con.execute(
            f"SELECT quarantine_reason, count(*) AS n FROM {QUARANTINE_TABLE} "
            "WHERE event_date >= $s AND event_date < $e GROUP BY 1 ORDER BY 2 DESC, 1",
            params,
        ).fetchall()
    rates = {d: (int(q) / int(r) if r else 0.0) for d, r, q in days}
    read = sum(int(r) for _, r, _ in days)
    quarantined = sum(int(q) for _, _, q in days)
    flagged = {str(d): round(rate, 4) for d, rate in rates.items() if rate > MAX_QUARANTINE_RATE}
    worst = max(rates.items(), key=lambda item: item[1], default=(None, 0.0))
    return AssetCheckResult(
        passed=not flagged,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{len(flagged)} day(s) above {MAX_QUARANTINE_RATE:.0%}, worst {worst[0]} at {worst[1]:.1%}"
            if flagged
            else f"worst day {worst[1]:.2%} quarantined"
        ),
        metadata={
            "rows_read": read,
            "rows_quarantined": quarantined,
            "quarantine_rate": quarantined / read if read else 0.0,
            "worst_day": str(worst[0]) if worst[0] else "none",
            "worst_day_rate": worst[1],
            "days_above_threshold": MetadataValue.json(flagged),
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
    """Every row read ends in exactly one place (ERROR, blocking: otherwise events were lost or
    counted twice and every total downstream is wrong)."""
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
    raw_events_known_values,
    raw_events_not_empty,
    raw_events_quarantine_rate,
    raw_events_accounting_closes,
]
