"""Drift between nightly runs: per-feature PSI on ``profiles``, segment mix and migration on
``clusters``. Both compare the as-of date with the latest earlier as-of date in the warehouse and
store what they measured (``profile_drift``, ``segment_drift``) for the report. The statistics and
the binning are documented in :mod:`segmentation_assets.drift`.
"""

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

from segmentation_assets import drift
from segmentation_assets.assets.profiles import profiles
from segmentation_assets.assets.segments import clusters
from segmentation_assets.checks.common import DUCKDB_POOL, check_dates
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.profiles import PROFILES_TABLE
from segmentation_assets.resources import WarehouseResource
from segmentation_assets.traits import CATEGORICAL_TRAITS, NUMERIC_TRAITS
from segmentation_assets.warehouse import read_frame, replace_rows, table_exists, transaction

PROFILES_DRIFT = "profiles_feature_drift"
CLUSTERS_DRIFT = "clusters_segment_drift"

NO_PREVIOUS = "no previous as-of date"
BANDS = ("significant", "moderate", "stable")


def _previous(con: Any, table: str, as_of: date) -> date | None:
    row = con.execute(
        f"SELECT max(as_of_date) FROM {table} WHERE as_of_date < $d", {"d": as_of}
    ).fetchone()
    return row[0] if row and row[0] is not None else None


def _store(con: Any, table: str, as_of: date, rows: pd.DataFrame | None) -> None:
    """Replace the date's rows of a drift table (no rows when there is no previous date), so a
    re-run of the check leaves the same table."""
    with transaction(con):
        if rows is None:
            con.execute(f"DELETE FROM {table} WHERE as_of_date = $d", {"d": as_of})
        else:
            replace_rows(con, table, rows, where="as_of_date = $d", params={"d": as_of})


def profile_drift_for(con: Any, as_of: date) -> tuple[date | None, pd.DataFrame]:
    """(previous as-of date, per-feature PSI) for ``as_of``; stores the rows in profile_drift."""
    drift.ensure_drift_tables(con)
    previous = _previous(con, PROFILES_TABLE, as_of)
    if previous is None:
        _store(con, drift.PROFILE_DRIFT_TABLE, as_of, None)
        return None, pd.DataFrame(columns=["feature", "kind", "psi", "band", "bins"])
    columns = ", ".join((*NUMERIC_TRAITS, *CATEGORICAL_TRAITS))
    sql = f"SELECT {columns} FROM {PROFILES_TABLE} WHERE as_of_date = $d"
    before = read_frame(con, sql, {"d": previous})
    now = read_frame(con, sql, {"d": as_of})
    result = drift.feature_drift(before, now, NUMERIC_TRAITS, CATEGORICAL_TRAITS)
    rows = drift.profile_drift_rows(result, as_of, previous, len(before), len(now))
    _store(con, drift.PROFILE_DRIFT_TABLE, as_of, rows)
    return previous, result


