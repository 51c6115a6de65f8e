"""A small EBQ export whose last day is broken, run through the graph twice: once as delivered (the
blocking checks must stop the run before ``clusters``) and once after the export is repaired."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, ExecuteInProcessResult
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from segmentation_assets.definitions import build_definitions
from segmentation_assets.ebq.generator import generate_ebq_export
from segmentation_assets.ebq.schema import EVENT_TABLES
from segmentation_assets.resources import PipelineSettingsResource
from segmentation_assets.runner import QUIET_LOGS
from segmentation_assets.settings import Settings

AS_OF = dt.date(2025, 9, 30)
WINDOW_DAYS = 30
THROUGH_CLUSTERS = ["raw_events", "merged_ids", "profiles", "clusters"]


@dataclass
class BlockingWorld:
    defs: Definitions
    instance: DagsterInstance
    warehouse: str
    ingest: ExecuteInProcessResult
    broken: ExecuteInProcessResult
    repaired: ExecuteInProcessResult
    broken_day_rows: int


def break_day(export: Path, day: dt.date, every: int = 4) -> int:
    """Blank the customer id of 3 rows in every ``every`` of ``day`` in each event table: those
    rows are quarantined ('null_customer_id'). Returns how many rows were broken."""
    start = pa.scalar(dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC))
    end = pa.scalar(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC))
    broken = 0
    for table in EVENT_TABLES:
        for part in sorted((export / table).glob("*.parquet")):
            data = pq.read_table(part)
            ts = data.column("timestamp").cast(pa.timestamp("us", tz="UTC"))
            on_day = pc.and_(pc.greater_equal(ts, start), pc.less(ts, end))
            keep = pa.array([i % every == 0 for i in range(data.num_rows)])
            mask = pc.and_(on_day, pc.invert(keep))
            ids = data.column("internal_customer_id").cast(pa.string())
            blank = pc.if_else(mask, pa.scalar(None, pa.string()), ids)
            index = data.schema.get_field_index("internal_customer_id")
            pq.write_table(data.set_column(index, "internal_customer_id", blank), part)
            broken += pc.sum(mask.cast(pa.int64())).as_py() or 0
    return broken


@pytest.fixture(scope="session")
def blocking_world(tmp_path_factory: pytest.TempPathFactory) -> BlockingWorld:
    root = tmp_path_factory.mktemp("blocking")
    pristine, export = root / "pristine", root / "export"
    generate_ebq_export(
        pristine,
        n_customers=150,
        start_date=AS_OF - dt.timedelta(days=45),
        end_date=AS_OF,
        seed=11,
    )
    shutil.copytree(pristine, export)
    broken_rows = break_day(export, AS_OF)
    settings = Settings(
        warehouse_path=root / "warehouse.duckdb",
        reports_dir=root / "reports",
        source="ebq_export",
        export_path=export,
        window_days=WINDOW_DAYS,
    )
    defs = build_definitions(
        settings,
        PipelineSettingsResource(window_days=WINDOW_DAYS, k_min=3, k_max=4, bootstrap_samples=5),
    )
    instance = DagsterInstance.ephemeral()
    # The days before the as-of date are healthy: one range run of the ingest job, as the runner does.
    ingest = defs.resolve_job_def("ingest_job").execute_in_process(
        instance=instance,
        run_config=QUIET_LOGS,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: (
                AS_OF - dt.timedelta(days=WINDOW_DAYS - 1)
            ).isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: (AS_OF - dt.timedelta(days=1)).isoformat(),
        },
        raise_on_error=False,
    )
    pipeline = defs.resolve_job_def("segmentation_pipeline")

    def run() -> ExecuteInProcessResult:
        return pipeline.execute_in_process(
            instance=instance,
            partition_key=AS_OF.isoformat(),
            run_config=QUIET_LOGS,
            asset_selection=[AssetKey(k) for k in THROUGH_CLUSTERS],
            raise_on_error=False,
        )

    broken = run()
    # Repair: the export is delivered again, complete and clean, and the same run is re-launched.
    shutil.rmtree(export)
    shutil.copytree(pristine, export)
    repaired = run()
    return BlockingWorld(
        defs, instance, str(settings.warehouse_path), ingest, broken, repaired, broken_rows
    )
