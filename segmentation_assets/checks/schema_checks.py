"""Schema guards: every table a stage writes still has the columns and DuckDB types declared here.

One WARN check per stage compares ``DESCRIBE <table>`` with the declared schema and lists added,
removed and retyped columns. Why a declared schema and not Dagster's
``build_column_schema_change_checks`` (which compares the ``dagster/column_schema`` metadata of an
asset's two latest materializations):

* it builds one unpartitioned multi-asset check without a pool, so it cannot carry the
  ``partitions_def`` and ``duckdb`` pool every check here needs;
* it compares the two latest materialization events of the asset whatever their partition and run:
  a range backfill of ``raw_events`` records one event per day with the same metadata, so the
  "previous" materialization is the same run and a change is never seen;
* only ``raw_events`` records its table's schema; the other stages record the dtypes of a pandas
  preview frame (a subset of columns for clusters, robustness and actionability, none for report),
  not the warehouse types the next stage's SQL reads;
* a stage writes several tables (clusters writes seven), and a table created from an empty or
  all-null frame gets a wrong type on its first night, which has no previous materialization to
  differ from. A declared schema catches that on the first run.

The declared schemas are the warehouse's column contract: change one here in the same commit as the
code that changes the table.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetsDefinition,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset_check,
)

from segmentation_assets.assets import (
    actionability,
    clusters,
    merged_ids,
    profiles,
    raw_events,
    report,
    robustness,
)
from segmentation_assets.checks.common import DUCKDB_POOL
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.resources import WarehouseResource

TableColumns = dict[str, str]

_TIMESTAMPTZ = "TIMESTAMP WITH TIME ZONE"

#: In the trait registry's order (a test keeps the two in step).
_PROFILE_TYPES: TableColumns = {
    "as_of_date": "DATE",
    "customer_id": "VARCHAR",
    "orders": "BIGINT",
    "net_revenue": "DOUBLE",
    "avg_order_value": "DOUBLE",
    "refund_rate": "DOUBLE",
    "discount_share": "DOUBLE",
    "recency_days": "BIGINT",
    "tenure_days": "BIGINT",
    "purchase_frequency_per_month": "DOUBLE",
    "interpurchase_days_mean": "DOUBLE",
    "interpurchase_regularity": "DOUBLE",
    "sessions": "DOUBLE",
    "item_views": "DOUBLE",
    "category_views": "DOUBLE",
    "cart_adds": "DOUBLE",
    "cart_removes": "DOUBLE",
    "cart_abandonment_rate": "DOUBLE",
    "email_open_rate": "DOUBLE",
    "email_click_rate": "DOUBLE",
    "top_category": "VARCHAR",
    "top_category_share": "DOUBLE",
    "category_breadth": "BIGINT",
    "primary_device": "VARCHAR",
    "mobile_share": "DOUBLE",
    "preferred_weekday": "BIGINT",
    "preferred_hour": "BIGINT",
    "weekend_share": "DOUBLE",
    "rfm_recency_score": "BIGINT",
    "rfm_frequency_score": "BIGINT",
    "rfm_monetary_score": "BIGINT",
    "rfm_segment": "VARCHAR",
    "expected_purchases": "DOUBLE",
    "p_alive": "DOUBLE",
    "churn_risk": "DOUBLE",
    "predicted_clv": "DOUBLE",
}

#: Stage → table → column → DuckDB type (as ``DESCRIBE`` prints it).
STAGE_SCHEMAS: dict[str, dict[str, TableColumns]] = {
    "raw_events": {
        "raw_events": {
            "event_date": "DATE",
            "source_table": "VARCHAR",
            "internal_customer_id": "VARCHAR",
            "event_timestamp": _TIMESTAMPTZ,
            "ingest_timestamp": _TIMESTAMPTZ,
            "purchase_id": "VARCHAR",
            "purchase_status": "VARCHAR",
            "amount_base": "DOUBLE",
            "price_base": "DOUBLE",
            "quantity": "BIGINT",
            "product_id": "VARCHAR",
            "category_level_1": "VARCHAR",
            "category_level_2": "VARCHAR",
            "category_level_3": "VARCHAR",
            "has_discount": "BOOLEAN",
            "device": "VARCHAR",
            "cart_action": "VARCHAR",
            "campaign_action_type": "VARCHAR",
            "campaign_status": "VARCHAR",
            "utm_source": "VARCHAR",
            "local_currency": "VARCHAR",
            "merged_customer_id": "VARCHAR",
        },
        "raw_events_quarantine": {
            "event_date": "DATE",
            "source_table": "VARCHAR",
            "quarantine_reason": "VARCHAR",
            "internal_customer_id": "VARCHAR",
            "event_timestamp": _TIMESTAMPTZ,
            "ingest_timestamp": _TIMESTAMPTZ,
            "original_record": "VARCHAR",
        },
        "raw_events_ingest_log": {
            "event_date": "DATE",
            "source_table": "VARCHAR",
            "rows_read": "BIGINT",
            "rows_accepted": "BIGINT",
            "rows_quarantined": "BIGINT",
            "duplicates_dropped": "BIGINT",
        },
        "raw_events_ingested_days": {"event_date": "DATE"},
        "customer_id_history_snapshots": {
            "snapshot_date": "DATE",
            "internal_customer_id": "VARCHAR",
            "past_id": "VARCHAR",
        },
        "customer_ids_snapshots": {"snapshot_date": "DATE", "internal_customer_id": "VARCHAR"},
    },
    "merged_ids": {
        "merged_ids": {
            "as_of_date": "DATE",
            "internal_customer_id": "VARCHAR",
            "surviving_id": "VARCHAR",
        },
        "identity_conflicts": {
            "as_of_date": "DATE",
            "conflict_type": "VARCHAR",
            "ids": "VARCHAR",
            "chosen_survivor": "VARCHAR",
        },
    },
    "profiles": {
        "profiles": _PROFILE_TYPES,
        "profile_runs": {
            "as_of_date": "DATE",
            "window_days": "BIGINT",
            "customers": "BIGINT",
            "value_model": "VARCHAR",
        },
    },
    "clusters": {
        "segments": {
            "as_of_date": "DATE",
            "segment_id": "VARCHAR",
            "segment_index": "BIGINT",
            "name": "VARCHAR",
            "description": "VARCHAR",
            "size": "BIGINT",
            "share": "DOUBLE",
            "total_net_revenue": "DOUBLE",
            "avg_net_revenue": "DOUBLE",
            "total_predicted_clv": "DOUBLE",
            "avg_predicted_clv": "DOUBLE",
            "avg_churn_risk": "DOUBLE",
            "defining_traits": "VARCHAR",
            "model_version": "VARCHAR",
        },
        "segment_assignments": {
            "as_of_date": "DATE",
            "customer_id": "VARCHAR",
            "segment_id": "VARCHAR",
            "distance_to_centroid": "DOUBLE",
            "membership_confidence": "DOUBLE",
        },
        "segment_trait_profile": {
            "as_of_date": "DATE",
            "segment_id": "VARCHAR",
            "trait": "VARCHAR",
            "segment_value": "DOUBLE",
            "population_value": "DOUBLE",
            "standardized_difference": "DOUBLE",
            "is_defining": "BOOLEAN",
        },
        "segment_centroids": {
            "as_of_date": "DATE",
            "segment_id": "VARCHAR",
            "name": "VARCHAR",
            "trait": "VARCHAR",
            "value": "DOUBLE",
        },
        "k_selection_scores": {
            "k": "BIGINT",
            "inertia": "DOUBLE",
            "silhouette": "DOUBLE",
            "calinski_harabasz": "DOUBLE",
            "davies_bouldin": "DOUBLE",
            "prediction_strength": "DOUBLE",
            "passes_cutoff": "BOOLEAN",
            "chosen": "BOOLEAN",
            "as_of_date": "DATE",
            "fixed_k": "BOOLEAN",
        },
        "segment_migration": {
            "from_segment_id": "VARCHAR",
            "to_segment_id": "VARCHAR",
            "customers": "BIGINT",
            "as_of_date": "DATE",
        },
        "segmentation_models": {
            "as_of_date": "DATE",
            "model_version": "VARCHAR",
            "k": "BIGINT",
            "features": "VARCHAR",
            "model": "BLOB",
        },
    },
    "robustness": {
        "segment_robustness": {
            "segment_index": "BIGINT",
            "segment_id": "VARCHAR",
            "bootstrap_jaccard": "DOUBLE",
            "feature_jaccard_min": "DOUBLE",
            "window_jaccard": "DOUBLE",
            "temporal_jaccard": "DOUBLE",
            "robustness_score": "DOUBLE",
            "tier": "VARCHAR",
            "requires_monitoring": "BOOLEAN",
            "critical_features": "VARCHAR",
            "notes": "VARCHAR",
            "as_of_date": "DATE",
        },
        "segment_validation": {
            "segment_index": "BIGINT",
            "play": "VARCHAR",
            "roi": "DOUBLE",
            "expected_incremental_revenue": "DOUBLE",
            "incremental_profit": "DOUBLE",
            "cost": "DOUBLE",
            "break_even_uplift": "DOUBLE",
            "marketing_targetability": "DOUBLE",
            "sales_prioritization": "DOUBLE",
            "personalization": "DOUBLE",
            "timing": "DOUBLE",
            "passed": "BOOLEAN",
            "reasons": "VARCHAR",
            "as_of_date": "DATE",
            "segment_id": "VARCHAR",
        },
    },
    "actionability": {
        "segment_actionability": {
            "as_of_date": "DATE",
            "segment_id": "VARCHAR",
            "is_actionable": "BOOLEAN",
            "valid": "BOOLEAN",
            "production_ready": "BOOLEAN",
            "dimensions_supported": "BIGINT",
            "dimensions": "VARCHAR",
            "reasoning": "VARCHAR",
            "recommended_action": "VARCHAR",
            "executive_summary": "VARCHAR",
            "key_characteristics": "VARCHAR",
            "recommended_campaign": "VARCHAR",
            "business_hypothesis": "VARCHAR",
            "expected_roi": "DOUBLE",
            "confidence_level": "VARCHAR",
            "confidence_justification": "VARCHAR",
            "provider": "VARCHAR",
            "model_name": "VARCHAR",
            "prompt_version": "VARCHAR",
            "fell_back": "BOOLEAN",
            "fallback_reason": "VARCHAR",
        },
    },
    "report": {
        "report_runs": {
            "as_of_date": "DATE",
            "html_path": "VARCHAR",
            "json_path": "VARCHAR",
            "activation_csv_path": "VARCHAR",
            "activation_parquet_path": "VARCHAR",
            "segments": "BIGINT",
            "activation_rows": "BIGINT",
        },
    },
}


@dataclass
class SchemaDiff:
    """How a table's actual columns differ from the declared ones."""

    table: str
    missing_table: bool = False
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    retyped: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.missing_table or bool(self.added or self.removed or self.retyped)

    def describe(self) -> list[str]:
        """One line per change, e.g. ``segment_migration.customers: BIGINT -> DOUBLE``."""
        if self.missing_table:
            return [f"{self.table}: table is missing"]
        lines = [f"{self.table}: added column {c}" for c in self.added]
        lines += [f"{self.table}: removed column {c}" for c in self.removed]
        lines += [f"{self.table}.{c}: {old} -> {new}" for c, (old, new) in self.retyped.items()]
        return lines


