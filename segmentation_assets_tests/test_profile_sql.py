"""The profile aggregation SQL on the hand-written fixture: every number is known."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from segmentation_assets import export_folder, identity, ingest, warehouse
from segmentation_assets.profiles import (
    aggregate_profiles_sql,
    customer_key_map,
    kept_key_totals_window,
    profiled_customers,
    profiled_customers_by_window,
)
from segmentation_assets_tests.ebq_fixture import write_fixture_export

AS_OF = dt.date(2025, 3, 7)


@pytest.fixture()
def con(tmp_path: Path):
    connection = warehouse.connect(":memory:")
    views = export_folder.register_views(connection, write_fixture_export(tmp_path))
    ingest.ingest_window(connection, views, dt.date(2025, 3, 1), dt.date(2025, 3, 8))
    ingest.snapshot_customer_tables(connection, views, AS_OF)
    identity.ensure_identity_tables(connection)
    for as_of in (AS_OF, dt.date(2025, 3, 2)):
        identity.write_merged_ids(connection, as_of, 365)
    return connection


def _profile(con, as_of=AS_OF, window=365) -> pd.DataFrame:
    return aggregate_profiles_sql(con, as_of, window).set_index("customer_id")


def test_value_is_net_of_refunds_and_ids_are_merged(con) -> None:
    p = _profile(con)
    assert sorted(p.index) == [
        "alice",
        "bob",
        "carol",
        "eve",
    ]  # anon_b merged into bob; dave all quarantined
    assert p.loc["alice", "orders"] == 2
    assert p.loc["alice", "net_revenue"] == pytest.approx(130.0)
    assert p.loc["alice", "refund_rate"] == pytest.approx(20 / 150)
    assert p.loc["alice", "discount_share"] == pytest.approx(0.5)
    assert p.loc["bob", "orders"] == 2
    assert p.loc["bob", "net_revenue"] == pytest.approx(46.0 + 10.0)
    # A customer whose only activity is a refund: negative value, no orders, no crash.
    assert p.loc["carol", "orders"] == 0
    assert p.loc["carol", "net_revenue"] == pytest.approx(-30.0)
    assert p.loc["carol", "refund_rate"] == 1.0


def test_rhythm_and_habits_count_from_the_as_of_date(con) -> None:
    p = _profile(con)
    assert p.loc["alice", "recency_days"] == 2  # last order 2025-03-05
    assert p.loc["alice", "tenure_days"] == 6
    assert p.loc["alice", "interpurchase_days_mean"] == 4
    assert p.loc["alice", "purchase_frequency_per_month"] == pytest.approx(
        2.0
    )  # span floored at a month
    assert p.loc["alice", "email_open_rate"] == 1.0
    assert p.loc["alice", "top_category"] == "Books"
    assert p.loc["alice", "top_category_share"] == 1.0
    assert p.loc["bob", "primary_device"] == "mobile"
    assert p.loc["eve", "cart_abandonment_rate"] == 1.0
    assert p.loc["eve", "preferred_weekday"] == 5  # 2025-03-07 is a Friday
    assert p.loc["eve", "preferred_hour"] == 20


def test_window_edges_and_identity_as_of(con) -> None:
    # A 1-day window ending 2025-03-07 holds only that day (eve); the edge day itself is inside.
    assert list(_profile(con, AS_OF, 7).index) == ["alice", "bob", "carol", "eve"]
    only_edge = aggregate_profiles_sql(con, AS_OF, 7 - 6)
    assert only_edge["customer_id"].tolist() == ["eve"]
    # As of 2025-03-02 the merge (2025-03-03) has not happened: anon_b is its own customer.
    early = _profile(con, dt.date(2025, 3, 2), 365)
    assert early.loc["anon_b", "orders"] == 1
    assert early.loc["bob", "orders"] == 0  # bob only received an email by then


def test_net_revenue_reconciles_with_events(con) -> None:
    p = _profile(con)
    events = con.execute(
        "SELECT sum(CASE purchase_status WHEN 'success' THEN amount_base ELSE -amount_base END) "
        "FROM raw_events WHERE source_table = 'purchase'"
    ).fetchone()[0]
    assert p["net_revenue"].sum() == pytest.approx(events)


@pytest.mark.parametrize("as_of", [AS_OF, dt.date(2025, 3, 2)])
def test_selected_customers_get_exactly_their_whole_population_rows(con, as_of) -> None:
    # robustness profiles a sample of customers only; each row must be the unfiltered one. bob has
    # anon_b's events merged in as of AS_OF (not yet on 2025-03-02, when anon_b is a customer).
    full = _profile(con, as_of)
    for chosen in (["bob"], ["alice", "eve"], ["bob", "anon_b", "carol"], list(full.index)):
        part = aggregate_profiles_sql(con, as_of, 365, customers=chosen).set_index("customer_id")
        expected = full.loc[[c for c in full.index if c in set(chosen)]]
        pd.testing.assert_frame_equal(part, expected)
    # Unknown ids, and ids merged into someone not selected, give no row and leak no events.
    none = aggregate_profiles_sql(con, AS_OF, 365, customers=["anon_b", "nobody"])
    assert none.empty
    assert aggregate_profiles_sql(con, AS_OF, 365, customers=[]).empty


def test_profiled_customers_are_the_ids_the_profiles_have(con) -> None:
    for as_of, window in ((AS_OF, 365), (AS_OF, 1), (AS_OF, 3), (dt.date(2025, 3, 2), 365)):
        ids = aggregate_profiles_sql(con, as_of, window)["customer_id"].tolist()
        assert profiled_customers(con, as_of, window).tolist() == sorted(ids)


@pytest.mark.parametrize("chosen", [None, ["bob", "carol"]])
def test_single_statement_gives_the_rows_of_the_two_steps(con, chosen) -> None:
    # DuckDB runs the template in two steps (activity totals, then the rest); a warehouse that
    # prefers one statement (BigQuery) renders it whole. Both must give the same rows.
    from segmentation_assets import sql

    con.register("chosen", pd.DataFrame({"customer_id": chosen or []}))
    single = con.execute(
        sql.duckdb_sql(
            "customer_profiles.sql",
            daily_activity="customer_activity_daily",
            category_activity="customer_activity_categories",
            device_activity="customer_activity_devices",
            purchase_activity="customer_activity_purchases",
            customer_keys="customer_keys",
            merged_ids="merged_ids",
            customers="chosen" if chosen else None,
        ),
        {"as_of_date": AS_OF, "window_start": AS_OF - dt.timedelta(days=364)},
    ).df()
    two_steps = aggregate_profiles_sql(con, AS_OF, 365, customers=chosen)
    assert len(two_steps) == (len(chosen) if chosen else len(_profile(con)))
    pd.testing.assert_frame_equal(single, two_steps)


def test_profiled_customers_follow_python_string_order_whatever_the_collation(con) -> None:
    # The ids are sorted in DuckDB; they must come out in the order pandas sorts the profiles,
    # also on a connection whose default collation ignores case.
    con.execute(
        "UPDATE customer_keys SET internal_customer_id = 'Zed' WHERE internal_customer_id = 'eve'"
    )
    con.execute("SET default_collation = 'nocase'")
    ids = profiled_customers(con, AS_OF, 365).tolist()
    assert "Zed" in ids and "eve" not in ids
    assert ids == sorted(ids) and ids[0] == "Zed"


def test_an_id_mapped_to_two_survivors_is_named_not_counted_twice(con) -> None:
    # The identity stage writes one survivor per id; a merged_ids that maps one to two survivors
    # would count its events for both customers (and let two customers share a group key).
    con.execute("INSERT INTO merged_ids VALUES ($d, 'anon_b', 'carol')", {"d": AS_OF})
    with pytest.raises(ValueError, match=r"maps 1 id.*more than one surviving id.*'anon_b'"):
        aggregate_profiles_sql(con, AS_OF, 365)
    with pytest.raises(ValueError, match="'anon_b'"):
        profiled_customers(con, AS_OF, 365)
    # Another date's snapshot is not affected.
    assert len(aggregate_profiles_sql(con, dt.date(2025, 3, 2), 365)) > 0


def test_one_key_map_serves_several_windows_of_a_date(con) -> None:
    """A caller's key map gives the rows each build would make with its own, is left to the caller,
    and is refused where it could be wrong: before the activity check (a rebuilt day can key new
    ids) and for another events table (another dictionary)."""
    key_map = customer_key_map(con, AS_OF, "customer_keys", "merged_ids", name="shared_key_map")
    for days in (3, 365):
        shared = aggregate_profiles_sql(con, AS_OF, days, refresh_activity=False, key_map=key_map)
        pd.testing.assert_frame_equal(shared, aggregate_profiles_sql(con, AS_OF, days))
    assert profiled_customers_by_window(
        con, AS_OF, [3, 365], refresh_activity=False, key_map=key_map
    )[3].tolist() == sorted(_profile(con, window=3).index)
    with pytest.raises(ValueError, match="before the activity check"):
        aggregate_profiles_sql(con, AS_OF, 365, key_map=key_map)
    con.execute("CREATE TEMP TABLE other_events AS SELECT * FROM raw_events")
    with pytest.raises(ValueError, match="not that of 'other_events'"):
        aggregate_profiles_sql(
            con, AS_OF, 365, raw_events="other_events", refresh_activity=False, key_map=key_map
        )
    assert con.execute(f"SELECT count(*) FROM {key_map}").fetchall()[0][0] > 0


def test_kept_key_totals_moved_night_by_night_give_the_summed_rows(con, tmp_path: Path) -> None:
    """The whole population's profiles move the kept per-key totals from one night to the next;
    every row equals the one summing the window's activity (a selection of every customer sums its
    own keys' activity). Days leave the 3-day window, so keys lose their first day or all events."""
    everyone = [
        r[0] for r in con.execute("SELECT internal_customer_id FROM customer_keys").fetchall()
    ]

    def moved_and_summed(as_of: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
        moved = aggregate_profiles_sql(con, as_of, 3)
        return moved, aggregate_profiles_sql(con, as_of, 3, customers=everyone)

    start = dt.date(2025, 3, 1)
    for as_of, kept in (
        (dt.date(2025, 3, 3), (start, dt.date(2025, 3, 3))),  # summed, then kept
        (dt.date(2025, 3, 4), (dt.date(2025, 3, 2), dt.date(2025, 3, 4))),  # moved by a day
        (dt.date(2025, 3, 6), (dt.date(2025, 3, 4), dt.date(2025, 3, 6))),  # by two
        (dt.date(2025, 3, 7), (dt.date(2025, 3, 5), AS_OF)),
        (AS_OF, (dt.date(2025, 3, 5), AS_OF)),  # the same window: read as kept
        (dt.date(2025, 3, 5), (dt.date(2025, 3, 5), AS_OF)),  # a backfill leaves them for the night
    ):
        moved, summed = moved_and_summed(as_of)
        assert len(moved) > 0
        pd.testing.assert_frame_equal(moved, summed, obj=str(as_of))
        assert kept_key_totals_window(con) == kept
    # Re-ingesting a day of the kept window forgets the totals; the next night sums again.
    views = export_folder.register_views(con, write_fixture_export(tmp_path / "again"))
    ingest.ingest_window(con, views, dt.date(2025, 3, 6), dt.date(2025, 3, 7))
    assert kept_key_totals_window(con) is None
    moved, summed = moved_and_summed(AS_OF)
    pd.testing.assert_frame_equal(moved, summed)
    assert kept_key_totals_window(con) == (dt.date(2025, 3, 5), AS_OF)


def test_a_read_only_warehouse_is_profiled_without_keeping_totals(con, tmp_path: Path) -> None:
    con.execute(f"ATTACH '{tmp_path / 'copy.duckdb'}' AS copy")
    con.execute("COPY FROM DATABASE memory TO copy")
    con.execute("DETACH copy")
    expected = aggregate_profiles_sql(con, AS_OF, 3)
    read_only = duckdb.connect(str(tmp_path / "copy.duckdb"), read_only=True)
    read_only.execute("SET TimeZone = 'UTC'")
    assert kept_key_totals_window(read_only) is None
    got = aggregate_profiles_sql(read_only, AS_OF, 3, refresh_activity=False)
    pd.testing.assert_frame_equal(got, expected)
    assert kept_key_totals_window(read_only) is None
