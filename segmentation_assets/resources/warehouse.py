"""The DuckDB warehouse resource.

DuckDB allows one writer process per file, so every asset and check that opens it runs in the
``duckdb`` concurrency pool (limit 1 in dagster.yaml): runs queue instead of failing on the lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from dagster import ConfigurableResource

from segmentation_assets.warehouse import connect


class WarehouseResource(ConfigurableResource):
    """A DuckDB file opened with a UTC session and configured memory/thread limits."""

    path: str
    memory_limit: str = "4GB"
    threads: int = 2

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect(self.path, memory_limit=self.memory_limit, threads=self.threads)
        try:
            yield con
        finally:
            con.close()