@asset_check(
    asset=profiles,
    name=PROFILES_DRIFT,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    description=(
        "Population stability index of every trait against the previous as-of date (deciles of "
        "the previous date; < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant); warns on a "
        "significant shift. Stored in profile_drift."
    ),
)
def profiles_feature_drift(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """Per-feature PSI vs the previous as-of date (WARN: a shifted input changes the segments
    without any error; a human decides whether it is real or a data problem)."""
    metadata: dict[str, Any] = {}
    significant: list[str] = []
    descriptions: list[str] = []
    with warehouse.connection() as con:
        for as_of in check_dates(context):
            previous, result = profile_drift_for(con, as_of)
            if previous is None:
                descriptions.append(f"{as_of}: {NO_PREVIOUS}")
                metadata = {"as_of_date": str(as_of), "previous_as_of_date": NO_PREVIOUS}
                continue
            ordered = result.sort_values("psi", ascending=False)
            hits = ordered.loc[ordered["band"] == "significant", "feature"].tolist()
            significant += [f"{as_of}: {f}" for f in hits]
            descriptions.append(
                f"{as_of} vs {previous}: max PSI {ordered['psi'].max():.3f} "
                f"({ordered['feature'].iloc[0]}), {len(hits)} significant"
            )
            metadata = {
                "as_of_date": str(as_of),
                "previous_as_of_date": str(previous),
                "max_psi": MetadataValue.float(float(ordered["psi"].max())),
                "features_by_band": MetadataValue.json(
                    {b: ordered.loc[ordered["band"] == b, "feature"].tolist() for b in BANDS}
                ),
                "psi": MetadataValue.json(
                    {
                        f: round(float(p), 6)
                        for f, p in zip(result["feature"], result["psi"], strict=True)
                    }
                ),
                "psi_table": MetadataValue.md(ordered.to_markdown(index=False, floatfmt=".4f")),
            }
    return AssetCheckResult(
        passed=not significant,
        severity=AssetCheckSeverity.WARN,
        description="; ".join(descriptions),
        metadata={**metadata, "significant": MetadataValue.json(significant)},
    )


def segment_drift_for(
    con: Any, as_of: date
) -> tuple[date, pd.DataFrame, drift.MigrationSummary, float] | None:
    """(previous as-of date, segment share changes, migration summary, segment-mix PSI), or None
    without a previous date; stores the rows in segment_drift."""
    drift.ensure_drift_tables(con)
    previous = _previous(con, "segments", as_of)
    if previous is None:
        _store(con, drift.SEGMENT_DRIFT_TABLE, as_of, None)
        return None
    sql = "SELECT segment_id, name, share FROM segments WHERE as_of_date = $d"
    changes = drift.segment_share_changes(
        con.execute(sql, {"d": previous}).df(), con.execute(sql, {"d": as_of}).df()
    )
    migration = (
        con.execute(
            # Cast: ids compare as text whatever type the table was created with.
            "SELECT CAST(from_segment_id AS VARCHAR) AS from_segment_id, "
            "CAST(to_segment_id AS VARCHAR) AS to_segment_id, customers "
            "FROM segment_migration WHERE as_of_date = $d",
            {"d": as_of},
        ).df()
        if table_exists(con, "segment_migration")
        else _empty_migration()
    )
    rows = drift.segment_drift_rows(changes, migration, as_of, previous)
    _store(con, drift.SEGMENT_DRIFT_TABLE, as_of, rows)
    return previous, changes, drift.summarize_migration(migration), drift.segment_share_psi(changes)


def _empty_migration() -> pd.DataFrame:
    return pd.DataFrame({"from_segment_id": [], "to_segment_id": [], "customers": []})


@asset_check(
    asset=clusters,
    name=CLUSTERS_DRIFT,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    description=(
        "Segment shares and the share of customers who changed segment since the previous as-of "
        "date; warns when more than 25% of returning customers moved or the segment-mix PSI is "
        "above 0.25. Stored in segment_drift."
    ),
)
def clusters_segment_drift(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """Segment-share changes and share of customers moved (WARN: campaigns planned on yesterday's
    segments reach different people)."""
    metadata: dict[str, Any] = {}
    problems: list[str] = []
    descriptions: list[str] = []
    with warehouse.connection() as con:
        for as_of in check_dates(context):
            measured = segment_drift_for(con, as_of)
            if measured is None:
                descriptions.append(f"{as_of}: {NO_PREVIOUS}")
                metadata = {"as_of_date": str(as_of), "previous_as_of_date": NO_PREVIOUS}
                continue
            previous, changes, summary, mix_psi = measured
            if summary.band == "significant":
                problems.append(f"{as_of}: {summary.share_moved:.1%} of customers moved")
            if drift.psi_band(mix_psi) == "significant":
                problems.append(f"{as_of}: segment-mix PSI {mix_psi:.3f}")
            descriptions.append(
                f"{as_of} vs {previous}: {summary.share_moved:.1%} of {summary.customers_in_both} "
                f"returning customers moved; segment-mix PSI {mix_psi:.3f}"
            )
            metadata = {
                "as_of_date": str(as_of),
                "previous_as_of_date": str(previous),
                "share_moved": MetadataValue.float(summary.share_moved),
                "share_moved_band": summary.band,
                "customers_in_both": summary.customers_in_both,
                "customers_moved": summary.customers_moved,
                "customers_new": summary.customers_new,
                "customers_gone": summary.customers_gone,
                "segment_mix_psi": MetadataValue.float(mix_psi),
                "max_share_change": MetadataValue.float(
                    float(changes["share_change"].abs().max()) if len(changes) else 0.0
                ),
                "share_changes": MetadataValue.md(changes.to_markdown(index=False, floatfmt=".4f")),
            }
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.WARN,
        description="; ".join(problems or descriptions),
        metadata=metadata,
    )


DRIFT_CHECKS = [profiles_feature_drift, clusters_segment_drift]
