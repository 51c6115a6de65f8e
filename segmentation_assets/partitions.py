"""The one partitions definition: a daily partition whose key is the as-of date (UTC)."""

from __future__ import annotations

from dagster import DailyPartitionsDefinition

#: Partition key = as-of date. A stage's output for a key is a pure function of its inputs and
#: that date, so a nightly run and a backfill of the same date give the same answer.
PARTITIONS_START_DATE = "2024-01-01"

daily_partitions = DailyPartitionsDefinition(start_date=PARTITIONS_START_DATE, timezone="UTC")
