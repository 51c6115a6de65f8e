"""raw_events ingestion: typing, quarantine reasons, duplicates, accounting, formats, idempotency."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from segmentation_assets import export_folder, ingest, warehouse
from segmentation_assets_tests.ebq_fixture import (
    EXPECTED_DUPLICATES,
    EXPECTED_QUARANTINE,
    write_fixture_export,
)

WEEK = (dt.date(2025, 3, 1), dt.date(2025, 3, 8))


def _ingest(root: Path, con=None, window=WEEK, **kwargs):
    con = con or warehouse.connect(":memory:")
    views = export_folder.register_views(con, root)
    stats = ingest.ingest_window(con, views, *window, **kwargs)
    return con, stats


def _events(con) -> pd.DataFrame:
    return con.execute("SELECT * EXCLUDE (ingest_timestamp) FROM raw_events ORDER BY ALL").df()


def test_every_bad_row_kind_is_quarantined_with_its_reason(tmp_path: Path) -> None:
    con, stats = _ingest(write_fixture_export(tmp_path))
    assert stats.quarantined_by_reason == EXPECTED_QUARANTINE
    assert stats.duplicates_dropped == EXPECTED_DUPLICATES
    assert stats.rows_read == 23
    assert stats.closes
    stored = con.execute(
        "SELECT quarantine_reason, count(*) FROM raw_events_quarantine GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert dict(stored) == EXPECTED_QUARANTINE
    # The original record is kept verbatim so nothing is lost.
    record = con.execute(
        "SELECT original_record FROM raw_events_quarantine WHERE quarantine_reason = 'unknown_currency'"
    ).fetchone()
    assert record is not None and '"XXX"' in record[0]


def test_amounts_are_converted_to_base_currency(tmp_path: Path) -> None:
    con, _ = _ingest(write_fixture_export(tmp_path))
    usd = con.execute(
        "SELECT amount_base, local_currency FROM raw_events WHERE purchase_id = 'p3'"
    ).fetchone()
    assert usd == (pytest.approx(50.0 * 0.92), "USD")
    discounted = con.execute(
        "SELECT has_discount FROM raw_events WHERE purchase_id = 'p2' AND purchase_status = 'success'"
    ).fetchone()
    assert discounted == (True,)


@pytest.mark.parametrize(
    ("fmt", "timestamp_format"),
    [("parquet", "epoch"), ("parquet", "iso"), ("ndjson", "iso"), ("ndjson", "epoch")],
)
def test_formats_and_timestamp_encodings_give_identical_tables(
    tmp_path: Path, fmt: str, timestamp_format: str
) -> None:
    reference, _ = _ingest(write_fixture_export(tmp_path / "ref"))
    other, stats = _ingest(
        write_fixture_export(tmp_path / "other", fmt=fmt, timestamp_format=timestamp_format)
    )
    assert stats.quarantined_by_reason == EXPECTED_QUARANTINE
    pd.testing.assert_frame_equal(_events(reference), _events(other))


def test_unparsable_timestamp_is_quarantined_on_its_ingest_day(tmp_path: Path) -> None:
    root = write_fixture_export(tmp_path, timestamp_format="iso")
    con = warehouse.connect(":memory:")
    views = export_folder.register_views(con, root)
    con.execute(
        "CREATE OR REPLACE TEMP VIEW src_session_start AS SELECT * REPLACE "
        "(CASE WHEN internal_customer_id = 'eve' THEN 'not-a-timestamp' ELSE timestamp END AS timestamp) "
        f"FROM read_parquet('{root / 'session_start' / 'part-00000.parquet'}')"
    )
    stats = ingest.ingest_window(con, views, *WEEK)
    assert stats.quarantined_by_reason["unparsable_timestamp"] == 1
    day = con.execute(
        "SELECT event_date FROM raw_events_quarantine WHERE quarantine_reason = 'unparsable_timestamp'"
    ).fetchone()
    assert day == (dt.date(2025, 3, 7),)


def test_reingesting_a_window_is_idempotent(tmp_path: Path) -> None:
    root = write_fixture_export(tmp_path)
    con, first = _ingest(root)
    before = _events(con)
    quarantine_before = con.execute("SELECT count(*) FROM raw_events_quarantine").fetchone()
    _, second = _ingest(root, con=con)
    pd.testing.assert_frame_equal(before, _events(con))
    assert con.execute("SELECT count(*) FROM raw_events_quarantine").fetchone() == quarantine_before
    assert (first.rows_read, first.rows_accepted) == (second.rows_read, second.rows_accepted)


def test_a_single_day_only_touches_that_day(tmp_path: Path) -> None:
    root = write_fixture_export(tmp_path)
    con, _ = _ingest(root)
    total = con.execute("SELECT count(*) FROM raw_events").fetchone()
    _, day = _ingest(root, con=con, window=(dt.date(2025, 3, 1), dt.date(2025, 3, 2)))
    assert day.rows_read == 5  # alice: purchase, its duplicate, a session, two item views
    assert (day.rows_accepted, day.duplicates_dropped) == (4, 1)
    assert con.execute("SELECT count(*) FROM raw_events").fetchone() == total


def test_missing_required_table_or_column_names_it(tmp_path: Path) -> None:
    root = write_fixture_export(tmp_path, drop_tables=("purchase",))
    with pytest.raises(ingest.IngestError, match="'purchase' table"):
        _ingest(root)
    root = write_fixture_export(tmp_path / "nocol")
    con = warehouse.connect(":memory:")
    views = export_folder.register_views(con, root)
    con.execute(
        "CREATE OR REPLACE TEMP VIEW src_campaign AS SELECT internal_customer_id, timestamp, "
        "ingest_timestamp, struct_pack(action_type := 'email') AS properties "
        f"FROM read_parquet('{root / 'campaign' / 'part-00000.parquet'}')"
    )
    with pytest.raises(ingest.IngestError, match=r"table 'campaign': column 'properties.status'"):
        ingest.ingest_window(con, views, *WEEK)


def test_field_mapping_renames_a_property(tmp_path: Path) -> None:
    root = write_fixture_export(tmp_path)
    con = warehouse.connect(":memory:")
    views = export_folder.register_views(con, root)
    con.execute(
        "CREATE OR REPLACE TEMP VIEW src_session_start AS SELECT * REPLACE "
        "(struct_pack(platform := properties.device, utm_source := properties.utm_source) AS properties) "
        f"FROM read_parquet('{root / 'session_start' / 'part-00000.parquet'}')"
    )
    ingest.ingest_window(
        con, views, *WEEK, field_mapping={"session_start": {"device": "properties.platform"}}
    )
    devices = con.execute(
        "SELECT internal_customer_id, device FROM raw_events WHERE source_table = 'session_start' ORDER BY 1"
    ).fetchall()
    assert devices == [
        ("alice", "desktop"),
        ("anon_b", "mobile"),
        ("bob", "mobile"),
        ("eve", "tablet"),
    ]


def test_failed_ingest_leaves_previous_contents(tmp_path: Path) -> None:
    root = write_fixture_export(tmp_path)
    con, _ = _ingest(root)
    before = _events(con)
    views = export_folder.register_views(con, root)
    views["broken"] = "src_broken"
    con.execute("CREATE TEMP VIEW src_broken AS SELECT 1 AS internal_customer_id")
    with pytest.raises(ingest.IngestError, match="table 'broken': required column 'timestamp'"):
        ingest.ingest_window(con, views, *WEEK)
    pd.testing.assert_frame_equal(before, _events(con))


def _assert_activity_is_the_aggregate_of_the_events(
    con: duckdb.DuckDBPyConnection, window: tuple[dt.date, dt.date]
) -> None:
    """Each activity table holds exactly the aggregate of raw_events' rows, and some rows."""
    days = {"day_start": window[0], "day_end": window[1]}
    for grain, (table, _) in ingest.ACTIVITY_TABLES.items():
        stored = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        recomputed = con.execute(
            f"SELECT * FROM ({ingest.activity_sql(grain)}) ORDER BY ALL", days
        ).fetchall()
        assert stored == recomputed and stored, grain


