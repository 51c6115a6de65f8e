"""Checks on ``merged_ids`` and ``profiles``: one id → one survivor, the identity contract, one row
per customer, revenue reconciles with the events, the profile contract (Great Expectations).

Volume, drift and schema guards for these stages live in volume_checks.py, drift_checks.py and
schema_checks.py.
"""

from datetime import date, timedelta
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    asset_check,
)

from segmentation_assets.assets.common import run_key_of
from segmentation_assets.assets.identity import merged_ids
from segmentation_assets.assets.profiles import profiles
from segmentation_assets.checks.common import DUCKDB_POOL, check_dates
from segmentation_assets.checks.gx_suite import Expectation, Relation, run_suite, run_suites
from segmentation_assets.identity import CONFLICTS_TABLE, MERGED_IDS_TABLE
from segmentation_assets.ingest import (
    RAW_EVENTS_TABLE,
    activity_layout_is_current,
    ids_with_activity_sql,
    stale_activity_days,
)
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.profiles import PROFILE_RUNS_TABLE, PROFILES_TABLE
from segmentation_assets.resources import WarehouseResource
from segmentation_assets.rfm import RFM_GROUP_NAMES
from segmentation_assets.traits import NUMERIC_TRAITS, TRAITS

MERGED_IDS_RESOLVED = "merged_ids_fully_resolved"
MERGED_IDS_CONTRACT = "merged_ids_contract"
IDENTITY_CONFLICT_SHARE = "identity_conflict_share"
PROFILES_ONE_ROW_PER_CUSTOMER = "profiles_one_row_per_customer"
PROFILES_EVENTS_RESOLVE = "profiles_every_event_id_resolves"
PROFILES_REVENUE_RECONCILES = "profiles_revenue_reconciles"
PROFILES_VALUE_RANGES = "profiles_value_ranges"

#: Conflicts above this share of merged ids turn the warning into an error.
MAX_CONFLICT_SHARE = 0.01
REVENUE_TOLERANCE = 1e-6


@asset_check(
    asset=merged_ids,
    name=MERGED_IDS_RESOLVED,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description="Every id maps to exactly one survivor, and every survivor maps to itself (no chain left).",
)
def merged_ids_fully_resolved(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """One survivor per id and no unresolved chain (ERROR, blocking: a customer split across ids
    would be profiled twice)."""
    with warehouse.connection() as con:
        duplicated, unresolved = 0, 0
        for as_of in check_dates(context):
            row = con.execute(
                f"SELECT count(*) - count(DISTINCT internal_customer_id), "
                f"count(*) FILTER (surviving_id NOT IN (SELECT internal_customer_id FROM {MERGED_IDS_TABLE} "
                f"  WHERE as_of_date = $d AND internal_customer_id = surviving_id)) "
                f"FROM {MERGED_IDS_TABLE} WHERE as_of_date = $d",
                {"d": as_of},
            ).fetchone()
            assert row is not None
            duplicated += int(row[0])
            unresolved += int(row[1])
    return AssetCheckResult(
        passed=duplicated == 0 and unresolved == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"ids_mapped_twice": duplicated, "ids_not_fully_resolved": unresolved},
    )


