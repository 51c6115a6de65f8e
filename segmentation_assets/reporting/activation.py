"""The activation export: customer → segment → play, for import into Bloomreach Engagement.

One row per profiled customer with ``internal_customer_id`` (the surviving id after identity
merging), ``segment_id``, ``segment_name`` and ``recommended_play``. Written as CSV (UTF-8 without
BOM, header row, comma separator, ``\\n`` line ends, rows sorted by ``internal_customer_id``) because
Bloomreach's customer import reads that shape directly, and as Parquet with the same rows for
warehouses and notebooks. Every column is text, so ids with leading zeros survive both formats.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from segmentation_assets.reporting.data import is_missing

ACTIVATION_COLUMNS: tuple[str, ...] = (
    "internal_customer_id",
    "segment_id",
    "segment_name",
    "recommended_play",
)
ACTIVATION_BASENAME = "segment_activation"


class ActivationExports(dict[str, Path]):
    """``{"csv": Path, "parquet": Path}`` that also carries ``row_count``.

    A dict subclass so callers that only want the paths use it as the plain mapping the API
    promises, while the asset can still report the row count without re-reading a file.
    """

    row_count: int

    def __init__(self, paths: Mapping[str, Path], row_count: int) -> None:
        super().__init__(paths)
        self.row_count = row_count


def activation_frame(
    assignments: pd.DataFrame,
    segments: pd.DataFrame,
    plays_by_segment: Mapping[str, str | None],
) -> pd.DataFrame:
    """The activation rows as a DataFrame of strings, sorted by ``internal_customer_id``.

    ``assignments``: customer_id, segment_id (one row per customer). ``segments``: segment_id, name.
    ``plays_by_segment``: segment_id → play id; a segment without a play gets an empty string (a
    blank attribute in Bloomreach, rather than a made-up default play).

    Raises ``ValueError`` for a missing column, a missing or duplicate customer id, or a segment id
    that is not in ``segments``.
    """
    for table, frame, columns in (
        ("assignments", assignments, ("customer_id", "segment_id")),
        ("segments", segments, ("segment_id", "name")),
    ):
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise ValueError(f"table {table} is missing column(s) {', '.join(absent)}")
    # Vectorized is_missing: the columns hold scalars, for which isna() is the same test.
    missing_ids = assignments["customer_id"].isna() | assignments["segment_id"].isna()
    if missing_ids.any():
        row = int(missing_ids.to_numpy().nonzero()[0][0])
        raise ValueError(
            f"table assignments has {int(missing_ids.sum())} row(s) without customer_id or "
            f"segment_id (first at row {row})"
        )
    customer_id = assignments["customer_id"].astype(str)
    segment_id = assignments["segment_id"].astype(str)
    duplicated = customer_id[customer_id.duplicated()]
    if not duplicated.empty:
        raise ValueError(
            f"table assignments has {duplicated.nunique()} customer_id(s) assigned more than once, "
            f"e.g. {sorted(duplicated.unique())[0]!r}; activation needs one segment per customer"
        )
    names = {
        str(sid): "" if is_missing(name) else str(name)
        for sid, name in zip(segments["segment_id"], segments["name"], strict=True)
    }
    unknown = sorted(set(segment_id.unique()) - set(names))
    if unknown:
        raise ValueError(
            f"table assignments has segment_id {', '.join(unknown)} not in table segments"
        )
    plays = {str(k): "" if is_missing(v) else str(v) for k, v in plays_by_segment.items()}
    frame = pd.DataFrame(
        {
            "internal_customer_id": customer_id.to_numpy(),
            "segment_id": segment_id.to_numpy(),
            "segment_name": segment_id.map(names).to_numpy(),
            "recommended_play": segment_id.map(plays).fillna("").to_numpy(),
        },
        columns=list(ACTIVATION_COLUMNS),
    )
    # Plain string sort (ids are text), stable, so the file is byte-identical for the same input.
    frame = frame.sort_values("internal_customer_id", kind="stable").reset_index(drop=True)
    return frame.astype("string")


def write_activation_exports(
    assignments: pd.DataFrame,
    segments: pd.DataFrame,
    plays_by_segment: Mapping[str, str | None],
    folder: str | Path,
) -> ActivationExports:
    """Write ``segment_activation.csv`` and ``segment_activation.parquet`` into ``folder``.

    Returns ``{"csv": path, "parquet": path}`` (an :class:`ActivationExports`, a ``dict[str, Path]``)
    whose ``row_count`` attribute is the number of customers written. See :func:`activation_frame`
    for the rows and the errors raised.
    """
    frame = activation_frame(assignments, segments, plays_by_segment)
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    csv_path = target / f"{ACTIVATION_BASENAME}.csv"
    parquet_path = target / f"{ACTIVATION_BASENAME}.parquet"

    # One Arrow table for both files: converting the million Python strings of the 1M benchmark
    # took about 0.55 s each time. It is the table ``to_parquet(index=False)`` writes.
    table = pa.Table.from_pandas(frame, preserve_index=False)

    # Write to a temp name, then move into place, so a reader never sees half a file.
    tmp_csv = csv_path.with_name(csv_path.name + ".tmp")
    write_activation_csv(frame, tmp_csv, table=table)
    os.replace(tmp_csv, csv_path)

    tmp_parquet = parquet_path.with_name(parquet_path.name + ".tmp")
    pq.write_table(table, tmp_parquet)
    os.replace(tmp_parquet, parquet_path)

    return ActivationExports({"csv": csv_path, "parquet": parquet_path}, row_count=len(frame))


#: Arrow writes the CSV without quoting any value when no value needs quotes, and refuses (instead
#: of writing a broken file) when one does.
_UNQUOTED_CSV = pa_csv.WriteOptions(quoting_style="none", quoting_header="none", batch_size=65_536)


def write_activation_csv(frame: pd.DataFrame, path: Path, *, table: pa.Table | None = None) -> None:
    """``frame`` as CSV at ``path``: the bytes pandas' ``to_csv`` writes (UTF-8, ``\\n`` line
    ends, a value quoted only when it holds a comma, a quote or a line break).

    Arrow writes it when no value needs quoting, the usual case (ids, segment names and play ids):
    for the million customers of the 1M benchmark pandas took 3.0-3.4 s and Arrow 0.6-1.1 s, the
    same bytes (the whole export, ``benchmarks.compare_functions --only activation``: 5.3-6.0 s
    before, 2.6-3.9 s after; benchmarks/README.md). pandas, whose quoting is the format's
    definition here, writes a frame with a value that needs quotes, a frame with a column that is
    not pandas text (the two format numbers differently) and a one-column frame (where pandas
    quotes an empty value so that its row is not an empty line). ``table``: ``frame`` already
    converted to Arrow (``preserve_index=False``), when the caller has it.
    """
    if len(frame.columns) > 1 and all(isinstance(t, pd.StringDtype) for t in frame.dtypes):
        try:
            if table is None:
                table = pa.Table.from_pandas(frame, preserve_index=False)
            pa_csv.write_csv(table, path, write_options=_UNQUOTED_CSV)
            return
        except pa.ArrowInvalid:
            pass  # a value needs quotes
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
