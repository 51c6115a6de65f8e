"""Typing, de-duplication and quarantine of EBQ event tables into the canonical ``raw_events`` table.

Every row read from a source ends in exactly one place — ``raw_events``, ``raw_events_quarantine``
(with a reason and the original record) or the duplicate count — and :class:`IngestStats` proves it:
``rows_read == rows_accepted + rows_quarantined + duplicates_dropped``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import duckdb

from segmentation_assets import sql
from segmentation_assets.ebq.schema import (
    CUSTOMER_TABLES,
    DEFAULT_FX_RATES_TO_BASE,
    detect_customer_key,
)
from segmentation_assets.warehouse import check_identifier, table_exists, transaction

RAW_EVENTS_TABLE = "raw_events"
QUARANTINE_TABLE = "raw_events_quarantine"
INGEST_LOG_TABLE = "raw_events_ingest_log"
#: Every day an ingest window covered, even a day without events, so "was this day ingested?"
#: has an answer that does not depend on the day having traffic.
INGESTED_DAYS_TABLE = "raw_events_ingested_days"

DEFAULT_FX_TO_BASE: dict[str, float] = dict(DEFAULT_FX_RATES_TO_BASE)

#: Canonical columns of raw_events after the key columns, with their BigQuery types.
CANONICAL_COLUMNS: dict[str, str] = {
    "purchase_id": "STRING",
    "purchase_status": "STRING",
    "amount_base": "FLOAT64",
    "price_base": "FLOAT64",
    "quantity": "INT64",
    "product_id": "STRING",
    "category_level_1": "STRING",
    "category_level_2": "STRING",
    "category_level_3": "STRING",
    "has_discount": "BOOL",
    "device": "STRING",
    "cart_action": "STRING",
    "campaign_action_type": "STRING",
    "campaign_status": "STRING",
    "utm_source": "STRING",
    "local_currency": "STRING",
    "merged_customer_id": "STRING",
}

#: Source property fields each event table contributes (canonical names; a field mapping may point
#: each at a different property path). ``True`` marks a field the table cannot be used without.
TABLE_FIELDS: dict[str, dict[str, bool]] = {
    "purchase": {
        "purchase_id": True,
        "purchase_status": True,
        "total_price": True,
        "total_price_local_currency": False,
        "local_currency": False,
        "total_quantity": False,
        "voucher": False,
        "discount": False,
    },
    "purchase_item": {
        "purchase_id": True,
        "purchase_status": False,
        "product_id": True,
        "category_level_1": False,
        "category_level_2": False,
        "category_level_3": False,
        "price": True,
        "quantity": False,
    },
    "view_item": {
        "product_id": False,
        "category_level_1": False,
        "category_level_2": False,
        "category_level_3": False,
        "price": False,
    },
    "view_category": {
        "category_level_1": True,
        "category_level_2": False,
        "category_level_3": False,
    },
    "cart_update": {"action": True, "product_id": False, "price": False, "quantity": False},
    "session_start": {"device": False, "utm_source": False},
    "campaign": {"action_type": True, "status": True},
    "merge": {"merged_customer_id": True},
}

#: The warehouse's dictionary of customer ids: every ``internal_customer_id`` the ingest has stored
#: an event for gets an INTEGER ``customer_key`` once (keys of a chunk's new ids follow the ids' order,
#: after the keys already given), and keeps it. The activity tables are keyed by it: grouping and
#: joining a million customers on a 4-byte integer instead of a string id took the profile SQL
#: 61-81 % of its time (benchmarks/README.md). Keys are internal: every reader maps them back to ids,
#: and they depend on the order days were ingested in, so nothing outside the warehouse sees them.
#: The primary key makes a second transaction that took the same largest key fail on commit
#: rather than store one key for two ids.
CUSTOMER_KEYS_TABLE = "customer_keys"
CUSTOMER_KEYS_COLUMNS = "customer_key INTEGER PRIMARY KEY, internal_customer_id VARCHAR NOT NULL"

#: Compact activity of the accepted events (sql/customer_activity.sql), written by the ingest in the
#: same transaction as raw_events for the same days: grain → (table, column definitions). The
#: profiles read these instead of every event of their window.
ACTIVITY_TABLES: dict[str, tuple[str, str]] = {
    "daily": (
        "customer_activity_daily",
        "event_date DATE NOT NULL, customer_key INTEGER NOT NULL, "
        "events BIGINT NOT NULL, sessions BIGINT NOT NULL, mobile_sessions BIGINT NOT NULL, "
        "item_views BIGINT NOT NULL, category_views BIGINT NOT NULL, cart_adds BIGINT NOT NULL, "
        "cart_removes BIGINT NOT NULL, emails_delivered BIGINT NOT NULL, "
        "emails_opened BIGINT NOT NULL, emails_clicked BIGINT NOT NULL, "
        + ", ".join(f"events_h{hour:02d} BIGINT NOT NULL" for hour in range(24)),
    ),
    "categories": (
        "customer_activity_categories",
        "event_date DATE NOT NULL, customer_key INTEGER NOT NULL, "
        "category VARCHAR NOT NULL, events BIGINT NOT NULL",
    ),
    "devices": (
        "customer_activity_devices",
        "event_date DATE NOT NULL, customer_key INTEGER NOT NULL, "
        "device VARCHAR NOT NULL, sessions BIGINT NOT NULL",
    ),
    "purchases": (
        "customer_activity_purchases",
        "event_date DATE NOT NULL, customer_key INTEGER NOT NULL, purchase_id VARCHAR, "
        "purchase_status VARCHAR, amount_base DOUBLE, has_discount BOOLEAN",
    ),
}

#: Tables an ingest replaces day by day, in one transaction per chunk of days: raw_events and
#: everything written beside it.
DAY_TABLES = (
    RAW_EVENTS_TABLE,
    QUARANTINE_TABLE,
    INGEST_LOG_TABLE,
    INGESTED_DAYS_TABLE,
    *(table for table, _ in ACTIVITY_TABLES.values()),
)

ID_HISTORY_SNAPSHOTS_TABLE = "customer_id_history_snapshots"
CUSTOMER_IDS_SNAPSHOTS_TABLE = "customer_ids_snapshots"

#: Rows staged, and committed, at a time. A year-long backfill is staged in chunks of
#: consecutive days sized to hold about this many rows (the first chunk is a week; later ones are
#: sized from the rows per day seen so far), which bounds the memory a chunk's staging needs however
#: long the window; about 1-2 GB at this size. On an export whose files are
#: sorted by time (EBQ's are partitioned by day) each chunk reads only its own row groups.
CHUNK_TARGET_ROWS = 4_000_000
FIRST_CHUNK_DAYS = 7
MAX_CHUNK_DAYS = 92

#: The accepted rows of the chunk being ingested (staged, not quarantined, not a redundant copy):
#: what the chunk writes to raw_events, and what its activity is aggregated from.
ACCEPTED_STAGED_VIEW = "accepted_staged_events"

EVENT_KEY_COLUMNS = (
    "event_date",
    "source_table",
    "internal_customer_id",
    "event_timestamp",
    "ingest_timestamp",
)


class IngestError(ValueError):
    """A source table cannot be ingested (missing table or column); the message names which."""


@dataclass
class IngestStats:
    """Row accounting of one ingest window; it must close."""

    window_start: date
    window_end: date
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    duplicates_dropped: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    rows_by_table: dict[str, int] = field(default_factory=dict)

    @property
    def closes(self) -> bool:
        return (
            self.rows_read == self.rows_accepted + self.rows_quarantined + self.duplicates_dropped
        )


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def describe(con: duckdb.DuckDBPyConnection, relation_sql: str) -> dict[str, str]:
    """Column name → DuckDB type of a query, without reading its rows."""
    rows = con.execute(f"DESCRIBE {relation_sql}").fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _timestamp_expression(column: str, duckdb_type: str) -> str:
    """BigQuery expression turning a TIMESTAMP, epoch-seconds or ISO-string column into a timestamp."""
    ref = f"t.{column}"
    upper = duckdb_type.upper()
    if upper.startswith("TIMESTAMP") or upper == "DATE":
        return f"TIMESTAMP({ref})"
    if any(
        upper.startswith(n) for n in ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "DECIMAL", "HUGEINT")
    ):
        # Epoch seconds as float: keep microseconds, and NaN becomes NULL (then quarantined).
        return (
            f"IF(IS_NAN(CAST({ref} AS FLOAT64)), NULL, "
            f"TIMESTAMP_MICROS(CAST(ROUND(CAST({ref} AS FLOAT64) * 1000000) AS INT64)))"
        )
    if upper == "VARCHAR":
        return f"SAFE_CAST({ref} AS TIMESTAMP)"
    raise IngestError(f"column {column!r} has type {duckdb_type}, which is not a timestamp")


def _property_path(mapping: Mapping[str, str], field_name: str) -> str:
    return mapping.get(field_name, f"properties.{field_name}")


def _field_expressions(
    table: str,
    property_types: dict[str, str],
    mapping: Mapping[str, str],
    fx_to_base: Mapping[str, float],
) -> list[tuple[str, str]]:
    """(canonical column, BigQuery expression) pairs for one event table."""
    wanted = TABLE_FIELDS.get(table, {})
    present: dict[str, str] = {}
    for field_name, required in wanted.items():
        path = _property_path(mapping, field_name)
        top = path.split(".", 1)[1].split(".")[0] if path.startswith("properties.") else None
        if top is not None and top in property_types:
            present[field_name] = f"t.{path}"
        elif required or field_name in mapping:
            raise IngestError(
                f"table {table!r}: column {path!r} (canonical field {field_name!r}) is missing; "
                f"properties present: {', '.join(sorted(property_types)) or 'none'}"
            )

    def text(name: str) -> str | None:
        return f"CAST({present[name]} AS STRING)" if name in present else None

    def number(name: str) -> str | None:
        if name not in present:
            return None
        value = f"SAFE_CAST({present[name]} AS FLOAT64)"
        return f"IF(IS_NAN({value}), NULL, {value})"

    fx_cases = " ".join(
        f"WHEN '{check_identifier(c, 'currency')}' THEN {float(r)!r}"
        for c, r in sorted(fx_to_base.items())
    )
    exprs: dict[str, str | None] = {name: None for name in CANONICAL_COLUMNS}
    # raw_amount: the source field holding the row's money value; parsed_amount: that value as a
    # number before currency conversion (NULL when present but not a number → quarantined).
    raw_amount: str | None = None
    parsed_amount: str | None = None
    currency_known = "TRUE"
    if table == "purchase":
        exprs["purchase_id"] = text("purchase_id")
        exprs["purchase_status"] = f"LOWER({text('purchase_status')})"
        local_amount = number("total_price_local_currency")
        if local_amount and "local_currency" in present:
            currency = f"UPPER({text('local_currency')})"
            exprs["local_currency"] = currency
            rate = f"(CASE {currency} {fx_cases} ELSE NULL END)"
            exprs["amount_base"] = f"{local_amount} * {rate}"
            local_field = present["total_price_local_currency"]
            currency_known = f"({currency} IS NULL OR {rate} IS NOT NULL)"
            # A row without a local amount falls back to the base-currency total.
            exprs["amount_base"] = (
                f"IF({local_field} IS NULL, {number('total_price')}, {exprs['amount_base']})"
            )
            parsed_amount = f"IF({local_field} IS NULL, {number('total_price')}, {local_amount})"
            raw_amount = (
                f"COALESCE(CAST({local_field} AS STRING), CAST({present['total_price']} AS STRING))"
            )
        else:
            exprs["amount_base"] = number("total_price")
            raw_amount = present["total_price"]
            parsed_amount = exprs["amount_base"]
        exprs["quantity"] = (
            f"SAFE_CAST({present['total_quantity']} AS INT64)"
            if "total_quantity" in present
            else None
        )
        discount_parts = []
        if "voucher" in present:
            discount_parts.append(f"COALESCE(TRIM(CAST({present['voucher']} AS STRING)), '') <> ''")
        if "discount" in present:
            discount_parts.append(f"COALESCE({number('discount')}, 0) > 0")
        exprs["has_discount"] = " OR ".join(discount_parts) if discount_parts else "FALSE"
    elif table == "purchase_item":
        exprs["purchase_id"] = text("purchase_id")
        exprs["purchase_status"] = (
            f"LOWER({text('purchase_status')})" if "purchase_status" in present else None
        )
        exprs["price_base"] = number("price")
        quantity = f"SAFE_CAST({present['quantity']} AS INT64)" if "quantity" in present else "1"
        exprs["quantity"] = quantity
        exprs["amount_base"] = f"{number('price')} * {quantity}"
        raw_amount = present["price"]
        parsed_amount = number("price")
    elif table in ("view_item", "cart_update"):
        exprs["price_base"] = number("price")
        raw_amount = present.get("price")
        parsed_amount = exprs["price_base"]
        if "quantity" in present:
            exprs["quantity"] = f"SAFE_CAST({present['quantity']} AS INT64)"
        if table == "cart_update":
            exprs["cart_action"] = f"LOWER({text('action')})"
    elif table == "session_start":
        exprs["device"] = f"LOWER({text('device')})" if "device" in present else None
        exprs["utm_source"] = text("utm_source")
    elif table == "merge":
        exprs["merged_customer_id"] = text("merged_customer_id")
    elif table == "campaign":
        exprs["campaign_action_type"] = f"LOWER({text('action_type')})"
        exprs["campaign_status"] = f"LOWER({text('status')})"
    for level in ("category_level_1", "category_level_2", "category_level_3"):
        if level in present:
            exprs[level] = text(level)
    if "product_id" in present:
        exprs["product_id"] = text("product_id")

    pairs = [
        (name, exprs[name] or f"CAST(NULL AS {bq_type})")
        for name, bq_type in CANONICAL_COLUMNS.items()
    ]
    pairs.append(("raw_amount_present", f"({raw_amount}) IS NOT NULL" if raw_amount else "FALSE"))
    pairs.append(("amount_parsed", parsed_amount or "CAST(NULL AS FLOAT64)"))
    pairs.append(("local_currency_known", currency_known))
    return pairs


def stage_table_sql(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source_view: str,
    mapping: Mapping[str, str] | None = None,
    fx_to_base: Mapping[str, float] | None = None,
) -> str:
    """DuckDB SQL (transpiled from the BigQuery template) staging one event table."""
    check_identifier(table, "event table name")
    check_identifier(source_view, "source view name")
    columns = describe(con, f"SELECT * FROM {source_view}")
    for required in ("internal_customer_id", "timestamp", "ingest_timestamp"):
        if required not in columns:
            raise IngestError(
                f"table {table!r}: required column {required!r} is missing; "
                f"columns present: {', '.join(columns)}"
            )
    property_types: dict[str, str] = {}
    if "properties" in columns:
        if not columns["properties"].upper().startswith("STRUCT"):
            raise IngestError(
                f"table {table!r}: column 'properties' must be a record, got {columns['properties']}"
            )
        property_types = describe(con, f"SELECT properties.* FROM {source_view}")
    fields = _field_expressions(
        table, property_types, mapping or {}, fx_to_base or DEFAULT_FX_TO_BASE
    )
    return sql.duckdb_sql(
        "stage_event_table.sql",
        table=table,
        source_view=source_view,
        timestamp_expr=_timestamp_expression("timestamp", columns["timestamp"]),
        ingest_timestamp_expr=_timestamp_expression(
            "ingest_timestamp", columns["ingest_timestamp"]
        ),
        prefilter=_window_prefilter("timestamp", columns["timestamp"]),
        fields=fields,
    )


def _window_prefilter(column: str, duckdb_type: str) -> str:
    """A condition on the raw column that every row of the window satisfies, simple enough to be
    pushed into the Parquet scan (row groups outside the window are skipped, which is what makes a
    one-day ingest cheap on a year-long export). Only a timezone-aware timestamp column is compared
    raw: its typed value is the raw value, so the condition is implied by the window filter; a NULL
    timestamp is placed by its ingest time and must pass."""
    if duckdb_type.upper() != "TIMESTAMP WITH TIME ZONE":
        return "TRUE"
    ref = f"t.{column}"
    return (
        f"({ref} IS NULL OR ({ref} >= TIMESTAMP(@window_start) AND {ref} < TIMESTAMP(@window_end)))"
    )


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create raw_events, quarantine and ingest-log tables if missing (typed, partition by DATE)."""
    duck_types = {"STRING": "VARCHAR", "FLOAT64": "DOUBLE", "INT64": "BIGINT", "BOOL": "BOOLEAN"}
    canonical = ", ".join(f"{c} {duck_types[t]}" for c, t in CANONICAL_COLUMNS.items())
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {RAW_EVENTS_TABLE} (event_date DATE NOT NULL, "
        "source_table VARCHAR NOT NULL, internal_customer_id VARCHAR NOT NULL, "
        f"event_timestamp TIMESTAMPTZ NOT NULL, ingest_timestamp TIMESTAMPTZ, {canonical})"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} (event_date DATE NOT NULL, "
        "source_table VARCHAR NOT NULL, quarantine_reason VARCHAR NOT NULL, "
        "internal_customer_id VARCHAR, event_timestamp TIMESTAMPTZ, ingest_timestamp TIMESTAMPTZ, "
        "original_record VARCHAR NOT NULL)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {INGEST_LOG_TABLE} (event_date DATE NOT NULL, "
        "source_table VARCHAR NOT NULL, rows_read BIGINT, rows_accepted BIGINT, "
        "rows_quarantined BIGINT, duplicates_dropped BIGINT)"
    )
    con.execute(f"CREATE TABLE IF NOT EXISTS {INGESTED_DAYS_TABLE} (event_date DATE NOT NULL)")
    ensure_activity_tables(con)


