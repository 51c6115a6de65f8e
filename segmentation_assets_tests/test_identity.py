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
