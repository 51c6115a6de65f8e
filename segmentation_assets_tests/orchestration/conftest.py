"""A tiny synthetic world shared by the orchestration tests, and helpers to compare warehouses.

300 customers from 2025-06-01 to 2025-09-30 with a 7-day profile window keep every run to seconds;
the export is generated once per session and reused (generation is deterministic by seed).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pytest

from segmentation_assets.ingest import (
    CUSTOMER_IDS_SNAPSHOTS_TABLE,
    ID_HISTORY_SNAPSHOTS_TABLE,
    INGEST_LOG_TABLE,
    INGESTED_DAYS_TABLE,
    QUARANTINE_TABLE,
    RAW_EVENTS_TABLE,
)
from segmentation_assets.resources import SyntheticSource
from segmentation_assets.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from segmentation_assets_tests.orchestration.ui_world import UIWorldBuilder

CUSTOMERS = 300
SEED = 7
SYNTHETIC_START = date(2025, 6, 1)
SYNTHETIC_END = date(2025, 9, 30)
WINDOW_DAYS = 7

#: Every table an ingest run writes (events, quarantine, accounting, coverage, id snapshots).
INGEST_TABLES = (
    RAW_EVENTS_TABLE,
    QUARANTINE_TABLE,
    INGEST_LOG_TABLE,
    INGESTED_DAYS_TABLE,
    ID_HISTORY_SNAPSHOTS_TABLE,
    CUSTOMER_IDS_SNAPSHOTS_TABLE,
)
#: The repository's instance settings, used as-is by the tests that need a real instance.
REPO_DAGSTER_YAML = PROJECT_ROOT / "dagster.yaml"
#: Screenshots and other evidence a human may want to look at (gitignored).
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "orchestration"


def tiny_settings(root: Path, synthetic_dir: Path, **overrides: object) -> Settings:
    """Settings of the tiny world with every output under ``root``."""
    values: dict[str, object] = {
        "warehouse_path": root / "warehouse.duckdb",
        "reports_dir": root / "reports",
        "synthetic_dir": synthetic_dir,
        "synthetic_customers": CUSTOMERS,
        "synthetic_seed": SEED,
        "synthetic_start_date": SYNTHETIC_START,
        "synthetic_end_date": SYNTHETIC_END,
        "window_days": WINDOW_DAYS,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def tiny_env(settings: Settings) -> dict[str, str]:
    """The ``SEGMENTATION_*`` variables that give a fresh process the same settings."""
    return {
        "SEGMENTATION_WAREHOUSE_PATH": str(settings.warehouse_path),
        "SEGMENTATION_REPORTS_DIR": str(settings.reports_dir),
        "SEGMENTATION_SYNTHETIC_DIR": str(settings.synthetic_dir),
        "SEGMENTATION_SYNTHETIC_CUSTOMERS": str(settings.synthetic_customers),
        "SEGMENTATION_SYNTHETIC_SEED": str(settings.synthetic_seed),
        "SEGMENTATION_SYNTHETIC_START_DATE": settings.synthetic_start_date.isoformat(),
        "SEGMENTATION_SYNTHETIC_END_DATE": settings.synthetic_end_date.isoformat(),
        "SEGMENTATION_WINDOW_DAYS": str(settings.window_days),
        "SEGMENTATION_SOURCE": settings.source,
    }


def generated_export(settings: Settings) -> Path:
    """Generate (once) the synthetic export these settings read, and return its folder."""
    return SyntheticSource(
        directory=str(settings.synthetic_dir),
        n_customers=settings.synthetic_customers,
        seed=settings.synthetic_seed,
        start_date=settings.synthetic_start_date.isoformat(),
        end_date=settings.synthetic_end_date.isoformat(),
    ).ensure_generated()


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic folder holding the tiny world's export, generated once per session."""
    directory = tmp_path_factory.mktemp("synthetic")
    generated_export(tiny_settings(directory, directory))
    return directory


@pytest.fixture(scope="session", autouse=True)
def ui_world_builder(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, synthetic_dir: Path
) -> Iterator[UIWorldBuilder | None]:
    """Start building the UI test's world as soon as the session reaches this package.

    Its two minutes are mostly waits (server boot, the backfill daemon's loop, run start-up), so
    they overlap with the other tests instead of adding to them. Nothing starts unless the UI test
    is selected; whatever starts is stopped at the end of the session.
    """
    # Imported here: ui_world imports this module.
    from segmentation_assets_tests.orchestration.ui_world import UI_TEST_FILE, UIWorldBuilder

    if not any(item.path.name == UI_TEST_FILE for item in request.session.items):
        yield None
        return
    builder = UIWorldBuilder(tmp_path_factory.mktemp("ui"), synthetic_dir)
    try:
        yield builder
    finally:
        builder.stop()


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A DAGSTER_HOME in tmp holding a copy of the repository's dagster.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_DAGSTER_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    yield home


def snapshot(path: Path | str, tables: tuple[str, ...] = INGEST_TABLES) -> dict[str, pd.DataFrame]:
    """Every row of ``tables`` in a stable order (read-only, so it never takes the write lock)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").df() for t in tables}
    finally:
        con.close()


def assert_same_tables(
    actual: Mapping[str, pd.DataFrame], expected: Mapping[str, pd.DataFrame]
) -> None:
    """Same tables with the same rows (values and types)."""
    assert actual.keys() == expected.keys()
    for table in expected:
        pd.testing.assert_frame_equal(
            actual[table].reset_index(drop=True),
            expected[table].reset_index(drop=True),
            obj=table,
        )
