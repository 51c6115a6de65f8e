"""Checks on ``clusters``, ``robustness``, ``actionability`` and ``report``.

Drift and schema guards for these stages live in drift_checks.py and schema_checks.py.
"""

import json
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    asset_check,
)

from segmentation_assets.assets.actionability import ACTIONABILITY_TABLE, actionability
from segmentation_assets.assets.report import REPORT_RUNS_TABLE, report
from segmentation_assets.assets.robustness import ROBUSTNESS_TABLE, robustness
from segmentation_assets.assets.segments import clusters
from segmentation_assets.checks.common import DUCKDB_POOL, check_dates
from segmentation_assets.checks.gx_suite import (
    Expectation,
    Relation,
    Source,
    run_suite,
    run_suites,
)
from segmentation_assets.llm.plays import PLAY_IDS
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.resources import PipelineSettingsResource, WarehouseResource
from segmentation_assets.traits import NUMERIC_TRAITS

CLUSTERS_CONTRACT = "clusters_contract"
CLUSTERS_ASSIGNED_ONCE = "clusters_every_customer_assigned_once"
CLUSTERS_SIZES_SUM = "clusters_sizes_sum_to_population"
CLUSTERS_K_IN_RANGE = "clusters_k_within_range"
ROBUSTNESS_IN_UNIT_INTERVAL = "robustness_values_in_unit_interval"
ACTIONABILITY_CONTRACT = "actionability_contract"
ACTIONABILITY_FALLBACKS = "actionability_fallbacks"
REPORT_FILES_WRITTEN = "report_files_written"
REPORT_CONTRACT = "report_contract"

ROBUSTNESS_TIERS = [
    "highly stable",
    "stable",
    "pattern only",
    "do not trust",
    "dissolved",
    "not assessed",
]

ROBUSTNESS_SUITE = [
    Expectation("ExpectColumnValuesToNotBeNull", column="segment_id"),
    Expectation("ExpectColumnValuesToBeUnique", column="segment_id"),
    *[
        Expectation("ExpectColumnValuesToBeBetween", column=c, min_value=0, max_value=1)
        for c in (
            "bootstrap_jaccard",
            "feature_jaccard_min",
            "window_jaccard",
            "temporal_jaccard",
            "robustness_score",
        )
    ],
    Expectation("ExpectColumnValuesToBeInSet", column="tier", value_set=ROBUSTNESS_TIERS),
]


def segments_suite() -> list[Expectation]:
    """The ``segments`` table: one row per segment and date, a name, a size and a share."""
    return [
        Expectation("ExpectColumnValuesToNotBeNull", column="segment_id"),
        Expectation("ExpectColumnValuesToNotBeNull", column="name"),
        Expectation("ExpectCompoundColumnsToBeUnique", column_list=["as_of_date", "segment_id"]),
        Expectation("ExpectColumnValuesToBeBetween", column="size", min_value=1),
        Expectation(
            "ExpectColumnValuesToBeBetween",
            column="share",
            min_value=0,
            max_value=1,
            strict_min=True,
        ),
        Expectation(
            "ExpectColumnValuesToBeBetween", column="avg_churn_risk", min_value=0, max_value=1
        ),
        Expectation("ExpectColumnValuesToNotBeNull", column="model_version"),
    ]


def assignments_suite(segment_ids: list[str]) -> list[Expectation]:
    """``segment_assignments``: one segment per customer and date, and only segments that exist."""
    return [
        Expectation("ExpectColumnValuesToNotBeNull", column="customer_id"),
        Expectation("ExpectColumnValuesToNotBeNull", column="segment_id"),
        Expectation("ExpectCompoundColumnsToBeUnique", column_list=["as_of_date", "customer_id"]),
        Expectation("ExpectColumnValuesToBeInSet", column="segment_id", value_set=segment_ids),
        Expectation(
            "ExpectColumnValuesToBeBetween",
            column="membership_confidence",
            min_value=0,
            max_value=1,
        ),
        Expectation("ExpectColumnValuesToBeBetween", column="distance_to_centroid", min_value=0),
    ]


