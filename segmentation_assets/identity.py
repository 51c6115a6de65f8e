"""Identity resolution: every customer id ever seen → exactly one surviving id, as of a date.

Bloomreach does not rewrite events when customers merge, so events carry whatever id was current
when they happened. ``customers_id_history`` records each merge as (surviving id, past id); merges
chain (a→b, then b→c) and exports can contain contradictions. The rules, applied in order:

1. A merge event timestamped after the as-of date is not applied (backfills see the graph as it was).
2. A past id claimed by several survivors keeps the claim with the latest merge timestamp, then the
   alphabetically smallest survivor; the others are recorded as ``multiple_survivors`` conflicts.
3. Chains resolve transitively to the id at the end of the chain.
4. A cycle (a→b→a) has no end: all its members map to the alphabetically smallest id in the cycle's
   component, recorded as a ``cycle`` conflict.

Scales to millions of ids: ids are integer-coded and components come from scipy's sparse
connected-components routine; there is no per-id Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from segmentation_assets.warehouse import replace_rows, table_exists, transaction


@dataclass(frozen=True)
class IdentityResolution:
    """``mapping``: internal_customer_id → surviving_id (one row per id, sorted);
    ``conflicts``: conflict_type, ids (comma-separated, sorted), chosen_survivor."""

    mapping: pd.DataFrame
    conflicts: pd.DataFrame

    @property
    def merged_id_count(self) -> int:
        return int((self.mapping["internal_customer_id"] != self.mapping["surviving_id"]).sum())


def resolve_identities(
    id_history: pd.DataFrame,
    seen_ids: pd.Series | None = None,
    merge_events: pd.DataFrame | None = None,
    as_of_end: datetime | None = None,
) -> IdentityResolution:
    """Resolve the identity graph.

    Args:
        id_history: columns ``internal_customer_id`` (survivor) and ``past_id``.
        seen_ids: further ids (from events, customer properties) that must appear in the mapping.
        merge_events: optional columns ``internal_customer_id`` (survivor), ``merged_customer_id``,
            ``timestamp`` (UTC) — used to drop merges after ``as_of_end`` and to order claims.
        as_of_end: the exclusive end of the as-of day (UTC).
    """
    for column in ("internal_customer_id", "past_id"):
        if column not in id_history.columns:
            raise ValueError(f"customers_id_history: required column {column!r} is missing")
    history = id_history[["past_id", "internal_customer_id"]].dropna().astype(str)
    mentioned = [history["past_id"], history["internal_customer_id"]]
    merges = None
    if merge_events is not None and len(merge_events):
        merges = merge_events[["merged_customer_id", "internal_customer_id", "timestamp"]].dropna(
            subset=["merged_customer_id", "internal_customer_id"]
        )
        merges = merges.astype({"merged_customer_id": str, "internal_customer_id": str})
        mentioned += [merges["merged_customer_id"], merges["internal_customer_id"]]

    # Every id the inputs mention appears in the mapping, including those of unapplied merges.
    all_ids = _sorted_unique(pd.concat(mentioned, ignore_index=True))
    if seen_ids is not None:
        # Merging two sorted indexes is linear; sorting a million ids again costs seconds.
        all_ids = all_ids.union(_sorted_unique(seen_ids.dropna().astype(str)))
    n = len(all_ids)
    if n == 0:
        empty = pd.DataFrame(
            {"internal_customer_id": pd.Series(dtype=str), "surviving_id": pd.Series(dtype=str)}
        )
        return IdentityResolution(empty, _conflict_frame([]))

    # The edges are handled as positions in the sorted ids: ordering positions orders the ids, and
    # grouping, joining and sorting integers costs a fraction of doing it on strings (the whole
    # function: 3.4-4.3 -> 2.0-2.2 s for 147,790 history rows and as many merges,
    # benchmarks/README.md).
    edges = pd.DataFrame(
        {
            "past_id": all_ids.get_indexer(history["past_id"]),
            "survivor": all_ids.get_indexer(history["internal_customer_id"]),
        }
    )
    edges = edges[edges["past_id"] != edges["survivor"]].drop_duplicates()
    edges = edges.assign(merged_at=pd.NaT)
    if merges is not None:
        claims_at = pd.DataFrame(
            {
                "past_id": all_ids.get_indexer(merges["merged_customer_id"]),
                "survivor": all_ids.get_indexer(merges["internal_customer_id"]),
                "merged_at": pd.to_datetime(merges["timestamp"], utc=True).array,
            }
        )
        latest = claims_at.groupby(["past_id", "survivor"], as_index=False)["merged_at"].max()
        edges = edges.drop(columns="merged_at").merge(
            latest, on=["past_id", "survivor"], how="outer"
        )
        if as_of_end is not None:
            future = edges["merged_at"] >= pd.Timestamp(as_of_end)
            edges = edges[~future.fillna(False)]
        edges = edges[edges["past_id"] != edges["survivor"]]

    conflict_rows: list[dict[str, str]] = []
    # Rule 2: one outgoing edge per past id.
    edges = edges.sort_values(
        ["past_id", "merged_at", "survivor"], ascending=[True, False, True], na_position="last"
    )
    claims = edges.groupby("past_id")["survivor"].transform("size")
    contested = edges[claims > 1]
    edges = edges.drop_duplicates("past_id", keep="first")
    if len(contested):
        chosen = edges.set_index("past_id")["survivor"]
        for past, survivors in contested.groupby("past_id")["survivor"]:
            conflict_rows.append(
                {
                    "conflict_type": "multiple_survivors",
                    "ids": ",".join([all_ids[past], *all_ids[np.sort(survivors.to_numpy())]]),
                    "chosen_survivor": str(all_ids[chosen[past]]),
                }
            )

    src = edges["past_id"].to_numpy()
    dst = edges["survivor"].to_numpy()
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
    _, component = connected_components(graph, directed=True, connection="weak")

    # After rule 2 every node has at most one outgoing edge, so a component has exactly one node
    # without one (its survivor) unless it contains a cycle, in which case it has none.
    has_parent = np.zeros(n, dtype=bool)
    has_parent[src] = True
    roots_per_component = np.bincount(component, weights=~has_parent, minlength=component.max() + 1)
    survivor_index = np.full(component.max() + 1, -1, dtype=np.int64)
    root_nodes = np.flatnonzero(~has_parent)
    survivor_index[component[root_nodes]] = root_nodes
    cyclic = np.flatnonzero(roots_per_component == 0)
    if len(cyclic):
        # all_ids is sorted, so the smallest node index in a component is its smallest id.
        first_node = np.full(component.max() + 1, n, dtype=np.int64)
        np.minimum.at(first_node, component, np.arange(n))
        survivor_index[cyclic] = first_node[cyclic]
        members = pd.Series(all_ids[np.isin(component, cyclic)]).groupby(
            component[np.isin(component, cyclic)]
        )
        for comp, ids in members:
            conflict_rows.append(
                {
                    "conflict_type": "cycle",
                    "ids": ",".join(sorted(ids)),
                    "chosen_survivor": str(all_ids[survivor_index[comp]]),
                }
            )
    mapping = pd.DataFrame(
        {
            "internal_customer_id": all_ids.to_numpy(),
            "surviving_id": all_ids[survivor_index[component]],
        }
    )
    return IdentityResolution(mapping.reset_index(drop=True), _conflict_frame(conflict_rows))


def _sorted_unique(ids: pd.Series) -> pd.Index:
    """The distinct ids, sorted; ids that already are (as load_identity_inputs returns them) are
    only checked."""
    index = pd.Index(ids, dtype=object)
    if index.is_monotonic_increasing and index.is_unique:
        return index
    return pd.Index(index.unique(), dtype=object).sort_values()


def _conflict_frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["conflict_type", "ids", "chosen_survivor"])
    return frame.sort_values(["conflict_type", "ids"]).reset_index(drop=True)


MERGED_IDS_TABLE = "merged_ids"
CONFLICTS_TABLE = "identity_conflicts"


@dataclass(frozen=True)
class IdentityInputs:
    """What an as-of date's identity snapshot is resolved from.

    ``history`` (columns internal_customer_id, past_id) and ``merges`` (internal_customer_id,
    merged_customer_id, timestamp) are the merge edges, small next to the population; the ids seen
    (with events in the window, or in the customer-ids snapshot) stay in the database as
    ``seen_sql`` with its ``params``: a million of them never need to reach Python.
    """

    history: pd.DataFrame
    merges: pd.DataFrame
    seen_sql: str
    params: dict[str, Any]


def load_identity_inputs(
    con: Any, as_of: date, window_days: int, run_key: str | None = None
) -> IdentityInputs:
    """Id history, merge events and (as SQL) the ids seen that the as-of date's snapshot uses.

    ``run_key`` (the Dagster run's id) records the activity check of the window for the run's later
    steps (``ingest.refresh_stale_activity``).

    The history snapshot is the earliest taken on or after the as-of date (the graph only grows, and
    merge timestamps remove later merges), else the latest one before it.
    """
    from segmentation_assets.ingest import (
        CUSTOMER_IDS_SNAPSHOTS_TABLE,
        ID_HISTORY_SNAPSHOTS_TABLE,
        RAW_EVENTS_TABLE,
        ids_with_activity_sql,
        refresh_stale_activity,
    )

    window_start = as_of - timedelta(days=window_days - 1)
    history = pd.DataFrame(columns=["internal_customer_id", "past_id"])
    # The ids with events in the window, from the per-day activity the ingest writes with the
    # events (one row per day and id: 24M rows instead of 122M events at a million customers, 5 s
    # instead of 20 s); days whose activity no longer matches raw_events are rebuilt first.
    refresh_stale_activity(con, window_start, as_of, run_key)
    seen_sql = ids_with_activity_sql("event_date BETWEEN $start AND $end")
    params: dict[str, Any] = {"start": window_start, "end": as_of}
    if table_exists(con, ID_HISTORY_SNAPSHOTS_TABLE):
        row = con.execute(
            f"SELECT coalesce(min(snapshot_date) FILTER (snapshot_date >= $d), max(snapshot_date)) "
            f"FROM {ID_HISTORY_SNAPSHOTS_TABLE}",
            {"d": as_of},
        ).fetchall()
        snapshot = row[0][0] if row else None
        if snapshot is not None:
            history = con.execute(
                f"SELECT internal_customer_id, past_id FROM {ID_HISTORY_SNAPSHOTS_TABLE} "
                "WHERE snapshot_date = $s",
                {"s": snapshot},
            ).df()
            seen_sql += (
                f" UNION SELECT internal_customer_id FROM {CUSTOMER_IDS_SNAPSHOTS_TABLE} "
                "WHERE snapshot_date = $s"
            )
            params["s"] = snapshot
    merges = con.execute(
        f"SELECT internal_customer_id, merged_customer_id, event_timestamp AS timestamp "
        f"FROM {RAW_EVENTS_TABLE} WHERE source_table = 'merge' AND merged_customer_id IS NOT NULL"
    ).df()
    return IdentityInputs(history, merges, seen_sql, params)


@dataclass(frozen=True)
class MergedIdsSnapshot:
    """What :func:`write_merged_ids` wrote for one as-of date: the counts of its ``merged_ids`` rows
    (``ids``; ``surviving_customers``, the distinct survivors; ``merged_ids``, the ids mapped to
    another id) and its ``identity_conflicts`` rows (``conflicts``)."""

    ids: int
    surviving_customers: int
    merged_ids: int
    conflicts: pd.DataFrame


_EDGE_MAPPING = "_identity_edge_mapping"


def write_merged_ids(
    con: Any, as_of: date, window_days: int, run_key: str | None = None
) -> MergedIdsSnapshot:
    """Resolve the identity graph as of ``as_of`` from what raw_events and the snapshots hold, and
    replace that date's rows of ``merged_ids`` and ``identity_conflicts`` in one transaction
    (``run_key``: see :func:`load_identity_inputs`).

    Only the ids the merges mention are resolved in Python (:func:`resolve_identities`); every
    other id seen is its own survivor, so the database maps the seen ids through that small
    mapping and writes the rows itself, sorted by id. The rows are the ones
    ``resolve_identities(history, seen_ids, merges)`` gives: an id without a merge edge is a
    component of its own, whatever else is seen.
    """
    inputs = load_identity_inputs(con, as_of, window_days, run_key)
    as_of_end = datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=UTC)
    edges = resolve_identities(inputs.history, None, inputs.merges, as_of_end=as_of_end)
    conflicts = edges.conflicts.assign(as_of_date=as_of)[
        ["as_of_date", "conflict_type", "ids", "chosen_survivor"]
    ]
    params = {**inputs.params, "as_of": as_of}
    con.register(_EDGE_MAPPING, edges.mapping)
    try:
        with transaction(con):
            con.execute(f"DELETE FROM {MERGED_IDS_TABLE} WHERE as_of_date = $d", {"d": as_of})
            con.execute(
                f"INSERT INTO {MERGED_IDS_TABLE} (as_of_date, internal_customer_id, surviving_id) "
                "SELECT $as_of, ids.internal_customer_id, "
                "coalesce(e.surviving_id, ids.internal_customer_id) "
                f"FROM (SELECT internal_customer_id FROM ({inputs.seen_sql}) "
                "WHERE internal_customer_id IS NOT NULL "
                f"UNION SELECT internal_customer_id FROM {_EDGE_MAPPING}) AS ids "
                f"LEFT JOIN {_EDGE_MAPPING} AS e USING (internal_customer_id) "
                "ORDER BY ids.internal_customer_id",
                params,
            )
            replace_rows(
                con, CONFLICTS_TABLE, conflicts, where="as_of_date = $d", params={"d": as_of}
            )
    finally:
        con.unregister(_EDGE_MAPPING)
    ids, survivors, merged = con.execute(
        "SELECT count(*), count(DISTINCT surviving_id), "
        "count(*) FILTER (internal_customer_id <> surviving_id) "
        f"FROM {MERGED_IDS_TABLE} WHERE as_of_date = $d",
        {"d": as_of},
    ).fetchall()[0]
    return MergedIdsSnapshot(int(ids), int(survivors), int(merged), conflicts)


def ensure_identity_tables(con: Any) -> None:
    """Typed tables, created once, so an empty first snapshot cannot fix a wrong column type."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {MERGED_IDS_TABLE} (as_of_date DATE NOT NULL, "
        "internal_customer_id VARCHAR NOT NULL, surviving_id VARCHAR NOT NULL)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {CONFLICTS_TABLE} (as_of_date DATE NOT NULL, "
        "conflict_type VARCHAR NOT NULL, ids VARCHAR NOT NULL, chosen_survivor VARCHAR NOT NULL)"
    )
