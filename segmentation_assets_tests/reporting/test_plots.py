"""Plot functions: Figures with axes for full, table-only and empty inputs; reproducible PNGs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from segmentation_assets.reporting import (
    FIRST_RUN_TEXT,
    K_FIXED_TEXT,
    ROBUSTNESS_THRESHOLDS,
    ReportData,
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

PLOTS: dict[str, tuple[Callable[..., Figure], str]] = {
    "segment_distribution": (plot_segment_distribution, "segments"),
    "segment_value": (plot_segment_value, "segments"),
    "clv_and_churn": (plot_clv_and_churn, "segments"),
    "robustness_scores": (plot_robustness_scores, "robustness"),
    "trait_heatmap": (plot_trait_heatmap, "trait_profile"),
    "k_selection": (plot_k_selection, "k_scores"),
    "rfm_grid": (plot_rfm_grid, "rfm_grid"),
    "migration": (plot_migration, "migration"),
}


def _all_text(fig: Figure) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


@pytest.mark.parametrize("name", list(PLOTS))
def test_plot_returns_figure_with_axes(full_data: ReportData, name: str) -> None:
    plot, table = PLOTS[name]
    for source in (full_data, getattr(full_data, table)):
        fig = plot(source)
        assert isinstance(fig, Figure)
        assert len(fig.axes) >= 1


@pytest.mark.parametrize("name", list(PLOTS))
def test_plot_of_empty_table_still_has_axes(name: str) -> None:
    plot, _ = PLOTS[name]
    fig = plot(pd.DataFrame())
    assert isinstance(fig, Figure) and len(fig.axes) >= 1


def test_empty_k_scores_and_migration_say_why() -> None:
    assert K_FIXED_TEXT in _all_text(plot_k_selection(pd.DataFrame()))
    assert FIRST_RUN_TEXT in _all_text(plot_migration(pd.DataFrame()))


def test_trait_heatmap_is_centred_with_registry_labels(full_data: ReportData) -> None:
    fig = plot_trait_heatmap(full_data)
    ax = fig.axes[0]
    norm = ax.images[0].norm
    assert isinstance(norm, TwoSlopeNorm)
    assert norm.vcenter == 0
    assert norm.vmin is not None and norm.vmax is not None and norm.vmin == -norm.vmax > -3.01
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "Orders" and "Days since last activity" in labels
    xlabels = [t.get_text() for t in ax.get_xticklabels()]
    assert xlabels[0] == "seg_1 · High-value loyalists"


def test_robustness_plot_draws_the_thresholds(full_data: ReportData) -> None:
    ax = plot_robustness_scores(full_data).axes[0]
    vertical = {float(np.asarray(line.get_xdata())[0]) for line in ax.lines}
    assert {t for t, _ in ROBUSTNESS_THRESHOLDS} <= vertical == {0.6, 0.75, 0.85}


def test_png_is_reproducible_and_untagged(full_data: ReportData) -> None:
    first = figure_to_png(plot_segment_distribution(full_data))
    second = figure_to_png(plot_segment_distribution(full_data))
    assert first == second
    assert b"Software" not in first and b"matplotlib" not in first.lower()


def test_no_pyplot_figures_leak(full_data: ReportData) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figure_to_png(plot_rfm_grid(full_data))
    assert plt.get_fignums() == before
