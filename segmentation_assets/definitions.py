"""Assembly only: assets, checks, jobs, schedules, sensors and resources chosen by environment.

``SEGMENTATION_SOURCE`` picks the EBQ source (synthetic | ebq_export | bigquery); the other
``SEGMENTATION_*`` variables are documented in settings.py and the README.
"""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from segmentation_assets.assets import STAGE_ASSETS
from segmentation_assets.checks import ALL_CHECKS
from segmentation_assets.checks.jobs import CHECK_JOBS, CHECK_SCHEDULES
from segmentation_assets.jobs import JOBS
from segmentation_assets.resources import (
    BigQuerySource,
    EBQExportSource,
    EBQSource,
    LLMResource,
    PipelineSettingsResource,
    ReportsResource,
    SyntheticSource,
    WarehouseResource,
)
from segmentation_assets.schedules import SCHEDULES
from segmentation_assets.sensors import FRESHNESS_CHECKS, SENSORS
from segmentation_assets.settings import Settings, get_settings


def build_source(settings: Settings) -> EBQSource:
    """The EBQ source the environment asks for."""
    mapping = str(settings.field_mapping_path) if settings.field_mapping_path else None
    if settings.source == "ebq_export":
        if settings.export_path is None:
            raise ValueError("SEGMENTATION_SOURCE=ebq_export needs SEGMENTATION_EXPORT_PATH")
        return EBQExportSource(path=str(settings.export_path), field_mapping_path=mapping)
    if settings.source == "bigquery":
        if not (settings.bigquery_project and settings.bigquery_dataset):
            raise ValueError(
                "SEGMENTATION_SOURCE=bigquery needs SEGMENTATION_BIGQUERY_PROJECT and _DATASET"
            )
        return BigQuerySource(
            project=settings.bigquery_project,
            dataset=settings.bigquery_dataset,
            field_mapping_path=mapping,
        )
    return SyntheticSource(
        directory=str(settings.synthetic_dir),
        n_customers=settings.synthetic_customers,
        seed=settings.synthetic_seed,
        start_date=settings.synthetic_start_date.isoformat(),
        end_date=settings.synthetic_end_date.isoformat(),
        field_mapping_path=mapping,
    )


def build_resources(
    settings: Settings, pipeline_settings: PipelineSettingsResource | None = None
) -> dict[str, object]:
    """Resources by environment: the local default is a DuckDB file and synthetic data."""
    return {
        "warehouse": WarehouseResource(
            path=str(settings.warehouse_path),
            memory_limit=settings.duckdb_memory_limit,
            threads=settings.duckdb_threads,
        ),
        "source": build_source(settings),
        "llm": LLMResource(model=settings.llm_model),
        "settings": pipeline_settings or PipelineSettingsResource(window_days=settings.window_days),
        "reports": ReportsResource(directory=str(settings.reports_dir)),
    }


def build_definitions(
    settings: Settings | None = None, pipeline_settings: PipelineSettingsResource | None = None
) -> Definitions:
    """The project's Definitions; ``pipeline_settings`` overrides the analytical defaults."""
    settings = settings or get_settings()
    return Definitions(
        assets=STAGE_ASSETS,
        asset_checks=[*ALL_CHECKS, *FRESHNESS_CHECKS],
        jobs=[*JOBS, *CHECK_JOBS],
        schedules=[*SCHEDULES, *CHECK_SCHEDULES],
        sensors=SENSORS,
        resources=build_resources(settings, pipeline_settings),
        # Every step holds the single DuckDB writer slot anyway; one process also imports the
        # heavy libraries (Great Expectations, scikit-learn) once per run instead of once per step.
        executor=in_process_executor,
    )


defs = build_definitions()
