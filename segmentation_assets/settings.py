"""Typed settings read from the environment (prefix ``SEGMENTATION_``) or a ``.env`` file.

Every default here is documented in the README; the embedded default needs no configuration at all.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

SourceKind = Literal["synthetic", "ebq_export", "bigquery"]


class Settings(BaseSettings):
    """Where data comes from, where it goes, and the knobs a data team tunes."""

    model_config = SettingsConfigDict(env_prefix="SEGMENTATION_", env_file=".env", extra="ignore")

    warehouse_path: Path = Field(
        default=PROJECT_ROOT / "data" / "warehouse.duckdb",
        description="DuckDB file that holds every stage's tables.",
    )
    reports_dir: Path = Field(
        default=PROJECT_ROOT / "data" / "reports",
        description="Where the HTML/JSON report and activation exports are written.",
    )
    source: SourceKind = Field(
        default="synthetic", description="Which EBQ source feeds raw_events."
    )
    export_path: Path | None = Field(
        default=None,
        description="EBQ export folder (one sub-folder per table) for source=ebq_export.",
    )
    field_mapping_path: Path | None = Field(
        default=None, description="YAML/JSON file mapping canonical fields to property paths."
    )
    bigquery_project: str | None = None
    bigquery_dataset: str | None = None

    synthetic_dir: Path = Field(default=PROJECT_ROOT / "data" / "synthetic")
    synthetic_customers: int = Field(default=2000, ge=10)
    synthetic_seed: int = 42
    synthetic_start_date: date = date(2025, 1, 1)
    synthetic_end_date: date = date(2025, 12, 31)

    window_days: int = Field(default=365, ge=7, description="Length of the profile window, days.")
    default_as_of_date: date = Field(
        default=date(2025, 12, 31),
        description="As-of date `make run` segments when none is given (the synthetic data's last day).",
    )
    llm_model: str = Field(
        default="rules", description="'rules' (offline) or 'openai:<model>' etc."
    )
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2


def get_settings() -> Settings:
    """Settings as the environment says now (not cached: tests change the environment)."""
    return Settings()
