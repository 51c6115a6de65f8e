"""Run Great Expectations 1.x suites on DataFrames or warehouse queries and turn the outcome into
check metadata.

dagster-ge requires GX < 1, so checks call GX directly. GX takes seconds to import, so it is
imported only when a check runs, never when the Definitions load;
the GX context and the suites are then built once per process and reused by every check. Suites
are plain data (:class:`Expectation`) kept next to the checks of the stage they guard, so they read
like a list of rules and can be tested without a warehouse.

A table in the warehouse is validated as a :class:`Relation` (a query), not as a DataFrame of all
its rows: a million-row table copied into pandas, and GX's per-expectation work on it, cost tens of
seconds. DuckDB first screens the rows with one predicate per expectation, derived from the same
:class:`Expectation` list (see :func:`_screen`), and GX validates the rows that could fail any
expectation plus a sample of the others. The screen is a superset of what GX would flag, never a
verdict of its own: every row GX would find unexpected reaches GX, so GX decides pass/fail and
counts the unexpected rows exactly as on the whole table. What the screen cannot translate
(another expectation type, a ``mostly``, a column of an unexpected type) sends every row of that
expectation's domain to GX. Table-level expectations (row counts) see a frame with the table's row
count. Percentages are rescaled to the whole table with counts from the same scan.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pandas as pd

from segmentation_assets.sql import used_params

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

#: How many unexpected values a result keeps as its sample (GX's SUMMARY format keeps 20).
SAMPLE_VALUES = 10
#: Rows that pass every screen and still go to GX with a :class:`Relation`: GX sees real rows (and
#: the real dtypes) even when nothing is suspicious.
CLEAN_SAMPLE_ROWS = 1_000
_INDEX = "suite_index"

#: Expectations on the table as a whole: validated on a frame holding only the table's row count.
_TABLE_TYPES = {"ExpectTableRowCountToEqual", "ExpectTableRowCountToBeBetween"}
_NUMERIC_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
    "FLOAT", "DOUBLE",
}  # fmt: skip
_FLOAT_TYPES = {"FLOAT", "DOUBLE"}
_STRING_TYPES = {"VARCHAR"}


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

    @property
    def columns(self) -> list[str]:
        """The columns the expectation reads, its row condition's included."""
        names = list(self.kwargs.get("column_list") or [])
        if self.kwargs.get("column"):
            names.append(self.kwargs["column"])
        if self.where is not None:
            names.append(self.where[0])
        return names


@dataclass(frozen=True)
class Relation:
    """Rows of a warehouse query, validated without loading them all into pandas.

    ``sql`` is a SELECT (its ``$name`` parameters in ``params``). ``materialize`` evaluates it once
    into a temporary table, for a query whose rows can differ between two evaluations (a LIMIT
    without ORDER BY).
    """

    con: Any
    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)
    materialize: bool = False


Source: TypeAlias = "pd.DataFrame | Relation"


@dataclass
class SuiteOutcome:
    """Per-expectation results: passed, unexpected count and percent, a small sample of bad values.
    ``rows``: rows of each validated table (all of a :class:`Relation`'s, not only the screened)."""

    success: bool
    results: list[dict[str, Any]]
    rows: dict[str, int] = field(default_factory=dict)

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


def run_suite(source: Source, suite_name: str, expectations: Sequence[Expectation]) -> SuiteOutcome:
    """Validate ``source`` (a DataFrame or a :class:`Relation`) against ``expectations``."""
    return run_suites({suite_name: (source, expectations)}, suite_name, prefix_labels=False)