def activity_sql(
    grain: str, raw_events: str = RAW_EVENTS_TABLE, customer_keys: str = CUSTOMER_KEYS_TABLE
) -> str:
    """DuckDB SQL aggregating the events of days [$day_start, $day_end) of ``raw_events``, keyed by
    the ``customer_keys`` dictionary (which must already hold every id of those days)."""
    if grain not in ACTIVITY_TABLES:
        raise ValueError(f"unknown activity grain {grain!r}; known: {', '.join(ACTIVITY_TABLES)}")
    check_identifier(raw_events, "raw events table name")
    check_identifier(customer_keys, "customer keys table name")
    return sql.duckdb_sql(
        "customer_activity.sql", grain=grain, raw_events=raw_events, customer_keys=customer_keys
    )


def register_customer_keys(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    raw_events: str = RAW_EVENTS_TABLE,
    customer_keys: str = CUSTOMER_KEYS_TABLE,
) -> None:
    """Add the ids of ``raw_events``' days [start, end) that ``customer_keys`` lacks, with new keys."""
    check_identifier(raw_events, "raw events table name")
    check_identifier(customer_keys, "customer keys table name")
    con.execute(
        sql.duckdb_sql(
            "register_customer_keys.sql", raw_events=raw_events, customer_keys=customer_keys
        ),
        {"day_start": start, "day_end": end},
    )


