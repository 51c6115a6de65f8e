"""The self-contained HTML report: one file, inline CSS, plots as base64 PNG, no external references.

The page renders from :func:`~segmentation_assets.reporting.json_export.build_report_json`'s dict, so
the HTML and the JSON report always agree. Sections carry stable ids (:data:`SECTION_IDS`) that
tests and deep links rely on; each segment gets a card with id ``segment-<segment_id>``. Jinja2
autoescaping is on: segment names and LLM-written text are data, never markup.

Customer ids never reach this module's output: only ``ReportData``'s aggregate tables are read.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from matplotlib.figure import Figure

from segmentation_assets.reporting.data import (
    ROBUSTNESS_THRESHOLDS,
    ReportData,
    trait_label,
)
from segmentation_assets.reporting.json_export import build_report_json
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
from segmentation_assets.rfm import RFM_GROUP_NAMES

TEMPLATE_NAME = "report.html.j2"
REPORT_HTML_NAME = "segmentation_report.html"

#: Section ids in page order.
SECTION_IDS: tuple[str, ...] = (
    "summary",
    "sizes-and-value",
    "clv-and-churn",
    "robustness",
    "trait-heatmap",
    "k-selection",
    "rfm-grid",
    "migration",
    "segments",
)


def png_data_uri(fig: Figure) -> str:
    """``data:image/png;base64,...`` for ``fig`` (rendered with :func:`figure_to_png`)."""
    return "data:image/png;base64," + base64.b64encode(figure_to_png(fig)).decode("ascii")


def _render(plot: Callable[[ReportData], Figure], data: ReportData) -> str:
    fig = plot(data)
    try:
        return png_data_uri(fig)
    finally:
        # The figure never entered pyplot's registry; clearing drops its artists right away so a
        # long-running Dagster process does not hold eight figures' worth of memory per report.
        fig.clear()


def report_plots(data: ReportData) -> dict[str, str | None]:
    """Plot name → PNG data URI, or None where the report shows an explanatory text instead."""
    segments = data.segments
    has_clv = bool(
        np.isfinite(segments["avg_predicted_clv"].astype(float)).any()
        and np.isfinite(segments["avg_churn_risk"].astype(float)).any()
    )
    wanted: dict[str, tuple[bool, Callable[[ReportData], Figure]]] = {
        "segment_distribution": (True, plot_segment_distribution),
        "segment_value": (True, plot_segment_value),
        "clv_and_churn": (has_clv, plot_clv_and_churn),
        "robustness_scores": (not data.robustness.empty, plot_robustness_scores),
        "trait_heatmap": (not data.trait_profile.empty, plot_trait_heatmap),
        "k_selection": (not data.k_scores.empty, plot_k_selection),
        "rfm_grid": (not data.rfm_grid.empty, plot_rfm_grid),
        "migration": (not data.migration.empty, plot_migration),
    }
    return {name: _render(plot, data) if show else None for name, (show, plot) in wanted.items()}


# --- formatting filters --------------------------------------------------------------------------


def _fmt(value: Any, spec: str, missing: str = "n/a") -> str:
    if value is None:
        return missing
    return format(value, spec)


def _pct(value: Any, digits: int = 1) -> str:
    return _fmt(value, f".{digits}%")


def _money(value: Any) -> str:
    return _fmt(value, ",.2f")


def _count(value: Any) -> str:
    return _fmt(value, ",d")


def _number(value: Any, digits: int = 2) -> str:
    return _fmt(value, f".{digits}f")


def _signed(value: Any, digits: int = 2) -> str:
    return _fmt(value, f"+.{digits}f")


def _yesno(value: Any) -> str:
    return "n/a" if value is None else ("yes" if value else "no")


def _slug(value: Any) -> str:
    """A CSS-class-safe version of a tier or level name."""
    text = "".join(c if c.isalnum() else "-" for c in str(value or "unknown").lower())
    return text.strip("-") or "unknown"


def _band(score: float | None) -> str:
    """The Hennig band of a robustness score, as a CSS class."""
    if score is None:
        return "band-unknown"
    for i, (threshold, _) in enumerate(ROBUSTNESS_THRESHOLDS):
        if score >= threshold:
            return f"band-{i}"
    return f"band-{len(ROBUSTNESS_THRESHOLDS)}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("segmentation_assets.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        pct=_pct,
        money=_money,
        count=_count,
        number=_number,
        signed=_signed,
        yesno=_yesno,
        slug=_slug,
        band=_band,
        trait_label=trait_label,
    )
    return env


def _defining(segment: dict[str, Any]) -> list[dict[str, Any]]:
    """The defining traits' comparisons (registry label, segment vs population, z)."""
    by_name = {t["trait"]: t for t in segment["traits"]}
    out = []
    for name in segment["defining_traits"]:
        known = by_name.get(name)
        out.append(
            known
            or {
                "trait": name,
                "label": trait_label(name),
                "unit": None,
                "segment_value": None,
                "population_value": None,
                "standardized_difference": None,
            }
        )
    return out


def render_html_report(
    data: ReportData,
    *,
    report: dict[str, Any] | None = None,
    plots: dict[str, str | None] | None = None,
) -> str:
    """The whole report as one self-contained HTML page (UTF-8 text).

    Sections (ids): summary, sizes-and-value, clv-and-churn, robustness, trait-heatmap,
    k-selection ("k fixed by configuration" when ``k_scores`` is empty), rfm-grid, migration
    ("first run: no previous segmentation" when ``migration`` is empty), then one card per segment
    in ``segments``. Same inputs → byte-identical output. Raises ``ValueError`` on incomplete data.
    ``report`` (:func:`build_report_json` of ``data``) and ``plots`` (:func:`report_plots` of
    ``data``) may be passed by a caller that already has them.
    """
    report = build_report_json(data) if report is None else report
    cards = [dict(s, defining=_defining(s)) for s in report["segments"]]
    thresholds = [{"value": t, "name": name} for t, name in ROBUSTNESS_THRESHOLDS]
    template = _environment().get_template(TEMPLATE_NAME)
    return template.render(
        report=report,
        run=report["run"],
        summary=report["summary"],
        cards=cards,
        plots=report_plots(data) if plots is None else plots,
        section_ids=SECTION_IDS,
        thresholds=thresholds,
        rfm_group_names=RFM_GROUP_NAMES,
        k_fixed_text=K_FIXED_TEXT,
        first_run_text=FIRST_RUN_TEXT,
        configuration=_configuration_rows(report["run"]["configuration"]),
    )


def _configuration_rows(configuration: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten the run configuration to sorted (dotted key, value) rows for a small table."""
    rows: list[tuple[str, str]] = []
    for key in sorted(configuration):
        value = configuration[key]
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows.extend(_configuration_rows(value, prefix=f"{name}."))
        else:
            rows.append((name, "null" if value is None else str(value)))
    return rows


def write_html_report(
    data: ReportData,
    path: str | Path,
    *,
    report: dict[str, Any] | None = None,
    plots: dict[str, str | None] | None = None,
) -> Path:
    """Write :func:`render_html_report` to ``path`` (UTF-8); return the path.

    A folder path gets ``segmentation_report.html`` inside it.
    """
    target = Path(path)
    if target.is_dir():
        target = target / REPORT_HTML_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html_report(data, report=report, plots=plots), encoding="utf-8")
    return target
