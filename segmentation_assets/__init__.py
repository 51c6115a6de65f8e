"""Customer segmentation for Bloomreach Engagement BigQuery (EBQ) data as Dagster assets.

The Python API for notebooks and scripts (see :mod:`segmentation_assets.api`)::

    from segmentation_assets import quick_segmentation, format_pipeline_summary

    result = quick_segmentation(n_customers=300, n_clusters=4)
    print(format_pipeline_summary(result))

Names are imported on first use: ``import segmentation_assets.rfm`` (domain code, the CLI's
``--help``) stays free of the API's pandas, matplotlib and pydantic imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segmentation_assets.api import (
        PipelineConfig,
        PipelineError,
        PipelineResult,
        ReportData,
        build_report_data,
        export_results_to_dict,
        format_pipeline_summary,
        plot_clv_and_churn,
        plot_k_selection,
        plot_migration,
        plot_rfm_grid,
        plot_robustness_scores,
        plot_segment_distribution,
        plot_segment_value,
        plot_trait_heatmap,
        quick_segmentation,
        run_pipeline,
        sample_report_data,
    )

__all__ = [
    "PipelineConfig",
    "PipelineError",
    "PipelineResult",
    "ReportData",
    "build_report_data",
    "export_results_to_dict",
    "format_pipeline_summary",
    "plot_clv_and_churn",
    "plot_k_selection",
    "plot_migration",
    "plot_rfm_grid",
    "plot_robustness_scores",
    "plot_segment_distribution",
    "plot_segment_value",
    "plot_trait_heatmap",
    "quick_segmentation",
    "run_pipeline",
    "sample_report_data",
]


def __getattr__(name: str) -> Any:
    """Resolve the public API lazily (PEP 562)."""
    if name in __all__:
        return getattr(importlib.import_module("segmentation_assets.api"), name)
    raise AttributeError(f"module 'segmentation_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
