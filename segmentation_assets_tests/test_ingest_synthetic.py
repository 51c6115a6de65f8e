"""Round trip: synthetic generator → Parquet/NDJSON export → export-folder source → raw_events."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from segmentation_assets import export_folder, ingest, warehouse
from segmentation_assets.ebq.generator import export_to_ndjson, generate_ebq_export

START, END = dt.date(2025, 3, 1), dt.date(2025, 3, 31)


@pytest.fixture(scope="module")
def bad_export(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bad") / "export"
    return generate_ebq_export(
        root, n_customers=150, start_date=START, end_date=END, seed=3, bad_rows=True
    )


def _ingest(root: Path):
    con = warehouse.connect(":memory:")
    views = export_folder.register_views(con, root)
    # The whole export, whatever day its bad rows claim: a wide window around the period.
    stats = ingest.ingest_window(
        con, views, START - dt.timedelta(days=30), END + dt.timedelta(days=30)
    )
    return con, stats


def test_every_injected_bad_row_is_quarantined_with_its_reason(bad_export) -> None:
    _, stats = _ingest(bad_export.root)
    injected: Counter[str] = Counter()
    for kinds in bad_export.manifest.bad_rows_injected.values():
        injected.update(kinds)
    assert stats.quarantined_by_reason == dict(injected)
    assert stats.closes
    assert stats.duplicates_dropped == sum(bad_export.manifest.duplicate_rows.values())


def test_ndjson_and_parquet_give_identical_tables(bad_export, tmp_path: Path) -> None:
    ndjson_root = tmp_path / "ndjson"
    export_to_ndjson(bad_export.root, ndjson_root)
    parquet_con, parquet_stats = _ingest(bad_export.root)
    ndjson_con, ndjson_stats = _ingest(ndjson_root)
    assert parquet_stats.quarantined_by_reason == ndjson_stats.quarantined_by_reason
    query = "SELECT * EXCLUDE (ingest_timestamp) FROM raw_events ORDER BY ALL"
    pd.testing.assert_frame_equal(parquet_con.execute(query).df(), ndjson_con.execute(query).df())