def run_suites(
    tables: Mapping[str, tuple[Source, Sequence[Expectation]]],
    suite_name: str,
    *,
    prefix_labels: bool = True,
) -> SuiteOutcome:
    """Validate several tables (name → (DataFrame or :class:`Relation`, expectations)); the
    outcome's labels start with the table name when ``prefix_labels``."""
    results: list[dict[str, Any]] = []
    rows: dict[str, int] = {}
    success = True
    for table, (source, expectations) in tables.items():
        if isinstance(source, Relation):
            screened = _screen(source, expectations)
            frame, rows[table] = screened.frame, screened.rows
        else:
            screened, frame, rows[table] = None, source, len(source)
        if not expectations:
            continue
        name = f"{suite_name}_{table}"
        if screened is None:
            by_index = _validate(name, frame, expectations, range(len(expectations)))
        else:
            table_level = {i for i, e in enumerate(expectations) if e.type in _TABLE_TYPES}
            row_level = [i for i in range(len(expectations)) if i not in table_level]
            by_index = _validate(name, frame, expectations, row_level)
            # Row counts see a frame of the table's row count, not the screened rows.
            counted = pd.DataFrame(index=pd.RangeIndex(screened.rows))
            by_index |= _validate(f"{name}_table", counted, expectations, sorted(table_level))
        for index, expectation in enumerate(expectations):
            label = f"{table}: {expectation.label}" if prefix_labels else expectation.label
            summary = _summarize(label, by_index[index])
            if screened is not None and index in screened.domains:
                summary["unexpected_percent"] = screened.percent(index, by_index[index], summary)
            success = success and summary["success"]
            results.append(summary)
    return SuiteOutcome(success=success, results=results, rows=rows)


# --- GX, built once per process ---------------------------------------------------------------

_LOCK = threading.RLock()
_STATE: dict[str, Any] = {}
_SUITES: dict[str, Any] = {}
#: Suites kept per process (their value sets change with the segments of a date).
_MAX_SUITES = 64
#: The thread of :func:`warm_up_in_background`, once started.
_WARM_UP: list[threading.Thread] = []


def _gx() -> dict[str, Any]:
    """The GX module and one ephemeral context with a pandas asset, built on first use."""
    with _LOCK:
        if "batch_definition" not in _STATE:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            # Progress bars would interleave with Dagster's logs; the metadata carries the results.
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            asset = context.data_sources.add_pandas("checks").add_dataframe_asset("frame")
            _STATE["gx"] = gx
            _STATE["batch_definition"] = asset.add_batch_definition_whole_dataframe("whole")
        return _STATE


def warm_up_in_background() -> None:
    """Start building GX's module and context (:func:`_gx`) on another thread, once per process.

    The first check that validates otherwise waits about 3 s for them. A stage that runs before its
    checks starts this first: while DuckDB works, the interpreter is free for the import. The
    import still competes with the stage's own Python, so part of its cost moves into the stage
    (the nightly's raw_events step and its checks: 8.0 -> 7.4 s at 1M, 5.3 -> 3.9 s at 100k;
    benchmarks/README.md). A check that needs GX before it is built waits for it (the same
    lock). Nothing here can fail a run: an error is left for the first check to meet.
    """
    with _LOCK:
        if "batch_definition" in _STATE or _WARM_UP:
            return
        thread = threading.Thread(target=_warm_up, name="gx-warm-up", daemon=True)
        _WARM_UP.append(thread)
    thread.start()


def _warm_up() -> None:
    # The first check builds GX again and reports the error.
    with contextlib.suppress(Exception):
        _gx()


def _suite(name: str, expectations: Sequence[Expectation], indices: Sequence[int]) -> Any:
    """The GX suite of ``expectations[i] for i in indices``, built once per process (building
    ~100 expectations costs a second)."""
    key = repr((name, [(i, expectations[i]) for i in indices]))
    with _LOCK:
        suite = _SUITES.get(key)
        if suite is None:
            if len(_SUITES) >= _MAX_SUITES:
                _SUITES.clear()
            gx = _gx()["gx"]
            # The constructor, not add_expectation: that compares each new expectation with every
            # one already added (quadratic); the indices keep them distinct anyway.
            suite = gx.ExpectationSuite(
                name=name, expectations=[_build(gx, expectations[i], i) for i in indices]
            )
            _SUITES[key] = suite
        return suite


def _validate(
    name: str, frame: pd.DataFrame, expectations: Sequence[Expectation], indices: Sequence[int]
) -> dict[int, Any]:
    """GX's result for each of ``expectations[i] for i in indices`` on ``frame``, by index.

    The suite runs with GX's BOOLEAN_ONLY result format (about half the cost of SUMMARY: no
    unexpected counts and samples to collect); the expectations that failed run again with
    SUMMARY for their counts and samples. A passed expectation therefore has no sample.
    """
    if not indices:
        return {}
    batch = _gx()["batch_definition"].get_batch(batch_parameters={"dataframe": frame})
    results = _by_index(
        batch.validate(_suite(name, expectations, indices), result_format="BOOLEAN_ONLY")
    )
    failed = [i for i in indices if not results[i].success]
    if failed:
        summary = batch.validate(_suite(name, expectations, failed), result_format="SUMMARY")
        results |= _by_index(summary)
    return results


