"""Run the real asset graph for an as-of date, from the command line or a notebook.

One code path: the same Definitions, jobs and Dagster instance the UI uses. A first run ingests the
profile window's missing days as ONE range run of ``ingest_job`` (single-run backfill), then runs the
main job ``segmentation_pipeline`` for the as-of date.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from dagster import AssetKey, DagsterInstance, Definitions
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from segmentation_assets import ingest
from segmentation_assets.partitions import PARTITIONS_START_DATE
from segmentation_assets.warehouse import connect, table_exists

#: Dagster's own step logs go to the run (visible in the UI); the console shows warnings only.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
#: What :func:`run_as_of` uses: a silent console. A failed step's multi-page ERROR log would bury
#: the one-line cause that :class:`PipelineError` carries (its ``details`` keep the full text).
SILENT_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class PipelineError(RuntimeError):
    """A pipeline run failed; ``stage`` names the asset (or step) that failed.

    The message is one line: the stage, the underlying exception and the run id. ``details`` holds
    Dagster's full error text (stack traces included) and ``run_id`` the failed run.
    """

    def __init__(
        self, stage: str, message: str, *, run_id: str | None = None, details: str | None = None
    ) -> None:
        super().__init__(f"stage {stage!r} failed: {message}")
        self.stage = stage
        self.run_id = run_id
        self.details = details


@dataclass(frozen=True)
class RunSummary:
    """What a run produced, read back from the warehouse."""

    as_of_date: date
    customers_profiled: int
    segments_found: int
    production_ready_segments: int
    report_path: str | None
    ingested_range: tuple[date, date] | None
    run_ids: tuple[str, ...]

    def format(self) -> str:
        lines = [
            f"as-of date                 {self.as_of_date}",
            f"customers profiled         {self.customers_profiled:,}",
            f"segments found             {self.segments_found}",
            f"production-ready segments  {self.production_ready_segments}",
            f"report                     {self.report_path or '(none)'}",
        ]
        return "\n".join(lines)


def missing_ingest_range(
    warehouse_path: str, as_of: date, window_days: int
) -> tuple[date, date] | None:
    """The smallest day range covering every not-yet-ingested day of the window before ``as_of``."""
    first = max(as_of - timedelta(days=window_days - 1), date.fromisoformat(PARTITIONS_START_DATE))
    if first >= as_of:
        return None
    if Path(warehouse_path).exists():
        con = connect(warehouse_path)
        try:
            done = ingest.ingested_days(con, first, as_of)
        finally:
            con.close()
    else:
        done = set()
    missing = [d for d in ingest.day_range(first, as_of - timedelta(days=1)) if d not in done]
    return (missing[0], missing[-1]) if missing else None


def _root_cause(error: Any) -> Any:
    """The innermost cause: Dagster wraps user errors (and exhausted retries) around them."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error


def _pipeline_error(result: Any) -> PipelineError:
    """A :class:`PipelineError` naming the first failed step and its underlying exception."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error if event.step_failure_data else None
            if error is None:
                return PipelineError(str(event.step_key), f"see run {result.run_id}")
            cause = _root_cause(error)
            # The message already starts with the exception's qualified class name.
            text = (cause.message or "").strip().splitlines()
            summary = text[0] if text else str(cause.cls_name)
            return PipelineError(
                str(event.step_key),
                f"{summary} (run {result.run_id})",
                run_id=result.run_id,
                details=error.to_string(),
            )
    return PipelineError("unknown", f"see run {result.run_id}", run_id=result.run_id)


def run_as_of(
    defs: Definitions,
    instance: DagsterInstance,
    as_of: date,
    *,
    warehouse_path: str,
    window_days: int,
    progress: Callable[[str], None] = print,
    stages: Collection[str] | None = None,
) -> RunSummary:
    """Ingest what the window lacks, then materialize every stage for ``as_of``.

    ``stages`` limits the main job to those assets (and their checks), e.g. every stage but
    ``report``; None runs all seven. Raises :class:`PipelineError` naming the failed step.
    """
    run_ids: list[str] = []
    ingest_range = missing_ingest_range(warehouse_path, as_of, window_days)
    if ingest_range is not None:
        progress(f"ingesting {ingest_range[0]} .. {ingest_range[1]} (one range run of ingest_job)")
        result = defs.resolve_job_def("ingest_job").execute_in_process(
            instance=instance,
            run_config=SILENT_LOGS,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: ingest_range[0].isoformat(),
                ASSET_PARTITION_RANGE_END_TAG: ingest_range[1].isoformat(),
            },
            raise_on_error=False,
        )
        run_ids.append(result.run_id)
        if not result.success:
            raise _pipeline_error(result)
    progress(f"running segmentation_pipeline for {as_of}")
    result = defs.resolve_job_def("segmentation_pipeline").execute_in_process(
        instance=instance,
        partition_key=as_of.isoformat(),
        run_config=SILENT_LOGS,
        raise_on_error=False,
        asset_selection=[AssetKey(stage) for stage in stages] if stages is not None else None,
    )
    run_ids.append(result.run_id)
    if not result.success:
        raise _pipeline_error(result)
    for event in result.all_events:
        if event.is_step_success:
            progress(f"  done: {event.step_key}")
    return read_summary(warehouse_path, as_of, ingest_range, tuple(run_ids))


def read_summary(
    warehouse_path: str,
    as_of: date,
    ingested_range: tuple[date, date] | None = None,
    run_ids: tuple[str, ...] = (),
) -> RunSummary:
    con = connect(warehouse_path)
    try:

        def scalar(sql: str) -> object:
            row = con.execute(sql, {"d": as_of}).fetchone()
            return row[0] if row else None

        customers = scalar("SELECT count(*) FROM profiles WHERE as_of_date = $d")
        segments = scalar("SELECT count(*) FROM segments WHERE as_of_date = $d")
        ready = (
            scalar(
                "SELECT count(*) FROM segment_actionability WHERE as_of_date = $d AND production_ready"
            )
            if table_exists(con, "segment_actionability")
            else 0
        )
        report = (
            scalar("SELECT html_path FROM report_runs WHERE as_of_date = $d")
            if table_exists(con, "report_runs")
            else None
        )
    finally:
        con.close()
    return RunSummary(
        as_of_date=as_of,
        customers_profiled=int(customers or 0),  # type: ignore[call-overload]
        segments_found=int(segments or 0),  # type: ignore[call-overload]
        production_ready_segments=int(ready or 0),  # type: ignore[call-overload]
        report_path=str(report) if report else None,
        ingested_range=ingested_range,
        run_ids=run_ids,
    )
