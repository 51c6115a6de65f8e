"""Volume guards: a partition's row count against the recent history of the same asset.

The history is read from the warehouse (the ingest log, the profile runs), never from the wall
clock, so a backfill of an old date is judged against the days before that date.

``raw_events``: rows read for the day (everything the export delivered, before quarantine and
de-duplication) against the median of the previous 14 ingested days. Below half the median is a
half-delivered export. Above is judged only beyond 4x: on the synthetic year (2,000 customers)
every email campaign day is 2.2-3.7x its trailing median (Black Friday 3.7x), so a ±50% band would
warn on ~30 healthy days a year, while the low side never fired (lowest day 0.56x). Days whose
trailing median is under 200 rows are reported but not judged: at that volume ordinary swings
exceed 50% (the 400-customer test world has quiet days at 0.3x its median).

``profiles``: customers profiled against the median of the previous 14 as-of dates. The profile
window rolls by one day per date, so the count moves slowly; ±20% means lost events or an identity
problem.
"""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from segmentation_assets.assets.ingest import raw_events
from segmentation_assets.assets.profiles import profiles
from segmentation_assets.checks.common import DUCKDB_POOL, check_dates, window_bounds
from segmentation_assets.ingest import INGEST_LOG_TABLE, INGESTED_DAYS_TABLE
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.profiles import PROFILE_RUNS_TABLE
from segmentation_assets.resources import WarehouseResource

RAW_EVENTS_VOLUME = "raw_events_volume_within_band"
PROFILES_VOLUME = "profiles_volume_within_band"

HISTORY_DAYS = 14


@dataclass(frozen=True)
class VolumeRule:
    """A band around the trailing median: ``[median * (1 - below), median * above_factor]``."""

    below: float
    above_factor: float
    history: int = HISTORY_DAYS
    min_history: int = 7
    min_median: float = 0.0

    def describe(self) -> str:
        return (
            f"within [{1 - self.below:.0%}, {self.above_factor:.0%}] of the median of the previous "
            f"{self.history} partitions"
        )


RAW_EVENTS_RULE = VolumeRule(below=0.5, above_factor=4.0, min_history=7, min_median=200)
PROFILES_RULE = VolumeRule(below=0.2, above_factor=1.25, min_history=3)


@dataclass(frozen=True)
class VolumeVerdict:
    """One partition's row count judged against its history."""

    partition: date
    rows: int
    history: tuple[int, ...]
    median: float | None
    lower: float | None
    upper: float | None
    judged: bool
    within: bool
    reason: str


def judge_volume(
    partition: date, rows: int, history: Sequence[int], rule: VolumeRule
) -> VolumeVerdict:
    """Judge ``rows`` against the median of ``history`` (the previous partitions, newest first;
    only the first ``rule.history`` are used)."""
    recent = tuple(int(h) for h in history[: rule.history])
    if len(recent) < rule.min_history:
        reason = f"not judged: {len(recent)} earlier partitions, {rule.min_history} needed"
        return VolumeVerdict(partition, rows, recent, None, None, None, False, True, reason)
    median = float(statistics.median(recent))
    lower, upper = median * (1 - rule.below), median * rule.above_factor
    if median < rule.min_median:
        reason = f"not judged: trailing median {median:g} rows is under {rule.min_median:g}"
        return VolumeVerdict(partition, rows, recent, median, lower, upper, False, True, reason)
    within = lower <= rows <= upper
    if within:
        reason = f"{rows} rows within [{lower:g}, {upper:g}]"
    else:
        reason = (
            f"{rows} rows is {rows / median:.0%} of the trailing median {median:g} "
            f"({'below' if rows < lower else 'above'} the band [{lower:g}, {upper:g}])"
        )
    return VolumeVerdict(partition, rows, recent, median, lower, upper, True, within, reason)