def _by_index(validation: Any) -> dict[int, Any]:
    # GX returns results in its own order (and ephemeral suites have no ids): match each result
    # to its expectation by the index stored in the expectation's meta.
    return {
        int((r.expectation_config.meta or {})[_INDEX]): r
        for r in validation.results
        if r.expectation_config is not None
    }


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


# --- screening a warehouse query ----------------------------------------------------------------


@dataclass
class _Screened:
    """The rows GX validates for a :class:`Relation`, and the whole table's counts."""

    frame: pd.DataFrame
    rows: int
    #: expectation index → (rows in its domain, of which missing) over the whole table.
    domains: dict[int, tuple[int, int]]

    def percent(self, index: int, result: Any, summary: Mapping[str, Any]) -> float:
        """GX's unexpected percent, over the whole table instead of the screened rows: of the
        non-missing rows of the domain when GX reports missing values, else of the domain."""
        element, missing = self.domains[index]
        details = result.result or {}
        base = element - missing if "missing_count" in details else element
        if base <= 0:
            return float(summary["unexpected_percent"])
        return round(summary["unexpected_count"] / base * 100, 4)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Screen:
    """SQL for one relation: per expectation, its domain (row condition), the rows GX counts as
    missing, and a superset of the rows it can find unexpected."""

    def __init__(self, types: Mapping[str, str]) -> None:
        self.types = types
        self.params: dict[str, Any] = {}

    def param(self, value: Any) -> str:
        name = f"__gx_p{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    def missing(self, column: str) -> str:
        """pandas' isnull: NULL, and NaN in a float column."""
        quoted = _quote(column)
        if self.types[column] in _FLOAT_TYPES:
            return f"({quoted} IS NULL OR isnan({quoted}))"
        return f"({quoted} IS NULL)"

    def domain(self, expectation: Expectation) -> str:
        if expectation.where is None:
            return "TRUE"
        column, value = expectation.where
        if not isinstance(value, str) or self.types.get(column) not in _STRING_TYPES:
            return "TRUE"  # not translated: every row is in the domain as far as the screen goes
        return f"coalesce({_quote(column)} = {self.param(value)}, FALSE)"

    def rows(self, expectation: Expectation) -> tuple[str, str] | None:
        """(missing, suspect) predicates, or None when a column is absent (GX reports that)."""
        if any(c not in self.types for c in expectation.columns):
            return None
        domain = self.domain(expectation)
        kwargs = expectation.kwargs
        keys = set(kwargs)
        column = str(kwargs.get("column") or "")
        kind = self.types.get(column, "")
        suspect: str | None = None
        missing = self.missing(column) if column else "FALSE"
        if expectation.type == "ExpectColumnValuesToNotBeNull" and keys == {"column"}:
            suspect = missing
        elif (
            expectation.type == "ExpectColumnValuesToBeBetween"
            and keys <= {"column", "min_value", "max_value", "strict_min", "strict_max"}
            and kind in _NUMERIC_TYPES
            and all(
                isinstance(kwargs.get(k), int | float | None)
                and not isinstance(kwargs.get(k), bool)
                for k in ("min_value", "max_value")
            )
        ):
            bounds = []
            if kwargs.get("min_value") is not None:
                op = ">" if kwargs.get("strict_min") else ">="
                bounds.append(f"{_quote(column)} {op} {self.param(kwargs['min_value'])}")
            if kwargs.get("max_value") is not None:
                op = "<" if kwargs.get("strict_max") else "<="
                bounds.append(f"{_quote(column)} {op} {self.param(kwargs['max_value'])}")
            within = " AND ".join(bounds) or "TRUE"
            suspect = f"(NOT {missing} AND NOT ({within}))"
        elif (
            expectation.type == "ExpectColumnValuesToBeInSet"
            and keys == {"column", "value_set"}
            and kind in _STRING_TYPES
            and all(isinstance(v, str) for v in kwargs["value_set"])
        ):
            if kwargs["value_set"]:
                values = self.param(list(kwargs["value_set"]))
                suspect = f"(NOT {missing} AND NOT list_contains({values}, {_quote(column)}))"
            else:
                suspect = f"(NOT {missing})"
        elif expectation.type == "ExpectColumnValuesToBeInTypeList" and keys == {
            "column",
            "type_list",
        }:
            # GX judges a numeric dtype as a whole; pandas gets an integer column as a nullable
            # Int64 when it holds NULLs, so those rows go to GX to give it the same dtype. Any
            # other dtype (object, ...) is judged value by value: every row.
            if kind in _FLOAT_TYPES:
                suspect = "FALSE"
            elif kind in _NUMERIC_TYPES:
                suspect = missing
        elif expectation.type in (
            "ExpectCompoundColumnsToBeUnique",
            "ExpectColumnValuesToBeUnique",
        ) and keys in ({"column_list"}, {"column"}):
            key = list(kwargs.get("column_list") or [column])
            listed = ", ".join(_quote(c) for c in key)
            # NULL keys make IN NULL, and so suspects: over-inclusive, as GX groups them.
            suspect = (
                f"({listed}) IN (SELECT {listed} FROM __gx_r WHERE {domain} "
                "GROUP BY ALL HAVING count(*) > 1)"
            )
            missing = "(" + " AND ".join(self.missing(c) for c in key) + ")"
        if suspect is None:
            suspect = "TRUE"  # not translated: every row of the domain goes to GX
        return missing, f"coalesce(({domain}) AND ({suspect}), TRUE)"


