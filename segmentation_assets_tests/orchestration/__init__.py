"""Orchestration: the nightly schedule and its chain, backfills, freshness, concurrency, crashes, UI."""
