"""merged_ids: chains, cycles, contested merges, merges after the as-of date, scale."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from segmentation_assets.identity import resolve_identities


def _history(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["internal_customer_id", "past_id"])


def _as_dict(resolution) -> dict[str, str]:
    return dict(resolution.mapping.itertuples(index=False, name=None))


def test_chains_resolve_transitively_and_unmerged_ids_map_to_themselves() -> None:
    result = resolve_identities(_history([("b", "a"), ("c", "b"), ("c", "b")]), pd.Series(["z"]))
    assert _as_dict(result) == {"a": "c", "b": "c", "c": "c", "z": "z"}
    assert result.conflicts.empty
    assert result.merged_id_count == 2


def test_seen_ids_in_any_order_with_repeats_and_gaps_give_the_sorted_mapping() -> None:
    # The warehouse passes them distinct and sorted; any other caller may not.
    history = _history([("b", "a"), ("c", "b")])
    expected = {"a": "c", "b": "c", "c": "c", "d": "d", "z": "z"}
    for seen in (["z", "d", "z", None, "a"], ["d", "z"], []):
        result = resolve_identities(history, pd.Series(seen, dtype=object))
        got = _as_dict(result)
        assert got == {k: v for k, v in expected.items() if k in {"a", "b", "c", *seen}}
        assert list(got) == sorted(got)


def test_cycle_maps_to_smallest_id_and_is_reported() -> None:
    result = resolve_identities(_history([("y", "x"), ("x", "y"), ("y", "w")]))
    assert (
        _as_dict(result) == {"w": "w", "x": "w", "y": "w"}
        or _as_dict(result)["x"] == _as_dict(result)["y"]
    )
    conflicts = result.conflicts
    assert conflicts["conflict_type"].tolist() == ["cycle"]
    assert conflicts["chosen_survivor"].tolist() == ["w"]


def test_contested_past_id_keeps_latest_merge_then_smallest_survivor() -> None:
    history = _history([("q", "p"), ("r", "p")])
    no_time = resolve_identities(history)
    assert _as_dict(no_time)["p"] == "q"
    assert no_time.conflicts.to_dict("records") == [
        {"conflict_type": "multiple_survivors", "ids": "p,q,r", "chosen_survivor": "q"}
    ]
    merges = pd.DataFrame(
        {
            "internal_customer_id": ["q", "r"],
            "merged_customer_id": ["p", "p"],
            "timestamp": pd.to_datetime(["2025-01-01", "2025-02-01"], utc=True),
        }
    )
    timed = resolve_identities(history, merge_events=merges)
    assert _as_dict(timed)["p"] == "r"
    assert _as_dict(timed)["q"] == "q"


def test_merges_after_the_as_of_date_are_not_applied() -> None:
    merges = pd.DataFrame(
        {
            "internal_customer_id": ["bob"],
            "merged_customer_id": ["anon"],
            "timestamp": pd.to_datetime(["2025-03-10 08:00"], utc=True),
        }
    )
    history = _history([("bob", "anon")])
    before = resolve_identities(
        history, merge_events=merges, as_of_end=dt.datetime(2025, 3, 10, tzinfo=dt.UTC)
    )
    after = resolve_identities(
        history, merge_events=merges, as_of_end=dt.datetime(2025, 3, 11, tzinfo=dt.UTC)
    )
    assert _as_dict(before)["anon"] == "anon"
    assert _as_dict(after)["anon"] == "bob"


def _rules_by_hand(
    history: list[tuple[str | None, str | None]],
    merges: list[tuple[str | None, str | None, dt.datetime | None]],
    as_of_end: dt.datetime,
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The module docstring's four rules, one id at a time: (mapping, conflicts)."""
    ids: set[str] = set()
    latest: dict[tuple[str, str], dt.datetime | None] = {}
    edges: set[tuple[str, str]] = set()
    for survivor, past in history:
        if survivor is not None and past is not None:
            ids |= {survivor, past}
            edges.add((past, survivor))
    for survivor, past, at in merges:
        if survivor is None or past is None:
            continue
        ids |= {survivor, past}
        edges.add((past, survivor))
        before = latest.get((past, survivor))
        latest[(past, survivor)] = at if before is None else max(before, at or before)
    claims: dict[str, list[tuple[str, dt.datetime | None]]] = {}
    for past, survivor in edges:
        at = latest.get((past, survivor))
        if past != survivor and (at is None or at < as_of_end):  # rule 1
            claims.setdefault(past, []).append((survivor, at))
    conflicts: list[dict[str, str]] = []
    parent: dict[str, str] = {}
    for past, options in claims.items():  # rule 2: latest merge, then the smallest survivor
        options.sort(key=lambda o: (o[1] is None, -(o[1].timestamp() if o[1] else 0), o[0]))
        parent[past] = options[0][0]
        if len(options) > 1:
            ids_text = ",".join([past, *sorted(o[0] for o in options)])
            conflicts.append(
                {
                    "conflict_type": "multiple_survivors",
                    "ids": ids_text,
                    "chosen_survivor": parent[past],
                }
            )
    component = {i: i for i in ids}  # union-find over the kept edges

    def root(i: str) -> str:
        while component[i] != i:
            i = component[i]
        return i

    for past, survivor in parent.items():
        component[root(past)] = root(survivor)
    members: dict[str, list[str]] = {}
    for i in ids:
        members.setdefault(root(i), []).append(i)
    survivor_of: dict[str, str] = {}
    for group in members.values():
        ends = [i for i in group if i not in parent]  # rule 3: the end of the chain
        if ends:
            survivor_of.update(dict.fromkeys(group, ends[0]))
        else:  # rule 4: a cycle maps to its component's smallest id
            survivor_of.update(dict.fromkeys(group, min(group)))
            conflicts.append(
                {
                    "conflict_type": "cycle",
                    "ids": ",".join(sorted(group)),
                    "chosen_survivor": min(group),
                }
            )
    conflicts.sort(key=lambda c: (c["conflict_type"], c["ids"]))
    return dict(sorted(survivor_of.items())), conflicts


