"""A small synthetic world and a pipeline run over it, shared by the whole-graph tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions

from segmentation_assets.definitions import build_definitions
from segmentation_assets.resources import PipelineSettingsResource
from segmentation_assets.runner import RunSummary, run_as_of
from segmentation_assets.settings import Settings

AS_OF = dt.date(2025, 9, 30)
WINDOW_DAYS = 90


@dataclass
class PipelineWorld:
    settings: Settings
    defs: Definitions
    instance: DagsterInstance
    summary: RunSummary

    @property
    def warehouse(self) -> str:
        return str(self.settings.warehouse_path)


def small_world(root: Path, customers: int = 400) -> tuple[Settings, Definitions]:
    settings = Settings(
        warehouse_path=root / "warehouse.duckdb",
        reports_dir=root / "reports",
        synthetic_dir=root / "synthetic",
        synthetic_customers=customers,
        synthetic_seed=7,
        synthetic_start_date=dt.date(2025, 6, 1),
        synthetic_end_date=AS_OF,
        window_days=WINDOW_DAYS,
    )
    pipeline = PipelineSettingsResource(
        window_days=WINDOW_DAYS,
        k_min=3,
        k_max=6,
        bootstrap_samples=5,
        robustness_sample_size=2000,
        sensitivity_windows_days=[45],
    )
    return settings, build_definitions(settings, pipeline)


@pytest.fixture(scope="session")
def pipeline_world(tmp_path_factory: pytest.TempPathFactory) -> PipelineWorld:
    root = tmp_path_factory.mktemp("world")
    settings, defs = small_world(root)
    instance = DagsterInstance.ephemeral()
    summary = run_as_of(
        defs,
        instance,
        AS_OF,
        warehouse_path=str(settings.warehouse_path),
        window_days=WINDOW_DAYS,
        progress=lambda _: None,
    )
    return PipelineWorld(settings, defs, instance, summary)
