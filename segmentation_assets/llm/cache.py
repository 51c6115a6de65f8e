"""Verdict cache keyed by (model spec, prompt version, sha256 of the rendered prompt).

A hit replays a provider's earlier answer without calling it, so re-running a partition costs nothing
and gives the same words. The cache stores the model's answer only (no provenance); the caller
re-applies its code-level checks on every read. Two implementations:

* :class:`InMemoryLLMCache` - a dict, for tests and single runs.
* :class:`DuckDBLLMCache` - table ``llm_cache(cache_key, model, prompt_version, prompt_hash,
  response_json, created_for_as_of_date)`` in a DuckDB connection you pass in. No wall-clock time is
  stored: ``created_for_as_of_date`` is the partition's as-of date, so runs are reproducible.

Both are thread-safe (one lock around every access); the evaluator itself reads and writes from one
thread.
"""

from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class CacheKey:
    """What identifies one answer: the model spec, the prompt version and the prompt's hash."""

    model: str
    prompt_version: str
    prompt_hash: str

    @property
    def value(self) -> str:
        """A single sha256 hex string over the three parts."""
        raw = "\x1f".join((self.model, self.prompt_version, self.prompt_hash))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class LLMCache(ABC):
    """Where verdict answers are kept between runs."""

    @abstractmethod
    def get(self, key: CacheKey) -> str | None:
        """The cached answer JSON, or None on a miss."""

    @abstractmethod
    def put(self, key: CacheKey, response_json: str, *, as_of_date: date | None = None) -> None:
        """Store (or replace) the answer JSON for ``key``."""

    @abstractmethod
    def __len__(self) -> int:
        """How many answers are cached."""


class InMemoryLLMCache(LLMCache):
    """A process-local dict cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[CacheKey, str, date | None]] = {}

    def get(self, key: CacheKey) -> str | None:
        with self._lock:
            hit = self._data.get(key.value)
        return None if hit is None else hit[1]

    def put(self, key: CacheKey, response_json: str, *, as_of_date: date | None = None) -> None:
        with self._lock:
            self._data[key.value] = (key, response_json, as_of_date)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


class DuckDBLLMCache(LLMCache):
    """Cache rows in a DuckDB table (created when missing).

    ``connection`` is a ``duckdb.DuckDBPyConnection``; the table name must be a plain identifier.
    """

    def __init__(self, connection: Any, table: str = "llm_cache") -> None:
        if not table.replace("_", "").isalnum():
            raise ValueError(f"table must be a plain identifier, got {table!r}")
        self._con = connection
        self._table = table
        self._lock = threading.Lock()
        with self._lock:
            self._con.execute(
                f"""
                CREATE TABLE IF NOT EXISTS {table} (
                    cache_key VARCHAR PRIMARY KEY,
                    model VARCHAR NOT NULL,
                    prompt_version VARCHAR NOT NULL,
                    prompt_hash VARCHAR NOT NULL,
                    response_json VARCHAR NOT NULL,
                    created_for_as_of_date DATE
                )
                """
            )

    def get(self, key: CacheKey) -> str | None:
        with self._lock:
            row = self._con.execute(
                f"SELECT response_json FROM {self._table} WHERE cache_key = ?", [key.value]
            ).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: CacheKey, response_json: str, *, as_of_date: date | None = None) -> None:
        with self._lock:
            self._con.execute(
                f"INSERT OR REPLACE INTO {self._table} "
                "(cache_key, model, prompt_version, prompt_hash, response_json, "
                "created_for_as_of_date) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    key.value,
                    key.model,
                    key.prompt_version,
                    key.prompt_hash,
                    response_json,
                    as_of_date,
                ],
            )

    def __len__(self) -> int:
        with self._lock:
            row = self._con.execute(f"SELECT count(*) FROM {self._table}").fetchone()
        return int(row[0]) if row else 0
