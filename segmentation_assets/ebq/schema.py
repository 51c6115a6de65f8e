"""The EBQ input contract: which tables an export holds, their columns, types and property fields.

Bloomreach Engagement exports to BigQuery ("EBQ") one table per event type. Every event table has
exactly four columns: ``internal_customer_id`` (string), ``timestamp`` (business time, UTC),
``ingest_timestamp`` (when Bloomreach processed the event, UTC) and ``properties`` (a STRUCT holding
the table's fields). Customer tables are rebuilt in full every day and carry no event time.

An export folder on disk (what the generator writes and the loader reads) looks like::

    <root>/<table>/part-00000.parquet      # several part files allowed; or *.json[.gz] (NDJSON)
    <root>/<table>.parquet                 # a single file named after the table is accepted too
    <root>/_ground_truth/...               # synthetic data only; ignored by the loader

Timestamps are ``timestamp('us', tz='UTC')`` or ISO-8601 strings (some exports carry strings, so
the ingestion accepts both). :func:`validate_export_folder` checks a folder against this contract
by reading Parquet footers only, never the data.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, field_validator

# --- currencies -----------------------------------------------------------------------------------

BASE_CURRENCY = "EUR"
#: Default conversion rates: 1 unit of the key currency = rate units of EUR.
DEFAULT_FX_RATES_TO_BASE: Mapping[str, float] = MappingProxyType({"EUR": 1.0, "USD": 0.92})
CURRENCIES: tuple[str, ...] = tuple(DEFAULT_FX_RATES_TO_BASE)

# --- enumerations the generator plants and the ingestion recognises -------------------------------

DEVICES: tuple[str, ...] = ("mobile", "desktop", "tablet")
CART_ACTIONS: tuple[str, ...] = ("add", "remove")
PURCHASE_STATUSES: tuple[str, ...] = ("success", "refund")
CAMPAIGN_ACTION_TYPES: tuple[str, ...] = ("email", "mobile notification")
CAMPAIGN_STATUSES: tuple[str, ...] = ("delivered", "opened", "clicked")

# --- column types ---------------------------------------------------------------------------------

TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")
STRING = pa.string()
DOUBLE = pa.float64()
INT64 = pa.int64()

#: The four columns of every event table, in order.
EVENT_COLUMNS: tuple[str, ...] = (
    "internal_customer_id",
    "timestamp",
    "ingest_timestamp",
    "properties",
)
#: Event columns that hold an instant (a timestamp or an ISO-8601 string).
EVENT_TIME_COLUMNS: tuple[str, ...] = ("timestamp", "ingest_timestamp")

_CATEGORY_FIELDS: dict[str, pa.DataType] = {
    "category_level_1": STRING,
    "category_level_2": STRING,
    "category_level_3": STRING,
}

#: Event table → canonical property field → Arrow type. The ingestion SQL reads exactly these
#: names unless a :class:`FieldMapping` points a field at another property path.
EVENT_PROPERTIES: Mapping[str, Mapping[str, pa.DataType]] = MappingProxyType(
    {
        "session_start": {
            "device": STRING,  # 'mobile' | 'desktop' | 'tablet'
            "browser": STRING,
            "os": STRING,
            "utm_source": STRING,
            "utm_medium": STRING,
            "utm_campaign": STRING,
            "location": STRING,  # ISO 3166-1 alpha-2 country code
        },
        "page_visit": {"path": STRING, "title": STRING},
        "view_category": dict(_CATEGORY_FIELDS),
        "view_item": {
            "product_id": STRING,
            "title": STRING,
            **_CATEGORY_FIELDS,
            "price": DOUBLE,
        },
        "cart_update": {
            "action": STRING,  # 'add' | 'remove'
            "product_id": STRING,
            "price": DOUBLE,
            "quantity": INT64,
        },
        "checkout": {"total_price": DOUBLE, "step": STRING},
        "purchase": {
            "purchase_id": STRING,
            "purchase_status": STRING,  # 'success' | 'refund' (refund = later row, same id)
            "total_price": DOUBLE,  # base currency (EUR)
            "total_price_local_currency": DOUBLE,
            "local_currency": STRING,  # 'EUR' | 'USD'
            "total_quantity": INT64,
            "product_list": pa.list_(STRING),
            "voucher": STRING,  # null when none
            "discount": DOUBLE,  # 0 when none
        },
        "purchase_item": {
            "purchase_id": STRING,
            "product_id": STRING,
            **_CATEGORY_FIELDS,
            "price": DOUBLE,
            "quantity": INT64,
            "purchase_status": STRING,
        },
        "campaign": {
            "action_type": STRING,  # 'email' | 'mobile notification'
            "status": STRING,  # 'delivered' | 'opened' | 'clicked'
            "campaign_name": STRING,
        },
        # internal_customer_id = the surviving id; merged_customer_id = the id merged into it.
        "merge": {"merged_customer_id": STRING},
    }
)
EVENT_TABLES: tuple[str, ...] = tuple(EVENT_PROPERTIES)
EVENT_PROPERTY_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {table: tuple(fields) for table, fields in EVENT_PROPERTIES.items()}
)
#: Without these two tables there is nothing to segment; every other table is optional.
REQUIRED_EVENT_TABLES: tuple[str, ...] = ("purchase", "session_start")
OPTIONAL_EVENT_TABLES: tuple[str, ...] = tuple(
    t for t in EVENT_TABLES if t not in REQUIRED_EVENT_TABLES
)
#: Property fields a table cannot be used without (the ingestion raises on the same set); any
#: other missing property is read as NULL and reported in :attr:`TableFiles.missing_properties`.
REQUIRED_PROPERTIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "purchase": ("purchase_id", "purchase_status", "total_price"),
        "purchase_item": ("purchase_id", "product_id", "price"),
        "view_category": ("category_level_1",),
        "cart_update": ("action",),
        "campaign": ("action_type", "status"),
        "merge": ("merged_customer_id",),
    }
)

# --- customer tables ------------------------------------------------------------------------------

#: Key column names a customers_properties export may use, in order of preference.
CUSTOMER_KEY_CANDIDATES: tuple[str, ...] = ("internal_customer_id", "internal_id")
#: The key column the synthetic generator writes (real exports may use ``internal_customer_id``).
GENERATOR_CUSTOMER_KEY = "internal_id"
CUSTOMER_PROPERTIES: Mapping[str, pa.DataType] = MappingProxyType(
    {"email": STRING, "first_name": STRING, "created_at": TIMESTAMP_TYPE}
)
CUSTOMER_TABLE_SCHEMAS: Mapping[str, pa.Schema] = MappingProxyType(
    {
        "customers_properties": pa.schema(
            [
                (GENERATOR_CUSTOMER_KEY, STRING),
                ("properties", pa.struct(list(CUSTOMER_PROPERTIES.items()))),
            ]
        ),
        # One row per merge as it happened: a→b then b→c gives (b, a) and (c, b), not resolved.
        "customers_id_history": pa.schema([("internal_customer_id", STRING), ("past_id", STRING)]),
        "customers_external_ids": pa.schema(
            [("internal_customer_id", STRING), ("id_name", STRING), ("id_value", STRING)]
        ),
    }
)
CUSTOMER_TABLES: tuple[str, ...] = tuple(CUSTOMER_TABLE_SCHEMAS)
#: Columns each customer table must have; the customers_properties key is checked separately.
CUSTOMER_REQUIRED_COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "customers_properties": ("properties",),
        "customers_id_history": ("internal_customer_id", "past_id"),
        "customers_external_ids": ("internal_customer_id", "id_name", "id_value"),
    }
)

ALL_TABLES: tuple[str, ...] = EVENT_TABLES + CUSTOMER_TABLES

PARQUET_SUFFIXES: tuple[str, ...] = (".parquet",)
NDJSON_SUFFIXES: tuple[str, ...] = (
    ".json",
    ".jsonl",
    ".ndjson",
    ".json.gz",
    ".jsonl.gz",
    ".ndjson.gz",
)


def property_struct_type(table: str) -> pa.StructType:
    """The ``properties`` STRUCT type of an event table, fields in canonical order."""
    return pa.struct(list(_event_properties(table).items()))


def event_table_schema(table: str, *, timestamps_as_strings: bool = False) -> pa.Schema:
    """The Arrow schema of an event table as the generator writes it.

    With ``timestamps_as_strings`` the ``timestamp`` column is an ISO-8601 string (as some exports
    carry it); ``ingest_timestamp`` stays a timestamp.
    """
    return pa.schema(
        [
            ("internal_customer_id", STRING),
            ("timestamp", STRING if timestamps_as_strings else TIMESTAMP_TYPE),
            ("ingest_timestamp", TIMESTAMP_TYPE),
            ("properties", property_struct_type(table)),
        ]
    )


def customer_table_schema(table: str) -> pa.Schema:
    """The Arrow schema of a customer table as the generator writes it."""
    try:
        return CUSTOMER_TABLE_SCHEMAS[table]
    except KeyError:
        raise KeyError(
            f"unknown customer table {table!r}; known: {', '.join(CUSTOMER_TABLES)}"
        ) from None


def _event_properties(table: str) -> Mapping[str, pa.DataType]:
    try:
        return EVENT_PROPERTIES[table]
    except KeyError:
        raise KeyError(f"unknown event table {table!r}; known: {', '.join(EVENT_TABLES)}") from None


def detect_customer_key(columns: Iterable[str], table: str = "customers_properties") -> str:
    """Return the customer key column present in ``columns``.

    Real exports call it ``internal_customer_id``, the generator (like some projects) ``internal_id``;
    when both exist ``internal_customer_id`` wins. Raises ``ExportValidationError`` naming the table
    when neither is present.
    """
    present = list(columns)
    for candidate in CUSTOMER_KEY_CANDIDATES:
        if candidate in present:
            return candidate
    raise ExportValidationError(
        f"table {table!r}: no customer key column; expected one of "
        f"{', '.join(repr(c) for c in CUSTOMER_KEY_CANDIDATES)}, columns present: "
        f"{', '.join(present) or 'none'}"
    )


# --- field mapping --------------------------------------------------------------------------------

_PROPERTY_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_PROPERTIES_PREFIX = "properties."


class FieldMapping(BaseModel):
    """Per event table: canonical field → property path inside ``properties`` (default identity).

    Paths are dotted and relative to the ``properties`` STRUCT (``device`` or ``client.device``); a
    leading ``properties.`` is accepted and stripped. Unknown tables or fields and malformed paths
    are rejected with an error naming the table and the field. Load one with :meth:`from_file`::

        purchase:
          total_price: amount_eur
        session_start:
          device: client.device_type
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tables: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("tables")
    @classmethod
    def _check_tables(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        checked: dict[str, dict[str, str]] = {}
        for table, fields in value.items():
            if table not in EVENT_PROPERTIES:
                raise ValueError(
                    f"field mapping names unknown event table {table!r}; "
                    f"known tables: {', '.join(EVENT_TABLES)}"
                )
            checked[table] = {}
            for field_name, path in fields.items():
                if field_name not in EVENT_PROPERTIES[table]:
                    raise ValueError(
                        f"field mapping for table {table!r}: unknown field {field_name!r}; "
                        f"fields of {table!r}: {', '.join(EVENT_PROPERTIES[table])}"
                    )
                relative = path.strip()
                if relative.startswith(_PROPERTIES_PREFIX):
                    relative = relative[len(_PROPERTIES_PREFIX) :]
                if not _PROPERTY_PATH.match(relative):
                    raise ValueError(
                        f"field mapping for table {table!r}, field {field_name!r}: invalid "
                        f"property path {path!r} (expected dotted identifiers such as 'a.b')"
                    )
                checked[table][field_name] = relative
        return checked

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> FieldMapping:
        """Build from ``{"tables": {...}}`` or directly from ``{table: {field: path}}``."""
        if not data:
            return cls()
        if set(data) == {"tables"}:
            return cls.model_validate(dict(data))
        return cls.model_validate({"tables": dict(data)})

    @classmethod
    def from_file(cls, path: str | Path) -> FieldMapping:
        """Load a YAML (``.yaml``/``.yml``) or JSON file; see the class docstring for the shape."""
        file = Path(path)
        text = file.read_text(encoding="utf-8")
        if file.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml  # only needed for YAML mappings

            data = yaml.safe_load(text)
        if data is not None and not isinstance(data, Mapping):
            raise ValueError(f"field mapping file {file}: top level must be a mapping of tables")
        return cls.from_mapping(data)

    def property_path(self, table: str, field_name: str) -> str:
        """The path of ``field_name`` relative to ``properties`` (identity when not mapped)."""
        if field_name not in _event_properties(table):
            raise KeyError(f"table {table!r} has no canonical field {field_name!r}")
        return self.tables.get(table, {}).get(field_name, field_name)

    def column_path(self, table: str, field_name: str) -> str:
        """The full column path, e.g. ``properties.total_price``."""
        return _PROPERTIES_PREFIX + self.property_path(table, field_name)

    def resolved(self, table: str) -> dict[str, str]:
        """Every canonical field of ``table`` → its property path (mapped or identity)."""
        return {f: self.property_path(table, f) for f in _event_properties(table)}

    def overrides(self) -> dict[str, dict[str, str]]:
        """Only the explicitly mapped fields, as full ``properties.<path>`` column paths."""
        return {
            table: {f: _PROPERTIES_PREFIX + p for f, p in fields.items()}
            for table, fields in self.tables.items()
            if fields
        }


def load_field_mapping(path: str | Path | None) -> FieldMapping:
    """The mapping in ``path``, or the identity mapping when ``path`` is None."""
    return FieldMapping() if path is None else FieldMapping.from_file(path)


# --- export folder validation ---------------------------------------------------------------------


class ExportValidationError(ValueError):
    """An export folder breaks the contract; the message names the table and column at fault."""


TableKind = Literal["event", "customer", "other"]
FileFormat = Literal["parquet", "ndjson"]


class TableFiles(BaseModel):
    """One table found in an export folder."""

    name: str
    kind: TableKind
    format: FileFormat
    files: list[Path]
    #: Column → type (Arrow type string for Parquet; JSON value kind for NDJSON).
    columns: dict[str, str]
    #: How ``timestamp`` is stored: 'timestamp', 'string' or another type name (event tables only).
    timestamp_type: str | None = None
    #: The key column of customers_properties ('internal_customer_id' or 'internal_id').
    customer_key: str | None = None
    #: Top-level fields of the ``properties`` STRUCT.
    property_fields: list[str] = Field(default_factory=list)
    #: Canonical property fields whose (mapped) path is absent; they read as NULL.
    missing_properties: list[str] = Field(default_factory=list)


class ExportManifest(BaseModel):
    """What :func:`validate_export_folder` found: the tables present and their files."""

    root: Path
    tables: dict[str, TableFiles]
    missing_optional_tables: list[str] = Field(default_factory=list)
    #: Folders that are not contract tables (kept so a typo such as 'purchases' is visible).
    unknown_tables: list[str] = Field(default_factory=list)

    def has(self, table: str) -> bool:
        """Whether ``table`` is present."""
        return table in self.tables

    def files(self, table: str) -> list[Path]:
        """The data files of ``table`` (empty when absent)."""
        return list(self.tables[table].files) if table in self.tables else []


def _table_name(entry: Path) -> str | None:
    if entry.is_dir():
        return entry.name
    for suffix in sorted((*PARQUET_SUFFIXES, *NDJSON_SUFFIXES), key=len, reverse=True):
        if entry.name.endswith(suffix):
            return entry.name[: -len(suffix)]
    return None


def _data_files(entry: Path) -> tuple[FileFormat | None, list[Path]]:
    files = sorted(p for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else [entry]
    files = [p for p in files if not p.name.startswith((".", "_"))]
    parquet = [p for p in files if p.name.endswith(PARQUET_SUFFIXES)]
    ndjson = [p for p in files if p.name.endswith(NDJSON_SUFFIXES)]
    if parquet and ndjson:
        raise ExportValidationError(
            f"table folder {entry} mixes Parquet and NDJSON files; use one format per table"
        )
    if parquet:
        return "parquet", parquet
    if ndjson:
        return "ndjson", ndjson
    return None, []


def _type_name(arrow_type: pa.DataType) -> str:
    if pa.types.is_dictionary(arrow_type):
        return _type_name(arrow_type.value_type)
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    return str(arrow_type)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "struct"


def _first_json_record(file: Path) -> dict[str, Any]:
    opener = gzip.open if file.name.endswith(".gz") else open
    with opener(file, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ExportValidationError(f"{file}: NDJSON lines must be objects")
                return record
    return {}


class _FileSchema:
    """Columns of one data file, and for ``properties`` the nested field tree."""

    def __init__(self, columns: dict[str, str], properties: dict[str, Any] | None) -> None:
        self.columns = columns
        self.properties = properties  # nested dict: field → subtree (None for a leaf)

    @classmethod
    def of_parquet(cls, file: Path) -> _FileSchema:
        schema = pq.read_schema(file)  # footer only: no data is read
        columns = {f.name: _type_name(f.type) for f in schema}
        props = None
        if "properties" in schema.names:
            ptype = schema.field("properties").type
            props = _struct_tree(ptype) if pa.types.is_struct(ptype) else None
        return cls(columns, props)

    @classmethod
    def of_ndjson(cls, file: Path) -> _FileSchema:
        record = _first_json_record(file)
        columns = {k: _json_kind(v) for k, v in record.items()}
        props = record.get("properties")
        return cls(columns, _dict_tree(props) if isinstance(props, dict) else None)


def _struct_tree(struct_type: pa.DataType) -> dict[str, Any]:
    return {
        f.name: (_struct_tree(f.type) if pa.types.is_struct(f.type) else None)
        for f in struct_type  # type: ignore[attr-defined]
    }


def _dict_tree(value: dict[str, Any]) -> dict[str, Any]:
    return {k: (_dict_tree(v) if isinstance(v, dict) else None) for k, v in value.items()}


def _has_path(tree: dict[str, Any], path: str) -> bool:
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


_TIMESTAMP_OK = ("timestamp", "string")


def _check_event_file(
    table: str, file: Path, schema: _FileSchema, fmt: FileFormat, mapping: FieldMapping
) -> list[str]:
    for column in EVENT_COLUMNS:
        if column not in schema.columns:
            raise ExportValidationError(
                f"table {table!r}: required column {column!r} is missing in {file.name}; "
                f"columns present: {', '.join(schema.columns) or 'none'}"
            )
    if fmt == "parquet":
        if schema.columns["internal_customer_id"] != "string":
            raise ExportValidationError(
                f"table {table!r}: column 'internal_customer_id' must be a string, got "
                f"{schema.columns['internal_customer_id']} in {file.name}"
            )
        for column in EVENT_TIME_COLUMNS:
            if schema.columns[column] not in _TIMESTAMP_OK:
                raise ExportValidationError(
                    f"table {table!r}: column {column!r} must be a timestamp or an ISO-8601 "
                    f"string, got {schema.columns[column]} in {file.name}"
                )
    if schema.properties is None:
        raise ExportValidationError(
            f"table {table!r}: column 'properties' must be a STRUCT/record, got "
            f"{schema.columns['properties']} in {file.name}"
        )
    missing: list[str] = []
    for field_name in EVENT_PROPERTIES[table]:
        path = mapping.property_path(table, field_name)
        if _has_path(schema.properties, path):
            continue
        if field_name in REQUIRED_PROPERTIES.get(table, ()):
            raise ExportValidationError(
                f"table {table!r}: required property {field_name!r} (column "
                f"'properties.{path}') is missing in {file.name}; properties present: "
                f"{', '.join(schema.properties) or 'none'}"
            )
        missing.append(field_name)
    return missing


def _check_customer_file(table: str, file: Path, schema: _FileSchema) -> str | None:
    key = None
    if table == "customers_properties":
        key = detect_customer_key(schema.columns, table)
    for column in CUSTOMER_REQUIRED_COLUMNS[table]:
        if column not in schema.columns:
            raise ExportValidationError(
                f"table {table!r}: required column {column!r} is missing in {file.name}; "
                f"columns present: {', '.join(schema.columns) or 'none'}"
            )
    return key


def validate_export_folder(
    path: str | Path, *, field_mapping: FieldMapping | None = None
) -> ExportManifest:
    """Check an export folder against the contract and list its tables and files.

    Reads Parquet footers (``pyarrow.parquet.read_schema``) — never the data — and, for NDJSON, the
    first record of each file. Raises :class:`ExportValidationError` naming the table when a required
    table (``purchase``, ``session_start``) is missing, and naming table and column when a file lacks
    a required column, has a wrongly typed key/time column, or lacks a required property.
    """
    root = Path(path)
    if not root.is_dir():
        raise ExportValidationError(f"EBQ export folder {root} does not exist or is not a folder")
    mapping = field_mapping or FieldMapping()
    tables: dict[str, TableFiles] = {}
    unknown: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(("_", ".")):
            continue
        name = _table_name(entry)
        if name is None:
            continue
        fmt, files = _data_files(entry)
        if fmt is None:
            continue
        if name in tables:
            raise ExportValidationError(f"table {name!r} appears both as a folder and as a file")
        kind: TableKind = (
            "event"
            if name in EVENT_PROPERTIES
            else "customer"
            if name in CUSTOMER_TABLES
            else "other"
        )
        if kind == "other":
            unknown.append(name)
            continue
        columns: dict[str, str] = {}
        property_fields: list[str] = []
        missing: set[str] = set()
        customer_key = None
        for file in files:
            schema = (
                _FileSchema.of_parquet(file) if fmt == "parquet" else _FileSchema.of_ndjson(file)
            )
            if kind == "event":
                missing.update(_check_event_file(name, file, schema, fmt, mapping))
            else:
                customer_key = _check_customer_file(name, file, schema)
            for column, type_name in schema.columns.items():
                columns.setdefault(column, type_name)
            for field_name in schema.properties or {}:
                if field_name not in property_fields:
                    property_fields.append(field_name)
        tables[name] = TableFiles(
            name=name,
            kind=kind,
            format=fmt,
            files=files,
            columns=columns,
            timestamp_type=columns.get("timestamp") if kind == "event" else None,
            customer_key=customer_key,
            property_fields=property_fields,
            missing_properties=[f for f in EVENT_PROPERTIES.get(name, {}) if f in missing],
        )
    for required in REQUIRED_EVENT_TABLES:
        if required not in tables:
            raise ExportValidationError(
                f"required table {required!r} is missing from export folder {root} "
                f"(expected {root / required}/*.parquet or *.json[.gz]); "
                f"tables found: {', '.join(sorted(tables)) or 'none'}"
            )
    optional = (*OPTIONAL_EVENT_TABLES, *CUSTOMER_TABLES)
    return ExportManifest(
        root=root,
        tables=tables,
        missing_optional_tables=[t for t in optional if t not in tables],
        unknown_tables=unknown,
    )