def schema_diff(
    table: str, declared: Mapping[str, str], actual: Mapping[str, str] | None
) -> SchemaDiff:
    """Compare a table's actual ``column → type`` with the declared one (None: table missing).
    Column order is not compared: every write inserts by column name."""
    if actual is None:
        return SchemaDiff(table, missing_table=True)
    return SchemaDiff(
        table,
        added=[c for c in actual if c not in declared],
        removed=[c for c in declared if c not in actual],
        retyped={
            c: (declared[c], actual[c])
            for c in declared
            if c in actual and declared[c] != actual[c]
        },
    )


def describe_table(con: Any, table: str) -> dict[str, str] | None:
    """``column → DuckDB type`` of ``table``, or None when it does not exist."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = $t", {"t": table}
    ).fetchone()
    if not exists or not exists[0]:
        return None
    return {str(r[0]): str(r[1]) for r in con.execute(f"DESCRIBE {table}").fetchall()}


def evaluate_stage_schema(con: Any, stage: str) -> AssetCheckResult:
    """The schema check's result for ``stage`` on an open warehouse connection."""
    diffs: list[SchemaDiff] = []
    schemas: dict[str, dict[str, str] | None] = {}
    for table, declared in STAGE_SCHEMAS[stage].items():
        actual = describe_table(con, table)
        schemas[table] = actual
        diffs.append(schema_diff(table, declared, actual))
    changes = [line for diff in diffs for line in diff.describe()]
    primary = next(iter(STAGE_SCHEMAS[stage]))
    actual_primary = schemas[primary] or {}
    return AssetCheckResult(
        passed=not changes,
        severity=AssetCheckSeverity.WARN,
        description=(
            "; ".join(changes[:5]) + (f" (+{len(changes) - 5} more)" if len(changes) > 5 else "")
            if changes
            else f"{len(diffs)} table(s) match the declared schema"
        ),
        metadata={
            "tables": MetadataValue.json(sorted(STAGE_SCHEMAS[stage])),
            "changes": MetadataValue.json(changes),
            "changed_tables": len([d for d in diffs if d.changed]),
            # The primary table's current schema, shown by the UI as a schema table.
            "column_schema": MetadataValue.table_schema(
                TableSchema(
                    columns=[TableColumn(name=c, type=t) for c, t in actual_primary.items()]
                )
            ),
        },
    )


def _build_schema_check(stage_asset: AssetsDefinition, stage: str) -> AssetChecksDefinition:
    tables = ", ".join(STAGE_SCHEMAS[stage])

    @asset_check(
        asset=stage_asset,
        name=f"{stage}_column_schema",
        partitions_def=daily_partitions,
        pool=DUCKDB_POOL,
        description=(
            f"The columns and DuckDB types of {tables} are the declared ones "
            "(checks/schema_checks.py); a warning lists added, removed and retyped columns."
        ),
    )
    def _check(
        context: AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> AssetCheckResult:
        """The stage's tables match their declared schema (WARN: a human decides whether the
        change is intended and updates the declaration)."""
        # The schema is a property of the table, not of a date: every partition sees the same one.
        with warehouse.connection() as con:
            return evaluate_stage_schema(con, stage)

    return _check


SCHEMA_CHECKS: list[AssetChecksDefinition] = [
    _build_schema_check(stage_asset, stage)
    for stage_asset, stage in (
        (raw_events, "raw_events"),
        (merged_ids, "merged_ids"),
        (profiles, "profiles"),
        (clusters, "clusters"),
        (robustness, "robustness"),
        (actionability, "actionability"),
        (report, "report"),
    )
]
