"""Dagster resources: the warehouse, the EBQ source and the LLM, each swappable by configuration.

Assets never know which implementation they hold: the local default (DuckDB file, synthetic EBQ
data, the offline rules model) and the production choices (an EBQ export folder or BigQuery, a real
LLM provider) sit behind the same interface, chosen by ``SEGMENTATION_*`` environment variables in
``definitions.py``.
"""

from segmentation_assets.resources.llm import LLMResource
from segmentation_assets.resources.pipeline_settings import PipelineSettingsResource
from segmentation_assets.resources.reports import ReportsResource
from segmentation_assets.resources.source import (
    BigQuerySource,
    EBQExportSource,
    EBQSource,
    SyntheticSource,
)
from segmentation_assets.resources.warehouse import WarehouseResource

__all__ = [
    "BigQuerySource",
    "EBQExportSource",
    "EBQSource",
    "LLMResource",
    "PipelineSettingsResource",
    "ReportsResource",
    "SyntheticSource",
    "WarehouseResource",
]