def _screen(relation: Relation, expectations: Sequence[Expectation]) -> _Screened:
    """Count the relation's rows and fetch the rows GX must see (see the module docstring)."""
    con, params = relation.con, dict(relation.params)
    source = f"({relation.sql})"
    temp = None
    if relation.materialize:
        temp = f"__gx_rows_{id(relation)}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {temp} AS {relation.sql}", params)
        source, params = temp, {}
    try:
        described = con.execute(f"SELECT * FROM {source} AS r LIMIT 0", params).description
        types = {str(d[0]): str(d[1]) for d in described}
        screen = _Screen(types)
        suspects: dict[str, None] = {}  # ordered and without repeats
        stats: dict[int, tuple[str, str]] = {}
        needed: set[str] = set()
        for index, expectation in enumerate(expectations):
            if expectation.type in _TABLE_TYPES:
                continue
            needed.update(c for c in expectation.columns if c in types)
            predicates = screen.rows(expectation)
            if predicates is None:
                continue
            missing, suspect = predicates
            suspects[suspect] = None
            stats[index] = (screen.domain(expectation), missing)
        columns = ", ".join(_quote(c) for c in types if c in needed) or "NULL AS __gx_none"
        any_suspect = " OR ".join(suspects) or "FALSE"
        query = (
            f"WITH __gx_r AS (SELECT * FROM {source} AS r), "
            f"__gx_s AS (SELECT *, {any_suspect} AS __gx_suspect FROM __gx_r) "
            f"SELECT {columns}, TRUE AS __gx_suspect FROM __gx_s WHERE __gx_suspect UNION ALL "
            f"SELECT * FROM (SELECT {columns}, FALSE FROM __gx_s WHERE NOT __gx_suspect "
            f"LIMIT {CLEAN_SAMPLE_ROWS})"
        )
        frame = con.execute(query, used_params(params | screen.params, query)).df()
        flagged = bool(frame.pop("__gx_suspect").any())
        if "__gx_none" in frame.columns:
            frame = frame.drop(columns="__gx_none")
        # The whole table's domain and missing counts only matter for unexpected percents: none
        # without a suspect row.
        aggregates: dict[str, None] = {"count(*)": None}
        for domain, missing in stats.values() if flagged else ():
            aggregates[f"count(*) FILTER (WHERE {domain})"] = None
            aggregates[f"count(*) FILTER (WHERE {domain} AND {missing})"] = None
        query = f"SELECT {', '.join(aggregates)} FROM {source} AS r"
        row = con.execute(query, used_params(params | screen.params, query)).fetchone()
    finally:
        if temp is not None:
            con.execute(f"DROP TABLE IF EXISTS {temp}")
    assert row is not None
    counts = dict(zip(aggregates, row, strict=True))
    domains = (
        {
            index: (
                int(counts[f"count(*) FILTER (WHERE {domain})"]),
                int(counts[f"count(*) FILTER (WHERE {domain} AND {missing})"]),
            )
            for index, (domain, missing) in stats.items()
        }
        if flagged
        else {}
    )
    return _Screened(frame=frame, rows=int(counts["count(*)"]), domains=domains)