def write_activity(
    con: duckdb.DuckDBPyConnection, start: date, end: date, raw_events: str = RAW_EVENTS_TABLE
) -> None:
    """Replace the activity rows of the days [start, end) with the aggregates of ``raw_events``
    (a table or view with raw_events' columns holding exactly the stored events of those days),
    giving their new customer ids keys first.

    Runs inside the caller's transaction (the ingest writes a window's events and their activity
    together). Any window a run recorded as checked is forgotten: its activity may be what changed
    (:func:`activity_checked_in_run`); so are kept key totals of a window holding these days."""
    days = {"day_start": start, "day_end": end}
    if table_exists(con, ACTIVITY_CHECKS_TABLE):
        con.execute(f"DELETE FROM {ACTIVITY_CHECKS_TABLE}")
    if table_exists(con, KEY_TOTALS_WINDOW_TABLE):
        # Totals of a window holding any of these days no longer sum their activity.
        con.execute(
            f"DELETE FROM {KEY_TOTALS_WINDOW_TABLE} "
            "WHERE window_start < $day_end AND as_of_date >= $day_start",
            days,
        )
    register_customer_keys(con, start, end, raw_events)
    for grain, (table, _) in ACTIVITY_TABLES.items():
        con.execute(
            f"DELETE FROM {table} WHERE event_date >= $day_start AND event_date < $day_end", days
        )
        con.execute(f"INSERT INTO {table} BY NAME {activity_sql(grain, raw_events)}", days)