def trait_profile_suite(segment_ids: list[str]) -> list[Expectation]:
    """``segment_trait_profile``: one row per segment and registered trait."""
    return [
        Expectation("ExpectColumnValuesToBeInSet", column="segment_id", value_set=segment_ids),
        Expectation("ExpectColumnValuesToBeInSet", column="trait", value_set=list(NUMERIC_TRAITS)),
        Expectation(
            "ExpectCompoundColumnsToBeUnique", column_list=["as_of_date", "segment_id", "trait"]
        ),
    ]


def actionability_suite(segment_ids: list[str]) -> list[Expectation]:
    """``segment_actionability``: one verdict per segment with a catalogue play."""
    return [
        Expectation("ExpectCompoundColumnsToBeUnique", column_list=["as_of_date", "segment_id"]),
        Expectation("ExpectColumnValuesToBeInSet", column="segment_id", value_set=segment_ids),
        *[
            Expectation("ExpectColumnValuesToNotBeNull", column=c)
            for c in (
                "is_actionable",
                "valid",
                "production_ready",
                "recommended_campaign",
                "confidence_level",
                "executive_summary",
                "provider",
                "fell_back",
            )
        ],
        Expectation(
            "ExpectColumnValuesToBeInSet", column="recommended_campaign", value_set=list(PLAY_IDS)
        ),
        Expectation(
            "ExpectColumnValuesToBeInSet",
            column="confidence_level",
            value_set=["high", "medium", "low"],
        ),
    ]


def report_segments_suite() -> list[Expectation]:
    """The report JSON's ``segments`` list, one row per segment."""
    return [
        Expectation("ExpectColumnValuesToNotBeNull", column="segment_id"),
        Expectation("ExpectColumnValuesToBeUnique", column="segment_id"),
        Expectation("ExpectColumnValuesToNotBeNull", column="name"),
        Expectation("ExpectColumnValuesToBeBetween", column="size", min_value=1),
        Expectation("ExpectColumnValuesToBeBetween", column="share", min_value=0, max_value=1),
        Expectation(
            "ExpectColumnValuesToBeInSet", column="recommended_play", value_set=list(PLAY_IDS)
        ),
        Expectation("ExpectColumnValuesToBeInSet", column="tier", value_set=ROBUSTNESS_TIERS),
    ]


def activation_suite(segment_ids: list[str], customers: int) -> list[Expectation]:
    """The activation file imported into Bloomreach: every profiled customer once, with a segment
    of the report and a catalogue play."""
    return [
        Expectation("ExpectTableRowCountToEqual", value=customers),
        Expectation("ExpectColumnValuesToNotBeNull", column="internal_customer_id"),
        Expectation("ExpectColumnValuesToBeUnique", column="internal_customer_id"),
        Expectation("ExpectColumnValuesToNotBeNull", column="segment_id"),
        Expectation("ExpectColumnValuesToBeInSet", column="segment_id", value_set=segment_ids),
        Expectation(
            "ExpectColumnValuesToBeInSet", column="recommended_play", value_set=list(PLAY_IDS)
        ),
    ]


def _of_dates(con: Any, table: str, dates: list[date]) -> Relation:
    """The rows of ``table`` for the check's as-of dates, for a GX suite (see gx_suite)."""
    return Relation(con, f"SELECT * FROM {table} WHERE as_of_date = ANY($dates)", {"dates": dates})


def _segment_ids(con: Any, dates: list[date]) -> list[str]:
    return [
        str(r[0])
        for r in con.execute(
            "SELECT DISTINCT segment_id FROM segments WHERE as_of_date = ANY($dates) ORDER BY 1",
            {"dates": dates},
        ).fetchall()
    ]