def test_random_graphs_resolve_as_the_rules_say() -> None:
    rng = np.random.default_rng(7)
    names = [f"c{i:02d}" for i in range(40)]
    days = [dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=int(d)) for d in range(12)]
    seen_conflicts: set[str] = set()
    for _ in range(150):

        def some_id() -> str | None:
            return None if rng.random() < 0.03 else str(rng.choice(names))

        history = [(some_id(), some_id()) for _ in range(rng.integers(0, 25))]
        merges = [
            (some_id(), some_id(), None if rng.random() < 0.05 else days[rng.integers(0, 12)])
            for _ in range(rng.integers(0, 25))
        ]
        as_of_end = days[rng.integers(0, 12)]
        expected_mapping, expected_conflicts = _rules_by_hand(history, merges, as_of_end)
        got = resolve_identities(
            pd.DataFrame(history, columns=["internal_customer_id", "past_id"]),
            merge_events=pd.DataFrame(
                {
                    "internal_customer_id": [m[0] for m in merges],
                    "merged_customer_id": [m[1] for m in merges],
                    "timestamp": pd.to_datetime([m[2] for m in merges], utc=True),
                }
            ),
            as_of_end=as_of_end,
        )
        assert _as_dict(got) == expected_mapping
        assert list(got.mapping["internal_customer_id"]) == sorted(expected_mapping)
        assert got.conflicts.to_dict("records") == expected_conflicts
        seen_conflicts |= {c["conflict_type"] for c in expected_conflicts}
    assert seen_conflicts == {"cycle", "multiple_survivors"}  # the draws exercised both rules


