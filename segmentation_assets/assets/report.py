"""Stage 7 — ``report``: the JSON export, the HTML report and the activation files."""

from importlib.metadata import version
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from segmentation_assets.assets.common import (
    DUCKDB_POOL,
    OWNERS,
    PER_DATE_BACKFILL,
    as_of_dates,
    attach_date_metadata,
)
from segmentation_assets.llm.prompts import PROMPT_VERSION
from segmentation_assets.partitions import daily_partitions
from segmentation_assets.report_data import load_report_data
from segmentation_assets.reporting import (
    build_report_json,
    summary_markdown,
    write_activation_exports,
    write_html_report,
    write_report_json,
)
from segmentation_assets.reporting.html import report_plots
from segmentation_assets.resources import (
    EBQSource,
    LLMResource,
    PipelineSettingsResource,
    ReportsResource,
    WarehouseResource,
)
from segmentation_assets.warehouse import replace_rows, transaction

REPORT_RUNS_TABLE = "report_runs"


@asset(
    deps=["actionability"],
    partitions_def=daily_partitions,
    backfill_policy=PER_DATE_BACKFILL,
    group_name="report",
    kinds={"duckdb", "html", "json"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    tags={"stage": "7"},
)
def report(
    context: AssetExecutionContext,
    settings: PipelineSettingsResource,
    warehouse: WarehouseResource,
    source: EBQSource,
    llm: LLMResource,
    reports: ReportsResource,
) -> MaterializeResult:
    """What people read and load: a versioned JSON export of every segment (value, CLV, traits vs
    population, robustness, validation, ROI, verdict, explanation, play), a self-contained HTML
    report with plots, and the activation export (surviving internal_customer_id → segment and
    recommended play) as CSV for a Bloomreach customer import and as Parquet."""
    metadata: dict[str, Any] = {}
    with warehouse.connection() as con:
        for as_of in as_of_dates(context):
            model_row = con.execute(
                "SELECT model_version FROM segmentation_models WHERE as_of_date = $d", {"d": as_of}
            ).fetchone()
            run = {
                "as_of_date": as_of.isoformat(),
                "window_days": settings.window_days,
                "data_source": source.describe(),
                "model_version": model_row[0] if model_row else "unknown",
                "llm_model": llm.model,
                "prompt_version": PROMPT_VERSION,
                "configuration": settings.model_dump(mode="json"),
                "generated_by": f"segmentation_assets {version('segmentation_assets')}",
            }
            data = load_report_data(con, as_of, run)
            folder = reports.folder_for(as_of.isoformat())
            # Built once and shared: at a million customers one build of the report JSON took
            # about 1 s and the eight plots 6.4 s (cProfile).
            report_json = build_report_json(data)
            plots = report_plots(data)
            html_path = write_html_report(
                data, folder / "segmentation_report.html", report=report_json, plots=plots
            )
            json_path = write_report_json(report_json, folder / "segmentation_report.json")
            plays = dict(
                zip(
                    data.actionability["segment_id"],
                    data.actionability["recommended_campaign"],
                    strict=True,
                )
            )
            exports = write_activation_exports(data.assignments, data.segments, plays, folder)
            row = pd.DataFrame(
                {
                    "as_of_date": [as_of],
                    "html_path": [str(html_path)],
                    "json_path": [str(json_path)],
                    "activation_csv_path": [str(exports["csv"])],
                    "activation_parquet_path": [str(exports["parquet"])],
                    "segments": [len(data.segments)],
                    "activation_rows": [exports.row_count],
                }
            )
            with transaction(con):
                replace_rows(
                    con, REPORT_RUNS_TABLE, row, where="as_of_date = $d", params={"d": as_of}
                )
            metadata = {
                "dagster/row_count": MetadataValue.int(exports.row_count),
                "as_of_date": str(as_of),
                "summary": MetadataValue.md(summary_markdown(report_json)),
                "segment_value": MetadataValue.md(f"![segment value]({plots['segment_value']})"),
                "html_report": MetadataValue.path(str(html_path)),
                "json_report": MetadataValue.path(str(json_path)),
                "activation_csv": MetadataValue.path(str(exports["csv"])),
                "activation_parquet": MetadataValue.path(str(exports["parquet"])),
                "segments": len(data.segments),
                "production_ready_segments": int(data.actionability["production_ready"].sum()),
            }
            attach_date_metadata(context, as_of, metadata)
    return MaterializeResult(metadata=metadata)
