"""read_frame gives exactly the frame DuckDB's .df() gives, through Arrow."""

from __future__ import annotations

import pandas as pd
import pytest

from segmentation_assets import warehouse

# Every type read_frame reads through Arrow, each with and without NULLs, plus a HUGEINT column
# (read with .df()) in one of the queries.
TABLE = """
CREATE TABLE t AS SELECT
  DATE '2025-01-01' + (i % 3)::INT AS day,
  CASE WHEN i % 2 = 0 THEN DATE '2025-01-01' END AS day_or_null,
  'id' || i AS text, CASE WHEN i % 2 = 0 THEN 'a' END AS text_or_null,
  i::BIGINT AS n64, CASE WHEN i % 2 = 0 THEN i END AS n64_or_null,
  i::INTEGER AS n32, CASE WHEN i % 2 = 0 THEN i::INTEGER END AS n32_or_null,
  CASE WHEN i % 2 = 0 THEN i::SMALLINT END AS n16_or_null,
  CASE WHEN i % 2 = 0 THEN i::TINYINT END AS n8_or_null,
  i / 3.0 AS real, CASE WHEN i % 2 = 0 THEN i / 2.0 END AS real_or_null,
  i % 2 = 0 AS flag, CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END AS flag_or_null
FROM range(10) r(i)
"""


@pytest.mark.parametrize(
    ("query", "params"),
    [
        ("SELECT * FROM t WHERE n64 > $x", {"x": 1}),
        ("SELECT * FROM t WHERE n64 < 2", None),  # columns with one NULL left
        ("SELECT * FROM t WHERE n64 % 2 = 0", None),  # the nullable columns without a NULL
        ("SELECT * FROM t WHERE n64 > 100", None),  # no rows
        ("SELECT *, n64::HUGEINT AS huge FROM t", None),  # a type read with .df()
    ],
)
def test_read_frame_equals_df(query: str, params: dict[str, int] | None) -> None:
    con = warehouse.connect(":memory:")
    con.execute(TABLE)
    expected = con.execute(query, params or {}).df()
    got = warehouse.read_frame(con, query, params)
    pd.testing.assert_frame_equal(got, expected)
    if query.endswith("$x"):
        assert str(got["n64_or_null"].dtype) == "Int64" and len(got) == 8


def test_read_frame_after_an_unfinished_result() -> None:
    # Callers read one row of a query and move on; .df() through execute() never minded.
    con = warehouse.connect(":memory:")
    con.execute(TABLE)
    assert con.execute("SELECT n64 FROM t ORDER BY n64").fetchone() == (0,)
    assert len(warehouse.read_frame(con, "SELECT * FROM t")) == 10
