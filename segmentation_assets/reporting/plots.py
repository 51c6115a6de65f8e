"""The report's plots as plain matplotlib Figures, importable from notebooks.

Every function takes a :class:`ReportData` (segment names then label the axes) or just the relevant
DataFrame (segment ids label the axes) and returns a :class:`matplotlib.figure.Figure` with at least
one Axes. Empty inputs give a figure that says why there is nothing to draw.

Figures are built with ``Figure()`` rather than ``pyplot``: they never enter pyplot's global figure
registry, so nothing leaks between calls or needs closing, and the library works the same under any
backend a notebook has selected. :func:`figure_to_png` renders with the Agg canvas explicitly, at a
fixed DPI, under fixed rcParams and without the PNG ``Software`` tag (which names the matplotlib
version), so the same data always gives the same PNG bytes.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import matplotlib as mpl
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter
from matplotlib.typing import RcKeyType

from segmentation_assets.reporting.data import (
    BELOW_THRESHOLDS,
    ROBUSTNESS_THRESHOLDS,
    ReportData,
    is_missing,
    ordered_segments,
    segment_labels,
    segment_sort_key,
    trait_label,
)
from segmentation_assets.rfm import rfm_group
from segmentation_assets.traits import TRAITS_BY_NAME

#: Fixed output resolution; part of what makes PNG bytes reproducible.
DPI = 100
K_FIXED_TEXT = "k fixed by configuration"
FIRST_RUN_TEXT = "first run: no previous segmentation"
NO_PREVIOUS = "(new)"
NO_CURRENT = "(left)"

#: Applied on top of matplotlib's defaults while a figure is built and saved, so a user's
#: matplotlibrc cannot change the report. ``svg.hashsalt`` pins the ids SVG output would use.
_RC: dict[RcKeyType, Any] = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "svg.hashsalt": "segmentation-report",
    "image.interpolation": "nearest",
}

_PALETTE = ("#1f5f8b", "#e07b39", "#5a9e6f", "#9b59b6", "#c0392b", "#7f8c8d")
_BAND_COLORS = ("#1e7b4f", "#5aae61", "#e6a532", "#c0392b")  # highly stable → unstable

P = ParamSpec("P")
R = TypeVar("R")


def _styled(func: Callable[P, R]) -> Callable[P, R]:
    """Build the figure under the report's fixed style (defaults + :data:`_RC`)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.style.context("default"), mpl.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


def figure_to_png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes with the Agg canvas, reproducibly (fixed DPI, no metadata)."""
    FigureCanvasAgg(fig)  # attach Agg explicitly: independent of the session's backend
    buffer = io.BytesIO()
    with matplotlib.style.context("default"), mpl.rc_context(_RC):
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


# --- helpers -------------------------------------------------------------------------------------


def _frame(data: ReportData | pd.DataFrame, attr: str) -> pd.DataFrame:
    return getattr(data, attr) if isinstance(data, ReportData) else data


def _labels(data: ReportData | pd.DataFrame) -> dict[str, str]:
    """segment_id → axis label; names only when the whole ReportData was given."""
    if isinstance(data, ReportData) and not data.segments.empty:
        return segment_labels(data.segments)
    return {}


def _label(labels: dict[str, str], segment_id: Any) -> str:
    return labels.get(str(segment_id), str(segment_id))


def _message(fig: Figure, text: str, title: str) -> Figure:
    """Put an explanatory message on an empty axes (the figure still has one Axes)."""
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color="#555555")
    ax.set_axis_off()
    return fig


def _num(values: Any) -> np.ndarray:
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    return ordered_segments(frame) if "segment_id" in frame.columns else frame


def _cell_text(ax: Axes, x: float, y: float, text: str, **kwargs: Any) -> None:
    """Centred text in a heatmap cell, left out of layout: it lies inside the axes anyway, and
    measuring hundreds of cell labels is most of constrained layout's cost."""
    ax.text(x, y, text, ha="center", va="center", **kwargs).set_in_layout(False)


