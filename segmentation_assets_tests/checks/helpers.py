"""Call an asset check directly for one partition, without a run."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from dagster import AssetCheckResult, AssetChecksDefinition, build_op_context

# build_asset_check_context() takes no partition key in dagster 1.13; the direct-invocation context
# it wraps does, so the check sees context.partition_keys / partition_time_window as in a run.
from dagster._core.execution.context.invocation import DirectAssetCheckExecutionContext

from segmentation_assets.resources import WarehouseResource
from segmentation_assets.traits import TRAITS
from segmentation_assets.warehouse import connect


def run_check(
    check: AssetChecksDefinition, warehouse_path: str, partition_key: str, **resources: Any
) -> AssetCheckResult:
    """Evaluate ``check`` for ``partition_key`` on the DuckDB file at ``warehouse_path``."""
    context = DirectAssetCheckExecutionContext(
        op_execution_context=build_op_context(partition_key=partition_key)
    )
    result = check(context, warehouse=WarehouseResource(path=warehouse_path), **resources)
    assert isinstance(result, AssetCheckResult)
    return result


def meta(result: AssetCheckResult, key: str) -> Any:
    """A metadata entry's plain value."""
    value = result.metadata[key]
    return getattr(value, "value", value)


def profile_frame(n: int, as_of: date, *, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """``n`` valid profile rows for ``as_of`` (every registry column); ``shift`` moves net revenue
    and sessions up by that many standard units."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {
        "as_of_date": pd.Series([pd.Timestamp(as_of)] * n, dtype="datetime64[us]"),
        "customer_id": [f"c{i:05d}" for i in range(n)],
    }
    for trait in TRAITS:
        if trait.kind == "categorical":
            data[trait.name] = {
                "top_category": rng.choice(["Home", "Books", "Toys"], n),
                "primary_device": rng.choice(["mobile", "desktop"], n),
                "preferred_weekday": rng.integers(1, 8, n),
                "preferred_hour": rng.integers(0, 24, n),
                "rfm_segment": rng.choice(["Loyal", "Lost", "Champions"], n),
            }[trait.name]
        elif trait.unit.startswith("quintile"):
            data[trait.name] = rng.integers(1, 6, n)
        elif trait.unit.startswith(("share", "probability", "score 0-1")):
            data[trait.name] = rng.uniform(0, 1, n)
        elif trait.unit in ("count", "days"):
            data[trait.name] = rng.integers(0, 30, n)
        else:
            data[trait.name] = rng.gamma(2.0, 50.0, n)
    frame = pd.DataFrame(data)
    frame["net_revenue"] += shift * frame["net_revenue"].std()
    frame["sessions"] = frame["sessions"] + round(shift * 10)
    frame["churn_risk"] = 1 - frame["p_alive"]
    return frame


def write_table(path: str, table: str, frame: pd.DataFrame) -> None:
    """Append ``frame`` to ``table`` in the DuckDB file (created from the frame on first use)."""
    con = connect(path)
    try:
        con.register("_rows", frame)
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchone()
        if exists and exists[0]:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
        else:
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM _rows")
    finally:
        con.close()