class _FailingOnChunk:
    """A connection whose ingest fails when it stages chunk number ``fail_at`` (1-based)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, fail_at: int) -> None:
        self._con = con
        self._fail_at = fail_at
        self.staged = 0

    def execute(self, query: str, *args: object) -> duckdb.DuckDBPyConnection:
        if query.startswith("CREATE OR REPLACE TEMP TABLE staged_events"):
            self.staged += 1
            if self.staged == self._fail_at:
                raise duckdb.IOException("disk full (test)")
        return self._con.execute(query, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._con, name)


def test_a_failure_keeps_the_committed_chunks_and_leaves_later_days_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One day per chunk, so the week is seven transactions.
    monkeypatch.setattr(ingest, "FIRST_CHUNK_DAYS", 1)
    root = write_fixture_export(tmp_path)
    con, _ = _ingest(root, chunk_target_rows=1)
    clean = _events(con)
    # Mark what is stored now, so a replaced day shows: it loses the mark.
    con.execute("UPDATE raw_events SET utm_source = 'before'")
    con.execute("UPDATE customer_activity_daily SET events = events + 1000")
    failing = _FailingOnChunk(con, fail_at=4)
    views = export_folder.register_views(con, root)
    with pytest.raises(duckdb.IOException, match="disk full"):
        ingest.ingest_window(failing, views, *WEEK, chunk_target_rows=1)
    assert failing.staged == 4
    marked = dict(
        con.execute(
            "SELECT event_date, bool_and(utm_source IS NOT DISTINCT FROM 'before') "
            "FROM raw_events GROUP BY 1"
        ).fetchall()
    )
    activity_marked = dict(
        con.execute(
            "SELECT event_date, bool_and(events >= 1000) FROM customer_activity_daily GROUP BY 1"
        ).fetchall()
    )
    replaced = {dt.date(2025, 3, d) for d in (1, 2, 3)}
    as_they_were = {dt.date(2025, 3, d) for d in (4, 5, 6, 7)}
    # Every day is wholly replaced or wholly as it was, in raw_events and beside it.
    assert {day for day, kept in marked.items() if not kept} == replaced
    assert {day for day, kept in marked.items() if kept} == as_they_were
    assert {day for day, kept in activity_marked.items() if not kept} == replaced
    assert {day for day, kept in activity_marked.items() if kept} == as_they_were
    accepted = dict(
        con.execute(
            "SELECT event_date, sum(rows_accepted) FROM raw_events_ingest_log GROUP BY 1"
        ).fetchall()
    )
    stored = dict(con.execute("SELECT event_date, count(*) FROM raw_events GROUP BY 1").fetchall())
    assert accepted == stored
    # Re-running the window gives what an uninterrupted ingest gives.
    ingest.ingest_window(con, views, *WEEK, chunk_target_rows=1)
    pd.testing.assert_frame_equal(_events(con), clean)
    _assert_activity_is_the_aggregate_of_the_events(con, WEEK)


def test_hourly_activity_counts_each_event_in_its_utc_hour(tmp_path: Path) -> None:
    con, _ = _ingest(write_fixture_export(tmp_path))
    hours = ", ".join(f"sum(events_h{h:02d})" for h in range(24))
    from_activity = con.execute(f"SELECT {hours} FROM customer_activity_daily").fetchone()
    from_events = con.execute(
        "SELECT "
        + ", ".join(f"count(*) FILTER (hour(event_timestamp) = {h})" for h in range(24))
        + " FROM raw_events"
    ).fetchone()
    assert from_activity == from_events and sum(from_events or ()) > 0
    # The last fraction of a second of an hour belongs to that hour (no rounding up).
    con.execute(
        "CREATE TEMP TABLE edge AS SELECT DATE '2025-03-02' AS event_date, 'c1' AS "
        "internal_customer_id, TIMESTAMPTZ '2025-03-02 06:59:59.999999+00' AS event_timestamp, "
        "'page_visit' AS source_table, NULL::VARCHAR AS device, NULL::VARCHAR AS cart_action, "
        "NULL::VARCHAR AS campaign_action_type, NULL::VARCHAR AS campaign_status"
    )
    ingest.register_customer_keys(con, dt.date(2025, 3, 2), dt.date(2025, 3, 3), "edge")
    edge = con.execute(
        f"SELECT events_h06, events_h07 FROM ({ingest.activity_sql('daily', 'edge')})",
        {"day_start": dt.date(2025, 3, 2), "day_end": dt.date(2025, 3, 3)},
    ).fetchone()
    assert edge == (1, 0)


@pytest.mark.parametrize("chunk_target_rows", [1, ingest.CHUNK_TARGET_ROWS])
def test_activity_is_the_aggregate_of_the_stored_events(
    tmp_path: Path, chunk_target_rows: int
) -> None:
    # The ingest aggregates each chunk's accepted rows before they reach raw_events: duplicates
    # and quarantined rows (the fixture has both) must be left out exactly as raw_events leaves
    # them out, whatever the chunking (1 row per chunk: the first week, then a day at a time).
    window = (WEEK[0], WEEK[1] + dt.timedelta(days=3))
    con, stats = _ingest(
        write_fixture_export(tmp_path), window=window, chunk_target_rows=chunk_target_rows
    )
    assert stats.duplicates_dropped > 0 and stats.rows_quarantined > 0
    _assert_activity_is_the_aggregate_of_the_events(con, window)


def test_staging_leaves_the_connections_optimizer_settings_as_they_were(tmp_path: Path) -> None:
    con = warehouse.connect(":memory:")
    con.execute("SET disabled_optimizers = 'top_n'")
    _ingest(write_fixture_export(tmp_path), con=con)
    assert con.execute("SELECT current_setting('disabled_optimizers')").fetchone() == ("top_n",)


def test_identity_rebuilds_stale_activity_before_reading_ids_from_it(tmp_path: Path) -> None:
    from segmentation_assets import identity

    con, _ = _ingest(write_fixture_export(tmp_path))
    as_of = WEEK[1] - dt.timedelta(days=1)
    ids_of_day = "SELECT DISTINCT internal_customer_id FROM {} WHERE event_date = $d ORDER BY 1"
    day = {"d": WEEK[0]}
    expected = con.execute(ids_of_day.format("raw_events"), day).fetchall()
    assert expected
    # Something other than the ingest removed a day's activity: identity rebuilds it first, so
    # the ids it reads from the activity are the ids with events.
    con.execute("DELETE FROM customer_activity_daily WHERE event_date = $d", day)
    identity.ensure_identity_tables(con)
    identity.write_merged_ids(con, as_of, 7)
    mapped = con.execute("SELECT internal_customer_id FROM merged_ids").fetchall()
    keyed_activity = "customer_activity_daily JOIN customer_keys USING (customer_key)"
    assert con.execute(ids_of_day.format(keyed_activity), day).fetchall() == expected
    assert {r[0] for r in expected} <= {r[0] for r in mapped}


def test_a_run_checks_the_activity_of_a_window_once(tmp_path: Path) -> None:
    """Within one run, a window containing one already checked is trusted; another run, or a
    window reaching past the checked one, is read again and rebuilt."""
    con, _ = _ingest(write_fixture_export(tmp_path))
    first, last = WEEK[0], WEEK[1] - dt.timedelta(days=1)
    day = {"d": first}
    activity_of_day = "SELECT count(*) FROM customer_activity_daily WHERE event_date = $d"
    rows_of_day = con.execute(activity_of_day, day).fetchall()[0][0]
    assert rows_of_day > 0
    assert ingest.refresh_stale_activity(con, first, last, "run-1") == []
    con.execute("DELETE FROM customer_activity_daily WHERE event_date = $d", day)
    # The same run trusts its check of this window, and of any window inside it.
    assert ingest.refresh_stale_activity(con, first, last, "run-1") == []
    assert ingest.stale_activity_days(con, first + dt.timedelta(days=1), last, "run-1") == []
    assert con.execute(activity_of_day, day).fetchall()[0][0] == 0
    # Outside a run, and for a window the run has not checked, the day is found.
    assert ingest.stale_activity_days(con, first, last) == [first]
    assert ingest.refresh_stale_activity(con, first - dt.timedelta(days=1), last, "run-1") == [
        first
    ]
    assert con.execute(activity_of_day, day).fetchall()[0][0] == rows_of_day
    # Another run checks again, and only the latest run's checks are kept.
    con.execute("DELETE FROM customer_activity_daily WHERE event_date = $d", day)
    assert ingest.refresh_stale_activity(con, first, last, "run-2") == [first]
    assert con.execute("SELECT DISTINCT run_key FROM activity_checks").fetchall() == [("run-2",)]


def test_writing_activity_forgets_the_checks_of_runs(tmp_path: Path) -> None:
    """An ingest after a check may have changed the window: the same run then checks it again."""
    root = write_fixture_export(tmp_path)
    con, _ = _ingest(root)
    first, last = WEEK[0], WEEK[1] - dt.timedelta(days=1)
    assert ingest.refresh_stale_activity(con, first, last, "run-1") == []
    _ingest(root, con=con, window=(first, first + dt.timedelta(days=1)))
    assert con.execute("SELECT count(*) FROM activity_checks").fetchall() == [(0,)]
    con.execute("DELETE FROM customer_activity_daily WHERE event_date = $d", {"d": last})
    assert ingest.refresh_stale_activity(con, first, last, "run-1") == [last]


def _keyed_activity_by_id(con) -> dict[str, list]:
    """Every activity table with its keys mapped back to ids, sorted: what the keys stand for."""
    frames = {}
    for grain, (table, _) in ingest.ACTIVITY_TABLES.items():
        frames[grain] = con.execute(
            f"SELECT k.internal_customer_id, a.* EXCLUDE (customer_key) FROM {table} a "
            "JOIN customer_keys k USING (customer_key) ORDER BY ALL"
        ).fetchall()
    return frames


def test_every_id_gets_one_key_which_reingesting_keeps(tmp_path: Path) -> None:
    root = write_fixture_export(tmp_path)
    con, _ = _ingest(root)
    keys = con.execute("SELECT * FROM customer_keys ORDER BY customer_key").fetchall()
    ids = con.execute("SELECT DISTINCT internal_customer_id FROM raw_events ORDER BY 1").fetchall()
    # One dense key per id with an event, given in the ids' order within the first ingest.
    assert keys == [(n, row[0]) for n, row in enumerate(ids, start=1)]
    activity = _keyed_activity_by_id(con)
    assert all(activity.values())
    _ingest(root, con=con)
    _ingest(root, con=con, window=(dt.date(2025, 3, 3), dt.date(2025, 3, 4)))
    assert con.execute("SELECT * FROM customer_keys ORDER BY customer_key").fetchall() == keys
    assert _keyed_activity_by_id(con) == activity


def test_day_by_day_ingest_keys_differently_but_stores_the_same_activity(tmp_path: Path) -> None:
    root = write_fixture_export(tmp_path)
    whole, _ = _ingest(root)
    daily = warehouse.connect(":memory:")
    for offset in reversed(range((WEEK[1] - WEEK[0]).days)):
        day = WEEK[0] + dt.timedelta(days=offset)
        _ingest(root, con=daily, window=(day, day + dt.timedelta(days=1)))
    keys = "SELECT * FROM customer_keys ORDER BY customer_key"
    daily_keys, whole_keys = daily.execute(keys).fetchall(), whole.execute(keys).fetchall()
    assert daily_keys != whole_keys  # the last day's ids were keyed first
    assert sorted(row[1] for row in daily_keys) == sorted(row[1] for row in whole_keys)
    assert _keyed_activity_by_id(daily) == _keyed_activity_by_id(whole)


def test_activity_keyed_by_string_ids_is_rebuilt_on_keys(tmp_path: Path) -> None:
    # A warehouse written before the id dictionary: activity keyed by the string id, no
    # customer_keys. The next ingest (or profile build) rebuilds the activity once, keyed.
    from segmentation_assets import sql

    con, _ = _ingest(write_fixture_export(tmp_path))
    expected = _keyed_activity_by_id(con)
    con.execute("DROP TABLE customer_keys")
    days = {"day_start": WEEK[0], "day_end": WEEK[1]}
    for grain, (table, _) in ingest.ACTIVITY_TABLES.items():
        con.execute(f"DROP TABLE {table}")
        con.execute(
            f"CREATE TABLE {table} AS " + sql.duckdb_sql("customer_activity.sql", grain=grain),
            days,
        )
    assert not ingest.activity_layout_is_current(con)
    ingest.ensure_activity_tables(con)
    assert ingest.activity_layout_is_current(con)
    assert _keyed_activity_by_id(con) == expected


def test_two_writers_cannot_give_one_key_to_two_ids() -> None:
    # Keys are the largest given + 1, 2, ...: two transactions registering at once would both
    # start from the same largest key. The primary key makes the second commit fail instead of
    # storing a key that stands for two ids (which would add one customer's events to another's).
    con = warehouse.connect(":memory:")
    ingest.ensure_tables(con)
    other = con.cursor()
    day = (dt.date(2025, 1, 1), dt.date(2025, 1, 2))
    for connection, ids in ((con, ["a", "b"]), (other, ["c"])):
        connection.execute(
            "CREATE TEMP TABLE ev AS SELECT DATE '2025-01-01' AS event_date, "
            "unnest($ids) AS internal_customer_id",
            {"ids": ids},
        )
        connection.execute("BEGIN")
        ingest.register_customer_keys(connection, *day, "ev")
    con.execute("COMMIT")
    with pytest.raises(duckdb.TransactionException, match="PRIMARY KEY"):
        other.execute("COMMIT")
    assert con.execute("SELECT * FROM customer_keys ORDER BY 1").fetchall() == [(1, "a"), (2, "b")]