def _text_color(rgba: tuple[float, float, float, float]) -> str:
    """Black or white, whichever reads better on ``rgba`` (relative luminance)."""
    r, g, b, _ = rgba
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


def _height(n_rows: int, per_row: float = 0.42, base: float = 1.4) -> float:
    return max(2.6, base + per_row * n_rows)


# --- plots ---------------------------------------------------------------------------------------


@_styled
def plot_segment_distribution(data: ReportData | pd.DataFrame) -> Figure:
    """Customers per segment (horizontal bars labelled with count and share).

    ``data``: the ReportData or the ``segments`` table (columns segment_id, size, share).
    """
    segments = _frame(data, "segments")
    fig = Figure(figsize=(8, _height(len(segments))), layout="constrained")
    if segments.empty:
        return _message(fig, "no segments", "Segment sizes")
    segments = _ordered(segments)
    labels = _labels(data)
    ax = fig.add_subplot()
    sizes = _num(segments["size"])
    y = np.arange(len(segments))
    ax.barh(y, sizes, color=_PALETTE[0])
    ax.set_yticks(y, [_label(labels, s) for s in segments["segment_id"]])
    ax.invert_yaxis()
    shares = _num(segments["share"]) if "share" in segments else sizes / max(sizes.sum(), 1)
    for yi, size, share in zip(y, sizes, shares, strict=True):
        text = f"{size:,.0f}" + ("" if math.isnan(share) else f" ({share:.1%})")
        ax.annotate(text, (size, yi), xytext=(4, 0), textcoords="offset points", va="center")
    ax.set_xlim(0, max(sizes.max(), 1) * 1.22)
    ax.set_xlabel("customers")
    ax.set_title("Segment sizes")
    return fig


@_styled
def plot_segment_value(data: ReportData | pd.DataFrame) -> Figure:
    """Where the value sits: share of customers vs share of net revenue and predicted CLV, and the
    average net revenue and predicted CLV per customer.

    ``data``: the ReportData or the ``segments`` table.
    """
    segments = _frame(data, "segments")
    fig = Figure(figsize=(10, _height(len(segments), per_row=0.55)), layout="constrained")
    if segments.empty:
        return _message(fig, "no segments", "Segment value")
    segments = _ordered(segments)
    labels = _labels(data)
    names = [_label(labels, s) for s in segments["segment_id"]]
    left, right = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(segments))

    def share_of(column: str) -> np.ndarray:
        values = _num(segments[column])
        total = np.nansum(values)
        # A share of a non-positive total (net of refunds) has no meaning; draw nothing.
        return values / total if total > 0 else np.full(len(values), np.nan)

    series = [
        ("customers", _num(segments["size"]) / max(np.nansum(_num(segments["size"])), 1)),
        ("net revenue", share_of("total_net_revenue")),
        ("predicted CLV", share_of("total_predicted_clv")),
    ]
    height = 0.8 / len(series)
    for i, (name, values) in enumerate(series):
        left.barh(
            y + (i - 1) * height, np.nan_to_num(values), height, label=name, color=_PALETTE[i]
        )
    left.set_yticks(y, names)
    left.invert_yaxis()
    left.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    left.set_title("Share of customers vs share of value")

    avg = [("avg net revenue", "avg_net_revenue"), ("avg predicted CLV", "avg_predicted_clv")]
    height = 0.8 / len(avg)
    for i, (name, column) in enumerate(avg):
        right.barh(
            y + (i - 0.5) * height,
            np.nan_to_num(_num(segments[column])),
            height,
            label=name,
            color=_PALETTE[i + 1],
        )
    right.axvline(0, color="#333333", linewidth=0.8)
    right.set_title("Per customer (base currency)")
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    names = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    fig.legend(handles, names, loc="outside lower center", ncol=len(names))
    return fig


