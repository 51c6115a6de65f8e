"""Event-scale SQL, authored once in BigQuery Standard SQL and transpiled to DuckDB by sqlglot.

Files are jinja2 templates (for table names and the field mapping, never for values: values are
query parameters written ``@name``). :func:`render` fills the template; :func:`to_duckdb` transpiles
it and raises on any construct DuckDB cannot express, so a silently different query never runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jinja2
import sqlglot
from sqlglot import ErrorLevel

_ENV = jinja2.Environment(
    loader=jinja2.FunctionLoader(
        lambda name: resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    ),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)


def sql_files() -> list[str]:
    """Names of every packaged ``.sql`` template."""
    return sorted(p.name for p in resources.files(__package__).iterdir() if p.name.endswith(".sql"))


def render(name: str, **context: Any) -> str:
    """Render the BigQuery-dialect template ``name`` with identifiers/fragments from ``context``."""
    return _ENV.get_template(name).render(**context)


@cache
def _transpile(bigquery_sql: str) -> tuple[str, ...]:
    return tuple(
        sqlglot.transpile(
            bigquery_sql, read="bigquery", write="duckdb", unsupported_level=ErrorLevel.RAISE
        )
    )


def used_params(params: Mapping[str, Any], duckdb_sql: str) -> dict[str, Any]:
    """The parameters ``duckdb_sql`` names (DuckDB rejects extra ones)."""
    return {k: v for k, v in params.items() if re.search(rf"\${re.escape(k)}\b", duckdb_sql)}


def to_duckdb(bigquery_sql: str) -> list[str]:
    """Transpile BigQuery Standard SQL to DuckDB statements; unsupported constructs raise."""
    return list(_transpile(bigquery_sql))


def duckdb_sql(name: str, **context: Any) -> str:
    """Render ``name`` and transpile it to exactly one DuckDB statement."""
    statements = to_duckdb(render(name, **context))
    if len(statements) != 1:
        raise ValueError(f"{name} must hold exactly one statement, found {len(statements)}")
    return statements[0]
