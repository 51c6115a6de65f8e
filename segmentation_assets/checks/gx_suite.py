"""Run a Great Expectations 1.x suite on a DataFrame and turn the outcome into check metadata.

dagster-ge requires GX < 1, so checks call GX directly. GX takes seconds to import, so it is
imported only when a check runs, never when the Definitions load. Suites are plain data
(:class:`Expectation`) kept next to the asset they guard, so they read like a list of rules.
"""

import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@dataclass(frozen=True)
class Expectation:
    """One GX expectation by class name, e.g. ``Expectation("ExpectColumnValuesToNotBeNull",
    column="customer_id")``."""

    type: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __init__(self, type: str, **kwargs: Any) -> None:
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "kwargs", kwargs)

    @property
    def label(self) -> str:
        column = self.kwargs.get("column") or self.kwargs.get("column_list") or ""
        return f"{self.type}({column})" if column else self.type


@dataclass
class SuiteOutcome:
    """Per-expectation results: passed, unexpected count and percent, a small sample of bad values."""

    success: bool
    results: list[dict[str, Any]]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not r["success"]]

    def to_metadata(self) -> dict[str, Any]:
        from dagster import MetadataValue

        table = pd.DataFrame(self.results)[
            ["expectation", "success", "unexpected_count", "unexpected_percent", "sample"]
        ]
        return {
            "expectations": len(self.results),
            "failed_expectations": len(self.failed),
            "failed": MetadataValue.json([r["expectation"] for r in self.failed]),
            "results": MetadataValue.md(table.to_markdown(index=False)),
        }


def run_suite(
    frame: pd.DataFrame, suite_name: str, expectations: list[Expectation]
) -> SuiteOutcome:
    """Validate ``frame`` against ``expectations`` with an ephemeral GX context."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # Progress bars would interleave with Dagster's logs; the metadata carries the results.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    datasource = context.data_sources.add_pandas(f"{suite_name}_source")
    asset = datasource.add_dataframe_asset(f"{suite_name}_frame")
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
        batch_parameters={"dataframe": frame}
    )
    suite = gx.ExpectationSuite(name=suite_name)
    for expectation in expectations:
        expectation_class = getattr(gx.expectations, expectation.type)
        suite.add_expectation(expectation_class(**expectation.kwargs))
    validation = batch.validate(suite, result_format="SUMMARY")
    results: list[dict[str, Any]] = []
    for expectation, result in zip(expectations, validation.results, strict=True):
        details = result.result or {}
        sample = details.get("partial_unexpected_list") or details.get("observed_value")
        results.append(
            {
                "expectation": expectation.label,
                "success": bool(result.success),
                "unexpected_count": int(details.get("unexpected_count") or 0),
                "unexpected_percent": round(float(details.get("unexpected_percent") or 0.0), 4),
                "sample": str(sample)[:200] if sample is not None else "",
            }
        )
    return SuiteOutcome(success=bool(validation.success), results=results)
