"""Where report files go (HTML, JSON, activation exports)."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource


class ReportsResource(ConfigurableResource):
    """A folder; each as-of date writes into its own sub-folder."""

    directory: str

    def folder_for(self, as_of: str) -> Path:
        folder = Path(self.directory) / as_of
        folder.mkdir(parents=True, exist_ok=True)
        return folder
