"""Checks on ``clusters``, ``robustness``, ``actionability`` and ``report``."""

import json
from pathlib import Path

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
from segmentation_assets.checks.gx_suite import Expectation, run_suite
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.resources import PipelineSettingsResource, WarehouseResource

CLUSTERS_ASSIGNED_ONCE = "clusters_every_customer_assigned_once"
CLUSTERS_SIZES_SUM = "clusters_sizes_sum_to_population"
CLUSTERS_K_IN_RANGE = "clusters_k_within_range"
ROBUSTNESS_IN_UNIT_INTERVAL = "robustness_values_in_unit_interval"
ACTIONABILITY_FALLBACKS = "actionability_fallbacks"
REPORT_FILES_WRITTEN = "report_files_written"

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
    Expectation(
        "ExpectColumnValuesToBeInSet",
        column="tier",
        value_set=[
            "highly stable",
            "stable",
            "pattern only",
            "do not trust",
            "dissolved",
            "not assessed",
        ],
    ),
]


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
    missing = duplicated = extra = 0
    with warehouse.connection() as con:
        for as_of in check_dates(context):
            row = con.execute(
                "SELECT "
                "(SELECT count(*) FROM profiles p WHERE p.as_of_date = $d AND NOT EXISTS "
                "  (SELECT 1 FROM segment_assignments a WHERE a.as_of_date = $d AND a.customer_id = p.customer_id)), "
                "(SELECT count(*) - count(DISTINCT customer_id) FROM segment_assignments WHERE as_of_date = $d), "
                "(SELECT count(*) FROM segment_assignments a WHERE a.as_of_date = $d AND NOT EXISTS "
                "  (SELECT 1 FROM profiles p WHERE p.as_of_date = $d AND p.customer_id = a.customer_id))",
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
    with warehouse.connection() as con:
        frame = con.execute(
            f"SELECT * FROM {ROBUSTNESS_TABLE} WHERE as_of_date = ANY($dates)",
            {"dates": check_dates(context)},
        ).df()
    outcome = run_suite(frame, ROBUSTNESS_IN_UNIT_INTERVAL, ROBUSTNESS_SUITE)
    return AssetCheckResult(
        passed=outcome.success and len(frame) > 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"rows_checked": len(frame), **outcome.to_metadata()},
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


SEGMENT_CHECKS = [
    clusters_every_customer_assigned_once,
    clusters_sizes_sum_to_population,
    clusters_k_within_range,
    robustness_values_in_unit_interval,
    actionability_fallbacks,
    report_files_written,
]