@asset_check(
    asset=merged_ids,
    name=IDENTITY_CONFLICT_SHARE,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    description=(
        "Cycles and contested merges are listed in identity_conflicts: a warning when any exist, "
        f"an error above {MAX_CONFLICT_SHARE:.0%} of merged ids."
    ),
)
def identity_conflict_share(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """Cycles and contested merges (WARN when any, ERROR above the share; not blocking: conflicts
    are resolved deterministically, a human reviews them)."""
    with warehouse.connection() as con:
        conflicts, merged = 0, 0
        for as_of in check_dates(context):
            row = con.execute(
                f"SELECT (SELECT count(*) FROM {CONFLICTS_TABLE} WHERE as_of_date = $d), "
                f"(SELECT count(*) FROM {MERGED_IDS_TABLE} WHERE as_of_date = $d "
                "  AND internal_customer_id <> surviving_id)",
                {"d": as_of},
            ).fetchone()
            assert row is not None
            conflicts += int(row[0])
            merged += int(row[1])
    share = conflicts / merged if merged else 0.0
    return AssetCheckResult(
        passed=conflicts == 0,
        severity=AssetCheckSeverity.ERROR
        if share > MAX_CONFLICT_SHARE
        else AssetCheckSeverity.WARN,
        metadata={"conflicts": conflicts, "merged_ids": merged, "conflict_share": share},
    )


MERGED_IDS_SUITE = [
    Expectation("ExpectColumnValuesToNotBeNull", column="as_of_date"),
    Expectation("ExpectColumnValuesToNotBeNull", column="internal_customer_id"),
    Expectation("ExpectColumnValuesToNotBeNull", column="surviving_id"),
    Expectation(
        "ExpectCompoundColumnsToBeUnique", column_list=["as_of_date", "internal_customer_id"]
    ),
]
IDENTITY_CONFLICTS_SUITE = [
    Expectation(
        "ExpectColumnValuesToBeInSet",
        column="conflict_type",
        value_set=["cycle", "multiple_survivors"],
    ),
    Expectation("ExpectColumnValuesToNotBeNull", column="ids"),
    Expectation("ExpectColumnValuesToNotBeNull", column="chosen_survivor"),
]


@asset_check(
    asset=merged_ids,
    name=MERGED_IDS_CONTRACT,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description=(
        "Every mapping has an id and a survivor and each id appears once per date; conflicts have "
        "a known type and a chosen survivor (Great Expectations)."
    ),
)
def merged_ids_contract(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """The identity mapping's columns (ERROR, blocking: a null survivor drops the customer's events
    from the profiles)."""
    params = {"dates": check_dates(context)}
    with warehouse.connection() as con:
        outcome = run_suites(
            {
                MERGED_IDS_TABLE: (_of_dates(con, MERGED_IDS_TABLE, params), MERGED_IDS_SUITE),
                CONFLICTS_TABLE: (
                    _of_dates(con, CONFLICTS_TABLE, params),
                    IDENTITY_CONFLICTS_SUITE,
                ),
            },
            MERGED_IDS_CONTRACT,
        )
    mapped = outcome.rows[MERGED_IDS_TABLE]
    return AssetCheckResult(
        passed=outcome.success and mapped > 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "rows_checked": mapped,
            "conflicts": outcome.rows[CONFLICTS_TABLE],
            **outcome.to_metadata(),
        },
    )


def _of_dates(con: Any, table: str, params: dict[str, Any]) -> Relation:
    """The rows of ``table`` for the check's as-of dates, for a GX suite (see gx_suite)."""
    return Relation(con, f"SELECT * FROM {table} WHERE as_of_date = ANY($dates)", params)


def _window_start(con: object, as_of: date) -> date:
    """First day of the window the stored profiles for ``as_of`` were computed over."""
    row = con.execute(  # type: ignore[attr-defined]
        f"SELECT window_days FROM {PROFILE_RUNS_TABLE} WHERE as_of_date = $d", {"d": as_of}
    ).fetchone()
    if row is None:
        raise ValueError(f"no profile run recorded for {as_of}: materialize profiles first")
    return as_of - timedelta(days=int(row[0]) - 1)


@asset_check(
    asset=profiles,
    name=PROFILES_ONE_ROW_PER_CUSTOMER,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description="Exactly one profile row per surviving customer id.",
)
def profiles_one_row_per_customer(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """One row per customer and at least one row (ERROR, blocking: clustering would weigh a
    duplicated customer twice)."""
    with warehouse.connection() as con:
        duplicates, rows = 0, 0
        for as_of in check_dates(context):
            row = con.execute(
                f"SELECT count(*), count(*) - count(DISTINCT customer_id) FROM {PROFILES_TABLE} "
                "WHERE as_of_date = $d",
                {"d": as_of},
            ).fetchone()
            assert row is not None
            rows += int(row[0])
            duplicates += int(row[1])
    return AssetCheckResult(
        passed=duplicates == 0 and rows > 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"rows": rows, "duplicate_customer_rows": duplicates},
    )


@asset_check(
    asset=profiles,
    name=PROFILES_EVENTS_RESOLVE,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    additional_deps=[merged_ids],
    description="Every event id in the window resolves through merged_ids to a profiled customer.",
)
def profiles_every_event_id_resolves(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """Events of the window reach a profile (ERROR, blocking: otherwise activity is lost).

    The window's ids are read from the daily activity table (through the id dictionary) for every
    day whose event count there equals raw_events' (the ingest writes both from the same events,
    grouped by day and id), and from raw_events itself for any other day. Reading a million customers' 120M event ids takes
    about 27 s; the activity table's 24M rows about 4 s (benchmarks/README.md)."""
    unresolved = 0
    with warehouse.connection() as con:
        for as_of in check_dates(context):
            oldest = _window_start(con, as_of)
            window = "event_date BETWEEN $start AND $d"
            if activity_layout_is_current(con, ["daily"]):
                stale = stale_activity_days(con, oldest, as_of, run_key_of(context))
            else:
                # Activity not (yet) keyed by the id dictionary: every day is read from raw_events.
                stale = [oldest + timedelta(days=n) for n in range((as_of - oldest).days + 1)]
            sources = []
            if stale:
                sources.append(
                    f"SELECT internal_customer_id FROM {RAW_EVENTS_TABLE} "
                    f"WHERE {window} AND event_date IN (SELECT unnest($stale))"
                )
            if len(stale) < (as_of - oldest).days + 1:
                sources.append(
                    ids_with_activity_sql(
                        window + (" AND event_date NOT IN (SELECT unnest($stale))" if stale else "")
                    )
                )
            # An id resolves when merged_ids maps it, and every survivor it maps to has a
            # profile. The ids of the date (about one per customer) are judged first, so the
            # window's ids are only probed against them, not joined to two tables each.
            result = con.execute(
                f"WITH resolved AS (SELECT m.internal_customer_id FROM {MERGED_IDS_TABLE} m "
                f"LEFT JOIN {PROFILES_TABLE} p ON p.as_of_date = $d AND p.customer_id = m.surviving_id "
                "WHERE m.as_of_date = $d GROUP BY 1 HAVING bool_and(p.customer_id IS NOT NULL)), "
                f"window_ids AS ({' UNION '.join(sources)}) "
                "SELECT count(*) FROM window_ids e "
                "ANTI JOIN resolved r ON r.internal_customer_id = e.internal_customer_id",
                {"d": as_of, "start": oldest, **({"stale": stale} if stale else {})},
            ).fetchone()
            unresolved += int(result[0]) if result else 0
    return AssetCheckResult(
        passed=unresolved == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"unresolved_event_ids": unresolved},
    )


@asset_check(
    asset=profiles,
    name=PROFILES_REVENUE_RECONCILES,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description="Sum of profile net revenue equals net revenue of the window's purchase events.",
)
def profiles_revenue_reconciles(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """Profile revenue equals event revenue (ERROR, blocking: value, CLV and ROI build on it)."""
    profile_total, event_total = 0.0, 0.0
    with warehouse.connection() as con:
        for as_of in check_dates(context):
            row = con.execute(
                f"SELECT coalesce(sum(net_revenue), 0) FROM {PROFILES_TABLE} WHERE as_of_date = $d",
                {"d": as_of},
            ).fetchone()
            assert row is not None
            profile_total += float(row[0])
            oldest = _window_start(con, as_of)
            events = con.execute(
                f"SELECT coalesce(sum(CASE purchase_status WHEN 'success' THEN amount_base "
                f"WHEN 'refund' THEN -amount_base ELSE 0 END), 0) FROM {RAW_EVENTS_TABLE} "
                "WHERE source_table = 'purchase' AND event_date BETWEEN $start AND $d",
                {"d": as_of, "start": oldest},
            ).fetchone()
            event_total += float(events[0]) if events else 0.0
    difference = abs(profile_total - event_total)
    return AssetCheckResult(
        passed=difference <= REVENUE_TOLERANCE * max(1.0, abs(event_total)),
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "profiles_net_revenue": profile_total,
            "events_net_revenue": event_total,
            "difference": difference,
        },
    )


def _range_expectations() -> list[Expectation]:
    """The profile contract, derived from the trait registry so a new trait is covered."""
    expectations = [
        Expectation("ExpectColumnValuesToNotBeNull", column="as_of_date"),
        Expectation("ExpectColumnValuesToNotBeNull", column="customer_id"),
        Expectation("ExpectCompoundColumnsToBeUnique", column_list=["as_of_date", "customer_id"]),
    ]
    # Clustering cannot take a missing or non-numeric value: every trait is set and numeric
    # traits are numbers.
    expectations += [Expectation("ExpectColumnValuesToNotBeNull", column=t.name) for t in TRAITS]
    expectations += [
        Expectation("ExpectColumnValuesToBeInTypeList", column=name, type_list=["int64", "float64"])
        for name in NUMERIC_TRAITS
    ]
    for trait in TRAITS:
        if trait.kind != "numeric":
            continue
        if trait.unit.startswith(("share", "probability", "score 0-1")):
            expectations.append(
                Expectation(
                    "ExpectColumnValuesToBeBetween", column=trait.name, min_value=0, max_value=1
                )
            )
        elif trait.unit in ("count", "days") or trait.name in (
            "expected_purchases",
            "predicted_clv",
            "avg_order_value",
            "purchase_frequency_per_month",
        ):
            expectations.append(
                Expectation("ExpectColumnValuesToBeBetween", column=trait.name, min_value=0)
            )
        elif trait.unit.startswith("quintile"):
            expectations.append(
                Expectation(
                    "ExpectColumnValuesToBeBetween", column=trait.name, min_value=1, max_value=5
                )
            )
    expectations += [
        Expectation(
            "ExpectColumnValuesToBeBetween", column="preferred_weekday", min_value=1, max_value=7
        ),
        Expectation(
            "ExpectColumnValuesToBeBetween", column="preferred_hour", min_value=0, max_value=23
        ),
        Expectation(
            "ExpectColumnValuesToBeInSet", column="rfm_segment", value_set=list(RFM_GROUP_NAMES)
        ),
    ]
    return expectations


PROFILES_SUITE = _range_expectations()


@asset_check(
    asset=profiles,
    name=PROFILES_VALUE_RANGES,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description=(
        "One row per customer and date; every trait set; numeric traits numeric; rates and "
        "probabilities in [0, 1]; counts, days, money and CLV non-negative (net revenue may be "
        "negative); RFM scores 1-5 and a known RFM group; weekday 1-7, hour 0-23 "
        "(Great Expectations)."
    ),
)
def profiles_value_ranges(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """The profile contract (ERROR, blocking: clustering and CLV read these columns as they are)."""
    with warehouse.connection() as con:
        rows = _of_dates(con, PROFILES_TABLE, {"dates": check_dates(context)})
        outcome = run_suite(rows, PROFILES_VALUE_RANGES, PROFILES_SUITE)
    checked = outcome.rows[PROFILES_VALUE_RANGES]
    return AssetCheckResult(
        passed=outcome.success and checked > 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"rows_checked": checked, **outcome.to_metadata()},
    )


PROFILE_CHECKS = [
    merged_ids_fully_resolved,
    merged_ids_contract,
    identity_conflict_share,
    profiles_one_row_per_customer,
    profiles_every_event_id_resolves,
    profiles_revenue_reconciles,
    profiles_value_ranges,
]