def ids_with_activity_sql(condition: str) -> str:
    """SQL selecting the ``internal_customer_id`` of every id with daily activity rows that match
    ``condition`` (a filter on the daily activity table's columns), through the id dictionary."""
    return (
        f"SELECT internal_customer_id FROM {CUSTOMER_KEYS_TABLE} WHERE customer_key IN "
        f"(SELECT customer_key FROM {ACTIVITY_TABLES['daily'][0]} WHERE {condition})"
    )


def activity_layout_is_current(
    con: duckdb.DuckDBPyConnection, grains: Sequence[str] = tuple(ACTIVITY_TABLES)
) -> bool:
    """Whether the id dictionary and the activity tables of ``grains`` exist, keyed by customer_key."""
    tables = [CUSTOMER_KEYS_TABLE, *(ACTIVITY_TABLES[grain][0] for grain in grains)]
    keyed = {
        name
        for (name,) in con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns "
            "WHERE column_name = 'customer_key' AND table_name IN "
            f"({', '.join('?' for _ in tables)})",
            tables,
        ).fetchall()
    }
    return keyed == set(tables)


def ensure_activity_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the id dictionary and the activity tables. A warehouse whose raw_events predate them,
    or whose activity is still keyed by the string id (before the dictionary), gets its activity
    rebuilt from every ingested event, once (in its own transaction: call it outside one)."""
    if activity_layout_is_current(con):
        return
    backfill = table_exists(con, RAW_EVENTS_TABLE)
    with transaction(con):
        con.execute(f"CREATE TABLE IF NOT EXISTS {CUSTOMER_KEYS_TABLE} ({CUSTOMER_KEYS_COLUMNS})")
        for table, columns in ACTIVITY_TABLES.values():
            # Rows keyed by the string id, or by keys of a dictionary that is gone, cannot be kept.
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(f"CREATE TABLE {table} ({columns})")
        if backfill:
            row = con.execute(
                f"SELECT min(event_date), max(event_date) FROM {RAW_EVENTS_TABLE}"
            ).fetchone()
            if row and row[0] is not None:
                write_activity(con, row[0], row[1] + timedelta(days=1))


#: The per-customer-key totals of the daily activity of the latest profile window of the whole
#: population (sql/customer_key_totals.sql), kept so that the next night moves that window by a day
#: instead of summing a year of activity again; KEY_TOTALS_WINDOW_TABLE holds its window (one row,
#: none when the totals may no longer match the activity).
KEY_TOTALS_TABLE = "profile_key_totals"
KEY_TOTALS_WINDOW_TABLE = "profile_key_totals_window"

#: Windows whose activity a run has checked against raw_events (rows of the latest run only).
ACTIVITY_CHECKS_TABLE = "activity_checks"


def activity_checked_in_run(
    con: duckdb.DuckDBPyConnection, run_key: str | None, first: date, last: date
) -> bool:
    """Whether a step of run ``run_key`` already checked (and refreshed) the activity of a window
    containing [first, last], so that the activity still counts what raw_events holds.

    Within a run raw_events changes only in the ingest step, which comes before every reader; the
    identity stage, the profiles, their event-id check and the robustness windows of one nightly
    run would otherwise each scan the window's event dates (about 1.5 s each at a million
    customers, benchmarks/README.md). ``run_key`` None (a caller outside a run) is never checked.
    """
    if run_key is None or not table_exists(con, ACTIVITY_CHECKS_TABLE):
        return False
    row = con.execute(
        f"SELECT count(*) FROM {ACTIVITY_CHECKS_TABLE} "
        "WHERE run_key = $run AND first_day <= $first AND last_day >= $last",
        {"run": run_key, "first": first, "last": last},
    ).fetchall()[0]
    return bool(row[0])


def stale_activity_days(
    con: duckdb.DuckDBPyConnection, first: date, last: date, run_key: str | None = None
) -> list[date]:
    """Days in [first, last] whose daily activity does not count the events raw_events holds for
    them (every day, when there is no activity table yet). Read-only; it reads only the event_date
    columns and the daily event counts, and nothing when run ``run_key`` already checked the window
    (:func:`activity_checked_in_run`)."""
    if activity_checked_in_run(con, run_key, first, last):
        return []
    daily = ACTIVITY_TABLES["daily"][0]
    activity = (
        f"SELECT event_date, sum(events) AS n FROM {daily} "
        "WHERE event_date BETWEEN $first AND $last GROUP BY 1"
        if table_exists(con, daily)
        else "SELECT NULL::DATE AS event_date, NULL::HUGEINT AS n WHERE false"
    )
    return [
        r[0]
        for r in con.execute(
            f"SELECT coalesce(e.event_date, a.event_date) FROM "
            f"(SELECT event_date, count(*) AS n FROM {RAW_EVENTS_TABLE} "
            "WHERE event_date BETWEEN $first AND $last GROUP BY 1) e "
            f"FULL OUTER JOIN ({activity}) a ON a.event_date = e.event_date "
            "WHERE e.n IS DISTINCT FROM a.n ORDER BY 1",
            {"first": first, "last": last},
        ).fetchall()
    ]


def refresh_stale_activity(
    con: duckdb.DuckDBPyConnection, first: date, last: date, run_key: str | None = None
) -> list[date]:
    """Rewrite the activity of any day in [first, last] whose event count differs from raw_events
    (raw_events changed by something other than the ingest); return those days. Cheap: it reads
    only the event_date columns. With ``run_key`` (the Dagster run's id) the window is recorded as
    checked, and a window an earlier step of the run checked is not read again
    (:func:`activity_checked_in_run`)."""
    ensure_activity_tables(con)
    if activity_checked_in_run(con, run_key, first, last):
        return []
    stale = stale_activity_days(con, first, last)
    with transaction(con):
        for day in stale:
            write_activity(con, day, day + timedelta(days=1))
        if run_key is not None:
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {ACTIVITY_CHECKS_TABLE} (run_key VARCHAR NOT NULL, "
                "first_day DATE NOT NULL, last_day DATE NOT NULL)"
            )
            # Another run's checks say nothing about this one: only the latest run's are kept.
            con.execute(
                f"DELETE FROM {ACTIVITY_CHECKS_TABLE} WHERE run_key <> $run", {"run": run_key}
            )
            con.execute(
                f"INSERT INTO {ACTIVITY_CHECKS_TABLE} VALUES ($run, $first, $last)",
                {"run": run_key, "first": first, "last": last},
            )
    return stale


#: DuckDB rewrites the staging query's duplicate-candidate window (COUNT(*) OVER a partition) into
#: an aggregate joined back to a second scan of the source, so every Parquet file of the chunk is read
#: and decoded twice; the plain window reads it once. Measured on a 7-day chunk of the 1M export
#: (1.95M rows): 9.6 → 7.0 s of CPU, identical rows. Disabled for that statement only.
STAGING_DISABLED_OPTIMIZERS = ("window_self_join",)


@contextmanager
def _optimizers_disabled(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> Iterator[None]:
    row = con.execute("SELECT current_setting('disabled_optimizers')").fetchone()
    before = str(row[0]) if row and row[0] else ""
    wanted = sorted({*filter(None, before.split(",")), *names})
    con.execute(f"SET disabled_optimizers = '{','.join(wanted)}'")
    try:
        yield
    finally:
        con.execute(f"SET disabled_optimizers = '{before}'")


def _next_chunk_days(rows_so_far: int, days_so_far: int, target_rows: int) -> int:
    """Days in the next chunk: about ``target_rows`` rows at the rows per day seen so far."""
    if days_so_far == 0:
        return FIRST_CHUNK_DAYS
    per_day = max(rows_so_far / days_so_far, 1.0)
    return int(min(max(target_rows // per_day, 1), MAX_CHUNK_DAYS))


def _replace_chunk(
    con: duckdb.DuckDBPyConnection,
    chunk_start: date,
    chunk_end: date,
    *,
    stage_query: str,
    redundant_copies_query: str,
    future_tolerance_minutes: int,
) -> int:
    """Replace the days ``[chunk_start, chunk_end)`` of raw_events and the tables written beside it
    (:data:`DAY_TABLES`); the caller holds the transaction. Returns the rows staged (read from
    the source)."""
    days = {"start": chunk_start, "end": chunk_end}
    key_and_canonical = ", ".join((*EVENT_KEY_COLUMNS, *CANONICAL_COLUMNS))
    for table in DAY_TABLES:
        con.execute(f"DELETE FROM {table} WHERE event_date >= $start AND event_date < $end", days)
    con.execute(
        f"INSERT INTO {INGESTED_DAYS_TABLE} SELECT CAST(d AS DATE) FROM "
        "generate_series($start::TIMESTAMP, $end::TIMESTAMP - INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)",
        days,
    )
    with _optimizers_disabled(con, STAGING_DISABLED_OPTIMIZERS):
        con.execute(
            stage_query,
            {
                "window_start": _utc_midnight(chunk_start),
                "window_end": _utc_midnight(chunk_end),
                "future_tolerance_minutes": future_tolerance_minutes,
            },
        )
    con.execute(redundant_copies_query)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {ACCEPTED_STAGED_VIEW} AS SELECT "
        f"{key_and_canonical} FROM staged_events s ANTI JOIN redundant_copies c "
        "ON s.rowid = c.staged_row WHERE s.quarantine_reason IS NULL"
    )
    # Rows are appended in staging order (per table, as the export stores them): a sort of
    # every chunk doubled the cost of the write, and nothing reads raw_events by row order
    # (chunks are consecutive days, so event_date zone maps still prune).
    con.execute(
        f"INSERT INTO {RAW_EVENTS_TABLE} ({key_and_canonical}) "
        f"SELECT {key_and_canonical} FROM {ACCEPTED_STAGED_VIEW}"
    )
    con.execute(
        f"INSERT INTO {QUARANTINE_TABLE} SELECT event_date, source_table, "
        "quarantine_reason, internal_customer_id, event_timestamp, ingest_timestamp, "
        "original_record FROM staged_events WHERE quarantine_reason IS NOT NULL "
        "ORDER BY event_date, source_table, original_record"
    )
    con.execute(
        f"INSERT INTO {INGEST_LOG_TABLE} "
        "WITH staged AS (SELECT event_date, source_table, count(*) AS rows_read, "
        "count(*) FILTER (quarantine_reason IS NULL) AS not_quarantined, "
        "count(*) FILTER (quarantine_reason IS NOT NULL) AS rows_quarantined "
        "FROM staged_events GROUP BY ALL), "
        "copies AS (SELECT event_date, source_table, count(*) AS duplicates "
        "FROM redundant_copies GROUP BY ALL) "
        "SELECT s.event_date, s.source_table, s.rows_read, "
        "s.not_quarantined - coalesce(c.duplicates, 0), s.rows_quarantined, "
        "coalesce(c.duplicates, 0) "
        "FROM staged s LEFT JOIN copies c USING (event_date, source_table)"
    )
    staged = con.execute("SELECT count(*) FROM staged_events").fetchone()
    # The chunk's days of raw_events hold exactly the accepted staged rows (the chunk's days were
    # emptied above), so the activity is aggregated from those in memory: read back from
    # raw_events it cost as much as the insert, and more per event as a year-long ingest went on
    # (0.4 µs early, about 1 µs later, at 1M).
    write_activity(con, chunk_start, chunk_end, ACCEPTED_STAGED_VIEW)
    con.execute(f"DROP VIEW {ACCEPTED_STAGED_VIEW}")
    con.execute("DROP TABLE staged_events")
    con.execute("DROP TABLE redundant_copies")
    return int(staged[0]) if staged else 0


def ingest_window(
    con: duckdb.DuckDBPyConnection,
    source_views: Mapping[str, str],
    window_start: date,
    window_end: date,
    *,
    field_mapping: Mapping[str, Mapping[str, str]] | None = None,
    fx_to_base: Mapping[str, float] | None = None,
    future_tolerance_minutes: int = 60,
    chunk_target_rows: int = CHUNK_TARGET_ROWS,
) -> IngestStats:
    """Replace the days ``[window_start, window_end)`` of raw_events from the source views.

    ``source_views`` maps event table name → a view registered on ``con`` by the source. The window
    is replaced in chunks of consecutive days of about ``chunk_target_rows`` rows (exact duplicates
    share their day, so de-duplication per chunk is exact), each chunk in its own transaction:
    every day of raw_events and of the tables written beside it (quarantine, ingest log, activity)
    is either wholly replaced or as it was, never half-written, and re-running the window is
    idempotent. A failure leaves the chunks before it replaced and the rest as they were. The rows
    are written in the same order as in one piece.

    One transaction for a whole year cost more than the work: every chunk's dropped staging table
    stays until the commit (a rollback would need it), so a year-long transaction held the whole
    year staged and spilled it to the temporary folder (7.9 GB six minutes into the year of 1M
    customers, still growing), and the year took 484-497 s against 420-431 s with a transaction
    per chunk (benchmarks/README.md). A transaction per chunk bounds memory and disk by a chunk,
    and a long backfill that fails keeps what it had committed.
    """
    if window_end <= window_start:
        raise ValueError(f"empty ingest window {window_start} .. {window_end}")
    if "purchase" not in source_views:
        raise IngestError("the source has no 'purchase' table; it is required for customer value")
    ensure_tables(con)
    stage_parts = [
        stage_table_sql(con, table, view, (field_mapping or {}).get(table), fx_to_base)
        for table, view in sorted(source_views.items())
        if table not in CUSTOMER_TABLES
    ]
    stage_query = "CREATE OR REPLACE TEMP TABLE staged_events AS " + " UNION ALL BY NAME ".join(
        f"({part})" for part in stage_parts
    )
    redundant_copies_query = "CREATE OR REPLACE TEMP TABLE redundant_copies AS " + sql.duckdb_sql(
        "classify_staged_events.sql"
    )
    stats = IngestStats(window_start=window_start, window_end=window_end)
    window_params = {"start": window_start, "end": window_end}
    chunk_start, rows_so_far = window_start, 0
    while chunk_start < window_end:
        days_so_far = (chunk_start - window_start).days
        chunk_end = min(
            chunk_start
            + timedelta(days=_next_chunk_days(rows_so_far, days_so_far, chunk_target_rows)),
            window_end,
        )
        with transaction(con):
            rows_so_far += _replace_chunk(
                con,
                chunk_start,
                chunk_end,
                stage_query=stage_query,
                redundant_copies_query=redundant_copies_query,
                future_tolerance_minutes=future_tolerance_minutes,
            )
        chunk_start = chunk_end
    with transaction(con):
        # Every staged row has its event_date inside the window, so the log rows of the window
        # account for exactly the rows read.
        totals = con.execute(
            "SELECT coalesce(sum(rows_read), 0), coalesce(sum(rows_accepted), 0), "
            "coalesce(sum(rows_quarantined), 0), coalesce(sum(duplicates_dropped), 0) "
            f"FROM {INGEST_LOG_TABLE} WHERE event_date >= $start AND event_date < $end",
            window_params,
        ).fetchone()
        assert totals is not None
        stats.rows_read, stats.rows_accepted, stats.rows_quarantined, stats.duplicates_dropped = (
            int(v) for v in totals
        )
        stats.quarantined_by_reason = {
            str(reason): int(n)
            for reason, n in con.execute(
                f"SELECT quarantine_reason, count(*) FROM {QUARANTINE_TABLE} "
                "WHERE event_date >= $start AND event_date < $end GROUP BY 1 ORDER BY 1",
                window_params,
            ).fetchall()
        }
        stats.rows_by_table = {
            str(t): int(n)
            for t, n in con.execute(
                f"SELECT source_table, sum(rows_read) FROM {INGEST_LOG_TABLE} "
                "WHERE event_date >= $start AND event_date < $end GROUP BY 1 ORDER BY 1",
                window_params,
            ).fetchall()
        }
    if not stats.closes:
        raise AssertionError(f"ingest accounting does not close: {stats}")
    return stats


def snapshot_customer_tables(
    con: duckdb.DuckDBPyConnection, source_views: Mapping[str, str], snapshot_date: date
) -> dict[str, int]:
    """Store the id history and the known customer ids as they are exported for ``snapshot_date``.

    EBQ rebuilds customer tables in full daily, so each snapshot replaces that date's rows. Only ids
    are kept: customer properties (emails, names) never enter the warehouse.
    """
    counts: dict[str, int] = {}
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {ID_HISTORY_SNAPSHOTS_TABLE} (snapshot_date DATE NOT NULL, "
        "internal_customer_id VARCHAR, past_id VARCHAR)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {CUSTOMER_IDS_SNAPSHOTS_TABLE} (snapshot_date DATE NOT NULL, "
        "internal_customer_id VARCHAR)"
    )
    params = {"d": snapshot_date}
    with transaction(con):
        for table in (ID_HISTORY_SNAPSHOTS_TABLE, CUSTOMER_IDS_SNAPSHOTS_TABLE):
            con.execute(f"DELETE FROM {table} WHERE snapshot_date = $d", params)
        if "customers_id_history" in source_views:
            view = source_views["customers_id_history"]
            columns = describe(con, f"SELECT * FROM {view}")
            for column in ("internal_customer_id", "past_id"):
                if column not in columns:
                    raise IngestError(
                        f"table 'customers_id_history': required column {column!r} is missing"
                    )
            con.execute(
                f"INSERT INTO {ID_HISTORY_SNAPSHOTS_TABLE} SELECT DISTINCT $d, "
                f"CAST(internal_customer_id AS VARCHAR), CAST(past_id AS VARCHAR) FROM {view}",
                params,
            )
        if "customers_properties" in source_views:
            view = source_views["customers_properties"]
            key = detect_customer_key(
                describe(con, f"SELECT * FROM {view}"), "customers_properties"
            )
            con.execute(
                f"INSERT INTO {CUSTOMER_IDS_SNAPSHOTS_TABLE} SELECT DISTINCT $d, CAST({key} AS VARCHAR) "
                f"FROM {view} WHERE {key} IS NOT NULL",
                params,
            )
        for table in (ID_HISTORY_SNAPSHOTS_TABLE, CUSTOMER_IDS_SNAPSHOTS_TABLE):
            row = con.execute(
                f"SELECT count(*) FROM {table} WHERE snapshot_date = $d", params
            ).fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


def ingested_days(con: duckdb.DuckDBPyConnection, start: date, end: date) -> set[date]:
    """Days in [start, end) that an ingest window has covered."""
    if not table_exists(con, INGESTED_DAYS_TABLE):
        return set()
    rows = con.execute(
        f"SELECT DISTINCT event_date FROM {INGESTED_DAYS_TABLE} WHERE event_date >= $s AND event_date < $e",
        {"s": start, "e": end},
    ).fetchall()
    return {r[0] for r in rows}


def day_range(start: date, end_inclusive: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end_inclusive - start).days + 1)]
