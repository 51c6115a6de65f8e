"""The EBQ contract: table/field constants, FieldMapping and validate_export_folder."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from segmentation_assets.ebq import schema
from segmentation_assets.ebq.schema import (
    EVENT_TABLES,
    ExportValidationError,
    FieldMapping,
    detect_customer_key,
    event_table_schema,
    load_field_mapping,
    validate_export_folder,
)

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def _event_rows(
    table: str, n: int = 2, *, drop: str | None = None, props: dict | None = None
) -> pa.Table:
    """A tiny, contract-conformant event table (optionally without column ``drop``)."""
    struct = schema.property_struct_type(table)
    values = props if props is not None else {f.name: None for f in struct}
    data = {
        "internal_customer_id": pa.array([f"c{i}" for i in range(n)]),
        "timestamp": pa.array([T0] * n, schema.TIMESTAMP_TYPE),
        "ingest_timestamp": pa.array([T0] * n, schema.TIMESTAMP_TYPE),
        "properties": pa.array([values] * n, struct if props is None else None),
    }
    if drop:
        del data[drop]
    return pa.table(data)


def _write(root: Path, table: str, data: pa.Table, name: str = "part-00000.parquet") -> Path:
    path = root / table / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, path)
    return path


def _minimal_export(root: Path) -> Path:
    for table in ("purchase", "session_start"):
        _write(root, table, _event_rows(table))
    return root


def test_contract_constants() -> None:
    assert EVENT_TABLES == (
        "session_start", "page_visit", "view_category", "view_item", "cart_update",
        "checkout", "purchase", "purchase_item", "campaign", "merge",
    )  # fmt: skip
    assert schema.CUSTOMER_TABLES == (
        "customers_properties",
        "customers_id_history",
        "customers_external_ids",
    )
    assert schema.BASE_CURRENCY == "EUR"
    assert dict(schema.DEFAULT_FX_RATES_TO_BASE) == {"EUR": 1.0, "USD": 0.92}
    assert set(schema.REQUIRED_EVENT_TABLES) == {"purchase", "session_start"}
    purchase = schema.EVENT_PROPERTIES["purchase"]
    assert purchase["product_list"] == pa.list_(pa.string())
    assert purchase["total_quantity"] == pa.int64()
    assert purchase["total_price"] == pa.float64()
    assert schema.EVENT_PROPERTY_FIELDS["cart_update"] == (
        "action",
        "product_id",
        "price",
        "quantity",
    )
    s = event_table_schema("view_item")
    assert s.names == ["internal_customer_id", "timestamp", "ingest_timestamp", "properties"]
    assert s.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert (
        event_table_schema("view_item", timestamps_as_strings=True).field("timestamp").type
        == pa.string()
    )


def test_detect_customer_key() -> None:
    assert detect_customer_key(["internal_id", "properties"]) == "internal_id"
    assert detect_customer_key(["internal_customer_id", "properties"]) == "internal_customer_id"
    assert detect_customer_key(["internal_id", "internal_customer_id"]) == "internal_customer_id"
    with pytest.raises(ExportValidationError, match="customers_properties"):
        detect_customer_key(["properties", "email"])
    with pytest.raises(ExportValidationError, match="my_table"):
        detect_customer_key(["x"], "my_table")


def test_field_mapping_defaults_and_overrides() -> None:
    mapping = FieldMapping.from_mapping(
        {
            "purchase": {"total_price": "properties.amount.eur"},
            "session_start": {"device": "client_device"},
        }
    )
    assert mapping.property_path("purchase", "total_price") == "amount.eur"
    assert mapping.column_path("purchase", "total_price") == "properties.amount.eur"
    assert mapping.property_path("purchase", "purchase_id") == "purchase_id"  # identity default
    assert mapping.resolved("session_start")["device"] == "client_device"
    assert mapping.resolved("session_start")["browser"] == "browser"
    assert mapping.overrides() == {
        "purchase": {"total_price": "properties.amount.eur"},
        "session_start": {"device": "properties.client_device"},
    }
    assert FieldMapping().overrides() == {}
    assert (
        FieldMapping.from_mapping(
            {"tables": {"merge": {"merged_customer_id": "old"}}}
        ).property_path("merge", "merged_customer_id")
        == "old"
    )


@pytest.mark.parametrize(
    ("data", "needles"),
    [
        ({"purchase": {"totl_price": "x"}}, ["'purchase'", "'totl_price'"]),
        ({"purchases": {"total_price": "x"}}, ["'purchases'"]),
        ({"view_item": {"price": "bad path!"}}, ["'view_item'", "'price'", "bad path!"]),
        ({"view_item": {"price": ""}}, ["'view_item'", "'price'"]),
    ],
)
def test_field_mapping_errors_name_table_and_field(data: dict, needles: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        FieldMapping.from_mapping(data)
    message = str(info.value)
    for needle in needles:
        assert needle in message


def test_field_mapping_from_yaml_and_json(tmp_path: Path) -> None:
    yaml_file = tmp_path / "mapping.yaml"
    yaml_file.write_text("purchase:\n  total_price: amount_eur\n", encoding="utf-8")
    json_file = tmp_path / "mapping.json"
    json_file.write_text(
        json.dumps({"tables": {"campaign": {"status": "state"}}}), encoding="utf-8"
    )
    assert load_field_mapping(yaml_file).property_path("purchase", "total_price") == "amount_eur"
    assert load_field_mapping(json_file).property_path("campaign", "status") == "state"
    assert load_field_mapping(None) == FieldMapping()
    bad = tmp_path / "bad.yaml"
    bad.write_text("campaign:\n  stat: state\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"(?s)'campaign'.*'stat'"):
        load_field_mapping(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="mapping of tables"):
        load_field_mapping(listing)


def test_validate_minimal_export(tmp_path: Path) -> None:
    root = _minimal_export(tmp_path / "export")
    (root / "_ground_truth").mkdir()
    (root / "_ground_truth" / "x.parquet").write_bytes(b"not parquet")  # ignored
    manifest = validate_export_folder(root)
    assert sorted(manifest.tables) == ["purchase", "session_start"]
    assert manifest.files("purchase") == [root / "purchase" / "part-00000.parquet"]
    assert manifest.tables["purchase"].timestamp_type == "timestamp"
    assert manifest.tables["purchase"].missing_properties == []
    assert "view_item" in manifest.missing_optional_tables
    assert "customers_properties" in manifest.missing_optional_tables


def test_validate_names_missing_required_table(tmp_path: Path) -> None:
    root = tmp_path / "export"
    _write(root, "session_start", _event_rows("session_start"))
    _write(root, "purchases", _event_rows("purchase"))  # a typo is not the table
    with pytest.raises(ExportValidationError, match="required table 'purchase' is missing"):
        validate_export_folder(root)


def test_validate_names_missing_column(tmp_path: Path) -> None:
    root = _minimal_export(tmp_path / "export")
    _write(root, "view_item", _event_rows("view_item"))
    _write(
        root, "view_item", _event_rows("view_item", drop="ingest_timestamp"), "part-00001.parquet"
    )
    with pytest.raises(ExportValidationError) as info:
        validate_export_folder(root)
    assert "'view_item'" in str(info.value)
    assert "'ingest_timestamp'" in str(info.value)
    assert "part-00001.parquet" in str(info.value)


def test_validate_checks_types_and_required_properties(tmp_path: Path) -> None:
    root = _minimal_export(tmp_path / "export")
    bad_ts = _event_rows("checkout").set_column(1, "timestamp", pa.array([1.5, 2.5]))
    _write(root, "checkout", bad_ts)
    with pytest.raises(ExportValidationError, match=r"'checkout'.*'timestamp'.*double"):
        validate_export_folder(root)
    (root / "checkout" / "part-00000.parquet").unlink()
    # purchase without purchase_status: a required property, named with its table.
    _write(
        root, "purchase", _event_rows("purchase", props={"purchase_id": "p1", "total_price": 1.0})
    )
    with pytest.raises(ExportValidationError, match=r"'purchase'.*'purchase_status'"):
        validate_export_folder(root)


def test_validate_reports_optional_missing_properties_and_mapping(tmp_path: Path) -> None:
    root = _minimal_export(tmp_path / "export")
    _write(
        root, "session_start", _event_rows("session_start", props={"client": {"kind": "mobile"}})
    )
    manifest = validate_export_folder(root)
    assert "device" in manifest.tables["session_start"].missing_properties
    mapped = FieldMapping.from_mapping({"session_start": {"device": "client.kind"}})
    manifest = validate_export_folder(root, field_mapping=mapped)
    assert "device" not in manifest.tables["session_start"].missing_properties
    assert manifest.tables["session_start"].property_fields == ["client"]


def test_validate_string_timestamps_customer_tables_and_ndjson(tmp_path: Path) -> None:
    root = _minimal_export(tmp_path / "export")
    as_strings = _event_rows("campaign").set_column(
        1, "timestamp", pa.array(["2025-03-01T12:00:00Z"] * 2)
    )
    _write(root, "campaign", as_strings)
    _write(
        root,
        "customers_properties",
        pa.table({"internal_customer_id": ["c0"], "properties": [{"email": "a@example.com"}]}),
    )
    ndjson = root / "merge" / "part-00000.json.gz"
    ndjson.parent.mkdir()
    record = {
        "internal_customer_id": "c1",
        "timestamp": "2025-03-01T12:00:00.000000Z",
        "ingest_timestamp": "2025-03-01T12:00:01.000000Z",
        "properties": {"merged_customer_id": "c0"},
    }
    with gzip.open(ndjson, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    manifest = validate_export_folder(root)
    assert manifest.tables["campaign"].timestamp_type == "string"
    assert manifest.tables["customers_properties"].customer_key == "internal_customer_id"
    assert manifest.tables["merge"].format == "ndjson"
    assert manifest.tables["merge"].property_fields == ["merged_customer_id"]
    _write(root, "customers_id_history", pa.table({"internal_customer_id": ["c1"]}))
    with pytest.raises(ExportValidationError, match=r"'customers_id_history'.*'past_id'"):
        validate_export_folder(root)


def test_validate_rejects_missing_folder_and_mixed_formats(tmp_path: Path) -> None:
    with pytest.raises(ExportValidationError, match="does not exist"):
        validate_export_folder(tmp_path / "nope")
    root = _minimal_export(tmp_path / "export")
    (root / "purchase" / "part-00001.json").write_text("{}\n", encoding="utf-8")
    with pytest.raises(ExportValidationError, match="mixes Parquet and NDJSON"):
        validate_export_folder(root)
