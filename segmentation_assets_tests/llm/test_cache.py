"""A second evaluation of the same summaries is served from the cache: zero model calls."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from segmentation_assets.llm import (
    PROMPT_VERSION,
    CacheKey,
    DuckDBLLMCache,
    InMemoryLLMCache,
    LLMCache,
    SegmentSummary,
    evaluate_segments,
)
from segmentation_assets_tests.llm.conftest import CountingRulesModel


@pytest.fixture
def summaries(
    tiny_low_value: SegmentSummary,
    lapsing_high_value: SegmentSummary,
    new_customers: SegmentSummary,
) -> list[SegmentSummary]:
    return [tiny_low_value, lapsing_high_value, new_customers]


def _strip_cached(verdicts: list) -> list[dict]:
    return [v.model_dump(exclude={"cached"}) for v in verdicts]


@pytest.mark.parametrize("backend", ["memory", "duckdb"])
def test_second_evaluation_makes_zero_model_calls(
    backend: str, summaries: list[SegmentSummary]
) -> None:
    con = duckdb.connect(":memory:") if backend == "duckdb" else None
    cache: LLMCache = DuckDBLLMCache(con) if con is not None else InMemoryLLMCache()
    model = CountingRulesModel()

    first = evaluate_segments(summaries, cache=cache, model=model, as_of_date=date(2025, 12, 31))
    assert model.counter["calls"] == 3
    assert first.usage.calls_made == 3 and first.usage.cache_hits == 0
    assert len(cache) == 3

    second = evaluate_segments(summaries, cache=cache, model=model)
    assert model.counter["calls"] == 3  # nothing new was asked
    assert second.usage.calls_made == 0 and second.usage.cache_hits == 3
    assert all(v.cached for v in second) and not any(v.cached for v in first)
    assert _strip_cached(second) == _strip_cached(first)

    if con is not None:
        columns = [r[0] for r in con.execute("DESCRIBE llm_cache").fetchall()]
        assert columns == [
            "cache_key",
            "model",
            "prompt_version",
            "prompt_hash",
            "response_json",
            "created_for_as_of_date",
        ]
        rows = con.execute(
            "SELECT DISTINCT model, prompt_version, created_for_as_of_date FROM llm_cache"
        ).fetchall()
        assert rows == [("rules", PROMPT_VERSION, date(2025, 12, 31))]


def test_cache_key_separates_models_prompts_and_thresholds(
    summaries: list[SegmentSummary], new_customers: SegmentSummary
) -> None:
    cache = InMemoryLLMCache()
    model = CountingRulesModel()
    evaluate_segments(summaries, cache=cache, model=model)
    # a different min_dimensions renders a different prompt -> misses
    evaluate_segments([new_customers], cache=cache, model=model, min_dimensions=2)
    # a different model spec is a different key even for the same prompt
    evaluate_segments([new_customers], "ollama:llama3.1", cache=cache, model=model)
    # a changed statistic is a different prompt
    changed = new_customers.model_copy(update={"size": 901})
    evaluate_segments([changed], cache=cache, model=model)
    assert model.counter["calls"] == 6
    assert len(cache) == 6


def test_unreadable_cache_entry_is_treated_as_a_miss(new_customers: SegmentSummary) -> None:
    cache = InMemoryLLMCache()
    model = CountingRulesModel()
    evaluate_segments([new_customers], cache=cache, model=model)
    [(key, _, _)] = cache._data.values()
    cache.put(key, '{"not": "a verdict"}')
    [verdict] = evaluate_segments([new_customers], cache=cache, model=model)
    assert model.counter["calls"] == 2 and not verdict.cached


def test_cache_key_value_is_a_stable_sha256() -> None:
    key = CacheKey("rules", "v1", "ab" * 32)
    assert key.value == CacheKey("rules", "v1", "ab" * 32).value
    assert len(key.value) == 64 and key.value != CacheKey("openai:x", "v1", "ab" * 32).value
