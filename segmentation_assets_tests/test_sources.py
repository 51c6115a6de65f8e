"""Sources behind one interface: the BigQuery reader (with a fake client) and the export folder
with a field mapping, exercised through the raw_events asset itself."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import build_asset_context

from segmentation_assets import warehouse
from segmentation_assets.assets.ingest import IngestConfig, raw_events
from segmentation_assets.resources import BigQuerySource, EBQExportSource, WarehouseResource
from segmentation_assets_tests.ebq_fixture import write_fixture_export


class RecordingClient:
    """Answers every query from a local export folder and records what was asked."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.queries: list[tuple[str, dict[str, Any]]] = []

    def query_to_arrow(self, query: str, params: dict[str, Any]) -> pa.Table | None:
        self.queries.append((query, params))
        table = query.split("`")[1].split(".")[-1]
        path = self.root / table / "part-00000.parquet"
        return pq.read_table(path) if path.exists() else None


def test_bigquery_source_filters_every_event_table_on_the_window(tmp_path: Path) -> None:
    client = RecordingClient(write_fixture_export(tmp_path))
    source = BigQuerySource(project="acme-analytics", dataset="bloomreach_x1_views").with_client(
        client
    )
    con = warehouse.connect(":memory:")
    views = source.register_views(con, dt.date(2025, 3, 1), dt.date(2025, 3, 2))
    event_queries = [q for q in client.queries if "customers_" not in q[0]]
    assert event_queries and all(
        "WHERE timestamp >= @window_start AND timestamp < @window_end" in q
        for q, _ in event_queries
    )
    assert all(
        p["window_start"] == dt.datetime(2025, 3, 1, tzinfo=dt.UTC) for _, p in event_queries
    )
    assert any("`acme-analytics.bloomreach_x1_views.purchase`" in q for q, _ in event_queries)
    assert views["purchase"] == "src_purchase"


@pytest.mark.parametrize(
    ("project", "dataset"),
    [
        ("acme-analytics", "views; DROP TABLE x"),
        ("Bad Project!", "views"),
        ("acme-analytics", "a.b"),
    ],
)
def test_bigquery_names_are_validated(project: str, dataset: str) -> None:
    with pytest.raises(ValueError, match="invalid BigQuery"):
        BigQuerySource(project=project, dataset=dataset).queries(
            dt.date(2025, 1, 1), dt.date(2025, 1, 2)
        )


def test_raw_events_asset_applies_the_field_mapping(tmp_path: Path) -> None:
    root = write_fixture_export(tmp_path / "export")
    # A project that calls the session device "platform".
    sessions = pq.read_table(root / "session_start" / "part-00000.parquet").to_pylist()
    for row in sessions:
        row["properties"] = {"platform": row["properties"]["device"], "utm_source": None}
    pq.write_table(
        pa.Table.from_pylist(
            sessions,
            schema=pa.schema(
                [
                    ("internal_customer_id", pa.string()),
                    ("timestamp", pa.timestamp("us", tz="UTC")),
                    ("ingest_timestamp", pa.timestamp("us", tz="UTC")),
                    (
                        "properties",
                        pa.struct([("platform", pa.string()), ("utm_source", pa.string())]),
                    ),
                ]
            ),
        ),
        root / "session_start" / "part-00000.parquet",
    )
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"tables": {"session_start": {"device": "platform"}}}))
    db = tmp_path / "w.duckdb"
    context = build_asset_context(partition_key="2025-03-02")
    result = raw_events(
        context,
        config=IngestConfig(),
        warehouse=WarehouseResource(path=str(db)),
        source=EBQExportSource(path=str(root), field_mapping_path=str(mapping)),
    )
    # anon_b's purchase and session, and three campaign rows (alice x2, bob)
    assert result.metadata["rows_read"] == 5
    con = warehouse.connect(db)
    assert con.execute(
        "SELECT device FROM raw_events WHERE source_table = 'session_start'"
    ).fetchall() == [("mobile",)]
    assert con.execute("SELECT DISTINCT event_date FROM raw_events").fetchall() == [
        (dt.date(2025, 3, 2),)
    ]