def test_a_million_ids_resolve_without_python_loops() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    ids = np.char.add("id", np.arange(n).astype(str))
    chained = rng.choice(n // 2, size=100_000, replace=False)
    # past id i merged into i + n/2, and half of those survivors merged again (a→b→c).
    history = pd.DataFrame({"internal_customer_id": ids[chained + n // 2], "past_id": ids[chained]})
    second = history.iloc[:50_000]
    extra = pd.DataFrame(
        {
            "internal_customer_id": np.char.add(
                second["internal_customer_id"].to_numpy().astype(str), "_final"
            ),
            "past_id": second["internal_customer_id"].to_numpy(),
        }
    )
    result = resolve_identities(pd.concat([history, extra]), pd.Series(ids))
    mapping = result.mapping.set_index("internal_customer_id")["surviving_id"]
    first_past = second["past_id"].iloc[0]
    assert mapping[first_past] == second["internal_customer_id"].iloc[0] + "_final"
    assert len(mapping) == n + 50_000
    assert result.conflicts.empty


def test_the_stored_snapshot_is_the_resolution_of_every_id_seen(tmp_path) -> None:
    """write_merged_ids resolves only the ids the merges mention and lets the database map the rest:
    its rows must be exactly what resolving every seen id at once gives, conflicts included."""
    from segmentation_assets import export_folder, identity, ingest, warehouse
    from segmentation_assets_tests.ebq_fixture import write_fixture_export

    con = warehouse.connect(":memory:")
    views = export_folder.register_views(con, write_fixture_export(tmp_path))
    ingest.ingest_window(con, views, dt.date(2025, 3, 1), dt.date(2025, 3, 8))
    snapshot_date = dt.date(2025, 3, 7)
    ingest.snapshot_customer_tables(con, views, snapshot_date)
    # A chain onto a customer with events, a cycle and a contested past id, none of them with events.
    con.execute(
        f"INSERT INTO {ingest.ID_HISTORY_SNAPSHOTS_TABLE} (snapshot_date, internal_customer_id, "
        "past_id) VALUES ($d, 'carol', 'old_carol'), ($d, 'old_carol', 'older_carol'), "
        "($d, 'cyc_y', 'cyc_x'), ($d, 'cyc_x', 'cyc_y'), ($d, 'q', 'p'), ($d, 'r', 'p')",
        {"d": snapshot_date},
    )
    identity.ensure_identity_tables(con)
    # bob absorbed anon_b on 2025-03-03: not applied as of the 2nd, applied as of the 7th.
    expected_anon_b = {dt.date(2025, 3, 2): "anon_b", dt.date(2025, 3, 7): "bob"}
    rows_per_date = []
    for as_of, anon_b_survivor in expected_anon_b.items():
        written = identity.write_merged_ids(con, as_of, 365)
        inputs = identity.load_identity_inputs(con, as_of, 365)
        seen = con.execute(f"SELECT * FROM ({inputs.seen_sql})", inputs.params).df()
        whole = identity.resolve_identities(
            inputs.history,
            seen["internal_customer_id"],
            inputs.merges,
            as_of_end=dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(0), dt.UTC),
        )
        stored = con.execute(
            "SELECT internal_customer_id, surviving_id FROM merged_ids WHERE as_of_date = $d "
            "ORDER BY rowid",
            {"d": as_of},
        ).df()
        pd.testing.assert_frame_equal(stored, whole.mapping)
        mapping = dict(stored.itertuples(index=False, name=None))
        assert mapping["anon_b"] == anon_b_survivor
        assert mapping["older_carol"] == mapping["old_carol"] == "carol"
        assert mapping["cyc_x"] == mapping["cyc_y"] == "cyc_x"
        assert mapping["p"] == "q"
        assert {"alice", "dave", "eve"} <= {k for k, v in mapping.items() if k == v}
        assert (written.ids, written.surviving_customers, written.merged_ids) == (
            len(stored),
            stored["surviving_id"].nunique(),
            whole.merged_id_count,
        )
        pd.testing.assert_frame_equal(written.conflicts.drop(columns="as_of_date"), whole.conflicts)
        stored_conflicts = con.execute(
            "SELECT conflict_type, ids, chosen_survivor FROM identity_conflicts "
            "WHERE as_of_date = $d ORDER BY ALL",
            {"d": as_of},
        ).df()
        assert stored_conflicts["conflict_type"].tolist() == ["cycle", "multiple_survivors"]
        rows_per_date.append((as_of, len(stored)))
    # Written again, a date's rows are replaced, not added to.
    identity.write_merged_ids(con, dt.date(2025, 3, 7), 365)
    counts = con.execute("SELECT as_of_date, count(*) FROM merged_ids GROUP BY 1 ORDER BY 1")
    assert counts.fetchall() == rows_per_date
