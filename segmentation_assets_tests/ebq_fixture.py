"""A tiny, hand-written EBQ export whose every number is known, for ingest/identity/profile tests."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

UTC = dt.UTC
TS = pa.timestamp("us", tz="UTC")


def at(day: int, hour: int = 12, month: int = 3, year: int = 2025) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


def _purchase(
    pid: str,
    status: str,
    total: float,
    *,
    currency: str = "EUR",
    local: float | None = None,
    voucher: str | None = None,
) -> dict[str, Any]:
    return {
        "purchase_id": pid,
        "purchase_status": status,
        "total_price": total,
        "total_price_local_currency": total if local is None else local,
        "local_currency": currency,
        "total_quantity": 1,
        "voucher": voucher,
        "discount": 0.0,
    }


#: (customer id, timestamp, ingest timestamp, properties) per event table.
EVENTS: dict[str, list[tuple[str | None, dt.datetime, dt.datetime, dict[str, Any]]]] = {
    "purchase": [
        ("alice", at(1, 10), at(1, 11), _purchase("p1", "success", 100.0)),
        ("alice", at(1, 10), at(1, 11), _purchase("p1", "success", 100.0)),  # exact duplicate
        ("alice", at(5, 9), at(5, 9), _purchase("p2", "success", 50.0, voucher="SPRING")),
        ("alice", at(6, 9), at(6, 9), _purchase("p2", "refund", 20.0)),
        (
            "anon_b",
            at(2, 8),
            at(2, 9),
            _purchase("p3", "success", 40.0, currency="USD", local=50.0),
        ),
        ("bob", at(4, 8), at(4, 9), _purchase("p4", "success", 10.0)),
        ("carol", at(3, 8), at(3, 9), _purchase("p5", "refund", 30.0)),  # only a refund
        (None, at(3, 8), at(3, 9), _purchase("p6", "success", 10.0)),  # null id
        ("dave", at(3, 8), at(3, 9), _purchase("p7", "success", 10.0, currency="XXX")),
        ("dave", at(3, 8), at(3, 9), _purchase("p8", "success", -5.0)),
        ("dave", at(4, 23), at(4, 8), _purchase("p9", "success", 5.0)),  # after its ingest time
    ],
    "session_start": [
        ("alice", at(1, 9), at(1, 9), {"device": "desktop", "utm_source": "email"}),
        ("anon_b", at(2, 7), at(2, 7), {"device": "mobile", "utm_source": "google"}),
        ("bob", at(4, 7), at(4, 7), {"device": "mobile", "utm_source": None}),
        ("eve", at(7, 20), at(7, 20), {"device": "tablet", "utm_source": None}),
    ],
    "view_item": [
        (
            "alice",
            at(1, 9),
            at(1, 9),
            {"product_id": "x1", "category_level_1": "Books", "price": 20.0},
        ),
        (
            "alice",
            at(1, 9),
            at(1, 9),
            {"product_id": "x2", "category_level_1": "Books", "price": 30.0},
        ),
        (
            "eve",
            at(7, 20),
            at(7, 20),
            {"product_id": "x3", "category_level_1": "Toys", "price": 5.0},
        ),
    ],
    "cart_update": [
        (
            "eve",
            at(7, 20),
            at(7, 20),
            {"action": "add", "product_id": "x3", "price": 5.0, "quantity": 1},
        ),
    ],
    "campaign": [
        ("alice", at(2, 6), at(2, 6), {"action_type": "email", "status": "delivered"}),
        ("alice", at(2, 7), at(2, 7), {"action_type": "email", "status": "opened"}),
        ("bob", at(2, 6), at(2, 6), {"action_type": "email", "status": "delivered"}),
    ],
    "merge": [
        ("bob", at(3, 0), at(3, 0), {"merged_customer_id": "anon_b"}),
    ],
}

ID_HISTORY = [("bob", "anon_b")]
CUSTOMERS = ["alice", "bob", "carol", "dave", "eve"]

#: What a correct ingest of 2025-03-01..2025-03-07 must produce.
EXPECTED_QUARANTINE = {
    "null_customer_id": 1,
    "unknown_currency": 1,
    "negative_amount": 1,
    "timestamp_after_ingest": 1,
}
EXPECTED_DUPLICATES = 1


def _table(
    rows: list[tuple[str | None, dt.datetime, dt.datetime, dict[str, Any]]], timestamp_format: str
) -> pa.Table:
    def encode(value: dt.datetime) -> Any:
        if timestamp_format == "epoch":
            return value.timestamp()
        if timestamp_format == "iso":
            return value.isoformat().replace("+00:00", "Z")
        return value

    ts_type: pa.DataType = {"timestamp": TS, "epoch": pa.float64(), "iso": pa.string()}[
        timestamp_format
    ]
    return pa.table(
        {
            "internal_customer_id": pa.array([r[0] for r in rows], pa.string()),
            "timestamp": pa.array([encode(r[1]) for r in rows], ts_type),
            "ingest_timestamp": pa.array([encode(r[2]) for r in rows], ts_type),
            "properties": pa.array([r[3] for r in rows]),
        }
    )


def write_fixture_export(
    root: Path,
    *,
    fmt: str = "parquet",
    timestamp_format: str = "timestamp",
    drop_tables: tuple[str, ...] = (),
) -> Path:
    """Write the fixture as an EBQ export folder (Parquet or NDJSON; timestamps typed/epoch/ISO)."""
    root.mkdir(parents=True, exist_ok=True)
    tables: dict[str, pa.Table] = {
        name: _table(rows, timestamp_format)
        for name, rows in EVENTS.items()
        if name not in drop_tables
    }
    tables["customers_id_history"] = pa.table(
        {"internal_customer_id": [s for s, _ in ID_HISTORY], "past_id": [p for _, p in ID_HISTORY]}
    )
    tables["customers_properties"] = pa.table(
        {
            "internal_id": CUSTOMERS,
            "properties": pa.array([{"email": f"{c}@example.com"} for c in CUSTOMERS]),
        }
    )
    for name, table in tables.items():
        folder = root / name
        folder.mkdir(exist_ok=True)
        if fmt == "parquet":
            pq.write_table(table, folder / "part-00000.parquet")
        else:
            with (folder / "part-00000.json").open("w") as handle:
                for record in table.to_pylist():
                    handle.write(json.dumps(record, default=str) + "\n")
    return root
