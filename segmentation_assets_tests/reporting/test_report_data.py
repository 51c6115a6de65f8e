"""Reading the report's tables: the same profiles give the same numbers, to the last bit."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from segmentation_assets.report_data import rfm_grid_frame


def test_rfm_grid_is_the_same_whatever_the_row_order() -> None:
    # Enough rows for DuckDB to aggregate in parallel: a double sum then depends on the order the
    # threads meet the rows, and the report's JSON changed from run to run in the last digits.
    rng = np.random.default_rng(7)
    n = 400_000
    rows = pd.DataFrame(
        {
            "customer_id": [f"c{i:07d}" for i in range(n)],
            "rfm_recency_score": rng.integers(1, 6, n),
            "rfm_frequency_score": rng.integers(1, 6, n),
            "net_revenue": rng.lognormal(4, 2, n) * rng.choice([1.0, -0.01], n, p=[0.95, 0.05]),
        }
    )
    con = duckdb.connect()
    con.execute("SET threads = 2")
    first, second = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    shuffled = rows.sample(frac=1.0, random_state=3)
    con.register("a", rows.assign(as_of_date=first))
    con.register("b", shuffled.assign(as_of_date=second))
    con.execute("CREATE TABLE profiles AS SELECT * FROM a UNION ALL SELECT * FROM b")
    grid = rfm_grid_frame(con, first)
    again = rfm_grid_frame(con, second)
    pd.testing.assert_frame_equal(grid, again, check_exact=True)
    assert len(grid) == 25 and int(grid["customers"].sum()) == n
    expected = rows.groupby(["rfm_recency_score", "rfm_frequency_score"])["net_revenue"].mean()
    np.testing.assert_allclose(grid["avg_net_revenue"].to_numpy(), expected.to_numpy(), rtol=1e-12)
