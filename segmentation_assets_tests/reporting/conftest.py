"""Shared report inputs and rendered pages (rendering is the slow part, so each happens once)."""

from __future__ import annotations

import dataclasses

import pytest

from segmentation_assets.reporting import ReportData, render_html_report, sample_report_data

#: A segment name that would break the page if it were not escaped.
HOSTILE_NAME = '<script>alert("x")</script> & Co'


@pytest.fixture(scope="session")
def full_data() -> ReportData:
    """Four segments with every table filled."""
    return sample_report_data(n_segments=4, seed=0)


@pytest.fixture(scope="session")
def minimal_data() -> ReportData:
    """Two segments, k fixed by configuration, first run, one hostile segment name."""
    data = sample_report_data(n_segments=2, seed=1, k_fixed=True, first_run=True)
    segments = data.segments.copy()
    segments.loc[0, "name"] = HOSTILE_NAME
    return dataclasses.replace(data, segments=segments)


@pytest.fixture(scope="session")
def full_html(full_data: ReportData) -> str:
    return render_html_report(full_data)


@pytest.fixture(scope="session")
def minimal_html(minimal_data: ReportData) -> str:
    return render_html_report(minimal_data)
