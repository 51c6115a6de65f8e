"""A realistic, fast and deterministic synthetic EBQ export with planted ground truth.

:func:`generate_ebq_export` writes the export layout of :mod:`segmentation_assets.ebq.schema`
(``<root>/<table>/part-NNNNN.parquet``, one part file per chunk of customers) plus
``<root>/_ground_truth/customers.parquet`` and ``<root>/_ground_truth/manifest.json``.

What is planted (the segmentation is measured on recovering it):

* six archetypes (:data:`ARCHETYPES`) that differ in frequency, basket, discounts, devices, hours,
  weekdays, cart abandonment, email engagement and lifecycle (``lapsing_regular`` goes quiet 4-6
  months before the end; ``new_explorer`` arrives in the last ~2 months and buys at most once);
* per-customer category preferences (Dirichlet over 8 level-1 categories), price tier, discount
  affinity and device mix; seasonality (November/December peak, Black-Friday week);
  arrivals spread over the window and a churn process;
* refunds (a later ``purchase`` row with ``purchase_status='refund'`` and the same ``purchase_id``),
  EUR and USD orders, anonymous ids merged into known customers (including chains a→b→c; events
  keep the old id), ~0.5% exact duplicates and ~0.5% late-arriving events;
* optionally (``bad_rows=True``) a documented number of bad rows of each kind in
  :data:`BAD_ROW_TABLES`, recorded per table and kind in the manifest.

Speed and memory: everything is array work per chunk of customers (NumPy + Arrow, no per-event or
per-customer Python objects), chunks are independent (seeded by ``(seed, chunk index)``) and can run
in parallel processes, and memory is bounded by the chunk size. Determinism: the same arguments give
byte-identical files regardless of ``workers``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from time import perf_counter
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from segmentation_assets.ebq.schema import (
    BASE_CURRENCY,
    CUSTOMER_PROPERTIES,
    CUSTOMER_TABLE_SCHEMAS,
    CUSTOMER_TABLES,
    DEFAULT_FX_RATES_TO_BASE,
    EVENT_PROPERTIES,
    EVENT_TABLES,
    GENERATOR_CUSTOMER_KEY,
    TIMESTAMP_TYPE,
    ExportManifest,
    event_table_schema,
    validate_export_folder,
)

GENERATOR_VERSION = 1
DEFAULT_CHUNK_CUSTOMERS = 25_000
#: Rows per Parquet row group: small enough that a daily window skips most of a sorted part file.
ROW_GROUP_SIZE = 131_072
PARQUET_OPTIONS: Mapping[str, Any] = {
    "compression": "zstd",
    "compression_level": 1,
    "write_statistics": True,
    # No stored Arrow schema: dictionary-encoded columns then read back as plain strings, and the
    # file is the same whatever Arrow-side representation produced it.
    "store_schema": False,
    "data_page_version": "1.0",
    # Large enough that no dictionary (at most the ids of one chunk) overflows into the writer's
    # plain-encoding fallback, whose bytes were seen to vary between runs.
    "dictionary_pagesize_limit": 64 * 1024 * 1024,
}
#: Above this many id bytes per chunk the ids are written dense instead of as a dictionary.
_MAX_ID_DICTIONARY_BYTES = 32 * 1024 * 1024
#: Columns never worth a dictionary (nearly unique per row); typed timestamps get delta encoding.
_NO_DICTIONARY = frozenset({"properties.purchase_id", "properties.total_price_local_currency"})

DUPLICATE_RATE = 0.005
LATE_ARRIVAL_RATE = 0.005
#: Share of customers whose earliest sessions use one or two anonymous ids merged later.
ANONYMOUS_SHARE = 0.10
USD_SHARE = 0.12
#: A late event is ingested between these many days after its business timestamp.
LATE_DAYS = (1.0, 7.0)

#: Bad-row kinds (named like the ingestion's quarantine reasons) → event tables they are put in.
#: Amount kinds go only where the ingestion reads that field as an amount; ``non_numeric_amount`` is a
#: NaN ``total_price`` (and NaN ``total_price_local_currency``) in ``purchase``.
BAD_ROW_TABLES: Mapping[str, tuple[str, ...]] = {
    "null_customer_id": EVENT_TABLES,
    "unparsable_timestamp": EVENT_TABLES,
    "timestamp_after_ingest": EVENT_TABLES,
    "non_numeric_amount": ("purchase",),
    "unknown_currency": ("purchase",),
    "negative_amount": ("view_item", "cart_update", "purchase", "purchase_item"),
}
BAD_ROW_KINDS: tuple[str, ...] = tuple(BAD_ROW_TABLES)
UNPARSABLE_TIMESTAMPS: tuple[str, ...] = ("not-a-timestamp", "2025-13-45T99:99:99Z")
UNKNOWN_CURRENCY = "XXX"

_DAY = 86_400_000_000
_HOUR = 3_600_000_000
_MINUTE = 60_000_000
_SECOND = 1_000_000


# --- archetypes -----------------------------------------------------------------------------------

_HOURS_DEFAULT = (
    0.15, 0.08, 0.05, 0.05, 0.05, 0.1, 0.3, 0.6, 0.8, 0.9, 1.0, 1.1,
    1.3, 1.2, 1.0, 1.0, 1.0, 1.1, 1.3, 1.6, 1.7, 1.5, 1.0, 0.5,
)  # fmt: skip
_HOURS_OFFICE = (
    0.05, 0.03, 0.02, 0.02, 0.02, 0.05, 0.2, 0.8, 1.6, 1.9, 2.0, 1.9,
    1.6, 1.8, 1.9, 1.8, 1.5, 1.1, 0.9, 0.9, 0.9, 0.7, 0.4, 0.15,
)  # fmt: skip
_HOURS_EVENING = (
    0.4, 0.2, 0.08, 0.04, 0.04, 0.05, 0.1, 0.25, 0.3, 0.3, 0.3, 0.4,
    0.9, 0.8, 0.4, 0.4, 0.5, 0.7, 1.3, 2.6, 3.2, 3.4, 2.8, 1.4,
)  # fmt: skip

#: utm (source, medium, campaign); None = direct traffic without utm parameters.
CHANNELS: tuple[tuple[str | None, str | None, str | None], ...] = (
    (None, None, None),
    ("google", "cpc", "brand_search"),
    ("google", "organic", None),
    ("facebook", "social", "retargeting"),
    ("instagram", "social", "influencer"),
    ("newsletter", "email", "weekly_newsletter"),
    ("pricecompare", "affiliate", "deal_sites"),
    ("tiktok", "social", "short_video"),
)


@dataclass(frozen=True)
class Archetype:
    """Behaviour parameters of one planted customer archetype (medians; customers vary around them)."""

    name: str
    share: float
    established: float  # share already active when the window opens
    churn_prob: float  # chance of going quiet at a random date (lapsing_regular: always, late)
    sessions_per_month: float
    conversion: float  # chance a session ends in a purchase
    lines_per_order: float
    extra_quantity: float  # mean of (quantity - 1) per order line
    price_skew: float  # <1 picks expensive products, >1 cheap ones
    discount_prob: float  # chance an order uses a voucher
    abandon_prob: float  # chance a non-buying session adds to cart
    page_visits: float  # mean extra page visits per session (one is always there)
    category_views: float
    item_views: float
    session_minutes: float
    device_alpha: tuple[float, float, float]  # Dirichlet over (mobile, desktop, tablet)
    weekend_factor: float
    hours: tuple[float, ...]
    channels: tuple[float, ...]  # weights over CHANNELS
    email_open: float
    email_click: float  # click given open
    push_open: float
    refund_prob: float
    category_focus: float  # Dirichlet concentration scale: low = a few favourite categories


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        "vip_loyal", 0.08, 0.9, 0.02, 1.8, 0.40, 2.6, 0.35, 0.45, 0.05, 0.15,
        0.7, 0.4, 1.3, 9.0, (6.0, 21.0, 3.0), 0.85, _HOURS_OFFICE,
        (0.45, 0.1, 0.15, 0.05, 0.02, 0.2, 0.01, 0.02), 0.65, 0.35, 0.3, 0.03, 0.35,
    ),
    Archetype(
        "bargain_hunter", 0.18, 0.6, 0.10, 1.1, 0.18, 1.5, 0.4, 2.6, 0.75, 0.55,
        0.8, 0.9, 1.6, 7.0, (12.0, 12.0, 3.0), 1.1, _HOURS_DEFAULT,
        (0.15, 0.2, 0.1, 0.1, 0.05, 0.15, 0.2, 0.05), 0.4, 0.3, 0.2, 0.06, 1.5,
    ),
    Archetype(
        "lapsing_regular", 0.14, 1.0, 1.0, 1.8, 0.36, 1.8, 0.2, 1.0, 0.2, 0.25,
        0.7, 0.5, 1.3, 6.0, (12.0, 15.0, 3.0), 1.0, _HOURS_DEFAULT,
        (0.35, 0.15, 0.2, 0.08, 0.05, 0.12, 0.03, 0.02), 0.3, 0.2, 0.1, 0.04, 0.6,
    ),
    Archetype(
        "new_explorer", 0.14, 0.0, 0.0, 5.5, 0.05, 1.2, 0.1, 1.2, 0.3, 0.35,
        1.2, 1.4, 2.3, 10.0, (15.0, 12.0, 3.0), 1.0, _HOURS_DEFAULT,
        (0.1, 0.3, 0.2, 0.15, 0.1, 0.02, 0.03, 0.1), 0.25, 0.15, 0.1, 0.04, 2.5,
    ),
    Archetype(
        "mobile_impulse", 0.22, 0.6, 0.10, 1.5, 0.30, 1.15, 0.05, 1.8, 0.15, 0.3,
        0.5, 0.3, 1.0, 4.0, (36.0, 2.0, 2.0), 2.2, _HOURS_EVENING,
        (0.2, 0.05, 0.05, 0.15, 0.25, 0.05, 0.05, 0.2), 0.15, 0.2, 0.35, 0.05, 0.8,
    ),
    Archetype(
        "window_shopper", 0.24, 0.6, 0.08, 0.9, 0.006, 1.2, 0.05, 1.3, 0.2, 0.2,
        1.0, 0.9, 2.1, 8.0, (12.0, 15.0, 3.0), 1.2, _HOURS_DEFAULT,
        (0.3, 0.15, 0.25, 0.1, 0.1, 0.02, 0.03, 0.05), 0.03, 0.1, 0.03, 0.04, 1.2,
    ),
)  # fmt: skip
ARCHETYPE_NAMES: tuple[str, ...] = tuple(a.name for a in ARCHETYPES)
_LAPSING = ARCHETYPE_NAMES.index("lapsing_regular")
_NEW = ARCHETYPE_NAMES.index("new_explorer")

# --- catalog and reference data -------------------------------------------------------------------

#: level 1 → level 2 → level 3 (a regular 8 x 4 x 3 tree, so children are index arithmetic).
CATEGORY_TREE: Mapping[str, Mapping[str, tuple[str, str, str]]] = {
    "Electronics": {
        "Phones": ("Smartphones", "Phone Cases", "Chargers"),
        "Computers": ("Laptops", "Monitors", "Keyboards"),
        "Audio": ("Headphones", "Speakers", "Soundbars"),
        "Smart Home": ("Smart Speakers", "Smart Lights", "Cameras"),
    },
    "Fashion": {
        "Women": ("Dresses", "Tops", "Jeans"),
        "Men": ("Shirts", "Trousers", "Jackets"),
        "Shoes": ("Sneakers", "Boots", "Sandals"),
        "Accessories": ("Bags", "Watches", "Sunglasses"),
    },
    "Home": {
        "Kitchen": ("Cookware", "Knives", "Small Appliances"),
        "Furniture": ("Chairs", "Tables", "Shelves"),
        "Decor": ("Lamps", "Rugs", "Cushions"),
        "Bedding": ("Duvets", "Pillows", "Sheets"),
    },
    "Beauty": {
        "Skincare": ("Cleansers", "Moisturisers", "Serums"),
        "Makeup": ("Lipstick", "Mascara", "Foundation"),
        "Hair": ("Shampoo", "Conditioner", "Styling"),
        "Fragrance": ("Perfume", "Aftershave", "Body Mist"),
    },
    "Sports": {
        "Fitness": ("Yoga Mats", "Dumbbells", "Resistance Bands"),
        "Outdoor": ("Tents", "Backpacks", "Hiking Poles"),
        "Cycling": ("Helmets", "Bike Lights", "Bike Locks"),
        "Running": ("Running Shoes", "Running Shirts", "Running Watches"),
    },
    "Books": {
        "Fiction": ("Crime", "Fantasy", "Romance"),
        "Non-fiction": ("Biography", "History", "Science"),
        "Children": ("Picture Books", "Early Readers", "Teen"),
        "Cooking": ("Baking", "Vegetarian", "World Cuisine"),
    },
    "Toys": {
        "Building": ("Bricks", "Construction Sets", "Marble Runs"),
        "Games": ("Board Games", "Puzzles", "Card Games"),
        "Dolls": ("Fashion Dolls", "Doll Houses", "Plush"),
        "Outdoor Toys": ("Scooters", "Water Toys", "Garden Games"),
    },
    "Grocery": {
        "Coffee & Tea": ("Coffee Beans", "Tea", "Capsules"),
        "Snacks": ("Chocolate", "Crisps", "Nuts"),
        "Pantry": ("Pasta", "Olive Oil", "Spices"),
        "Drinks": ("Juice", "Sparkling Water", "Soft Drinks"),
    },
}
CATEGORY_LEVEL_1: tuple[str, ...] = tuple(CATEGORY_TREE)
_L2_PER_L1 = 4
_L3_PER_L2 = 3
#: Median product price (EUR) per level-1 category, and overall popularity of the category.
_L1_MEDIAN_PRICE = (180.0, 45.0, 60.0, 25.0, 55.0, 15.0, 30.0, 8.0)
_L1_POPULARITY = (1.2, 1.5, 1.0, 0.9, 0.8, 0.6, 0.7, 0.9)
_PRODUCTS_PER_LEAF = 40
_BRANDS = ("Nordvik", "Alba", "Kestrel", "Lumo", "Verde", "Orion", "Maple & Co", "Tessera")

_STATIC_PAGES: tuple[tuple[str, str, float], ...] = (
    ("/", "Home", 3.0),
    ("/search", "Search results", 1.5),
    ("/sale", "Sale", 0.8),
    ("/new-in", "New in", 0.6),
    ("/cart", "Your cart", 0.7),
    ("/account", "My account", 0.4),
    ("/wishlist", "Wishlist", 0.3),
    ("/help/shipping", "Shipping & returns", 0.2),
    ("/stores", "Find a store", 0.1),
    ("/blog", "Inspiration", 0.3),
)
_CATEGORY_PAGE_SHARE = 0.3

_EU_COUNTRIES = ("DE", "FR", "NL", "ES", "IT", "AT", "BE", "IE")
_EU_COUNTRY_WEIGHTS = (0.3, 0.2, 0.1, 0.1, 0.1, 0.08, 0.07, 0.05)
_COUNTRIES = (*_EU_COUNTRIES, "US")

#: (device, os, browser, weight within the device)
_CLIENTS: tuple[tuple[int, str, str, float], ...] = (
    (0, "iOS", "Safari", 0.45),
    (0, "Android", "Chrome", 0.45),
    (0, "Android", "Samsung Internet", 0.10),
    (1, "Windows", "Chrome", 0.45),
    (1, "Windows", "Edge", 0.15),
    (1, "macOS", "Safari", 0.20),
    (1, "macOS", "Chrome", 0.12),
    (1, "Linux", "Firefox", 0.08),
    (2, "iPadOS", "Safari", 0.70),
    (2, "Android", "Chrome", 0.30),
)
_OS_NAMES = tuple(sorted({c[1] for c in _CLIENTS}))
_BROWSER_NAMES = tuple(sorted({c[2] for c in _CLIENTS}))

#: (code, share off); BLACKFRIDAY25 is used in November only.
_VOUCHERS: tuple[tuple[str, float], ...] = (
    ("WELCOME10", 0.10),
    ("SAVE15", 0.15),
    ("FLASH20", 0.20),
    ("BLACKFRIDAY25", 0.25),
)
_FIRST_NAMES = (
    "Anna", "Lukas", "Marie", "Jonas", "Sofia", "Noah", "Emma", "Liam", "Mia", "Elias",
    "Lea", "Paul", "Clara", "Felix", "Lina", "Jan", "Sara", "Tom", "Eva", "Max",
    "Olivia", "James", "Chloe", "Lucas", "Julia", "Hugo", "Nora", "Leo", "Ines", "Milan",
)  # fmt: skip
_MONTH_FACTOR = (0.9, 0.85, 0.95, 0.95, 1.0, 0.95, 0.9, 0.9, 1.0, 1.05, 1.35, 1.5)
_CHECKOUT_STEPS = ("shipping", "payment")


# --- public result types --------------------------------------------------------------------------


class GeneratorManifest(BaseModel):
    """``_ground_truth/manifest.json``: parameters, row counts and everything planted, by table."""

    generator_version: int
    seed: int
    n_customers: int
    start_date: date
    end_date: date
    chunk_customers: int
    bad_rows: bool
    bad_rows_per_kind: int
    timestamps_as_strings: bool
    include_merge_table: bool
    base_currency: str
    fx_rates_to_base: dict[str, float]
    rates: dict[str, float]
    archetype_shares: dict[str, float]
    archetype_counts: dict[str, int]
    row_counts: dict[str, int]
    #: Extra exact copies written per table (rows that are identical to an earlier row).
    duplicate_rows: dict[str, int]
    #: Rows (duplicates included) whose ingest_timestamp is more than a day after timestamp.
    late_rows: dict[str, int]
    #: table → bad-row kind → rows injected (empty unless bad_rows).
    bad_rows_injected: dict[str, dict[str, int]]
    orders: int
    refunds: int
    usd_orders: int
    customers_with_anonymous_ids: int
    merge_chains: int
    merges: int
    files: dict[str, list[str]]


class GeneratedExport(BaseModel):
    """What :func:`generate_ebq_export` returns."""

    root: Path
    export: ExportManifest
    manifest: GeneratorManifest
    seconds: float = Field(description="Wall time of the generation (not in the manifest).")

    @property
    def ground_truth_path(self) -> Path:
        """``<root>/_ground_truth/customers.parquet``."""
        return self.root / "_ground_truth" / "customers.parquet"


def read_generator_manifest(root: str | Path) -> GeneratorManifest:
    """Load ``<root>/_ground_truth/manifest.json``."""
    text = (Path(root) / "_ground_truth" / "manifest.json").read_text(encoding="utf-8")
    return GeneratorManifest.model_validate_json(text)


def read_ground_truth(root: str | Path) -> pa.Table:
    """Load ``<root>/_ground_truth/customers.parquet`` (customer_id, archetype, first_seen, churned_at)."""
    return pq.read_table(Path(root) / "_ground_truth" / "customers.parquet")


GROUND_TRUTH_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("archetype", pa.string()),
        ("first_seen", TIMESTAMP_TYPE),
        ("churned_at", TIMESTAMP_TYPE),
    ]
)


# --- plan (what every chunk needs; picklable) -----------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    root: str
    seed: int
    n_customers: int
    start_date: date
    end_date: date
    chunk_customers: int
    bad_rows: bool
    bad_rows_per_kind: int
    timestamps_as_strings: bool
    include_merge_table: bool

    @property
    def n_days(self) -> int:
        return (self.end_date - self.start_date).days + 1

    @property
    def start_us(self) -> int:
        return _epoch_us(self.start_date)

    @property
    def end_us(self) -> int:
        """Exclusive end: midnight after ``end_date``."""
        return self.start_us + self.n_days * _DAY

    @property
    def n_chunks(self) -> int:
        return max(1, math.ceil(self.n_customers / self.chunk_customers))


def _epoch_us(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * _SECOND


@dataclass
class _ChunkResult:
    index: int
    row_counts: dict[str, int]
    duplicate_rows: dict[str, int]
    late_rows: dict[str, int]
    bad_rows: dict[str, dict[str, int]]
    archetype_counts: list[int]
    orders: int
    refunds: int
    usd_orders: int
    anonymous_customers: int
    chains: int
    merges: int
    ground_truth: pa.Table


# --- calendar -------------------------------------------------------------------------------------


@cache
def _calendar(start_date: date, n_days: int) -> dict[str, np.ndarray]:
    """Per-day seasonality and per-archetype cumulative day weights (cached per process)."""
    days = np.arange(n_days)
    dates = [start_date + timedelta(days=int(d)) for d in days]
    month = np.array([d.month for d in dates])
    weekday = np.array([d.weekday() for d in dates])  # Monday = 0
    season = np.array([_MONTH_FACTOR[m - 1] for m in month], dtype=np.float64)
    for i, d in enumerate(dates):
        if _is_black_friday_week(d):
            season[i] *= 1.8
        elif d.month == 12 and d.day <= 20:
            season[i] *= 1.25
    # Normalise by a full calendar year so a short window keeps the absolute season level.
    season /= float(np.mean(_MONTH_FACTOR))
    weekend = weekday >= 5
    cdf = np.zeros((len(ARCHETYPES), n_days + 1))
    for a, arch in enumerate(ARCHETYPES):
        factor = np.where(weekend, arch.weekend_factor, 1.0)
        factor /= (5 + 2 * arch.weekend_factor) / 7  # mean weekday factor over a week is 1
        cdf[a, 1:] = np.cumsum(season * factor)
    return {"season": season, "month": month, "cdf": cdf}


def _is_black_friday_week(day: date) -> bool:
    if day.month != 11:
        return False
    last = date(day.year, 11, 30)
    black_friday = last - timedelta(days=(last.weekday() - 4) % 7)
    return -4 <= (day - black_friday).days <= 3


def _campaign_schedule(start_date: date, n_days: int) -> list[tuple[int, str, int, float]]:
    """(day index, campaign_name, action type 0=email 1=push, share of customers targeted)."""
    out: list[tuple[int, str, int, float]] = []
    for day in range(2, n_days, 21):
        d = start_date + timedelta(days=day)
        out.append((day, f"newsletter_{d:%Y_%m_%d}", 0, 0.55))
    for day in range(5, n_days, 21):
        d = start_date + timedelta(days=day)
        out.append((day, f"push_flash_deal_{d:%Y_%m_%d}", 1, 0.7))
    for day in range(n_days):
        d = start_date + timedelta(days=day)
        if (d.month, d.day) == (3, 20):
            out.append((day, f"spring_sale_{d.year}", 0, 0.8))
        elif (d.month, d.day) == (7, 1):
            out.append((day, f"summer_sale_{d.year}", 0, 0.8))
        elif d.month == 11 and d.weekday() == 4 and _is_black_friday_week(d):
            out.append((day, f"black_friday_{d.year}", 0, 0.95))
        elif (d.month, d.day) == (12, 10):
            out.append((day, f"christmas_gifts_{d.year}", 0, 0.9))
    return sorted(out)


# --- catalog --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalog:
    product_ids: pa.Array
    titles: pa.Array
    l1: np.ndarray  # level-1 index per product
    l2: np.ndarray  # global level-2 index
    l3: np.ndarray  # global level-3 index
    price: np.ndarray
    l1_start: np.ndarray  # products are sorted by (l1, price): first product of each l1
    l1_count: np.ndarray
    l1_names: pa.Array
    l2_names: pa.Array
    l3_names: pa.Array


@cache
def _catalog(seed: int) -> _Catalog:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    l2_names = [l2 for l1 in CATEGORY_TREE.values() for l2 in l1]
    l3_names = [l3 for l1 in CATEGORY_TREE.values() for l3s in l1.values() for l3 in l3s]
    n_leaf = len(l3_names)
    leaf = np.repeat(np.arange(n_leaf), _PRODUCTS_PER_LEAF)
    l2 = leaf // _L3_PER_L2
    l1 = l2 // _L2_PER_L1
    median = np.asarray(_L1_MEDIAN_PRICE)[l1]
    raw = median * rng.lognormal(0.0, 0.6, len(leaf))
    price = np.maximum(np.floor(raw), 0.0) + 0.99  # shelf prices end in .99
    order = np.lexsort((price, l1))
    leaf, l2, l1, price = leaf[order], l2[order], l1[order], price[order]
    n = len(leaf)
    numbers = rng.permutation(n) + 100_000  # ids unrelated to price order
    brands = rng.integers(0, len(_BRANDS), n)
    product_ids = [f"P{num:06d}" for num in numbers]
    # Titles must be unique: a dictionary with repeated values makes the Parquet writer fall back
    # to a plain encoding whose bytes are not reproducible.
    titles = [
        f"{_BRANDS[b]} {l3_names[lf]} {num - 100_000:04d}"
        for b, lf, num in zip(brands, leaf, numbers, strict=True)
    ]
    counts = np.bincount(l1, minlength=len(CATEGORY_LEVEL_1))
    return _Catalog(
        product_ids=pa.array(product_ids, pa.string()),
        titles=pa.array(titles, pa.string()),
        l1=l1.astype(np.int32),
        l2=l2.astype(np.int32),
        l3=leaf.astype(np.int32),
        price=price,
        l1_start=np.concatenate([[0], np.cumsum(counts)[:-1]]),
        l1_count=counts,
        l1_names=pa.array(CATEGORY_LEVEL_1, pa.string()),
        l2_names=pa.array(l2_names, pa.string()),
        l3_names=pa.array(l3_names, pa.string()),
    )


# --- vectorised helpers ---------------------------------------------------------------------------


def _cumulative(weights: np.ndarray) -> np.ndarray:
    """Row-wise cumulative probabilities with the last column exactly 1."""
    cum = np.cumsum(np.asarray(weights, dtype=np.float64), axis=-1)
    cum = cum / cum[..., -1:]
    cum[..., -1] = 1.0
    return cum


def _grouped_choice(rng: np.random.Generator, group: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """For each element, draw a category from the cumulative row ``cum[group]`` (one searchsorted).

    Rows are offset by their index so one sorted array holds them all: row g spans (g, g+1].
    """
    n_groups, k = cum.shape
    flat = (cum + np.arange(n_groups)[:, None]).ravel()
    target = rng.random(len(group)) + group
    idx = np.searchsorted(flat, target, side="right") - group * k
    return np.clip(idx, 0, k - 1).astype(np.int32)


def _group_starts(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def _mix64(values: np.ndarray, salt: int) -> np.ndarray:
    """SplitMix64 finaliser: a bijection on uint64, so distinct inputs give distinct outputs."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) ^ np.uint64(salt & 0xFFFFFFFFFFFFFFFF)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex_digits(values: np.ndarray, width: int) -> np.ndarray:
    shifts = (np.arange(width - 1, -1, -1, dtype=np.uint64) * np.uint64(4))[None, :]
    nibbles = (values.astype(np.uint64)[:, None] >> shifts) & np.uint64(0xF)
    return _HEX[nibbles.astype(np.intp)]