def _result(verdicts: list[VolumeVerdict], rule: VolumeRule, unit: str) -> AssetCheckResult:
    flagged = [v for v in verdicts if not v.within]
    table = pd.DataFrame(
        [
            {
                "partition": str(v.partition),
                unit: v.rows,
                "trailing_median": v.median,
                "lower": v.lower,
                "upper": v.upper,
                "within": v.within,
                "reason": v.reason,
            }
            for v in verdicts[-31:]
        ]
    )
    last = verdicts[-1] if verdicts else None
    return AssetCheckResult(
        passed=not flagged,
        severity=AssetCheckSeverity.WARN,
        description="; ".join(f"{v.partition}: {v.reason}" for v in flagged[:5])
        or (last.reason if last else "nothing to judge"),
        metadata={
            "rule": rule.describe(),
            "partitions_checked": len(verdicts),
            "partitions_judged": sum(v.judged for v in verdicts),
            "partitions_flagged": MetadataValue.json([str(v.partition) for v in flagged]),
            unit: last.rows if last else 0,
            "trailing_median": MetadataValue.float(last.median)
            if last and last.median is not None
            else MetadataValue.null(),
            "by_partition": MetadataValue.md(
                table.to_markdown(index=False) if len(table) else "_none_"
            ),
        },
    )


def raw_events_volumes(con: Any, start: date, end: date, rule: VolumeRule) -> list[VolumeVerdict]:
    """A verdict for every day in [start, end): rows read that day vs the previous ingested days
    (a day ingested without events counts as 0 rows)."""
    frame = con.execute(
        f"SELECT d.event_date, coalesce(sum(l.rows_read), 0) AS rows_read "
        f"FROM (SELECT DISTINCT event_date FROM {INGESTED_DAYS_TABLE} WHERE event_date < $e) d "
        f"LEFT JOIN {INGEST_LOG_TABLE} l USING (event_date) GROUP BY 1 ORDER BY 1",
        {"e": end},
    ).df()
    days = [d.date() if hasattr(d, "date") else d for d in frame["event_date"]]
    counts = [int(n) for n in frame["rows_read"]]
    verdicts = []
    for i, day in enumerate(days):
        if day < start:
            continue
        earlier = counts[max(0, i - rule.history) : i][::-1]
        verdicts.append(judge_volume(day, counts[i], earlier, rule))
    return verdicts


@asset_check(
    asset=raw_events,
    name=RAW_EVENTS_VOLUME,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    description=(
        "Rows delivered for the day are at least half the median of the previous 14 ingested days "
        "(a half-delivered export) and at most 4x it; quiet histories (median under 200 rows) are "
        "not judged."
    ),
)
def raw_events_volume_within_band(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """Rows read per day vs the trailing median of the ingest log (WARN: an export may be late or
    partial; a human decides whether to re-ingest the day)."""
    start, end = window_bounds(context)
    with warehouse.connection() as con:
        verdicts = raw_events_volumes(con, start, end, RAW_EVENTS_RULE)
    return _result(verdicts, RAW_EVENTS_RULE, "rows_read")


@asset_check(
    asset=profiles,
    name=PROFILES_VOLUME,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    description=(
        "Customers profiled are within ±20% of the median of the previous 14 as-of dates "
        "(lost events or an identity collapse)."
    ),
)
def profiles_volume_within_band(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """Customers profiled vs the trailing median of earlier profile runs (WARN)."""
    verdicts = []
    with warehouse.connection() as con:
        for as_of in check_dates(context):
            current = con.execute(
                f"SELECT customers FROM {PROFILE_RUNS_TABLE} WHERE as_of_date = $d", {"d": as_of}
            ).fetchone()
            history = [
                int(r[0])
                for r in con.execute(
                    f"SELECT customers FROM {PROFILE_RUNS_TABLE} WHERE as_of_date < $d "
                    f"ORDER BY as_of_date DESC LIMIT {PROFILES_RULE.history}",
                    {"d": as_of},
                ).fetchall()
            ]
            verdicts.append(
                judge_volume(as_of, int(current[0]) if current else 0, history, PROFILES_RULE)
            )
    return _result(verdicts, PROFILES_RULE, "customers")


VOLUME_CHECKS = [raw_events_volume_within_band, profiles_volume_within_band]
