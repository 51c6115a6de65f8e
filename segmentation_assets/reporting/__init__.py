"""Reports of one segmentation run: versioned JSON, a self-contained HTML page, activation files.

Pure Python (pandas, matplotlib, jinja2); no Dagster import. The lead's report asset reads the
warehouse tables of one as-of date into a :class:`ReportData` and calls:

* :func:`write_report_json` / :func:`build_report_json` - the report as JSON, schema version 1.0,
  described by ``report_schema.json`` (:func:`report_json_schema`);
* :func:`write_html_report` / :func:`render_html_report` - one HTML file with inline CSS and
  base64 PNG plots, no external references and no customer ids;
* :func:`write_activation_exports` - customer → segment → play as CSV and Parquet;
* :func:`summary_markdown` - a markdown table of the segments for Dagster metadata.

The ``plot_*`` functions return matplotlib Figures for notebooks; :func:`sample_report_data`
builds a realistic input for tests and demos.
"""

from segmentation_assets.reporting.activation import (
    ACTIVATION_COLUMNS,
    ActivationExports,
    activation_frame,
    write_activation_exports,
)
from segmentation_assets.reporting.data import (
    ROBUSTNESS_THRESHOLDS,
    ReportData,
    check_report_data,
    sample_report_data,
)
from segmentation_assets.reporting.html import (
    SECTION_IDS,
    render_html_report,
    report_plots,
    write_html_report,
)
from segmentation_assets.reporting.json_export import (
    SCHEMA_VERSION,
    build_report_json,
    dumps_report_json,
    report_json_schema,
    summary_markdown,
    write_report_json,
)
from segmentation_assets.reporting.plots import (
    FIRST_RUN_TEXT,
    K_FIXED_TEXT,
    figure_to_png,
    plot_clv_and_churn,
    plot_k_selection,
    plot_migration,
    plot_rfm_grid,
    plot_robustness_scores,
    plot_segment_distribution,
    plot_segment_value,
    plot_trait_heatmap,
)

__all__ = [
    "ACTIVATION_COLUMNS",
    "FIRST_RUN_TEXT",
    "K_FIXED_TEXT",
    "ROBUSTNESS_THRESHOLDS",
    "SCHEMA_VERSION",
    "SECTION_IDS",
    "ActivationExports",
    "ReportData",
    "activation_frame",
    "build_report_json",
    "check_report_data",
    "dumps_report_json",
    "figure_to_png",
    "plot_clv_and_churn",
    "plot_k_selection",
    "plot_migration",
    "plot_rfm_grid",
    "plot_robustness_scores",
    "plot_segment_distribution",
    "plot_segment_value",
    "plot_trait_heatmap",
    "render_html_report",
    "report_json_schema",
    "report_plots",
    "sample_report_data",
    "summary_markdown",
    "write_activation_exports",
    "write_html_report",
    "write_report_json",
]
