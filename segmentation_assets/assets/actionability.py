"""Stage 6 — ``actionability``: which segments a marketer can act on, and how (LangChain)."""

import json
from datetime import date
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from segmentation_assets.assets.common import (
    DUCKDB_POOL,
    OWNERS,
    PER_DATE_BACKFILL,
    as_of_dates,
    attach_date_metadata,
    frame_metadata,
)
from segmentation_assets.llm import DuckDBLLMCache, SegmentSummary, evaluate_segments
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.resources import LLMResource, PipelineSettingsResource, WarehouseResource
from segmentation_assets.segment_summaries import (
    CATEGORICAL_MIX_TRAITS,
    build_summaries,
    categorical_mix,
)
from segmentation_assets.warehouse import read_frame, replace_rows, transaction

ACTIONABILITY_TABLE = "segment_actionability"


def load_summaries(con: Any, as_of: date) -> list[SegmentSummary]:
    """Aggregate-only summaries of every segment for the model: no customer-level data."""
    params = {"d": as_of}

    def table(name: str) -> pd.DataFrame:
        return con.execute(f"SELECT * FROM {name} WHERE as_of_date = $d", params).df()

    # Only the columns the categorical mix reads: all of a million profiles took about 3 s.
    traits = ", ".join(f"p.{trait}" for trait in CATEGORICAL_MIX_TRAITS)
    profiles = read_frame(
        con,
        f"SELECT p.customer_id, {traits}, a.segment_id FROM profiles p JOIN segment_assignments a "
        "ON a.as_of_date = p.as_of_date AND a.customer_id = p.customer_id WHERE p.as_of_date = $d",
        params,
    )
    mix = categorical_mix(profiles, profiles.set_index("customer_id")["segment_id"])
    return build_summaries(
        table("segments"),
        table("segment_trait_profile"),
        mix,
        robustness=table("segment_robustness").set_index("segment_id"),
        validation=table("segment_validation").set_index("segment_id"),
    )


@asset(
    deps=["robustness"],
    partitions_def=daily_partitions,
    backfill_policy=PER_DATE_BACKFILL,
    group_name="actionability",
    kinds={"duckdb", "langchain"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    tags={"stage": "6"},
)
def actionability(
    context: AssetExecutionContext,
    settings: PipelineSettingsResource,
    warehouse: WarehouseResource,
    llm: LLMResource,
) -> MaterializeResult:
    """Per segment, a structured verdict from one LangChain chain (the offline rules model unless a
    provider is configured): which of WHO / WHAT / WHEN / HOW it supports with evidence, whether it
    is actionable, a business explanation with a recommended play from the catalogue and a
    confidence tied to robustness. Production-ready = valid AND actionable. Prompts carry only
    aggregate statistics; answers are cached in the warehouse by (model, prompt version, prompt
    hash); a provider failure falls back to the rules model and is recorded."""
    metadata: dict[str, Any] = {}
    with warehouse.connection() as con:
        for as_of in as_of_dates(context):
            summaries = load_summaries(con, as_of)
            verdicts = evaluate_segments(
                summaries,
                model_spec=llm.model,
                cache=DuckDBLLMCache(con),
                min_dimensions=settings.min_actionable_dimensions,
                max_concurrency=llm.max_concurrency,
                as_of_date=as_of,
                timeout_seconds=llm.timeout_seconds,
                max_retries=llm.max_retries,
            )
            rows = []
            for summary, verdict in zip(summaries, verdicts, strict=True):
                explanation = verdict.explanation
                rows.append(
                    {
                        "as_of_date": as_of,
                        "segment_id": str(summary.segment_id),
                        "is_actionable": verdict.is_actionable,
                        "valid": summary.validation_passed,
                        "production_ready": summary.validation_passed and verdict.is_actionable,
                        "dimensions_supported": verdict.dimensions.supported_count(),
                        "dimensions": json.dumps(
                            verdict.dimensions.model_dump(mode="json"), sort_keys=True
                        ),
                        "reasoning": verdict.reasoning,
                        "recommended_action": verdict.recommended_action,
                        "executive_summary": explanation.executive_summary,
                        "key_characteristics": json.dumps(explanation.key_characteristics),
                        "recommended_campaign": str(explanation.recommended_campaign),
                        "business_hypothesis": explanation.business_hypothesis,
                        "expected_roi": explanation.expected_roi,
                        "confidence_level": str(explanation.confidence_level),
                        "confidence_justification": explanation.confidence_justification,
                        "provider": verdict.provider,
                        "model_name": verdict.model_name,
                        "prompt_version": verdict.prompt_version,
                        "fell_back": verdict.fell_back,
                        "fallback_reason": verdict.fallback_reason,
                    }
                )
            frame = pd.DataFrame(rows)
            with transaction(con):
                replace_rows(
                    con, ACTIONABILITY_TABLE, frame, where="as_of_date = $d", params={"d": as_of}
                )
            usage = verdicts.usage
            metadata = {
                **frame_metadata(
                    frame[
                        [
                            "segment_id",
                            "is_actionable",
                            "valid",
                            "production_ready",
                            "recommended_campaign",
                            "confidence_level",
                        ]
                    ]
                ),
                "as_of_date": str(as_of),
                "model": llm.model,
                "actionable_segments": int(frame["is_actionable"].sum()),
                "production_ready_segments": int(frame["production_ready"].sum()),
                "llm_calls": usage.calls_made,
                "cache_hits": usage.cache_hits,
                "fallbacks": usage.fallback_count,
                "tokens": usage.total_tokens,
                "estimated_cost_usd": MetadataValue.float(usage.estimated_cost_usd or 0.0),
            }
            attach_date_metadata(context, as_of, metadata)
    return MaterializeResult(metadata=metadata)