def _fixed_width_strings(chars: np.ndarray) -> pa.Array:
    """An Arrow string array from an (n, width) uint8 matrix, without Python objects."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    data = np.ascontiguousarray(chars).ravel()
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)).cast(
        pa.string()
    )


def _object_ids(keys: np.ndarray, created_us: np.ndarray, salt: int) -> pa.Array:
    """24-hex ids shaped like Bloomreach's (8 hex of creation second + 16 hex of a unique hash)."""
    seconds = (created_us // _SECOND).astype(np.uint64) & np.uint64(0xFFFFFFFF)
    chars = np.concatenate([_hex_digits(seconds, 8), _hex_digits(_mix64(keys, salt), 16)], axis=1)
    return _fixed_width_strings(chars)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[:, None] // powers[None, :]) % 10 + 48).astype(np.uint8)


def _iso_timestamps(ts_us: np.ndarray) -> pa.Array:
    """ISO-8601 strings ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, vectorised (strftime is ~40x slower)."""
    days = ts_us // _DAY
    rest = ts_us - days * _DAY
    d64 = days.astype("datetime64[D]")
    year = d64.astype("datetime64[Y]").astype(np.int64) + 1970
    month = (d64.astype("datetime64[M]") - d64.astype("datetime64[Y]")).astype(np.int64) + 1
    day = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
    hour, rest = rest // _HOUR, rest % _HOUR
    minute, rest = rest // _MINUTE, rest % _MINUTE
    second, micro = rest // _SECOND, rest % _SECOND
    n = len(ts_us)

    def sep(ch: str) -> np.ndarray:
        return np.full((n, 1), ord(ch), dtype=np.uint8)

    chars = np.concatenate(
        [
            _digits(year, 4), sep("-"), _digits(month, 2), sep("-"), _digits(day, 2), sep("T"),
            _digits(hour, 2), sep(":"), _digits(minute, 2), sep(":"), _digits(second, 2),
            sep("."), _digits(micro, 6), sep("Z"),
        ],
        axis=1,
    )  # fmt: skip
    return _fixed_width_strings(chars)


@dataclass
class _Dict:
    """A dictionary-coded string column kept as NumPy indices until the table is written."""

    indices: np.ndarray
    values: pa.Array
    null: np.ndarray | None = None

    def take(self, idx: np.ndarray) -> _Dict:
        return _Dict(self.indices[idx], self.values, None if self.null is None else self.null[idx])

    def to_arrow(self) -> pa.Array:
        # Repeated dictionary values make the Parquet writer fall back to an encoding whose bytes
        # are not reproducible; every dictionary here is small, so the check is cheap.
        if len(pc.unique(self.values)) != len(self.values):
            raise ValueError(f"dictionary values are not unique: {self.values.to_pylist()[:20]}")
        indices = pa.array(self.indices.astype(np.int32), mask=self.null)
        return pa.DictionaryArray.from_arrays(indices, self.values)


_Column: TypeAlias = np.ndarray | _Dict | pa.Array


def _take(column: _Column, idx: np.ndarray) -> _Column:
    if isinstance(column, np.ndarray | _Dict):
        return column[idx] if isinstance(column, np.ndarray) else column.take(idx)
    return column.take(pa.array(idx))


def _concat(parts: Sequence[_Column]) -> _Column:
    first = parts[0]
    if isinstance(first, np.ndarray):
        return np.concatenate([p for p in parts if isinstance(p, np.ndarray)])
    if isinstance(first, _Dict):
        dicts = [p for p in parts if isinstance(p, _Dict)]
        null = None
        if any(d.null is not None for d in dicts):
            null = np.concatenate(
                [
                    np.zeros(len(d.indices), dtype=np.bool_) if d.null is None else d.null
                    for d in dicts
                ]
            )
        return _Dict(np.concatenate([d.indices for d in dicts]), first.values, null)
    return pa.concat_arrays([p for p in parts if isinstance(p, pa.Array)])


def _to_arrow(column: _Column, arrow_type: pa.DataType) -> pa.Array:
    if isinstance(column, _Dict):
        return column.to_arrow()
    if isinstance(column, np.ndarray):
        return pa.array(column, type=arrow_type)
    return column


@dataclass
class _EventRows:
    """The rows of one event table in a chunk, before sorting, duplication and writing."""

    pool: np.ndarray  # index into the chunk's id pool (-1 = null)
    ts: np.ndarray  # int64 microseconds, UTC
    props: dict[str, _Column]

    @staticmethod
    def concat(parts: Sequence[_EventRows]) -> _EventRows:
        parts = [p for p in parts if len(p.ts)] or list(parts[:1])
        return _EventRows(
            np.concatenate([p.pool for p in parts]),
            np.concatenate([p.ts for p in parts]),
            {k: _concat([p.props[k] for p in parts]) for k in parts[0].props},
        )


# --- one chunk of customers -----------------------------------------------------------------------


@dataclass
class _Customers:
    n: int
    global_index: np.ndarray
    arch: np.ndarray
    start_day: np.ndarray
    end_day: np.ndarray
    churn_day: np.ndarray  # -1 = not churned
    rate: np.ndarray
    conversion: np.ndarray
    skew: np.ndarray
    discount: np.ndarray
    email_open: np.ndarray
    email_click: np.ndarray
    device_cum: np.ndarray
    category_cum: np.ndarray
    usd: np.ndarray
    country: np.ndarray
    app_user: np.ndarray
    first_name: np.ndarray


def _arch_param(name: str) -> np.ndarray:
    return np.asarray([getattr(a, name) for a in ARCHETYPES], dtype=np.float64)


def _beta_around(rng: np.random.Generator, mean: np.ndarray, strength: float = 8.0) -> np.ndarray:
    m = np.clip(mean, 1e-3, 1 - 1e-3)
    return rng.beta(m * strength, (1 - m) * strength)


def _draw_customers(rng: np.random.Generator, plan: _Plan, first: int, n: int) -> _Customers:
    n_days = plan.n_days
    shares = _arch_param("share")
    arch = rng.choice(len(ARCHETYPES), size=n, p=shares / shares.sum())
    established = rng.random(n) < _arch_param("established")[arch]
    # Arrivals of non-new archetypes stop 90 days before the end so that "new" stays distinctive.
    arrival = rng.integers(0, max(1, n_days - 90), n)
    start_day = np.where(established, 0, arrival)
    new_span = max(1, min(60, n_days // 3))
    is_new = arch == _NEW
    start_day = np.where(is_new, n_days - 1 - rng.integers(0, new_span, n), start_day)

    churn_day = np.full(n, -1, dtype=np.int64)
    # lapsing_regular goes quiet 4-6 months before the end (a share of a short window).
    lapse = rng.uniform(120, 180, n) if n_days >= 240 else rng.uniform(0.35, 0.5, n) * n_days
    is_lapsing = arch == _LAPSING
    lapse_day = np.maximum(start_day + 1, n_days - lapse.astype(np.int64))
    churns = (rng.random(n) < _arch_param("churn_prob")[arch]) & ~is_lapsing & ~is_new
    span = n_days - (start_day + 30)
    random_day = start_day + 30 + (rng.random(n) * np.maximum(span, 1)).astype(np.int64)
    churn_day = np.where(churns & (span > 0), random_day, churn_day)
    churn_day = np.where(is_lapsing, lapse_day, churn_day)
    end_day = np.where(churn_day >= 0, churn_day, n_days)
    end_day = np.maximum(end_day, start_day + 1)

    rate = _arch_param("sessions_per_month")[arch] / 30.0 * rng.lognormal(0.0, 0.45, n)
    conversion = np.clip(_arch_param("conversion")[arch] * rng.lognormal(0.0, 0.3, n), 0, 0.9)
    skew = _arch_param("price_skew")[arch] * rng.lognormal(0.0, 0.15, n)
    discount = _beta_around(rng, _arch_param("discount_prob")[arch], 10.0)
    email_open = _beta_around(rng, _arch_param("email_open")[arch], 10.0)
    email_click = _beta_around(rng, _arch_param("email_click")[arch], 10.0)
    device_alpha = np.asarray([a.device_alpha for a in ARCHETYPES])[arch]
    device_cum = _cumulative(rng.gamma(device_alpha))
    focus = _arch_param("category_focus")[arch][:, None] * np.asarray(_L1_POPULARITY)[None, :]
    category_cum = _cumulative(rng.gamma(focus) + 1e-9)
    usd = rng.random(n) < USD_SHARE
    eu_country = rng.choice(len(_EU_COUNTRIES), size=n, p=np.asarray(_EU_COUNTRY_WEIGHTS))
    country = np.where(usd, len(_COUNTRIES) - 1, eu_country)
    mobile_share = device_cum[:, 0]
    app_user = (mobile_share > 0.5) & (rng.random(n) < 0.6)
    first_name = rng.integers(0, len(_FIRST_NAMES), n)
    return _Customers(
        n=n,
        global_index=np.arange(first, first + n, dtype=np.int64),
        arch=arch,
        start_day=start_day,
        end_day=end_day,
        churn_day=churn_day,
        rate=rate,
        conversion=conversion,
        skew=skew,
        discount=discount,
        email_open=email_open,
        email_click=email_click,
        device_cum=device_cum,
        category_cum=category_cum,
        usd=usd,
        country=country,
        app_user=app_user,
        first_name=first_name,
    )


def _sample_products(
    rng: np.random.Generator, cust: np.ndarray, customers: _Customers, catalog: _Catalog
) -> np.ndarray:
    """Product per event: level-1 category from the customer's taste, then a price tier."""
    l1 = _grouped_choice(rng, cust, customers.category_cum)
    # Products are price-sorted within l1, so u**skew picks cheap (skew > 1) or dear (< 1) ones.
    pos = (rng.random(len(cust)) ** customers.skew[cust] * catalog.l1_count[l1]).astype(np.int64)
    pos = np.minimum(pos, catalog.l1_count[l1] - 1)
    return catalog.l1_start[l1] + pos


def _product_props(
    product: np.ndarray, catalog: _Catalog, fields: Iterable[str]
) -> dict[str, _Column]:
    out: dict[str, _Column] = {}
    for name in fields:
        if name == "product_id":
            out[name] = _Dict(product, catalog.product_ids)
        elif name == "title":
            out[name] = _Dict(product, catalog.titles)
        elif name == "category_level_1":
            out[name] = _Dict(catalog.l1[product], catalog.l1_names)
        elif name == "category_level_2":
            out[name] = _Dict(catalog.l2[product], catalog.l2_names)
        elif name == "category_level_3":
            out[name] = _Dict(catalog.l3[product], catalog.l3_names)
        elif name == "price":
            out[name] = catalog.price[product]
    return out


def _within_group_rank(groups_sorted: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return np.arange(len(groups_sorted)) - _group_starts(counts)[groups_sorted]


def _generate_chunk(plan: _Plan, chunk: int) -> _ChunkResult:
    """Generate and write customers [chunk * chunk_customers, ...) — all tables, one part each."""
    rng = np.random.default_rng(np.random.SeedSequence(plan.seed, spawn_key=(1, chunk)))
    first = chunk * plan.chunk_customers
    n = min(plan.chunk_customers, plan.n_customers - first)
    cal = _calendar(plan.start_date, plan.n_days)
    catalog = _catalog(plan.seed)
    c = _draw_customers(rng, plan, first, n)
    start_us, end_us, n_days = plan.start_us, plan.end_us, plan.n_days
    n_arch = len(ARCHETYPES)

    # --- sessions: counts from the active span's seasonal weight, days by inverse CDF ----------
    cdf = cal["cdf"]
    weight = cdf[c.arch, c.end_day] - cdf[c.arch, c.start_day]
    n_sess = np.maximum(1, rng.poisson(c.rate * weight))
    s_cust = np.repeat(np.arange(n), n_sess)
    s_arch = c.arch[s_cust]
    lo = cdf[s_arch, c.start_day[s_cust]]
    hi = cdf[s_arch, c.end_day[s_cust]]
    stride = float(cdf[:, -1].max()) + 1.0
    flat = (cdf + (np.arange(n_arch) * stride)[:, None]).ravel()
    target = lo + rng.random(len(s_cust)) * (hi - lo) + s_arch * stride
    day = np.searchsorted(flat, target, side="right") - 1 - s_arch * (n_days + 1)
    day = np.clip(day, c.start_day[s_cust], c.end_day[s_cust] - 1)
    hours_cum = _cumulative(np.asarray([a.hours for a in ARCHETYPES]))
    hour = _grouped_choice(rng, s_arch, hours_cum)
    ts = start_us + day * _DAY + hour.astype(np.int64) * _HOUR + rng.integers(0, _HOUR, len(day))
    order = np.lexsort((ts, s_cust))
    ts, day, hour = ts[order], day[order], hour[order]  # s_cust is already sorted
    n_s = len(ts)
    s_rank = _within_group_rank(s_cust, n_sess)
    s_first = _group_starts(n_sess)
    # A customer who arrives during the window shows up on the arrival day (the earliest session
    # moves there, so the order is kept); established ones were already around at the start.
    arrived = c.start_day > 0
    moved = s_first[arrived]
    ts[moved] += (c.start_day[arrived] - day[moved]) * _DAY
    day[moved] = c.start_day[arrived]

    minutes = _arch_param("session_minutes")[s_arch]
    dur = ((rng.exponential(1.0, n_s) * minutes * 60 + 20) * _SECOND).astype(np.int64)
    dur = np.minimum(dur, 3 * _HOUR)
    dur = np.maximum(np.minimum(dur, end_us - 1 - ts), 0)

    # --- anonymous ids and merges ------------------------------------------------------------
    anon = (rng.random(n) < ANONYMOUS_SHARE * 1.1) & (n_sess >= 2)
    two = anon & (n_sess >= 3) & (rng.random(n) < 0.4)
    chain = two & (rng.random(n) < 0.5)
    star = two & ~chain
    u1, u2 = rng.random(n), rng.random(n)
    j1 = np.where(
        two, 1 + (u1 * (n_sess - 2)).astype(np.int64), 1 + (u1 * (n_sess - 1)).astype(np.int64)
    )
    j2 = np.where(two, j1 + 1 + (u2 * (n_sess - 1 - j1)).astype(np.int64), j1)
    j1 = np.where(anon, np.minimum(j1, n_sess - 1), 0)
    j2 = np.where(anon, np.minimum(j2, n_sess - 1), 0)

    def merge_time(j: np.ndarray) -> np.ndarray:
        at = ts[np.minimum(s_first + j, n_s - 1)]
        before = ts[np.maximum(s_first + j - 1, 0)]
        return np.maximum(before + 1, at - _SECOND)

    t1 = np.where(anon, merge_time(j1), np.iinfo(np.int64).min)
    t2 = np.where(two, merge_time(j2), t1)
    star_bit = rng.random(n_s) < 0.5  # which anonymous device a star customer's session is on
    # Session id code: 0 = surviving id, 1 = first anonymous id (a), 2 = second (b).
    r, sc = s_rank, s_cust
    code = np.zeros(n_s, dtype=np.int64)
    single = anon & ~two
    code = np.where(single[sc] & (r < j1[sc]), 1, code)
    code = np.where(chain[sc] & (r < j1[sc]), 1, code)
    code = np.where(chain[sc] & (r >= j1[sc]) & (r < j2[sc]), 2, code)
    code = np.where(star[sc] & (r < j1[sc]), np.where(star_bit, 2, 1), code)
    code = np.where(star[sc] & (r >= j1[sc]) & (r < j2[sc]) & star_bit, 2, code)
    a_rank = np.cumsum(anon) - 1
    b_rank = np.cumsum(two) - 1
    n_a = int(anon.sum())

    def pool_index(cust: np.ndarray, id_code: np.ndarray) -> np.ndarray:
        return np.where(
            id_code == 1, n + a_rank[cust], np.where(id_code == 2, n + n_a + b_rank[cust], cust)
        )

    def code_at(cust: np.ndarray, when: np.ndarray, original: np.ndarray) -> np.ndarray:
        """The id code valid at ``when`` for an event first made with ``original`` (refunds)."""
        out = original.copy()
        out = np.where(single[cust] & (when >= t1[cust]), 0, out)
        out = np.where(
            chain[cust], np.where(when < t1[cust], 1, np.where(when < t2[cust], 2, 0)), out
        )
        out = np.where(star[cust] & (when >= t2[cust]), 0, out)
        out = np.where(star[cust] & (original == 1) & (when >= t1[cust]), 0, out)
        return out

    s_pool = pool_index(s_cust, code)
    first_seen = ts[s_first]
    # The surviving profile exists from the merge that first brings an event under its id.
    created_us = np.where(chain, t2, np.where(anon, t1, first_seen))
    salt = int(_mix64(np.asarray([plan.seed], dtype=np.uint64), 0x5EED)[0])
    ids = _object_ids(c.global_index, created_us, salt)
    a_ids = _object_ids(c.global_index[anon] + plan.n_customers, first_seen[anon], salt)
    b_ids = _object_ids(c.global_index[two] + 2 * plan.n_customers, ts[s_first[two] + 1], salt)
    id_pool = pa.concat_arrays([ids, a_ids, b_ids])

    # --- session properties ------------------------------------------------------------------
    device = _grouped_choice(rng, s_cust, c.device_cum)
    client_w = np.zeros((3, len(_CLIENTS)))
    for k, (dev, _os, _br, w) in enumerate(_CLIENTS):
        client_w[dev, k] = w
    client = _grouped_choice(rng, device, _cumulative(client_w))
    client_os = np.asarray([_OS_NAMES.index(x[1]) for x in _CLIENTS])[client]
    client_browser = np.asarray([_BROWSER_NAMES.index(x[2]) for x in _CLIENTS])[client]
    channel = _grouped_choice(
        rng, s_arch, _cumulative(np.asarray([a.channels for a in ARCHETYPES]))
    )
    utm: dict[str, _Column] = {}
    for pos, name in enumerate(("utm_source", "utm_medium", "utm_campaign")):
        values = sorted({v for ch in CHANNELS if (v := ch[pos]) is not None})
        lookup = np.asarray(
            [values.index(v) if (v := ch[pos]) is not None else 0 for ch in CHANNELS]
        )
        nulls = np.asarray([ch[pos] is None for ch in CHANNELS])
        utm[name] = _Dict(lookup[channel], pa.array(values), nulls[channel])
    sessions = _EventRows(
        s_pool,
        ts,
        {
            "device": _Dict(device, pa.array(["mobile", "desktop", "tablet"])),
            "browser": _Dict(client_browser, pa.array(_BROWSER_NAMES)),
            "os": _Dict(client_os, pa.array(_OS_NAMES)),
            **utm,
            "location": _Dict(c.country[s_cust], pa.array(_COUNTRIES)),
        },
    )

    def in_session(
        sess: np.ndarray, lo_frac: np.ndarray | float, hi_frac: np.ndarray | float
    ) -> np.ndarray:
        frac = lo_frac + rng.random(len(sess)) * (np.asarray(hi_frac) - np.asarray(lo_frac))
        return ts[sess] + 1 + (frac * dur[sess]).astype(np.int64)

    # --- browsing ----------------------------------------------------------------------------
    n_pv = 1 + rng.poisson(_arch_param("page_visits")[s_arch])
    pv_sess = np.repeat(np.arange(n_s), n_pv)
    pv_first = _group_starts(n_pv)
    pv_ts = in_session(pv_sess, 0.0, 1.0)
    pv_ts[pv_first] = ts + 1 + rng.integers(0, 5 * _SECOND, n_s)  # landing page right away
    is_cat_page = rng.random(len(pv_sess)) < _CATEGORY_PAGE_SHARE
    static_cum = _cumulative(np.asarray([[p[2] for p in _STATIC_PAGES]]))
    page = _grouped_choice(rng, np.zeros(len(pv_sess), dtype=np.int64), static_cum)
    cat_page = _grouped_choice(rng, s_cust[pv_sess], c.category_cum) + len(_STATIC_PAGES)
    page = np.where(is_cat_page, cat_page, page)
    paths = [p[0] for p in _STATIC_PAGES] + [
        "/c/" + name.lower().replace(" & ", "-").replace(" ", "-") for name in CATEGORY_LEVEL_1
    ]
    titles = [p[1] for p in _STATIC_PAGES] + [f"Shop {name}" for name in CATEGORY_LEVEL_1]
    page_visits = _EventRows(
        s_pool[pv_sess],
        pv_ts,
        {"path": _Dict(page, pa.array(paths)), "title": _Dict(page, pa.array(titles))},
    )

    n_vc = rng.poisson(_arch_param("category_views")[s_arch])
    vc_sess = np.repeat(np.arange(n_s), n_vc)
    vc_l1 = _grouped_choice(rng, s_cust[vc_sess], c.category_cum)
    vc_l2 = vc_l1 * _L2_PER_L1 + rng.integers(0, _L2_PER_L1, len(vc_sess))
    vc_l3 = vc_l2 * _L3_PER_L2 + rng.integers(0, _L3_PER_L2, len(vc_sess))
    category_views = _EventRows(
        s_pool[vc_sess],
        in_session(vc_sess, 0.0, 1.0),
        {
            "category_level_1": _Dict(vc_l1, catalog.l1_names),
            "category_level_2": _Dict(vc_l2, catalog.l2_names),
            "category_level_3": _Dict(vc_l3, catalog.l3_names),
        },
    )

    n_vi = rng.poisson(_arch_param("item_views")[s_arch])
    vi_sess = np.repeat(np.arange(n_s), n_vi)
    vi_product = _sample_products(rng, s_cust[vi_sess], c, catalog)

    # --- buying ------------------------------------------------------------------------------
    season = cal["season"]
    p_buy = np.clip(c.conversion[s_cust] * np.sqrt(season[day]), 0.0, 0.95)
    buy = rng.random(n_s) < p_buy
    is_new_s = c.arch[s_cust] == _NEW
    if is_new_s.any():  # new explorers buy at most once
        csum = np.cumsum(buy)
        before = csum - buy - (csum - buy)[s_first][s_cust]
        buy &= ~is_new_s | (before == 0)
    abandon = ~buy & (rng.random(n_s) < _arch_param("abandon_prob")[s_arch])
    lines_mean = _arch_param("lines_per_order")[s_arch]
    n_lines = np.where(
        buy,
        1 + rng.poisson(np.maximum(lines_mean - 1, 0)),
        np.where(abandon, 1 + rng.poisson(0.4, n_s), 0),
    )
    raw_sess = np.repeat(np.arange(n_s), n_lines)
    raw_product = _sample_products(rng, s_cust[raw_sess], c, catalog)
    raw_qty = 1 + rng.poisson(_arch_param("extra_quantity")[s_arch[raw_sess]])
    # One line per (session, product): a product picked twice becomes one line with more quantity.
    n_products = len(catalog.price)
    key = raw_sess * n_products + raw_product
    key_order = np.argsort(key, kind="stable")
    key_sorted = key[key_order]
    is_first = np.ones(len(key_sorted), dtype=bool)
    is_first[1:] = key_sorted[1:] != key_sorted[:-1]
    line_starts = np.flatnonzero(is_first)
    line_key = key_sorted[line_starts]
    line_sess = line_key // n_products
    line_product = line_key % n_products
    line_qty = (
        np.add.reduceat(raw_qty[key_order], line_starts) if len(line_starts) else raw_qty[:0]
    ).astype(np.int64)
    line_price = catalog.price[line_product]
    line_ts = in_session(line_sess, 0.3, 0.8)
    line_is_order = buy[line_sess]

    order_sess = np.flatnonzero(buy)
    n_orders = len(order_sess)
    order_of_sess = np.cumsum(buy) - 1
    ol = np.flatnonzero(line_is_order)  # order lines, grouped by order
    ol_order = order_of_sess[line_sess[ol]]
    subtotal = np.bincount(ol_order, weights=line_price[ol] * line_qty[ol], minlength=n_orders)
    total_qty = np.bincount(ol_order, weights=line_qty[ol], minlength=n_orders).astype(np.int64)
    o_cust = s_cust[order_sess]
    o_month = cal["month"][day[order_sess]]
    has_voucher = rng.random(n_orders) < np.minimum(
        c.discount[o_cust] * np.where(o_month >= 11, 1.3, 1.0), 0.98
    )
    code_idx = np.where(o_month == 11, 3, rng.integers(0, 3, n_orders))
    pct = np.asarray([v[1] for v in _VOUCHERS])[code_idx]
    discount = np.where(has_voucher, np.round(subtotal * pct, 2), 0.0)
    net = np.round(subtotal - discount, 2)
    usd_rate = DEFAULT_FX_RATES_TO_BASE["USD"]
    o_usd = c.usd[o_cust]
    local = np.where(o_usd, np.round(net / usd_rate, 2), net)
    total_price = np.where(o_usd, np.round(local * usd_rate, 2), net)
    o_ts = ts[order_sess] + dur[order_sess] + 1
    order_numbers = pa.array(np.arange(n_orders, dtype=np.int64) + chunk * 1_000_000_000)
    purchase_ids = pc.binary_join_element_wise("ord-", order_numbers.cast(pa.string()), "")
    list_offsets = np.concatenate([[0], np.cumsum(np.bincount(ol_order, minlength=n_orders))])
    product_list = pa.ListArray.from_arrays(
        pa.array(list_offsets.astype(np.int32)),
        catalog.product_ids.take(pa.array(line_product[ol])),
    )
    refunded = rng.random(n_orders) < _arch_param("refund_prob")[c.arch[o_cust]]
    refund_ts = o_ts + (rng.uniform(1.0, 30.0, n_orders) * _DAY).astype(np.int64)
    refunded &= refund_ts < end_us
    ref = np.flatnonzero(refunded)
    ref_code = code_at(o_cust[ref], refund_ts[ref], code[order_sess[ref]])
    currency_values = pa.array(["EUR", "USD", UNKNOWN_CURRENCY])
    voucher_values = pa.array([v[0] for v in _VOUCHERS])
    status_values = pa.array(["success", "refund"])

    def order_props(idx: np.ndarray, status: int) -> dict[str, _Column]:
        return {
            "purchase_id": purchase_ids.take(pa.array(idx)),
            "purchase_status": _Dict(np.full(len(idx), status), status_values),
            "total_price": total_price[idx],
            "total_price_local_currency": local[idx],
            "local_currency": _Dict(o_usd[idx].astype(np.int64), currency_values),
            "total_quantity": total_qty[idx],
            "product_list": product_list.take(pa.array(idx)),
            "voucher": _Dict(code_idx[idx], voucher_values, ~has_voucher[idx]),
            "discount": discount[idx],
        }

    all_orders = np.arange(n_orders)
    purchases = _EventRows.concat(
        [
            _EventRows(s_pool[order_sess], o_ts, order_props(all_orders, 0)),
            _EventRows(pool_index(o_cust[ref], ref_code), refund_ts[ref], order_props(ref, 1)),
        ]
    )

    def item_props(lines: np.ndarray, orders: np.ndarray, status: int) -> dict[str, _Column]:
        props = {
            "purchase_id": purchase_ids.take(pa.array(orders)),
            **_product_props(line_product[lines], catalog, ("product_id", *_CAT_FIELDS, "price")),
            "quantity": line_qty[lines],
            "purchase_status": _Dict(np.full(len(lines), status), status_values),
        }
        return {k: props[k] for k in EVENT_PROPERTIES["purchase_item"]}

    ref_lines = ol[refunded[ol_order]]
    ref_lines_order = order_of_sess[line_sess[ref_lines]]
    ref_lines_code = code_at(
        s_cust[line_sess[ref_lines]], refund_ts[ref_lines_order], code[line_sess[ref_lines]]
    )
    purchase_items = _EventRows.concat(
        [
            _EventRows(s_pool[line_sess[ol]], o_ts[ol_order], item_props(ol, ol_order, 0)),
            _EventRows(
                pool_index(s_cust[line_sess[ref_lines]], ref_lines_code),
                refund_ts[ref_lines_order],
                item_props(ref_lines, ref_lines_order, 1),
            ),
        ]
    )

    # --- carts and checkout ------------------------------------------------------------------
    action_values = pa.array(["add", "remove"])
    session_line_count = np.bincount(line_sess, minlength=n_s)
    first_line = _group_starts(session_line_count)
    ab_sess = np.flatnonzero(abandon & (rng.random(n_s) < 0.35))
    ab_line = first_line[ab_sess]
    extra_sess = np.flatnonzero(buy & (rng.random(n_s) < 0.12))
    extra_product = _sample_products(rng, s_cust[extra_sess], c, catalog)

    def cart_rows(
        sess: np.ndarray, when: np.ndarray, product: np.ndarray, qty: np.ndarray, action: int
    ) -> _EventRows:
        return _EventRows(
            s_pool[sess],
            when,
            {
                "action": _Dict(np.full(len(sess), action), action_values),
                "product_id": _Dict(product, catalog.product_ids),
                "price": catalog.price[product],
                "quantity": qty.astype(np.int64),
            },
        )

    ones = np.ones(len(extra_sess), dtype=np.int64)
    extra_add_ts = in_session(extra_sess, 0.2, 0.3)
    cart_updates = _EventRows.concat(
        [
            cart_rows(line_sess, line_ts, line_product, line_qty, 0),
            cart_rows(
                ab_sess,
                in_session(ab_sess, 0.85, 0.95),
                line_product[ab_line],
                line_qty[ab_line],
                1,
            ),
            cart_rows(extra_sess, extra_add_ts, extra_product, ones, 0),
            cart_rows(extra_sess, in_session(extra_sess, 0.55, 0.65), extra_product, ones, 1),
        ]
    )
    cart_value = np.bincount(line_sess, weights=line_price * line_qty, minlength=n_s)
    co_ab = np.flatnonzero(abandon & (rng.random(n_s) < 0.3))
    step_values = pa.array(_CHECKOUT_STEPS)
    checkouts = _EventRows.concat(
        [
            _EventRows(
                s_pool[order_sess],
                in_session(order_sess, 0.88, 0.9),
                {
                    "total_price": total_price,
                    "step": _Dict(np.zeros(n_orders, np.int64), step_values),
                },
            ),
            _EventRows(
                s_pool[order_sess],
                in_session(order_sess, 0.94, 0.96),
                {
                    "total_price": total_price,
                    "step": _Dict(np.ones(n_orders, np.int64), step_values),
                },
            ),
            _EventRows(
                s_pool[co_ab],
                in_session(co_ab, 0.9, 0.95),
                {
                    "total_price": np.round(cart_value[co_ab], 2),
                    "step": _Dict(np.zeros(len(co_ab), np.int64), step_values),
                },
            ),
        ]
    )

    # Items put in the cart were viewed shortly before.
    cart_view_sess = np.concatenate([line_sess, extra_sess])
    cart_view_ts = (
        np.concatenate([line_ts, extra_add_ts]) - rng.integers(5, 90, len(cart_view_sess)) * _SECOND
    )
    cart_view_ts = np.maximum(cart_view_ts, ts[cart_view_sess] + 1)
    vi_all_sess = np.concatenate([vi_sess, cart_view_sess])
    vi_all_product = np.concatenate([vi_product, line_product, extra_product])
    item_views = _EventRows(
        s_pool[vi_all_sess],
        np.concatenate([in_session(vi_sess, 0.0, 1.0), cart_view_ts]),
        _product_props(vi_all_product, catalog, EVENT_PROPERTIES["view_item"]),
    )

    # --- campaigns (sent to the surviving profile once it exists) ----------------------------
    schedule = _campaign_schedule(plan.start_date, n_days)
    created_day = (created_us - start_us) // _DAY
    camp_day = np.asarray([s[0] for s in schedule], dtype=np.int64)
    camp_push = np.asarray([s[2] == 1 for s in schedule], dtype=bool)
    camp_share = np.asarray([s[3] for s in schedule])
    eligible = (created_day[:, None] < camp_day[None, :]) & (
        ~camp_push[None, :] | c.app_user[:, None]
    )
    targeted = eligible & (rng.random((n, len(schedule))) < camp_share[None, :])
    d_cust, d_camp = np.nonzero(targeted)
    d_ts = start_us + camp_day[d_camp] * _DAY + 9 * _HOUR + rng.integers(0, 2 * _HOUR, len(d_cust))
    active = camp_day[d_camp] < c.end_day[d_cust]
    push_open = _arch_param("push_open")[c.arch[d_cust]]
    p_open = np.where(camp_push[d_camp], push_open, c.email_open[d_cust]) * active
    opened = rng.random(len(d_cust)) < p_open
    open_ts = d_ts + (rng.exponential(3.0, len(d_cust)) * _HOUR).astype(np.int64) + _MINUTE
    clicked = opened & (rng.random(len(d_cust)) < c.email_click[d_cust])
    click_ts = (
        open_ts + (rng.exponential(60.0, len(d_cust)) * _SECOND).astype(np.int64) + 5 * _SECOND
    )
    o_idx = np.flatnonzero(opened & (open_ts < end_us))
    k_idx = np.flatnonzero(clicked & (click_ts < end_us) & (open_ts < end_us))
    all_d = np.flatnonzero(d_ts < end_us)
    camp_names = pa.array([s[1] for s in schedule])
    camp_status = pa.array(["delivered", "opened", "clicked"])
    camp_type = pa.array(["email", "mobile notification"])

    def campaign_rows(idx: np.ndarray, when: np.ndarray, status: int) -> _EventRows:
        return _EventRows(
            d_cust[idx],
            when[idx],
            {
                "action_type": _Dict(camp_push[d_camp[idx]].astype(np.int64), camp_type),
                "status": _Dict(np.full(len(idx), status), camp_status),
                "campaign_name": _Dict(d_camp[idx], camp_names),
            },
        )

    campaigns = _EventRows.concat(
        [
            campaign_rows(all_d, d_ts, 0),
            campaign_rows(o_idx, open_ts, 1),
            campaign_rows(k_idx, click_ts, 2),
        ]
    )

    # --- merges: (surviving, merged) rows as they happened, never pre-resolved -----------------
    cust_idx = np.arange(n)
    a_pool = n + a_rank
    b_pool = n + n_a + b_rank
    m_surv = np.concatenate(
        [cust_idx[single], b_pool[chain], cust_idx[chain], cust_idx[star], cust_idx[star]]
    )
    m_past = np.concatenate(
        [a_pool[single], a_pool[chain], b_pool[chain], a_pool[star], b_pool[star]]
    )
    m_ts = np.concatenate([t1[single], t1[chain], t2[chain], t1[star], t2[star]])
    merges = _EventRows(m_surv, m_ts, {"merged_customer_id": id_pool.take(pa.array(m_past))})

    events: dict[str, _EventRows] = {
        "session_start": sessions,
        "page_visit": page_visits,
        "view_category": category_views,
        "view_item": item_views,
        "cart_update": cart_updates,
        "checkout": checkouts,
        "purchase": purchases,
        "purchase_item": purchase_items,
        "campaign": campaigns,
    }
    if plan.include_merge_table:
        events["merge"] = merges

    # --- write event tables ------------------------------------------------------------------
    root = Path(plan.root)
    bad_rng = np.random.default_rng(np.random.SeedSequence(plan.seed, spawn_key=(2, chunk)))
    row_counts: dict[str, int] = {}
    dups: dict[str, int] = {}
    lates: dict[str, int] = {}
    bad: dict[str, dict[str, int]] = {}
    for table, rows in events.items():
        inject = plan.bad_rows and chunk == 0
        arrow_table, stats = _finish_event_table(
            plan, table, rows, id_pool, rng, bad_rng if inject else None
        )
        _write(arrow_table, root / table / f"part-{chunk:05d}.parquet")
        row_counts[table] = arrow_table.num_rows
        dups[table], lates[table] = stats["duplicates"], stats["late"]
        if inject:
            bad[table] = stats["bad"]

    # --- customer tables and ground truth ------------------------------------------------------
    first_names = pa.array(_FIRST_NAMES).take(pa.array(c.first_name))
    emails = pc.binary_join_element_wise(
        pc.utf8_lower(first_names),
        ".",
        pa.array(c.global_index).cast(pa.string()),
        "@example.com",
        "",
    )
    created = pa.array(created_us).cast(TIMESTAMP_TYPE)
    properties_type = pa.struct(list(CUSTOMER_PROPERTIES.items()))
    customers_properties = pa.table(
        {
            GENERATOR_CUSTOMER_KEY: ids,
            "properties": pa.StructArray.from_arrays(
                [emails, first_names, created], fields=list(properties_type)
            ),
        }
    )
    history = pa.table(
        {
            "internal_customer_id": id_pool.take(pa.array(m_surv)),
            "past_id": id_pool.take(pa.array(m_past)),
        }
    )
    email_hash = _fixed_width_strings(
        np.concatenate(
            [
                _hex_digits(_mix64(c.global_index, salt ^ k), 16)
                for k in (0x1111, 0x2222, 0x3333, 0x4444)
            ],
            axis=1,
        )
    )
    external = pa.table(
        {
            "internal_customer_id": ids,
            "id_name": pa.array(["email_hash"] * n),
            "id_value": email_hash,
        }
    )
    for table, data in (
        ("customers_properties", customers_properties),
        ("customers_id_history", history),
        ("customers_external_ids", external),
    ):
        _write(data.cast(CUSTOMER_TABLE_SCHEMAS[table]), root / table / f"part-{chunk:05d}.parquet")
        row_counts[table] = data.num_rows

    churned_at = np.where(c.churn_day >= 0, start_us + c.churn_day * _DAY, 0)
    ground_truth = pa.table(
        {
            "customer_id": ids,
            "archetype": pa.array(ARCHETYPE_NAMES).take(pa.array(c.arch)),
            "first_seen": pa.array(first_seen).cast(TIMESTAMP_TYPE),
            "churned_at": pa.array(churned_at, mask=c.churn_day < 0).cast(TIMESTAMP_TYPE),
        },
        schema=GROUND_TRUTH_SCHEMA,
    )
    return _ChunkResult(
        index=chunk,
        row_counts=row_counts,
        duplicate_rows=dups,
        late_rows=lates,
        bad_rows=bad,
        archetype_counts=np.bincount(c.arch, minlength=n_arch).tolist(),
        orders=n_orders,
        refunds=len(ref),
        usd_orders=int(o_usd.sum()),
        anonymous_customers=n_a,
        chains=int(chain.sum()),
        merges=len(m_ts),
        ground_truth=ground_truth,
    )


_CAT_FIELDS = ("category_level_1", "category_level_2", "category_level_3")


def _finish_event_table(
    plan: _Plan,
    table: str,
    rows: _EventRows,
    id_pool: pa.Array,
    rng: np.random.Generator,
    bad_rng: np.random.Generator | None,
) -> tuple[pa.Table, dict[str, Any]]:
    """Ingest lags, late arrivals, time order, exact duplicates and (chunk 0) bad rows → Arrow."""
    n = len(rows.ts)
    lag = ((rng.exponential(40.0, n) + 1.0) * _SECOND).astype(np.int64)
    late = rng.random(n) < LATE_ARRIVAL_RATE
    lag = np.where(late, (rng.uniform(*LATE_DAYS, n) * _DAY).astype(np.int64), lag)
    order = np.argsort(rows.ts, kind="stable")
    dup = np.flatnonzero(rng.random(n) < DUPLICATE_RATE)
    # Sorting the original positions puts each copy right after its original (same timestamp).
    final = order[np.sort(np.concatenate([np.arange(n), dup]))]
    pool = rows.pool[final]
    ts = rows.ts[final]
    ingest = ts + lag[final]
    props = {k: _take(v, final) for k, v in rows.props.items()}
    stats: dict[str, Any] = {"duplicates": len(dup), "bad": {}}

    garbage_at: np.ndarray = np.zeros(0, dtype=np.int64)
    if bad_rng is not None:
        kinds = [k for k, tables in BAD_ROW_TABLES.items() if table in tables]
        is_copy = np.zeros(len(final), dtype=bool)
        is_copy[1:] = final[1:] == final[:-1]
        lag_final = ingest - ts
        margin_lo, margin_hi = plan.start_us + 6 * _DAY, plan.end_us - 8 * _DAY
        if plan.n_days < 20:
            margin_lo, margin_hi = plan.start_us, plan.end_us
        clean = ~is_copy & (lag_final < _DAY) & (ts >= margin_lo) & (ts < margin_hi)
        if is_copy.any():  # the original of a duplicated pair must not be a base either
            clean[np.flatnonzero(is_copy) - 1] = False
        candidates = np.flatnonzero(clean)
        wanted = plan.bad_rows_per_kind * len(kinds)
        take_n = min(wanted, len(candidates))
        bases = bad_rng.choice(candidates, size=take_n, replace=False) if take_n else candidates[:0]
        per_kind = np.array_split(bases, len(kinds)) if kinds else []
        base_all = np.concatenate(per_kind) if per_kind else bases
        start = len(final)
        pool = np.concatenate([pool, pool[base_all]])
        ts = np.concatenate([ts, ts[base_all]])
        ingest = np.concatenate([ingest, ingest[base_all]])
        props = {k: _concat([v, _take(v, base_all)]) for k, v in props.items()}
        offset = start
        for kind, chosen in zip(kinds, per_kind, strict=True):
            at = np.arange(offset, offset + len(chosen))
            offset += len(chosen)
            stats["bad"][kind] = len(chosen)
            if kind == "null_customer_id":
                pool[at] = -1
            elif kind == "unparsable_timestamp":
                garbage_at = at
            elif kind == "timestamp_after_ingest":
                ingest[at] = ts[at] - (bad_rng.uniform(1.0, 5.0, len(at)) * _DAY).astype(np.int64)
            elif kind in ("non_numeric_amount", "negative_amount"):
                for name in ("price", "total_price", "total_price_local_currency"):
                    column = props.get(name)
                    if isinstance(column, np.ndarray):
                        column = column.copy()
                        column[at] = (
                            np.nan if kind == "non_numeric_amount" else -np.abs(column[at]) - 1.0
                        )
                        props[name] = column
            elif kind == "unknown_currency":
                currency = props["local_currency"]
                assert isinstance(currency, _Dict)
                indices = currency.indices.copy()
                indices[at] = 2  # UNKNOWN_CURRENCY in the dictionary
                props["local_currency"] = _Dict(indices, currency.values, currency.null)

    stats["late"] = int(((ingest - ts) > _DAY).sum())
    if plan.timestamps_as_strings:
        ts_array = _iso_timestamps(ts)
        if len(garbage_at):
            mask = np.zeros(len(ts), dtype=bool)
            mask[garbage_at] = True
            garbage = [
                UNPARSABLE_TIMESTAMPS[i % len(UNPARSABLE_TIMESTAMPS)]
                for i in range(len(garbage_at))
            ]
            ts_array = pc.replace_with_mask(ts_array, pa.array(mask), pa.array(garbage))
    else:
        ts_array = pa.array(ts).cast(TIMESTAMP_TYPE)
        if len(garbage_at):
            raise ValueError("unparsable timestamps need timestamps_as_strings=True")
    schema = event_table_schema(table, timestamps_as_strings=plan.timestamps_as_strings)
    ptype = schema.field("properties").type
    children = [_to_arrow(props[f.name], f.type) for f in ptype]
    properties = pa.StructArray.from_arrays(children, names=[f.name for f in ptype])
    ids = _compact_dictionary(pool, id_pool)
    arrow_table = pa.Table.from_arrays(
        [ids, ts_array, pa.array(ingest).cast(TIMESTAMP_TYPE), properties],
        names=list(schema.names),
    )
    return arrow_table, stats


def _leaf_columns(field_: pa.Field, prefix: str = "") -> list[tuple[str, pa.DataType]]:
    """Parquet leaf column paths of an Arrow field (``properties.product_list.list.element``)."""
    path = prefix + field_.name
    if pa.types.is_struct(field_.type):
        return [leaf for child in field_.type for leaf in _leaf_columns(child, path + ".")]
    if pa.types.is_list(field_.type):
        return _leaf_columns(pa.field("element", field_.type.value_type), path + ".list.")
    return [(path, field_.type)]


def _compact_dictionary(index: np.ndarray, values: pa.Array) -> pa.Array:
    """``values[index]`` (-1 = null) as a dictionary array holding only the values used.

    Handing the Parquet writer a ready dictionary spares it hashing every id string.
    """
    valid = index >= 0
    if values.nbytes > _MAX_ID_DICTIONARY_BYTES:
        return values.take(pa.array(index, mask=~valid))
    used = np.bincount(index[valid], minlength=len(values)) > 0
    remap = np.cumsum(used) - 1
    codes = np.where(valid, remap[np.where(valid, index, 0)], 0).astype(np.int32)
    return pa.DictionaryArray.from_arrays(
        pa.array(codes, mask=~valid), values.filter(pa.array(used))
    )


def _columns_with_nan(table: pa.Table) -> set[str]:
    """Float columns (top level or directly in a struct) holding a NaN."""
    found: set[str] = set()
    for field_ in table.schema:
        column = table.column(field_.name)
        children = (
            [
                (f"{field_.name}.{c.name}", column.combine_chunks().field(c.name))
                for c in field_.type
            ]
            if pa.types.is_struct(field_.type)
            else [(field_.name, column)]
        )
        for name, values in children:
            if pa.types.is_floating(values.type) and pc.any(pc.is_nan(values)).as_py():
                found.add(name)
    return found


def _write(table: pa.Table, path: Path) -> None:
    """Write one part file with fixed options (so the bytes depend on the data only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dictionary: list[str] = []
    encoding: dict[str, str] = {}
    statistics: list[str] = []
    # Parquet min/max statistics leave NaN out, and DuckDB then prunes `WHERE isnan(x)` to nothing;
    # a column holding NaN is written without statistics so every reader sees its NaNs.
    with_nan = _columns_with_nan(table)
    for field_ in table.schema:
        for column, arrow_type in _leaf_columns(field_):
            if column not in with_nan:
                statistics.append(column)
            if pa.types.is_timestamp(arrow_type):
                # Sorted microsecond instants: delta encoding is smaller and ~3x faster to write
                # than a dictionary attempt that always overflows.
                encoding[column] = "DELTA_BINARY_PACKED"
            elif column not in _NO_DICTIONARY and not (
                column == "timestamp" and pa.types.is_string(arrow_type)
            ):
                dictionary.append(column)
    pq.write_table(
        table,
        path,
        row_group_size=ROW_GROUP_SIZE,
        use_dictionary=dictionary,
        column_encoding=encoding or None,
        write_statistics=statistics,
        **{k: v for k, v in PARQUET_OPTIONS.items() if k != "write_statistics"},
    )


# --- the public entry point -----------------------------------------------------------------------


def _run_chunk(args: tuple[_Plan, int]) -> _ChunkResult:
    plan, chunk = args
    return _generate_chunk(plan, chunk)


def generate_ebq_export(
    root: str | Path,
    *,
    n_customers: int,
    start_date: date,
    end_date: date,
    seed: int,
    bad_rows: bool = False,
    bad_rows_per_kind: int = 5,
    timestamps_as_strings: bool | None = None,
    include_merge_table: bool = True,
    chunk_customers: int = DEFAULT_CHUNK_CUSTOMERS,
    workers: int = 1,
    ndjson_root: str | Path | None = None,
) -> GeneratedExport:
    """Write a synthetic EBQ export of ``n_customers`` over ``[start_date, end_date]`` to ``root``.

    Deterministic: the same arguments give byte-identical files (``workers`` does not matter, but
    ``chunk_customers`` does, since each chunk is seeded by ``(seed, chunk index)``). Events fall in
    ``[start_date 00:00, end_date + 1 day 00:00)`` UTC. ``bad_rows`` injects ``bad_rows_per_kind``
    rows of each kind in :data:`BAD_ROW_TABLES` (into part 0 of each table) and, unless
    ``timestamps_as_strings`` says otherwise, writes every event table's ``timestamp`` as ISO-8601
    strings so that unparsable ones can exist. ``ndjson_root`` also writes the same tables as gzipped
    NDJSON there (see :func:`export_to_ndjson`).

    The export is written to a sibling temporary folder and moved into place at the end, so a crash
    never leaves a half-written export; an existing ``root`` is replaced only if it is empty or was
    written by this generator (it holds ``_ground_truth/manifest.json``).
    """
    started = perf_counter()
    if n_customers < 1:
        raise ValueError("n_customers must be at least 1")
    if end_date < start_date:
        raise ValueError(f"end_date {end_date} is before start_date {start_date}")
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    if chunk_customers < 1 or workers < 1 or bad_rows_per_kind < 0:
        raise ValueError("chunk_customers and workers must be >= 1, bad_rows_per_kind >= 0")
    as_strings = bad_rows if timestamps_as_strings is None else timestamps_as_strings
    if bad_rows and not as_strings:
        raise ValueError("bad_rows needs timestamps_as_strings (unparsable timestamps are strings)")
    root = Path(root)
    _check_replaceable(root)
    tmp = root.parent / f".{root.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    plan = _Plan(
        root=str(tmp),
        seed=seed,
        n_customers=n_customers,
        start_date=start_date,
        end_date=end_date,
        chunk_customers=chunk_customers,
        bad_rows=bad_rows,
        bad_rows_per_kind=bad_rows_per_kind,
        timestamps_as_strings=as_strings,
        include_merge_table=include_merge_table,
    )
    try:
        tasks = [(plan, i) for i in range(plan.n_chunks)]
        if workers == 1 or plan.n_chunks == 1:
            results = [_run_chunk(t) for t in tasks]
        else:
            # spawn, not fork: the caller may be a threaded process (Dagster, DuckDB).
            with ProcessPoolExecutor(
                max_workers=min(workers, plan.n_chunks), mp_context=get_context("spawn")
            ) as pool:
                results = list(pool.map(_run_chunk, tasks))
        manifest = _write_ground_truth(tmp, plan, results)
        if root.exists():
            shutil.rmtree(root)
        tmp.rename(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if ndjson_root is not None:
        export_to_ndjson(root, ndjson_root)
    return GeneratedExport(
        root=root,
        export=validate_export_folder(root),
        manifest=manifest,
        seconds=perf_counter() - started,
    )


def _check_replaceable(root: Path) -> None:
    if not root.exists():
        return
    if not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a folder")
    if any(root.iterdir()) and not (root / "_ground_truth" / "manifest.json").exists():
        raise FileExistsError(
            f"{root} is not empty and was not written by the generator; refusing to replace it"
        )


def _write_ground_truth(tmp: Path, plan: _Plan, results: list[_ChunkResult]) -> GeneratorManifest:
    results = sorted(results, key=lambda r: r.index)
    gt_dir = tmp / "_ground_truth"
    gt_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.concat_tables([r.ground_truth for r in results]),
        gt_dir / "customers.parquet",
        row_group_size=ROW_GROUP_SIZE,
        **PARQUET_OPTIONS,
    )

    def total(attr: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in results:
            for table, value in getattr(r, attr).items():
                out[table] = out.get(table, 0) + int(value)
        return out

    tables = [t for t in (*EVENT_TABLES, *CUSTOMER_TABLES) if (tmp / t).is_dir()]
    counts = np.sum([r.archetype_counts for r in results], axis=0)
    manifest = GeneratorManifest(
        generator_version=GENERATOR_VERSION,
        seed=plan.seed,
        n_customers=plan.n_customers,
        start_date=plan.start_date,
        end_date=plan.end_date,
        chunk_customers=plan.chunk_customers,
        bad_rows=plan.bad_rows,
        bad_rows_per_kind=plan.bad_rows_per_kind,
        timestamps_as_strings=plan.timestamps_as_strings,
        include_merge_table=plan.include_merge_table,
        base_currency=BASE_CURRENCY,
        fx_rates_to_base=dict(DEFAULT_FX_RATES_TO_BASE),
        rates={
            "duplicate_rate": DUPLICATE_RATE,
            "late_arrival_rate": LATE_ARRIVAL_RATE,
            "anonymous_share": ANONYMOUS_SHARE,
            "usd_share": USD_SHARE,
        },
        archetype_shares={a.name: a.share for a in ARCHETYPES},
        archetype_counts={name: int(k) for name, k in zip(ARCHETYPE_NAMES, counts, strict=True)},
        row_counts=total("row_counts"),
        duplicate_rows=total("duplicate_rows"),
        late_rows=total("late_rows"),
        bad_rows_injected=results[0].bad_rows,
        orders=sum(r.orders for r in results),
        refunds=sum(r.refunds for r in results),
        usd_orders=sum(r.usd_orders for r in results),
        customers_with_anonymous_ids=sum(r.anonymous_customers for r in results),
        merge_chains=sum(r.chains for r in results),
        merges=sum(r.merges for r in results),
        files={
            t: sorted(p.relative_to(tmp).as_posix() for p in (tmp / t).glob("*.parquet"))
            for t in tables
        },
    )
    (gt_dir / "manifest.json").write_text(
        json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    return manifest


# --- NDJSON ---------------------------------------------------------------------------------------


def export_to_ndjson(
    parquet_root: str | Path, ndjson_root: str | Path, *, gzip: bool = True
) -> ExportManifest:
    """Write every table of a Parquet export as newline-delimited JSON, part file for part file.

    ``<ndjson_root>/<table>/part-NNNNN.json.gz`` (``.json`` without gzip); timestamps (also inside
    ``properties``) become ISO-8601 strings ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, NaN stays ``NaN``, rows
    keep their order. ``_ground_truth`` is copied unchanged. Returns the NDJSON folder's manifest.
    """
    import duckdb  # only the converter needs it

    source = validate_export_folder(parquet_root)
    out = Path(ndjson_root)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET threads = 1")  # one writer thread: rows keep their order
        con.execute("SET preserve_insertion_order = true")
        for name, info in source.tables.items():
            for file in info.files:
                schema = pq.read_schema(file)
                select = ", ".join(_json_select(f) for f in schema)
                target = (
                    out
                    / name
                    / (file.name.removesuffix(".parquet") + (".json.gz" if gzip else ".json"))
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                options = "FORMAT JSON" + (", COMPRESSION GZIP" if gzip else "")
                con.execute(
                    f"COPY (SELECT {select} FROM read_parquet({_sql_string(file)})) "
                    f"TO {_sql_string(target)} ({options})"
                )
    finally:
        con.close()
    truth = Path(parquet_root) / "_ground_truth"
    if truth.is_dir():
        shutil.copytree(truth, out / "_ground_truth")
    return validate_export_folder(out)


_ISO_FORMAT = "'%Y-%m-%dT%H:%M:%S.%fZ'"


def _json_select(f: pa.Field) -> str:
    return f"{_json_expr(f.type, _quote(f.name))} AS {_quote(f.name)}"


def _json_expr(arrow_type: pa.DataType, ref: str) -> str:
    """Timestamps (also nested in structs) as ISO-8601 strings; everything else unchanged."""
    if pa.types.is_timestamp(arrow_type):
        return f"strftime({ref}, {_ISO_FORMAT})"
    if pa.types.is_struct(arrow_type) and _has_timestamp(arrow_type):
        parts = ", ".join(
            f"{_quote(c.name)} := {_json_expr(c.type, f'{ref}.{_quote(c.name)}')}"
            for c in arrow_type
        )
        return f"CASE WHEN {ref} IS NULL THEN NULL ELSE struct_pack({parts}) END"
    return ref


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _has_timestamp(t: pa.DataType) -> bool:
    return pa.types.is_timestamp(t) or (
        pa.types.is_struct(t) and any(_has_timestamp(c.type) for c in t)
    )


def _sql_string(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
