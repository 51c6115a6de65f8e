"""Run Great Expectations 1.x suites on DataFrames and turn the outcome into check metadata.

dagster-ge requires GX < 1, so checks call GX directly. GX takes seconds to import, so it is
imported only when a check runs, never when the Definitions load. Suites are plain data
(:class:`Expectation`) kept next to the checks of the stage they guard, so they read like a list
of rules and can be tested without a warehouse.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

#: How many unexpected values a result keeps as its sample (GX's SUMMARY format keeps 20).
SAMPLE_VALUES = 10
_INDEX = "suite_index"


@dataclass(frozen=True)
class Expectation:
    """One GX expectation by class name, e.g. ``Expectation("ExpectColumnValuesToNotBeNull",
    column="customer_id")``.

    ``where=(column, value)`` applies it only to rows whose ``column`` equals ``value`` (a GX row
    condition), e.g. purchase ids must be set on purchase rows.
    """

    type: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    where: tuple[str, Any] | None = None

    def __init__(self, type: str, *, where: tuple[str, Any] | None = None, **kwargs: Any) -> None:
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "kwargs", kwargs)
        object.__setattr__(self, "where", where)

    @property
    def label(self) -> str:
        """``ExpectColumnValuesToNotBeNull(customer_id)``, with the row condition if any."""
        column = self.kwargs.get("column") or self.kwargs.get("column_list") or ""
        if isinstance(column, list | tuple):
            column = ", ".join(column)
        text = f"{self.type}({column})" if column else self.type
        if self.where is not None:
            text += f" where {self.where[0]} == {self.where[1]!r}"
        return text


@dataclass
class SuiteOutcome:
    """Per-expectation results: passed, unexpected count and percent, a small sample of bad values."""

    success: bool
    results: list[dict[str, Any]]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not r["success"]]

    @property
    def failed_labels(self) -> list[str]:
        return [r["expectation"] for r in self.failed]

    def to_metadata(self) -> dict[str, Any]:
        from dagster import MetadataValue

        table = pd.DataFrame(
            self.results,
            columns=["expectation", "success", "unexpected_count", "unexpected_percent", "sample"],
        )
        return {
            "expectations": len(self.results),
            "failed_expectations": len(self.failed),
            "failed": MetadataValue.json(self.failed_labels),
            # What failed, on how many rows, and a sample of the offending values.
            "failures": MetadataValue.json(
                [
                    {k: r[k] for k in ("expectation", "unexpected_count", "unexpected_percent")}
                    | {"sample": r["sample"]}
                    for r in self.failed
                ]
            ),
            "results": MetadataValue.md(table.to_markdown(index=False)),
        }


def run_suite(
    frame: pd.DataFrame, suite_name: str, expectations: Sequence[Expectation]
) -> SuiteOutcome:
    """Validate ``frame`` against ``expectations`` with an ephemeral GX context."""
    return run_suites({suite_name: (frame, expectations)}, suite_name, prefix_labels=False)


def run_suites(
    tables: Mapping[str, tuple[pd.DataFrame, Sequence[Expectation]]],
    suite_name: str,
    *,
    prefix_labels: bool = True,
) -> SuiteOutcome:
    """Validate several frames (table name → (frame, expectations)) in one GX context; the
    outcome's labels start with the table name when ``prefix_labels``."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # Progress bars would interleave with Dagster's logs; the metadata carries the results.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    datasource = context.data_sources.add_pandas(f"{suite_name}_source")
    results: list[dict[str, Any]] = []
    success = True
    for table, (frame, expectations) in tables.items():
        if not expectations:
            continue
        asset = datasource.add_dataframe_asset(f"{suite_name}_{table}")
        batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
            batch_parameters={"dataframe": frame}
        )
        suite = gx.ExpectationSuite(name=f"{suite_name}_{table}")
        for index, expectation in enumerate(expectations):
            suite.add_expectation(_build(gx, expectation, index))
        validation = batch.validate(suite, result_format="SUMMARY")
        success = success and bool(validation.success)
        # GX returns results in its own order (and ephemeral suites have no ids): match each result
        # to its expectation by the index stored in the expectation's meta.
        by_index = {
            (r.expectation_config.meta or {}).get(_INDEX): r
            for r in validation.results
            if r.expectation_config is not None
        }
        for index, expectation in enumerate(expectations):
            label = f"{table}: {expectation.label}" if prefix_labels else expectation.label
            results.append(_summarize(label, by_index[index]))
    return SuiteOutcome(success=success, results=results)


def _build(gx: Any, expectation: Expectation, index: int) -> Any:
    from great_expectations.expectations.row_conditions import Column

    kwargs = dict(expectation.kwargs)
    kwargs["meta"] = {**kwargs.get("meta", {}), _INDEX: index}
    if expectation.where is not None:
        column, value = expectation.where
        kwargs["row_condition"] = Column(column) == value
    return getattr(gx.expectations, expectation.type)(**kwargs)


def _summarize(label: str, result: Any) -> dict[str, Any]:
    details = result.result or {}
    error = _exception_message(result.exception_info or {})
    if error:
        # e.g. a column the suite names is missing: the expectation fails with GX's message.
        sample: Any = f"error: {error}"
    else:
        sample = details.get("partial_unexpected_list")
        if sample:
            sample = sample[:SAMPLE_VALUES]
        elif "observed_value" in details:
            sample = details["observed_value"]
    return {
        "expectation": label,
        "success": bool(result.success),
        "unexpected_count": int(details.get("unexpected_count") or 0),
        "unexpected_percent": round(float(details.get("unexpected_percent") or 0.0), 4),
        "sample": str(sample)[:200] if sample not in (None, []) else "",
    }


def _exception_message(info: Mapping[str, Any]) -> str | None:
    """GX reports an exception flat, or nested per metric when a metric could not be computed."""
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None
