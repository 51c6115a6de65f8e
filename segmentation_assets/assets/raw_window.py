"""Run configuration shared by the stages that look back over a window of raw events."""

from __future__ import annotations

from dagster import Config
from pydantic import Field


class ProfileWindowConfig(Config):
    """``window_days``: length of the rolling window that ends at the as-of date (default 365)."""

    window_days: int = Field(default=365, ge=7)