@asset_check(
    asset=clusters,
    name=CLUSTERS_CONTRACT,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description=(
        "Segments have an id, a name, a size >= 1 and a share in (0, 1]; each customer has one "
        "assignment to an existing segment with confidence in [0, 1]; the trait profile covers "
        "registered traits once per segment (Great Expectations)."
    ),
)
def clusters_contract(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """The clusters tables' contract (ERROR, blocking: robustness refits from these rows and the
    report exports them to Bloomreach)."""
    dates = check_dates(context)
    with warehouse.connection() as con:
        ids = _segment_ids(con, dates)
        outcome = run_suites(
            {
                "segments": (_of_dates(con, "segments", dates), segments_suite()),
                "segment_assignments": (
                    _of_dates(con, "segment_assignments", dates),
                    assignments_suite(ids),
                ),
                "segment_trait_profile": (
                    _of_dates(con, "segment_trait_profile", dates),
                    trait_profile_suite(ids),
                ),
            },
            CLUSTERS_CONTRACT,
        )
    segments = outcome.rows["segments"]
    return AssetCheckResult(
        passed=outcome.success and segments > 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "segments": segments,
            "assignments": outcome.rows["segment_assignments"],
            **outcome.to_metadata(),
        },
    )


@asset_check(
    asset=clusters,
    name=CLUSTERS_ASSIGNED_ONCE,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description="Every profiled customer has exactly one segment, and no one else has one.",
)
def clusters_every_customer_assigned_once(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """Profiles and assignments agree (ERROR, blocking: an unassigned customer is missing from the
    activation export)."""
    missing = duplicated = extra = 0
    with warehouse.connection() as con:
        for as_of in check_dates(context):
            # One join of the two tables' rows per id, instead of an anti-join each way and a
            # distinct count: 0.9-1.2 -> 0.35-0.47 s at a million customers (benchmarks/README.md),
            # the same counts (NULL ids included: they match nothing, and every NULL-id
            # assignment counts as a repeat).
            row = con.execute(
                "SELECT "
                "coalesce(sum(p.profile_rows) FILTER (a.assignment_rows IS NULL), 0), "
                "coalesce(sum(a.assignment_rows - IF(a.customer_id IS NULL, 0, 1)), 0), "
                "coalesce(sum(a.assignment_rows) FILTER (p.profile_rows IS NULL), 0) "
                "FROM (SELECT customer_id, count(*) AS profile_rows FROM profiles "
                "  WHERE as_of_date = $d GROUP BY customer_id) p "
                "FULL OUTER JOIN (SELECT customer_id, count(*) AS assignment_rows "
                "  FROM segment_assignments WHERE as_of_date = $d GROUP BY customer_id) a "
                "ON p.customer_id = a.customer_id",
                {"d": as_of},
            ).fetchone()
            assert row is not None
            missing, duplicated, extra = missing + row[0], duplicated + row[1], extra + row[2]
    return AssetCheckResult(
        passed=missing == duplicated == extra == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "unassigned": int(missing),
            "assigned_twice": int(duplicated),
            "unknown_customers": int(extra),
        },
    )


