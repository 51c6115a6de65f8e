"""The synthetic EBQ generator: contract, determinism and every planted behaviour, checked by value."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmentation_assets.ebq.generator import (
    ARCHETYPE_NAMES,
    BAD_ROW_TABLES,
    GROUND_TRUTH_SCHEMA,
    GeneratedExport,
    export_to_ndjson,
    generate_ebq_export,
    read_generator_manifest,
    read_ground_truth,
)
from segmentation_assets.ebq.schema import (
    CUSTOMER_TABLE_SCHEMAS,
    CUSTOMER_TABLES,
    EVENT_TABLES,
    event_table_schema,
    validate_export_folder,
)

START, END = date(2025, 1, 1), date(2025, 12, 31)
END_TS = datetime(2026, 1, 1, tzinfo=UTC)
N = 2000


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> GeneratedExport:
    root = tmp_path_factory.mktemp("ebq") / "export"
    return generate_ebq_export(root, n_customers=N, start_date=START, end_date=END, seed=42)


@pytest.fixture(scope="module")
def con(export: GeneratedExport) -> duckdb.DuckDBPyConnection:
    """DuckDB with one view per table, ``resolved_<table>`` views carrying the surviving id ``cid``."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    root = export.root
    for table in (*EVENT_TABLES, *CUSTOMER_TABLES):
        connection.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{root}/{table}/*.parquet')"
        )
    connection.execute(
        f"CREATE VIEW gt AS SELECT * FROM read_parquet('{root}/_ground_truth/customers.parquet')"
    )
    # Resolve merge chains in Python: the history holds one row per merge, not resolved chains.
    rows = connection.execute("SELECT past_id, internal_customer_id FROM customers_id_history")
    parent = dict(rows.fetchall())

    def survivor(i: str) -> str:
        while i in parent:
            i = parent[i]
        return i

    mapping = pa.table({"past_id": list(parent), "survivor": [survivor(p) for p in parent]})
    connection.register("idmap", mapping)
    for table in EVENT_TABLES:
        connection.execute(
            f"CREATE VIEW resolved_{table} AS SELECT COALESCE(m.survivor, e.internal_customer_id) "
            f"AS cid, e.* FROM {table} e LEFT JOIN idmap m ON m.past_id = e.internal_customer_id"
        )
    return connection


def _one(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> tuple[Any, ...]:
    row = con.execute(sql, params).fetchone()
    assert row is not None
    return row


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _by_archetype(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, float]:
    return {str(k): float(v) for k, v in con.execute(sql).fetchall()}


# --- layout and contract --------------------------------------------------------------------------


def test_layout_and_contract(export: GeneratedExport) -> None:
    root = export.root
    manifest = validate_export_folder(root)
    assert sorted(manifest.tables) == sorted((*EVENT_TABLES, *CUSTOMER_TABLES))
    assert manifest.missing_optional_tables == []
    for table in EVENT_TABLES:
        files = manifest.files(table)
        assert files == [root / table / "part-00000.parquet"]
        assert pq.read_schema(files[0]).equals(event_table_schema(table))
        assert manifest.tables[table].missing_properties == []
    for table in CUSTOMER_TABLES:
        assert pq.read_schema(manifest.files(table)[0]).equals(CUSTOMER_TABLE_SCHEMAS[table])
    assert manifest.tables["customers_properties"].customer_key == "internal_id"
    assert read_ground_truth(root).schema.equals(GROUND_TRUTH_SCHEMA)
    assert not list(root.parent.glob(".export.partial-*"))  # temporary folder moved into place


def test_manifest_matches_files(export: GeneratedExport, con: duckdb.DuckDBPyConnection) -> None:
    m = read_generator_manifest(export.root)
    assert m == export.manifest
    assert (m.seed, m.n_customers, m.start_date, m.end_date) == (42, N, START, END)
    for table in (*EVENT_TABLES, *CUSTOMER_TABLES):
        assert _one(con, f"SELECT count(*) FROM {table}") == (m.row_counts[table],)
        assert m.files[table] == [f"{table}/part-00000.parquet"]
    assert sum(m.archetype_counts.values()) == N
    assert set(m.archetype_counts) == set(ARCHETYPE_NAMES)
    assert m.bad_rows_injected == {}
    # ~100 events per customer-year, most of them views and sessions.
    events = sum(m.row_counts[t] for t in EVENT_TABLES)
    assert 80 * N < events < 180 * N
    views = sum(
        m.row_counts[t] for t in ("session_start", "page_visit", "view_item", "view_category")
    )
    assert views > 0.6 * events


def test_timestamps_inside_window_and_ingest_lags(con: duckdb.DuckDBPyConnection) -> None:
    for table in EVENT_TABLES:
        lo, hi, nulls, neg = _one(
            con,
            f"SELECT min(timestamp), max(timestamp), count(*) FILTER (internal_customer_id IS NULL), "
            f"count(*) FILTER (ingest_timestamp < timestamp) FROM {table}",
        )
        assert lo >= datetime(2025, 1, 1, tzinfo=UTC), table
        assert hi < END_TS, table
        assert (nulls, neg) == (0, 0), table
    # Normally ingested seconds to minutes after the event.
    median, p99 = _one(
        con,
        "SELECT median(epoch(ingest_timestamp) - epoch(timestamp)), "
        "quantile_cont(epoch(ingest_timestamp) - epoch(timestamp), 0.99) FROM page_visit",
    )
    assert 5 < median < 120
    assert p99 < 600


def test_duplicates_and_late_arrivals_at_stated_rates(
    export: GeneratedExport, con: duckdb.DuckDBPyConnection
) -> None:
    m = export.manifest
    total_rows = total_dups = total_late = 0
    for table in EVENT_TABLES:
        rows, distinct = _one(
            con,
            f"SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT * FROM {table})) FROM {table}",
        )
        late = _one(
            con, f"SELECT count(*) FROM {table} WHERE ingest_timestamp > timestamp + INTERVAL 1 DAY"
        )[0]
        assert rows - distinct == m.duplicate_rows[table], table
        assert late == m.late_rows[table], table
        total_rows, total_dups, total_late = (
            rows + total_rows,
            total_dups + rows - distinct,
            total_late + late,
        )
    assert 0.003 < total_dups / total_rows < 0.007
    assert 0.003 < total_late / total_rows < 0.007
    longest = _one(
        con,
        "SELECT max(ingest_timestamp - timestamp) FROM view_item "
        "WHERE ingest_timestamp > timestamp + INTERVAL 1 DAY",
    )[0]
    assert timedelta(days=1) < longest <= timedelta(days=7)


# --- determinism ----------------------------------------------------------------------------------


def test_deterministic_by_seed_and_independent_of_workers(tmp_path: Path) -> None:
    kw: dict[str, Any] = {
        "n_customers": 500,
        "start_date": START,
        "end_date": END,
        "chunk_customers": 200,
    }
    a = generate_ebq_export(tmp_path / "a", seed=5, **kw)
    b = generate_ebq_export(tmp_path / "b", seed=5, workers=2, **kw)
    c = generate_ebq_export(tmp_path / "c", seed=6, **kw)
    da, db, dc = _digests(a.root), _digests(b.root), _digests(c.root)
    assert da == db  # byte-identical, serial or in two processes
    assert len(a.export.files("purchase")) == 3  # three chunks → three part files
    assert a.manifest.files["view_item"] == [f"view_item/part-0000{i}.parquet" for i in range(3)]
    parquet = [k for k in da if k.endswith(".parquet")]
    assert all(da[k] != dc[k] for k in parquet)  # another seed changes every file
    # Regenerating into an existing export replaces it, byte for byte.
    again = generate_ebq_export(tmp_path / "a", seed=5, **kw)
    assert _digests(again.root) == da


def test_refuses_to_replace_foreign_folder_and_bad_arguments(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(FileExistsError, match="refusing"):
        generate_ebq_export(foreign, n_customers=10, start_date=START, end_date=END, seed=1)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"
    with pytest.raises(ValueError, match="before"):
        generate_ebq_export(tmp_path / "x", n_customers=10, start_date=END, end_date=START, seed=1)
    with pytest.raises(ValueError, match="timestamps_as_strings"):
        generate_ebq_export(
            tmp_path / "x",
            n_customers=10,
            start_date=START,
            end_date=END,
            seed=1,
            bad_rows=True,
            timestamps_as_strings=False,
        )


def test_short_window_and_tiny_population(tmp_path: Path) -> None:
    result = generate_ebq_export(
        tmp_path / "short",
        n_customers=30,
        start_date=date(2025, 11, 1),
        end_date=date(2025, 11, 30),
        seed=3,
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    lo, hi = _one(
        con,
        f"SELECT min(timestamp), max(timestamp) FROM read_parquet('{result.root}/session_start/*.parquet')",
    )
    assert lo >= datetime(2025, 11, 1, tzinfo=UTC)
    assert hi < datetime(2025, 12, 1, tzinfo=UTC)
    assert result.manifest.row_counts["customers_properties"] == 30


# --- planted behaviour ----------------------------------------------------------------------------

_ORDERS = """
    SELECT g.archetype, g.customer_id, p.properties.total_price AS total,
           p.properties.discount > 0 AS discounted, p.timestamp
    FROM gt g JOIN (SELECT DISTINCT * FROM resolved_purchase) p ON p.cid = g.customer_id
    WHERE p.properties.purchase_status = 'success'
"""


def test_archetypes_differ_in_the_planted_direction(con: duckdb.DuckDBPyConnection) -> None:
    aov = _by_archetype(con, f"SELECT archetype, avg(total) FROM ({_ORDERS}) GROUP BY 1")
    discount = _by_archetype(
        con, f"SELECT archetype, avg(discounted::INT) FROM ({_ORDERS}) GROUP BY 1"
    )
    orders_per_customer = _by_archetype(
        con,
        f"SELECT g.archetype, count(o.customer_id) / count(DISTINCT g.customer_id) "
        f"FROM gt g LEFT JOIN ({_ORDERS}) o USING (customer_id) GROUP BY 1",
    )
    assert aov["vip_loyal"] > 2 * aov["bargain_hunter"]
    assert max(discount, key=discount.__getitem__) == "bargain_hunter"
    assert discount["bargain_hunter"] > 0.6 and discount["vip_loyal"] < 0.15
    assert max(orders_per_customer, key=orders_per_customer.__getitem__) == "vip_loyal"
    assert min(orders_per_customer, key=orders_per_customer.__getitem__) == "window_shopper"
    assert orders_per_customer["window_shopper"] < 0.2
    assert orders_per_customer["mobile_impulse"] > orders_per_customer["bargain_hunter"]
    assert aov["mobile_impulse"] < aov["lapsing_regular"]  # small, frequent orders

    sessions = """
        SELECT g.archetype, s.properties.device = 'mobile' AS mobile,
               s.properties.device = 'desktop' AS desktop,
               dayofweek(s.timestamp) IN (0, 6) AS weekend, hour(s.timestamp) >= 19 AS evening
        FROM gt g JOIN resolved_session_start s ON s.cid = g.customer_id
    """
    mobile = _by_archetype(con, f"SELECT archetype, avg(mobile::INT) FROM ({sessions}) GROUP BY 1")
    desktop = _by_archetype(
        con, f"SELECT archetype, avg(desktop::INT) FROM ({sessions}) GROUP BY 1"
    )
    weekend = _by_archetype(
        con, f"SELECT archetype, avg(weekend::INT) FROM ({sessions}) GROUP BY 1"
    )
    evening = _by_archetype(
        con, f"SELECT archetype, avg(evening::INT) FROM ({sessions}) GROUP BY 1"
    )
    assert mobile["mobile_impulse"] > 0.8
    assert max(desktop, key=desktop.__getitem__) == "vip_loyal"
    assert max(weekend, key=weekend.__getitem__) == "mobile_impulse"
    assert max(evening, key=evening.__getitem__) == "mobile_impulse"

    campaign = """
        SELECT g.archetype,
               count(*) FILTER (c.properties.status = 'opened')
               / count(*) FILTER (c.properties.status = 'delivered')
        FROM gt g JOIN resolved_campaign c ON c.cid = g.customer_id
        WHERE c.properties.action_type = 'email' GROUP BY 1
    """
    open_rate = _by_archetype(con, campaign)
    assert max(open_rate, key=open_rate.__getitem__) == "vip_loyal"
    assert min(open_rate, key=open_rate.__getitem__) == "window_shopper"
    assert open_rate["window_shopper"] < 0.08

    adds_per_order = _by_archetype(
        con,
        "SELECT g.archetype, count(*) FILTER (c.properties.action = 'add') "
        f"/ (SELECT count(*) FROM ({_ORDERS}) o WHERE o.archetype = g.archetype) "
        "FROM gt g JOIN resolved_cart_update c ON c.cid = g.customer_id "
        "WHERE g.archetype IN ('vip_loyal', 'bargain_hunter') GROUP BY 1",
    )
    assert adds_per_order["bargain_hunter"] > 1.3 * adds_per_order["vip_loyal"]  # more abandonment


def test_lifecycle_lapsing_new_and_churn(con: duckdb.DuckDBPyConnection) -> None:
    last_90 = END_TS - timedelta(days=90)
    recent = _one(
        con,
        f"SELECT count(*) FROM ({_ORDERS}) WHERE archetype = 'lapsing_regular' AND timestamp >= ?",
        [last_90],
    )[0]
    assert recent == 0
    lapsing_orders, lapsing_customers = _one(
        con,
        f"SELECT count(*), count(DISTINCT customer_id) FROM ({_ORDERS}) WHERE archetype = 'lapsing_regular'",
    )
    assert lapsing_orders / lapsing_customers > 3  # they used to buy often
    churn = _one(
        con,
        "SELECT min(churned_at), max(churned_at), count(*) FILTER (churned_at IS NULL) "
        "FROM gt WHERE archetype = 'lapsing_regular'",
    )
    assert churn[2] == 0
    assert END_TS - timedelta(days=181) <= churn[0] and churn[1] <= END_TS - timedelta(days=119)
    # No activity at all after a customer churned (emails may still be delivered).
    after = _one(
        con,
        "SELECT count(*) FROM gt g JOIN resolved_session_start s ON s.cid = g.customer_id "
        "WHERE s.timestamp >= g.churned_at",
    )[0]
    assert after == 0
    # New explorers arrived in the last ~2 months and bought at most once.
    first_seen, max_orders = _one(
        con,
        "SELECT min(first_seen), (SELECT max(n) FROM (SELECT count(*) n FROM "
        f"({_ORDERS}) WHERE archetype = 'new_explorer' GROUP BY customer_id)) "
        "FROM gt WHERE archetype = 'new_explorer'",
    )
    assert first_seen >= END_TS - timedelta(days=61)
    assert max_orders == 1
    # Arrivals are spread over the window; other archetypes churn a little too.
    months = _one(con, "SELECT count(DISTINCT month(first_seen)) FROM gt")[0]
    assert months == 12
    other_churn = _one(
        con,
        "SELECT avg((churned_at IS NOT NULL)::INT) FROM gt "
        "WHERE archetype NOT IN ('lapsing_regular', 'new_explorer')",
    )[0]
    assert 0.02 < other_churn < 0.2


def test_ground_truth_first_seen_is_the_first_event(con: duckdb.DuckDBPyConnection) -> None:
    mismatches, customers = _one(
        con,
        "SELECT count(*) FILTER (g.first_seen <> s.first), count(*) FROM gt g "
        "JOIN (SELECT cid, min(timestamp) AS first FROM resolved_session_start GROUP BY 1) s "
        "ON s.cid = g.customer_id",
    )
    assert (mismatches, customers) == (0, N)


def test_seasonality_peaks_in_november_and_december(con: duckdb.DuckDBPyConnection) -> None:
    per_month = dict(
        con.execute(f"SELECT month(timestamp), count(*) FROM ({_ORDERS}) GROUP BY 1").fetchall()
    )
    baseline = sum(per_month[m] for m in range(1, 11)) / 10
    assert per_month[11] > 1.4 * baseline
    assert per_month[12] > 1.4 * baseline


def test_category_preferences_are_concentrated(con: duckdb.DuckDBPyConnection) -> None:
    share = _one(
        con,
        "WITH x AS (SELECT cid, properties.category_level_1 AS c, count(*) AS n "
        "FROM resolved_view_item GROUP BY 1, 2), "
        "y AS (SELECT cid, max(n) / sum(n) AS top, sum(n) AS total FROM x GROUP BY 1) "
        "SELECT avg(top) FROM y WHERE total >= 20",
    )[0]
    assert share > 1 / 8 * 2.5  # far from uniform over 8 categories
    levels = _one(
        con,
        "SELECT count(DISTINCT properties.category_level_1), count(DISTINCT properties.category_level_2), "
        "count(DISTINCT properties.category_level_3) FROM view_category",
    )
    assert levels == (8, 32, 96)


# --- money: refunds and currencies ----------------------------------------------------------------


def test_refunds_reference_an_earlier_success(
    export: GeneratedExport, con: duckdb.DuckDBPyConnection
) -> None:
    refunds, matched, later, same_amount, same_items = _one(
        con,
        "WITH s AS (SELECT properties.purchase_id AS pid, min(timestamp) AS ts, "
        "any_value(properties.total_price) AS tp, any_value(properties.product_list) AS pl "
        "FROM purchase WHERE properties.purchase_status = 'success' GROUP BY 1), "
        "r AS (SELECT DISTINCT * FROM purchase WHERE properties.purchase_status = 'refund') "
        "SELECT count(*), count(s.pid), count(*) FILTER (r.timestamp > s.ts), "
        "count(*) FILTER (r.properties.total_price = s.tp AND r.properties.total_price > 0), "
        "count(*) FILTER (r.properties.product_list = s.pl) "
        "FROM r LEFT JOIN s ON s.pid = r.properties.purchase_id",
    )
    assert refunds == export.manifest.refunds
    assert refunds == matched == later == same_amount == same_items
    assert 0.03 <= refunds / export.manifest.orders <= 0.05
    successes = _one(
        con,
        "SELECT count(DISTINCT properties.purchase_id) FROM purchase "
        "WHERE properties.purchase_status = 'success'",
    )[0]
    assert successes == export.manifest.orders  # purchase ids are unique per order
    # purchase_item carries the refunded lines too, with the refund's status.
    item_refunds = _one(
        con,
        "SELECT count(DISTINCT properties.purchase_id) FROM purchase_item "
        "WHERE properties.purchase_status = 'refund'",
    )[0]
    assert item_refunds == refunds


def test_order_totals_currencies_and_vouchers(
    export: GeneratedExport, con: duckdb.DuckDBPyConnection
) -> None:
    result = con.execute(
        "SELECT properties.local_currency AS cur, properties.total_price AS eur, "
        "properties.total_price_local_currency AS local, properties.voucher AS voucher, "
        "properties.discount AS discount, properties.total_quantity AS qty, "
        "len(properties.product_list) AS n_products "
        "FROM purchase WHERE properties.purchase_status = 'success'"
    )
    names = [d[0] for d in result.description]
    rows = [dict(zip(names, r, strict=True)) for r in result.fetchall()]
    usd = [r for r in rows if r["cur"] == "USD"]
    eur = [r for r in rows if r["cur"] == "EUR"]
    assert len(usd) + len(eur) == len(rows)
    assert 0.06 < len(usd) / len(rows) < 0.2
    assert all(abs(r["eur"] - round(r["local"] * 0.92, 2)) < 1e-9 for r in usd)
    assert all(r["eur"] == r["local"] for r in eur)
    assert all((r["voucher"] is None) == (r["discount"] == 0) for r in rows)
    assert all(r["eur"] > 0 and r["qty"] >= r["n_products"] >= 1 for r in rows)
    # Line items add up to the order: sum(price * quantity) - discount = total (EUR orders).
    diff = _one(
        con,
        "WITH items AS (SELECT properties.purchase_id AS pid, "
        "sum(properties.price * properties.quantity) AS gross, sum(properties.quantity) AS q "
        "FROM (SELECT DISTINCT * FROM purchase_item) WHERE properties.purchase_status = 'success' "
        "GROUP BY 1), orders AS (SELECT DISTINCT properties.purchase_id AS pid, properties.total_price "
        "AS total, properties.discount AS discount, properties.total_quantity AS q FROM purchase "
        "WHERE properties.purchase_status = 'success' AND properties.local_currency = 'EUR') "
        "SELECT max(abs(i.gross - o.discount - o.total)), count(*) FILTER (i.q <> o.q), count(*) "
        "FROM orders o JOIN items i USING (pid)",
    )
    assert diff[0] < 0.011 and diff[1] == 0 and diff[2] > 0


# --- identities -----------------------------------------------------------------------------------


def test_anonymous_ids_merge_chains_and_ground_truth(
    export: GeneratedExport, con: duckdb.DuckDBPyConnection
) -> None:
    history = con.execute(
        "SELECT internal_customer_id, past_id FROM customers_id_history"
    ).fetchall()
    past = {p for _, p in history}
    survivors = {s for s, _ in history}
    truth = {r[0] for r in con.execute("SELECT customer_id FROM gt").fetchall()}
    known = {r[0] for r in con.execute("SELECT internal_id FROM customers_properties").fetchall()}
    assert truth == known and len(truth) == N
    assert not past & truth  # merged ids never survive
    chains = survivors & past  # an id that absorbed one and was later absorbed itself: a→b→c
    assert len(chains) == export.manifest.merge_chains > 0
    with_anonymous = len({s for s, _ in history} - past)
    assert with_anonymous == export.manifest.customers_with_anonymous_ids
    assert 0.07 < with_anonymous / N < 0.14
    # The merge event table tells the same story (plus its exact duplicate rows).
    merges = con.execute(
        "SELECT DISTINCT internal_customer_id, properties.merged_customer_id FROM merge"
    ).fetchall()
    assert sorted(merges) == sorted(history)
    # Events keep the old ids: anonymous ids appear in events, all before their merge.
    unknown = _one(
        con,
        "SELECT count(*) FROM resolved_session_start WHERE cid NOT IN (SELECT customer_id FROM gt)",
    )[0]
    assert unknown == 0
    anonymous_sessions, after_merge = _one(
        con,
        "SELECT count(*), count(*) FILTER (s.timestamp >= m.timestamp) FROM session_start s "
        "JOIN merge m ON m.properties.merged_customer_id = s.internal_customer_id",
    )
    assert anonymous_sessions > 0 and after_merge == 0


def test_customer_tables(con: duckdb.DuckDBPyConnection) -> None:
    rows, emails, hashes = _one(
        con,
        "SELECT count(*), count(DISTINCT properties.email), "
        "(SELECT count(DISTINCT id_value) FROM customers_external_ids WHERE id_name = 'email_hash') "
        "FROM customers_properties",
    )
    assert rows == emails == hashes == N
    created_ok = _one(
        con,
        "SELECT count(*) FROM customers_properties c JOIN gt g ON g.customer_id = c.internal_id "
        "WHERE c.properties.created_at >= g.first_seen",
    )[0]
    assert created_ok == N


# --- bad rows and NDJSON --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_export(tmp_path_factory: pytest.TempPathFactory) -> GeneratedExport:
    root = tmp_path_factory.mktemp("ebq_bad") / "export"
    return generate_ebq_export(
        root,
        n_customers=600,
        start_date=START,
        end_date=END,
        seed=11,
        bad_rows=True,
        bad_rows_per_kind=4,
    )


def test_bad_rows_in_files_equal_the_manifest(bad_export: GeneratedExport) -> None:
    m = bad_export.manifest
    assert m.timestamps_as_strings and m.bad_rows
    expected = {t: {k: 4 for k, ts in BAD_ROW_TABLES.items() if t in ts} for t in EVENT_TABLES}
    assert m.bad_rows_injected == expected
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in EVENT_TABLES:
        assert bad_export.export.tables[table].timestamp_type == "string"
        view = f"read_parquet('{bad_export.root}/{table}/*.parquet')"
        fields = set(event_table_schema(table).field("properties").type.names)  # type: ignore[attr-defined]

        def has(name: str, fields: set[str] = fields) -> str:
            return f"properties.{name}" if name in fields else "NULL"

        amount = f"COALESCE({has('price')}, {has('total_price')})"
        counts = _one(
            con,
            f"""
            WITH t AS (SELECT *, TRY_CAST(timestamp AS TIMESTAMPTZ) AS ts FROM {view})
            SELECT
              count(*) FILTER (internal_customer_id IS NULL),
              count(*) FILTER (ts IS NULL),
              count(*) FILTER (ts > ingest_timestamp),
              count(*) FILTER (isnan({amount})),
              count(*) FILTER ({has("local_currency")} = 'XXX'),
              count(*) FILTER ({amount} < 0),
              count(*) FILTER ((internal_customer_id IS NULL)::INT + (ts IS NULL)::INT
                + coalesce(ts > ingest_timestamp, false)::INT + coalesce(isnan({amount}), false)::INT
                + coalesce({has("local_currency")} = 'XXX', false)::INT
                + coalesce({amount} < 0, false)::INT > 1)
            FROM t
            """,
        )
        kinds = (
            "null_customer_id",
            "unparsable_timestamp",
            "timestamp_after_ingest",
            "non_numeric_amount",
            "unknown_currency",
            "negative_amount",
        )
        assert dict(zip(kinds, counts[:6], strict=True)) == {
            k: expected[table].get(k, 0) for k in kinds
        }, table
        assert counts[6] == 0, table  # every bad row has exactly one defect
        if "total_price" in fields:
            # A plain filter sees the NaNs too (no min/max statistics that would let DuckDB prune).
            nan_rows = _one(
                con, f"SELECT count(*) FROM {view} WHERE isnan(properties.total_price)"
            )[0]
            assert nan_rows == expected[table].get("non_numeric_amount", 0), table
        good_iso = _one(
            con,
            f"SELECT count(*) FROM {view} WHERE regexp_full_match(timestamp, "
            r"'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z')",
        )[0]
        assert good_iso == m.row_counts[table] - expected[table]["unparsable_timestamp"]


def test_ndjson_holds_the_same_tables(tmp_path: Path, bad_export: GeneratedExport) -> None:
    manifest = export_to_ndjson(bad_export.root, tmp_path / "ndjson")
    assert sorted(manifest.tables) == sorted((*EVENT_TABLES, *CUSTOMER_TABLES))
    assert manifest.files("purchase") == [tmp_path / "ndjson" / "purchase" / "part-00000.json.gz"]
    assert (tmp_path / "ndjson" / "_ground_truth" / "manifest.json").exists()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in ("purchase", "customers_properties", "session_start"):
        parquet = f"SELECT * FROM read_parquet('{bad_export.root}/{table}/*.parquet')"
        ndjson = (
            f"SELECT * FROM read_json('{tmp_path}/ndjson/{table}/*.json.gz', "
            "format = 'newline_delimited', sample_size = -1)"
        )
        for a, b in ((parquet, ndjson), (ndjson, parquet)):
            assert _one(con, f"SELECT count(*) FROM (({a}) EXCEPT ALL ({b}))") == (0,)