@_styled
def plot_clv_and_churn(data: ReportData | pd.DataFrame) -> Figure:
    """Average predicted CLV against average churn risk per segment; bubble area ∝ size.

    Dashed lines mark the size-weighted means, so the upper-right quadrant is value at risk.
    ``data``: the ReportData or the ``segments`` table.
    """
    segments = _frame(data, "segments")
    fig = Figure(figsize=(10, 5.2), layout="constrained")
    if segments.empty:
        return _message(fig, "no segments", "CLV and churn risk")
    segments = _ordered(segments)
    churn = _num(segments["avg_churn_risk"])
    clv = _num(segments["avg_predicted_clv"])
    sizes = _num(segments["size"])
    ok = ~(np.isnan(churn) | np.isnan(clv))
    if not ok.any():
        return _message(fig, "no CLV or churn-risk estimates", "CLV and churn risk")
    labels = _labels(data)
    ax = fig.add_subplot()
    area = 2400 * sizes / max(np.nansum(sizes), 1) + 40
    qualitative = mpl.colormaps["tab10" if len(segments) <= 10 else "tab20"]
    colors = [qualitative(i % qualitative.N) for i in range(len(segments))]
    ax.scatter(
        churn[ok],
        clv[ok],
        s=area[ok],
        c=[c for c, k in zip(colors, ok, strict=True) if k],
        alpha=0.7,
        edgecolors="white",
        linewidths=1.0,
    )
    # Points carry the short id (names collide when segments sit close); the legend names them.
    handles = []
    points = zip(segments["segment_id"], churn, clv, area, ok, colors, strict=True)
    for sid, x, y, a, keep, color in points:
        if keep:
            # Just above the bubble: its radius in points is sqrt(area) / 2.
            ax.annotate(
                str(sid),
                (x, y),
                xytext=(0, math.sqrt(a) / 2 + 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
            )
            handles.append(
                Line2D([], [], marker="o", linestyle="", color=color, label=_label(labels, sid))
            )
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    ax.margins(y=0.2)
    weights = np.where(ok, sizes, 0)
    if weights.sum() > 0:
        ax.axvline(np.average(churn[ok], weights=weights[ok]), ls="--", color="#999999", lw=0.8)
        ax.axhline(np.average(clv[ok], weights=weights[ok]), ls="--", color="#999999", lw=0.8)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("average churn risk (1 - P(alive))")
    ax.set_ylabel("average predicted CLV (base currency)")
    ax.set_title("CLV and churn risk (bubble area = segment size)")
    return fig


@_styled
def plot_robustness_scores(data: ReportData | pd.DataFrame) -> Figure:
    """Robustness score per segment against Hennig's thresholds (0.6 / 0.75 / 0.85 as lines).

    Bars are coloured by the band the score falls in; markers show the components (bootstrap,
    feature-drop minimum, window and temporal Jaccard). ``data``: the ReportData or the
    ``robustness`` table.
    """
    robustness = _frame(data, "robustness")
    fig = Figure(figsize=(9, _height(len(robustness), per_row=0.5)), layout="constrained")
    if robustness.empty:
        return _message(fig, "robustness was not assessed", "Robustness")
    robustness = _ordered(robustness)
    labels = _labels(data)
    ax = fig.add_subplot()
    scores = _num(robustness["robustness_score"])
    y = np.arange(len(robustness))
    thresholds = [t for t, _ in ROBUSTNESS_THRESHOLDS]

    def band(score: float) -> str:
        if math.isnan(score):
            return "#bbbbbb"
        for color, threshold in zip(_BAND_COLORS, thresholds, strict=False):
            if score >= threshold:
                return color
        return _BAND_COLORS[-1]

    ax.barh(y, np.nan_to_num(scores), color=[band(s) for s in scores], height=0.6)
    markers = (
        ("bootstrap_jaccard", "o", "bootstrap"),
        ("feature_jaccard_min", "s", "feature drop (min)"),
        ("window_jaccard", "^", "window shift"),
        ("temporal_jaccard", "D", "previous snapshot"),
    )
    for column, marker, name in markers:
        if column in robustness:
            values = _num(robustness[column])
            if not np.isnan(values).all():
                ax.scatter(values, y, marker=marker, s=22, color="#222222", zorder=3, label=name)
    for threshold, _ in ROBUSTNESS_THRESHOLDS:
        ax.axvline(threshold, color="#444444", linestyle="--", linewidth=0.9, zorder=2)
        ax.annotate(
            f"{threshold:g}",
            (threshold, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 2),
            textcoords="offset points",
            fontsize=8,
            ha="center",
            va="bottom",
        )
    bands = [f">= {t:g} {name}" for t, name in ROBUSTNESS_THRESHOLDS]
    bands.append(f"< {thresholds[-1]:g} {BELOW_THRESHOLDS}")
    handles, names = ax.get_legend_handles_labels()
    handles = [Patch(color=c) for c in _BAND_COLORS] + handles
    fig.legend(handles, bands + names, loc="outside lower center", ncol=4, fontsize=8)
    tiers = robustness["tier"] if "tier" in robustness else pd.Series([None] * len(robustness))
    for yi, score, tier in zip(y, scores, tiers, strict=True):
        if not math.isnan(score):
            text = f"{score:.2f}" + ("" if is_missing(tier) else f"  {tier}")
            ax.annotate(
                text, (1.0, yi), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8
            )
    ax.set_yticks(y, [_label(labels, s) for s in robustness["segment_id"]])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("Jaccard similarity (robustness score = bar)")
    ax.set_title("Robustness vs Hennig (2007) stability thresholds (dashed)", pad=14)
    return fig


@_styled
def plot_trait_heatmap(data: ReportData | pd.DataFrame) -> Figure:
    """Standardized difference of each segment from the population, trait × segment.

    Diverging colormap centred at 0 (red above the population, blue below); colours saturate at
    ±3 σ. Traits are in registry order with registry labels. ``data``: the ReportData or the
    ``trait_profile`` table (long format).
    """
    profile = _frame(data, "trait_profile")
    if profile.empty:
        fig = Figure(figsize=(8, 3), layout="constrained")
        return _message(fig, "no trait profile", "Traits vs population")
    matrix = profile.pivot_table(
        index="trait", columns="segment_id", values="standardized_difference", aggfunc="first"
    )
    order = {name: i for i, name in enumerate(TRAITS_BY_NAME)}
    rows = sorted(matrix.index, key=lambda t: (order.get(str(t), len(order)), str(t)))
    cols = sorted(matrix.columns, key=segment_sort_key)
    matrix = matrix.loc[rows, cols]
    values = matrix.to_numpy(dtype=float)
    labels = _labels(data)
    fig = Figure(
        figsize=(max(6.5, 3.2 + 1.1 * len(cols)), _height(len(rows), per_row=0.27, base=2.2)),
        layout="constrained",
    )
    ax = fig.add_subplot()
    finite = np.abs(values[np.isfinite(values)])
    limit = float(min(3.0, max(1.0, math.ceil((finite.max() if finite.size else 1.0) * 2) / 2)))
    norm = TwoSlopeNorm(vmin=-limit, vcenter=0.0, vmax=limit)
    cmap = mpl.colormaps["RdBu_r"]
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(
        np.arange(len(cols)),
        [_label(labels, c) for c in cols],
        rotation=30,
        ha="right",
        rotation_mode="anchor",
    )
    ax.set_yticks(np.arange(len(rows)), [trait_label(str(t)) for t in rows])
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    if values.size <= 600:
        for (i, j), value in np.ndenumerate(values):
            if math.isfinite(value):
                color = _text_color(cmap(norm(float(np.clip(value, -limit, limit)))))
                _cell_text(ax, j, i, f"{value:+.1f}", fontsize=7, color=color)
    bar = fig.colorbar(image, ax=ax, shrink=0.6)
    bar.set_label("standardized difference (σ from population mean)")
    ax.set_title("Traits vs population")
    return fig


@_styled
def plot_k_selection(data: ReportData | pd.DataFrame) -> Figure:
    """Cluster-quality curves over k (silhouette, Calinski-Harabasz, Davies-Bouldin, prediction
    strength) with the chosen k marked; says "k fixed by configuration" when there was no scan.

    ``data``: the ReportData or the ``k_scores`` table.
    """
    scores = _frame(data, "k_scores")
    if scores.empty:
        fig = Figure(figsize=(8, 2.6), layout="constrained")
        return _message(fig, K_FIXED_TEXT, "Choice of k")
    scores = scores.sort_values("k", kind="stable")
    fig = Figure(figsize=(10, 6), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True).ravel()
    k = _num(scores["k"])
    chosen = scores["chosen"].fillna(False).astype(bool).to_numpy()
    metrics = (
        ("silhouette", "Silhouette (higher is better)"),
        ("calinski_harabasz", "Calinski-Harabasz (higher is better)"),
        ("davies_bouldin", "Davies-Bouldin (lower is better)"),
        ("prediction_strength", "Prediction strength (higher is better)"),
    )
    for ax, (column, title), color in zip(axes, metrics, _PALETTE, strict=False):
        values = _num(scores[column])
        ok = ~np.isnan(values)
        ax.set_title(title, fontsize=9)
        if ok.any():
            ax.plot(k[ok], values[ok], marker="o", color=color)
        else:
            ax.text(0.5, 0.5, "not computed", ha="center", va="center", transform=ax.transAxes)
        for kc in k[chosen]:
            ax.axvline(kc, color="#c0392b", linestyle="--", linewidth=1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[2:]:
        ax.set_xlabel("k (number of segments)")
    chosen_text = ", ".join(f"{kc:g}" for kc in k[chosen]) or "none"
    fig.suptitle(f"Choice of k (chosen: {chosen_text}, dashed)", x=0.01, ha="left", weight="bold")
    return fig


@_styled
def plot_rfm_grid(data: ReportData | pd.DataFrame) -> Figure:
    """Customers per RFM recency × frequency score (5 × 5), with average net revenue per cell.

    Each cell also names the RFM group of a customer whose monetary score equals their frequency
    score (:func:`segmentation_assets.rfm.rfm_group`); the real group uses the rounded mean of F
    and M, so the name is the typical group of the cell. ``data``: the ReportData or ``rfm_grid``.
    """
    grid = _frame(data, "rfm_grid")
    fig = Figure(figsize=(8, 6.2), layout="constrained")
    if grid.empty:
        return _message(fig, "no RFM scores", "RFM grid")
    counts = np.zeros((5, 5))
    revenue = np.full((5, 5), np.nan)
    for row in grid.to_dict(orient="records"):
        r, f = int(row["rfm_recency_score"]), int(row["rfm_frequency_score"])
        if 1 <= r <= 5 and 1 <= f <= 5:
            # Row 0 is recency 5 so the most recent customers sit at the top.
            counts[5 - r, f - 1] = float(row["customers"] or 0)
            revenue[5 - r, f - 1] = float(
                np.nan if is_missing(row["avg_net_revenue"]) else row["avg_net_revenue"]
            )
    r_scores = pd.Series(np.repeat(np.arange(5, 0, -1), 5))
    f_scores = pd.Series(np.tile(np.arange(1, 6), 5))
    groups = rfm_group(r_scores, f_scores, f_scores).to_numpy().reshape(5, 5)
    ax = fig.add_subplot()
    cmap = mpl.colormaps["Blues"]
    norm = Normalize(vmin=0, vmax=max(counts.max(), 1))
    image = ax.imshow(counts, cmap=cmap, norm=norm)
    for (i, j), count in np.ndenumerate(counts):
        color = _text_color(cmap(norm(count)))
        avg = revenue[i, j]
        lines = [f"{count:,.0f}", "" if math.isnan(avg) else f"avg {avg:,.0f}", groups[i, j]]
        _cell_text(ax, j, i, "\n".join(lines), fontsize=7.5, color=color)
    ax.set_xticks(np.arange(5), [str(f) for f in range(1, 6)])
    ax.set_yticks(np.arange(5), [str(r) for r in range(5, 0, -1)])
    ax.set_xlabel("RFM frequency score (5 = most orders)")
    ax.set_ylabel("RFM recency score (5 = most recent)")
    ax.spines[:].set_visible(False)
    bar = fig.colorbar(image, ax=ax, shrink=0.7)
    bar.set_label("customers")
    ax.set_title("RFM grid: customers, average net revenue and typical RFM group")
    return fig


@_styled
def plot_migration(data: ReportData | pd.DataFrame) -> Figure:
    """Customers moving from their previous segment (rows) to this one (columns).

    Colour is the share of each previous segment's customers (rows sum to 100 %), so small segments
    stay readable; cells show counts. ``(new)`` = not profiled on the previous date, ``(left)`` = not
    profiled now. Says "first run: no previous segmentation" when there is nothing to compare.
    ``data``: the ReportData or the ``migration`` table.
    """
    migration = _frame(data, "migration")
    if migration.empty:
        fig = Figure(figsize=(8, 2.6), layout="constrained")
        return _message(fig, FIRST_RUN_TEXT, "Segment migration")
    frame = pd.DataFrame(
        {
            "from": [
                NO_PREVIOUS if is_missing(v) else str(v) for v in migration["from_segment_id"]
            ],
            "to": [NO_CURRENT if is_missing(v) else str(v) for v in migration["to_segment_id"]],
            "customers": _num(migration["customers"]),
        }
    )
    matrix = frame.pivot_table(
        index="from", columns="to", values="customers", aggfunc="sum", fill_value=0.0
    )

    def axis_order(values: Any, outsider: str) -> list[str]:
        # The outsider row/column ((new) / (left)) goes last, after the segments in natural order.
        return sorted(values, key=lambda v: (v == outsider, segment_sort_key(v)))

    rows = axis_order(matrix.index, NO_PREVIOUS)
    cols = axis_order(matrix.columns, NO_CURRENT)
    counts = matrix.loc[rows, cols].to_numpy(dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    labels = _labels(data)
    fig = Figure(
        figsize=(max(6.5, 2.8 + 1.1 * len(cols)), _height(len(rows), per_row=0.6, base=2.0)),
        layout="constrained",
    )
    ax: Axes = fig.add_subplot()
    cmap = mpl.colormaps["Purples"]
    norm = Normalize(vmin=0, vmax=1)
    image = ax.imshow(shares, cmap=cmap, norm=norm, aspect="auto")
    for (i, j), count in np.ndenumerate(counts):
        if count > 0:
            color = _text_color(cmap(norm(shares[i, j])))
            _cell_text(ax, j, i, f"{count:,.0f}\n{shares[i, j]:.0%}", fontsize=7.5, color=color)
    ax.set_xticks(
        np.arange(len(cols)),
        [_label(labels, c) for c in cols],
        rotation=30,
        ha="right",
        rotation_mode="anchor",
    )
    ax.set_yticks(np.arange(len(rows)), [_label(labels, r) for r in rows])
    ax.set_xlabel("segment on this as-of date")
    ax.set_ylabel("segment on the previous as-of date")
    ax.spines[:].set_visible(False)
    bar = fig.colorbar(image, ax=ax, shrink=0.7)
    bar.set_label("share of the previous segment")
    bar.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_title("Segment migration since the previous as-of date")
    return fig


#: Plot name → function, in report order (the HTML report iterates over this).
PLOTS: dict[str, Callable[[ReportData], Figure]] = {
    "segment_distribution": plot_segment_distribution,
    "segment_value": plot_segment_value,
    "clv_and_churn": plot_clv_and_churn,
    "robustness_scores": plot_robustness_scores,
    "trait_heatmap": plot_trait_heatmap,
    "k_selection": plot_k_selection,
    "rfm_grid": plot_rfm_grid,
    "migration": plot_migration,
}