@asset_check(
    asset=clusters,
    name=CLUSTERS_SIZES_SUM,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description="Segment sizes add up to the profiled population and shares to 1.",
)
def clusters_sizes_sum_to_population(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """Sizes and shares add up (ERROR, blocking: the report's shares and values would not)."""
    bad: list[str] = []
    with warehouse.connection() as con:
        for as_of in check_dates(context):
            row = con.execute(
                "SELECT (SELECT sum(size) FROM segments WHERE as_of_date = $d), "
                "(SELECT sum(share) FROM segments WHERE as_of_date = $d), "
                "(SELECT count(*) FROM profiles WHERE as_of_date = $d)",
                {"d": as_of},
            ).fetchone()
            assert row is not None
            if row[0] != row[2] or abs(float(row[1] or 0) - 1.0) > 1e-9:
                bad.append(f"{as_of}: sizes {row[0]} vs {row[2]} customers, shares {row[1]}")
    return AssetCheckResult(
        passed=not bad,
        severity=AssetCheckSeverity.ERROR,
        metadata={"problems": "; ".join(bad) or "none"},
    )


@asset_check(
    asset=clusters,
    name=CLUSTERS_K_IN_RANGE,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    description="The number of segments is the fixed n_clusters, or within k_range.",
)
def clusters_k_within_range(
    context: AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    settings: PipelineSettingsResource,
) -> AssetCheckResult:
    """k within the configured range (ERROR, not blocking: a k outside it is a configuration
    mismatch to look at, the segments themselves are consistent)."""
    with warehouse.connection() as con:
        ks = [
            int(row[0])
            for d in check_dates(context)
            if (
                row := con.execute(
                    "SELECT count(*) FROM segments WHERE as_of_date = $d", {"d": d}
                ).fetchone()
            )
        ]
    allowed = (
        {settings.n_clusters}
        if settings.n_clusters
        else set(range(settings.k_min, settings.k_max + 1))
    )
    return AssetCheckResult(
        passed=all(k in allowed for k in ks),
        severity=AssetCheckSeverity.ERROR,
        metadata={"k": ks[-1] if ks else 0, "allowed": f"{min(allowed)}..{max(allowed)}"},
    )


@asset_check(
    asset=robustness,
    name=ROBUSTNESS_IN_UNIT_INTERVAL,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description="Every stability value and score in [0, 1], one row per segment, a known tier (Great Expectations).",
)
def robustness_values_in_unit_interval(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """Stability values and tiers (ERROR, blocking: the verdicts and confidence levels use them)."""
    with warehouse.connection() as con:
        rows = _of_dates(con, ROBUSTNESS_TABLE, check_dates(context))
        outcome = run_suite(rows, ROBUSTNESS_IN_UNIT_INTERVAL, ROBUSTNESS_SUITE)
    checked = outcome.rows[ROBUSTNESS_IN_UNIT_INTERVAL]
    return AssetCheckResult(
        passed=outcome.success and checked > 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"rows_checked": checked, **outcome.to_metadata()},
    )


@asset_check(
    asset=actionability,
    name=ACTIONABILITY_FALLBACKS,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    description="How many segments fell back to the rules model after a provider failure.",
)
def actionability_fallbacks(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """Provider failures answered by the rules model (WARN: the verdicts are still valid)."""
    with warehouse.connection() as con:
        rows = con.execute(
            f"SELECT segment_id, fallback_reason FROM {ACTIONABILITY_TABLE} "
            "WHERE as_of_date = ANY($dates) AND fell_back",
            {"dates": check_dates(context)},
        ).fetchall()
    return AssetCheckResult(
        passed=not rows,
        severity=AssetCheckSeverity.WARN,
        metadata={"fell_back": len(rows), "reasons": json.dumps({str(s): str(r) for s, r in rows})},
    )


@asset_check(
    asset=report,
    name=REPORT_FILES_WRITTEN,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    description="The HTML, JSON and activation files exist; the JSON parses and lists every segment.",
)
def report_files_written(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """The report's files exist and agree (ERROR; the last stage, so there is nothing to block)."""
    problems: list[str] = []
    with warehouse.connection() as con:
        for as_of in check_dates(context):
            row = con.execute(
                f"SELECT html_path, json_path, activation_csv_path, activation_parquet_path, segments "
                f"FROM {REPORT_RUNS_TABLE} WHERE as_of_date = $d",
                {"d": as_of},
            ).fetchone()
            if row is None:
                problems.append(f"{as_of}: no report recorded")
                continue
            for path in row[:4]:
                if not Path(path).is_file():
                    problems.append(f"{as_of}: missing {path}")
            if Path(row[1]).is_file():
                document = json.loads(Path(row[1]).read_text())
                if len(document.get("segments", [])) != row[4]:
                    problems.append(
                        f"{as_of}: JSON lists {len(document.get('segments', []))} segments, expected {row[4]}"
                    )
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={"problems": "; ".join(problems) or "none"},
    )


@asset_check(
    asset=actionability,
    name=ACTIONABILITY_CONTRACT,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    blocking=True,
    description=(
        "One verdict per existing segment and date, with the flags, a catalogue play, a "
        "high/medium/low confidence, a summary and the provider set (Great Expectations)."
    ),
)
def actionability_contract(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """The verdict table's contract (ERROR, blocking: the report and the activation export print
    these plays and flags)."""
    dates = check_dates(context)
    with warehouse.connection() as con:
        ids = _segment_ids(con, dates)
        rows = _of_dates(con, ACTIONABILITY_TABLE, dates)
        outcome = run_suite(rows, ACTIONABILITY_CONTRACT, actionability_suite(ids))
    verdicts = outcome.rows[ACTIONABILITY_CONTRACT]
    return AssetCheckResult(
        passed=outcome.success and verdicts == len(ids),
        severity=AssetCheckSeverity.ERROR,
        metadata={"verdicts": verdicts, "segments": len(ids), **outcome.to_metadata()},
    )


def report_segments(json_path: str) -> pd.DataFrame:
    """The report JSON's segments as a table."""
    document = json.loads(Path(json_path).read_text())
    segments = pd.DataFrame(
        [
            {
                "segment_id": s.get("segment_id"),
                "name": s.get("name"),
                "size": s.get("size"),
                "share": s.get("share"),
                "recommended_play": s.get("recommended_play"),
                "tier": (s.get("robustness") or {}).get("tier"),
            }
            for s in document.get("segments", [])
        ],
        columns=["segment_id", "name", "size", "share", "recommended_play", "tier"],
    )
    return segments


def activation_rows(con: Any, activation_path: str) -> Relation:
    """The activation file's rows, read by DuckDB for the suite (see gx_suite)."""
    return Relation(con, "SELECT * FROM read_parquet($path)", {"path": activation_path})


@asset_check(
    asset=report,
    name=REPORT_CONTRACT,
    partitions_def=daily_partitions,
    pool=DUCKDB_POOL,
    description=(
        "The report JSON lists each segment once with a name, size, share, catalogue play and "
        "known tier; the activation file holds every profiled customer once, with a segment of the "
        "report and a catalogue play (Great Expectations)."
    ),
)
def report_contract(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    """What leaves the house: the JSON and the activation import (ERROR; the last stage, so not
    blocking, but a failed activation file must not be imported)."""
    tables: dict[str, tuple[Source, list[Expectation]]] = {}
    problems: list[str] = []
    with warehouse.connection() as con:
        for as_of in check_dates(context):
            row = con.execute(
                f"SELECT json_path, activation_parquet_path FROM {REPORT_RUNS_TABLE} "
                "WHERE as_of_date = $d",
                {"d": as_of},
            ).fetchone()
            customers = con.execute(
                "SELECT count(*) FROM profiles WHERE as_of_date = $d", {"d": as_of}
            ).fetchone()
            if row is None or not Path(row[0]).is_file() or not Path(row[1]).is_file():
                problems.append(f"{as_of}: no report files")
                continue
            segments = report_segments(row[0])
            ids = [str(i) for i in segments["segment_id"].dropna()]
            tables[f"{as_of} json"] = (segments, report_segments_suite())
            tables[f"{as_of} activation"] = (
                activation_rows(con, row[1]),
                activation_suite(ids, int(customers[0]) if customers else 0),
            )
        outcome = run_suites(tables, REPORT_CONTRACT)
    return AssetCheckResult(
        passed=outcome.success and not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={"problems": "; ".join(problems) or "none", **outcome.to_metadata()},
    )


SEGMENT_CHECKS = [
    clusters_contract,
    clusters_every_customer_assigned_once,
    clusters_sizes_sum_to_population,
    clusters_k_within_range,
    robustness_values_in_unit_interval,
    actionability_contract,
    actionability_fallbacks,
    report_files_written,
    report_contract,
]
