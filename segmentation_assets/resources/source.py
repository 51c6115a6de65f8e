"""EBQ sources behind one interface: synthetic (the embedded default), an export folder, BigQuery.

Each source registers, on a DuckDB connection, one view per EBQ table holding at least the rows of
the requested window; the ingest SQL does the rest. Assets never know which source they hold.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import duckdb
from dagster import ConfigurableResource
from pydantic import PrivateAttr

from segmentation_assets import export_folder
from segmentation_assets.ebq.schema import load_field_mapping
from segmentation_assets.warehouse import check_identifier


class EBQSource(ConfigurableResource, ABC):
    """Interface: make the EBQ tables readable on a DuckDB connection.

    ``field_mapping_path`` names a YAML/JSON file that says which property feeds each canonical
    field when a Bloomreach project names them differently (see ``ebq/schema.py`` FieldMapping).
    """

    field_mapping_path: str | None = None

    def field_mapping(self) -> dict[str, dict[str, str]]:
        """table → canonical field → ``properties.<path>`` for the explicitly mapped fields."""
        return load_field_mapping(self.field_mapping_path).overrides()

    @abstractmethod
    def register_views(
        self, con: duckdb.DuckDBPyConnection, window_start: date, window_end: date
    ) -> dict[str, str]:
        """Register views for every available table; return table name → view name.

        Event tables must hold at least the rows with ``timestamp`` in [window_start, window_end);
        customer tables are full snapshots.
        """

    @abstractmethod
    def describe(self) -> str:
        """One line naming where the data comes from (for metadata and the report)."""


class EBQExportSource(EBQSource):
    """A folder of EBQ tables exported as Parquet or NDJSON (one sub-folder or file per table)."""

    path: str

    def register_views(
        self, con: duckdb.DuckDBPyConnection, window_start: date, window_end: date
    ) -> dict[str, str]:
        return export_folder.register_views(con, Path(self.path))

    def describe(self) -> str:
        return f"ebq_export:{self.path}"


class SyntheticSource(EBQSource):
    """Synthetic EBQ-shaped data, generated on first use into a folder keyed by its parameters and
    then read exactly like a real export folder."""

    directory: str
    n_customers: int = 2000
    seed: int = 42
    start_date: str = "2025-01-01"
    end_date: str = "2025-12-31"

    def export_path(self) -> Path:
        return Path(self.directory) / (
            f"customers{self.n_customers}_seed{self.seed}_{self.start_date}_{self.end_date}"
        )

    def ensure_generated(self) -> Path:
        """Generate the export once; later calls reuse it (generation is deterministic by seed)."""
        from segmentation_assets.ebq.generator import generate_ebq_export

        root = self.export_path()
        if not (root / "_ground_truth" / "manifest.json").exists():
            generate_ebq_export(
                root,
                n_customers=self.n_customers,
                start_date=date.fromisoformat(self.start_date),
                end_date=date.fromisoformat(self.end_date),
                seed=self.seed,
            )
        return root

    def register_views(
        self, con: duckdb.DuckDBPyConnection, window_start: date, window_end: date
    ) -> dict[str, str]:
        return export_folder.register_views(con, self.ensure_generated())

    def describe(self) -> str:
        return f"synthetic:{self.n_customers} customers, seed {self.seed}, {self.start_date}..{self.end_date}"


_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class BigQuerySource(EBQSource):
    """Reads the EBQ dataset in BigQuery (optional extra ``[bigquery]``).

    Event tables are always filtered on ``timestamp`` for the window so a nightly run scans one day,
    not the whole history; project, dataset and table names are validated, and the window is passed
    as query parameters, so configuration cannot inject SQL.
    """

    project: str
    dataset: str
    event_tables: list[str] = [
        "session_start",
        "page_visit",
        "view_category",
        "view_item",
        "cart_update",
        "checkout",
        "purchase",
        "purchase_item",
        "campaign",
        "merge",
    ]
    customer_tables: list[str] = ["customers_properties", "customers_id_history"]
    _client: Any = PrivateAttr(default=None)

    def with_client(self, client: Any) -> BigQuerySource:
        """Use an existing client (tests pass a fake that records queries)."""
        self._client = client
        return self

    def _get_client(self) -> Any:
        if self._client is None:
            self._client = _GoogleBigQueryRunner(self.project)
        return self._client

    def queries(
        self, window_start: date, window_end: date
    ) -> dict[str, tuple[str, dict[str, Any]]]:
        """Table → (BigQuery SQL, parameters) this source will run for the window."""
        if not _PROJECT.match(self.project):
            raise ValueError(f"invalid BigQuery project id {self.project!r}")
        if not _DATASET.match(self.dataset):
            raise ValueError(f"invalid BigQuery dataset name {self.dataset!r}")
        start = datetime.combine(window_start, time(0), tzinfo=UTC)
        end = datetime.combine(window_end, time(0), tzinfo=UTC)
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for table in self.event_tables:
            check_identifier(table, "BigQuery table name")
            out[table] = (
                f"SELECT * FROM `{self.project}.{self.dataset}.{table}` "
                "WHERE timestamp >= @window_start AND timestamp < @window_end",
                {"window_start": start, "window_end": end},
            )
        for table in self.customer_tables:
            check_identifier(table, "BigQuery table name")
            out[table] = (f"SELECT * FROM `{self.project}.{self.dataset}.{table}`", {})
        return out

    def register_views(
        self, con: duckdb.DuckDBPyConnection, window_start: date, window_end: date
    ) -> dict[str, str]:
        client = self._get_client()
        views: dict[str, str] = {}
        for table, (query, params) in self.queries(window_start, window_end).items():
            arrow_table = client.query_to_arrow(query, params)
            if arrow_table is None:
                continue
            view = f"src_{table}"
            con.register(f"_bq_{table}", arrow_table)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM _bq_{table}")
            views[table] = view
        return views

    def describe(self) -> str:
        return f"bigquery:{self.project}.{self.dataset}"


class _GoogleBigQueryRunner:
    """Runs parameterized queries with google-cloud-bigquery and returns Arrow tables."""

    def __init__(self, project: str) -> None:
        try:
            from google.cloud import bigquery
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise RuntimeError(
                "source=bigquery needs the optional extra: pip install 'segmentation_assets[bigquery]'"
            ) from exc
        self._bigquery = bigquery
        self._client = bigquery.Client(project=project)

    def query_to_arrow(self, query: str, params: dict[str, Any]) -> Any:  # pragma: no cover
        bq = self._bigquery
        config = bq.QueryJobConfig(
            query_parameters=[bq.ScalarQueryParameter(k, "TIMESTAMP", v) for k, v in params.items()]
        )
        return self._client.query(query, job_config=config).to_arrow()


def read_manifest(root: Path) -> dict[str, Any]:
    """The synthetic generator's manifest (ground-truth parameters and row counts)."""
    return dict(json.loads((root / "_ground_truth" / "manifest.json").read_text()))
