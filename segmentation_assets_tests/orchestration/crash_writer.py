"""Test helper: run ``ingest_job`` over a day range and freeze in the middle of its write.

    python -m segmentation_assets_tests.orchestration.crash_writer MARKER START END

Settings come from the ``SEGMENTATION_*`` environment, as for any run. The ingest proceeds as usual
until its ``INSERT INTO raw_events`` has run: the range's old rows are deleted and the new ones
written, inside the open transaction. Then MARKER is written (with the row count the transaction
sees) and the process waits to be killed
(after two minutes it exits on its own, still without committing, so an orphan never lingers).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from segmentation_assets import ingest
from segmentation_assets.definitions import build_definitions
from segmentation_assets.runner import QUIET_LOGS

#: Longest wait for the SIGKILL before giving up without committing.
MAX_PAUSE_SECONDS = 120


class PausingConnection:
    """A DuckDB connection that stops for good right after the raw_events insert."""

    def __init__(self, con: Any, marker: Path) -> None:
        self._con = con
        self._marker = marker

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        result = self._con.execute(query, *args, **kwargs)
        if query.startswith(f"INSERT INTO {ingest.RAW_EVENTS_TABLE} ("):
            # What the open transaction holds: the test checks it differs from what is committed.
            row = self._con.execute(f"SELECT count(*) FROM {ingest.RAW_EVENTS_TABLE}").fetchone()
            self._marker.write_text(json.dumps({"pid": os.getpid(), "raw_events_rows": row[0]}))
            time.sleep(MAX_PAUSE_SECONDS)
            os._exit(3)  # never reach COMMIT
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def main(marker: Path, start: str, end: str) -> None:
    real_ingest_window = ingest.ingest_window

    def pausing_ingest_window(con: Any, *args: Any, **kwargs: Any) -> Any:
        pausing: Any = PausingConnection(con, marker)  # duck-typed stand-in for the connection
        return real_ingest_window(pausing, *args, **kwargs)

    # The asset calls ingest.ingest_window through the module, so this reaches the real run.
    ingest.ingest_window = pausing_ingest_window  # type: ignore[assignment]
    build_definitions().resolve_job_def("ingest_job").execute_in_process(
        tags={ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end},
        run_config=QUIET_LOGS,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
