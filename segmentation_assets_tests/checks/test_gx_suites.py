"""Each stage's Great Expectations suite passes on good rows and names the expectation that fails on
a crafted bad frame."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import duckdb
import pandas as pd
import pytest

from segmentation_assets.checks import gx_suite
from segmentation_assets.checks.gx_suite import (
    Expectation,
    Relation,
    SuiteOutcome,
    run_suite,
    run_suites,
)
from segmentation_assets.checks.ingest_checks import (
    RAW_EVENTS_KNOWN_VALUES_SUITE,
    RAW_EVENTS_SUITE,
)
from segmentation_assets.checks.profile_checks import (
    IDENTITY_CONFLICTS_SUITE,
    MERGED_IDS_SUITE,
    PROFILES_SUITE,
)
from segmentation_assets.checks.segment_checks import (
    ROBUSTNESS_SUITE,
    actionability_suite,
    activation_suite,
    assignments_suite,
    report_segments_suite,
    segments_suite,
    trait_profile_suite,
)
from segmentation_assets_tests.checks.helpers import profile_frame

DAY = pd.Timestamp("2025-09-30")
IDS = ["seg_1", "seg_2"]


def raw_events() -> pd.DataFrame:
    ts = pd.Timestamp("2025-09-30 10:00", tz="UTC")
    return pd.DataFrame(
        {
            "event_date": [DAY] * 4,
            "source_table": ["purchase", "purchase_item", "session_start", "merge"],
            "internal_customer_id": ["a", "a", "b", "c"],
            "event_timestamp": [ts] * 4,
            "purchase_id": ["p1", "p1", None, None],
            "purchase_status": ["success", "success", None, None],
            "amount_base": [10.0, None, None, None],
            "price_base": [None, 10.0, None, None],
            "quantity": pd.array([None, 1, None, None], dtype="Int64"),
            "product_id": [None, "x", None, None],
            "device": [None, None, "mobile", None],
            "cart_action": [None] * 4,
            "merged_customer_id": [None, None, None, "a"],
        }
    )


def merged_ids() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of_date": [DAY] * 3,
            "internal_customer_id": ["a", "b", "c"],
            "surviving_id": ["a", "a", "c"],
        }
    )


def conflicts() -> pd.DataFrame:
    return pd.DataFrame({"conflict_type": ["cycle"], "ids": ["a,b"], "chosen_survivor": ["a"]})


def segments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of_date": [DAY] * 2,
            "segment_id": IDS,
            "name": ["Loyal big baskets", "Sleeping bargain hunters"],
            "size": [3, 1],
            "share": [0.75, 0.25],
            "avg_churn_risk": [0.1, 0.8],
            "model_version": ["v1", "v1"],
        }
    )


def assignments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of_date": [DAY] * 4,
            "customer_id": ["a", "b", "c", "d"],
            "segment_id": ["seg_1", "seg_1", "seg_1", "seg_2"],
            "distance_to_centroid": [0.1, 0.2, 0.3, 0.0],
            "membership_confidence": [0.9, 0.8, 0.7, 1.0],
        }
    )


def trait_profile() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of_date": [DAY] * 2,
            "segment_id": IDS,
            "trait": ["orders", "orders"],
            "segment_value": [2.0, 0.0],
            "population_value": [1.5, 1.5],
            "standardized_difference": [0.5, -1.5],
            "is_defining": [False, True],
        }
    )


def robustness() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "segment_id": IDS,
            "bootstrap_jaccard": [0.9, 0.7],
            "feature_jaccard_min": [0.8, 0.6],
            "window_jaccard": [0.7, 0.5],
            "temporal_jaccard": [None, None],
            "robustness_score": [0.8, 0.6],
            "tier": ["highly stable", "pattern only"],
        }
    )


def actionability() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of_date": [DAY] * 2,
            "segment_id": IDS,
            "is_actionable": [True, False],
            "valid": [True, False],
            "production_ready": [True, False],
            "recommended_campaign": ["category_cross_sell", "category_cross_sell"],
            "confidence_level": ["high", "low"],
            "executive_summary": ["x", "y"],
            "provider": ["rules", "rules"],
            "fell_back": [False, False],
        }
    )


def report_segments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "segment_id": IDS,
            "name": ["A", "B"],
            "size": [3, 1],
            "share": [0.75, 0.25],
            "recommended_play": ["category_cross_sell", None],
            "tier": ["stable", "dissolved"],
        }
    )


def activation() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "internal_customer_id": ["a", "b", "c", "d"],
            "segment_id": ["seg_1", "seg_1", "seg_1", "seg_2"],
            "recommended_play": ["category_cross_sell"] * 4,
        }
    )


Case = tuple[
    str, Callable[[], pd.DataFrame], list[Expectation], Callable[[pd.DataFrame], None], str
]


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], None]:
    def corrupt(frame: pd.DataFrame) -> None:
        # Object columns take anything; numeric ones keep their dtype (None becomes NaN).
        if isinstance(value, str) and frame[column].dtype != object:
            frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value

    return corrupt


def _profiles() -> pd.DataFrame:
    return profile_frame(40, dt.date(2025, 9, 30), seed=1)


def _profile_faults(frame: pd.DataFrame) -> None:
    _set("orders", 3, None)(frame)
    _set("churn_risk", 4, 1.5)(frame)
    _set("predicted_clv", 5, "lots")(frame)
    _set("rfm_segment", 6, "Whales")(frame)
    frame.loc[len(frame)] = frame.loc[0]


CASES: list[Case] = [
    ("raw_events", raw_events, RAW_EVENTS_SUITE, _set("amount_base", 0, -5.0),
     "ExpectColumnValuesToBeBetween(amount_base)"),
    ("raw_events", raw_events, RAW_EVENTS_SUITE, _set("internal_customer_id", 2, None),
     "ExpectColumnValuesToNotBeNull(internal_customer_id)"),
    ("raw_events", raw_events, RAW_EVENTS_SUITE, _set("purchase_status", 0, "completed"),
     "ExpectColumnValuesToBeInSet(purchase_status)"),
    ("raw_events known values", raw_events, RAW_EVENTS_KNOWN_VALUES_SUITE,
     _set("purchase_id", 0, None),
     "ExpectColumnValuesToNotBeNull(purchase_id) where source_table == 'purchase'"),
    ("raw_events known values", raw_events, RAW_EVENTS_KNOWN_VALUES_SUITE,
     _set("device", 2, "smart fridge"), "ExpectColumnValuesToBeInSet(device)"),
    ("merged_ids", merged_ids, MERGED_IDS_SUITE, _set("surviving_id", 1, None),
     "ExpectColumnValuesToNotBeNull(surviving_id)"),
    ("merged_ids", merged_ids, MERGED_IDS_SUITE, _set("internal_customer_id", 1, "a"),
     "ExpectCompoundColumnsToBeUnique(as_of_date, internal_customer_id)"),
    ("identity_conflicts", conflicts, IDENTITY_CONFLICTS_SUITE, _set("conflict_type", 0, "loop"),
     "ExpectColumnValuesToBeInSet(conflict_type)"),
    # The profile suite has ~100 expectations: one frame carries five faults in different rows.
    ("profiles", _profiles, PROFILES_SUITE, _profile_faults,
     "ExpectCompoundColumnsToBeUnique(as_of_date, customer_id) + "
     "ExpectColumnValuesToNotBeNull(orders) + "
     "ExpectColumnValuesToBeInTypeList(predicted_clv) + "
     "ExpectColumnValuesToBeBetween(churn_risk) + "
     "ExpectColumnValuesToBeBetween(predicted_clv) + "  # text cannot be range-checked either
     "ExpectColumnValuesToBeInSet(rfm_segment)"),
    ("segments", segments, segments_suite(), _set("share", 1, 0.0),
     "ExpectColumnValuesToBeBetween(share)"),
    ("segment_assignments", assignments, assignments_suite(IDS), _set("segment_id", 3, "seg_9"),
     "ExpectColumnValuesToBeInSet(segment_id)"),
    ("segment_assignments", assignments, assignments_suite(IDS),
     _set("membership_confidence", 0, 1.2), "ExpectColumnValuesToBeBetween(membership_confidence)"),
    ("segment_trait_profile", trait_profile, trait_profile_suite(IDS), _set("trait", 0, "iq"),
     "ExpectColumnValuesToBeInSet(trait)"),
    ("segment_robustness", robustness, ROBUSTNESS_SUITE, _set("tier", 0, "rock solid"),
     "ExpectColumnValuesToBeInSet(tier)"),
    ("segment_actionability", actionability, actionability_suite(IDS),
     _set("recommended_campaign", 0, "spam_everyone"),
     "ExpectColumnValuesToBeInSet(recommended_campaign)"),
    ("segment_actionability", actionability, actionability_suite(IDS),
     _set("confidence_level", 1, "certain"), "ExpectColumnValuesToBeInSet(confidence_level)"),
    ("report json", report_segments, report_segments_suite(), _set("segment_id", 1, "seg_1"),
     "ExpectColumnValuesToBeUnique(segment_id)"),
    ("activation", activation, activation_suite(IDS, 4), _set("internal_customer_id", 1, "a"),
     "ExpectColumnValuesToBeUnique(internal_customer_id)"),
]  # fmt: skip


GOOD = list({c[0]: c[:3] for c in CASES}.values())


@pytest.mark.parametrize(("suite", "good", "expectations"), GOOD, ids=[g[0] for g in GOOD])
def test_suite_passes_on_good_rows(
    suite: str, good: Callable[[], pd.DataFrame], expectations: list[Expectation]
) -> None:
    outcome = run_suite(good(), suite.replace(" ", "_"), expectations)
    assert outcome.success, outcome.failed


@pytest.mark.parametrize(
    ("suite", "good", "expectations", "corrupt", "named"), CASES, ids=[c[4] for c in CASES]
)
def test_suite_names_the_failed_expectation(
    suite: str,
    good: Callable[[], pd.DataFrame],
    expectations: list[Expectation],
    corrupt: Callable[[pd.DataFrame], None],
    named: str,
) -> None:
    frame = good()
    corrupt(frame)
    outcome = run_suite(frame, suite.replace(" ", "_"), expectations)
    assert not outcome.success
    assert sorted(outcome.failed_labels) == sorted(named.split(" + "))
    if " + " not in named and "Unique" not in named:
        assert outcome.failed[0]["unexpected_count"] == 1


def test_failures_reach_the_metadata_with_rows_and_a_sample() -> None:
    frame = merged_ids()
    frame.loc[1, "surviving_id"] = None
    bad = conflicts()
    bad.loc[0, "conflict_type"] = "loop"
    outcome = run_suites(
        {
            "merged_ids": (frame, MERGED_IDS_SUITE),
            "identity_conflicts": (bad, IDENTITY_CONFLICTS_SUITE),
        },
        "merged_ids_contract",
    )
    metadata = outcome.to_metadata()
    assert metadata["failed_expectations"] == 2
    assert metadata["failed"].value == [
        "merged_ids: ExpectColumnValuesToNotBeNull(surviving_id)",
        "identity_conflicts: ExpectColumnValuesToBeInSet(conflict_type)",
    ]
    assert metadata["failures"].value[1] == {
        "expectation": "identity_conflicts: ExpectColumnValuesToBeInSet(conflict_type)",
        "unexpected_count": 1,
        "unexpected_percent": 100.0,
        "sample": "['loop']",
    }


def test_a_missing_column_fails_with_the_reason() -> None:
    outcome = run_suite(merged_ids().drop(columns=["surviving_id"]), "m", MERGED_IDS_SUITE)
    assert outcome.failed_labels == ["ExpectColumnValuesToNotBeNull(surviving_id)"]
    assert "does not exist" in outcome.failed[0]["sample"]


# --- a warehouse table is screened in DuckDB, and GX judges it as it would the whole frame ---------


def _table(frame: pd.DataFrame) -> tuple[duckdb.DuckDBPyConnection, pd.DataFrame]:
    """``frame`` stored in an in-memory DuckDB table ``t``, and the table read back (the dtypes the
    warehouse gives pandas)."""
    con = duckdb.connect()
    con.register("_frame", frame)
    con.execute("CREATE TABLE t AS SELECT * FROM _frame")
    return con, con.execute("SELECT * FROM t").df()


def _judged(outcome: SuiteOutcome) -> list[tuple[str, bool, int, float]]:
    return [
        (r["expectation"], r["success"], r["unexpected_count"], r["unexpected_percent"])
        for r in outcome.results
    ]


RELATION_CASES = [(c[0], c[1], c[2], _set("orders", 0, 0)) for c in GOOD] + [
    (c[0], c[1], c[2], c[3]) for c in CASES
]


@pytest.mark.parametrize("clean_rows", [0, 1000])
@pytest.mark.parametrize(
    ("suite", "good", "expectations", "corrupt"),
    RELATION_CASES,
    ids=[f"{c[0]} good" for c in GOOD] + [c[4] for c in CASES],
)
def test_a_relation_is_judged_like_the_whole_frame(
    suite: str,
    good: Callable[[], pd.DataFrame],
    expectations: list[Expectation],
    corrupt: Callable[[pd.DataFrame], None],
    clean_rows: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same verdict, failed expectations, unexpected counts and percents, with GX seeing only the
    screened rows (clean_rows=0: not one row beyond those the screen flags)."""
    monkeypatch.setattr(gx_suite, "CLEAN_SAMPLE_ROWS", clean_rows)
    frame = good()
    if suite != "profiles" or corrupt is _profile_faults:
        corrupt(frame)
    con, whole = _table(frame)
    expected = run_suite(whole, "t", expectations)
    outcome = run_suite(Relation(con, "SELECT * FROM t"), "t", expectations)
    assert _judged(outcome) == _judged(expected)
    assert outcome.rows == {"t": len(whole)}


@pytest.mark.parametrize("materialize", [False, True])
def test_a_large_relation_counts_every_bad_row(materialize: bool) -> None:
    """3,000 profiles (more than the clean sample) with faults far apart: every bad row is counted,
    percentages are of the whole table, and GX saw far fewer rows than the table holds."""
    frame = profile_frame(3000, dt.date(2025, 9, 30), seed=3)
    frame.loc[[10, 1500, 2999], "churn_risk"] = 1.5
    frame.loc[2500, "rfm_segment"] = "Whales"
    frame.loc[[7, 2000], "customer_id"] = "c00042"  # three rows share an id
    con, whole = _table(frame)
    expected = run_suite(whole, "p", PROFILES_SUITE)
    relation = Relation(con, "SELECT * FROM t WHERE as_of_date = $d", {"d": DAY}, materialize)
    outcome = run_suite(relation, "p", PROFILES_SUITE)
    assert _judged(outcome) == _judged(expected)
    assert sorted(outcome.failed_labels) == [
        "ExpectColumnValuesToBeBetween(churn_risk)",
        "ExpectColumnValuesToBeInSet(rfm_segment)",
        "ExpectCompoundColumnsToBeUnique(as_of_date, customer_id)",
    ]
    counts = {r["expectation"]: r["unexpected_count"] for r in outcome.failed}
    assert counts["ExpectColumnValuesToBeBetween(churn_risk)"] == 3
    assert counts["ExpectCompoundColumnsToBeUnique(as_of_date, customer_id)"] == 3
    assert outcome.rows == {"p": 3000}
    screened = gx_suite._screen(relation, PROFILES_SUITE)
    assert len(screened.frame) == 7 + gx_suite.CLEAN_SAMPLE_ROWS  # the 7 bad rows + clean ones


def test_a_relation_missing_a_column_fails_with_the_reason() -> None:
    con, _ = _table(merged_ids().drop(columns=["surviving_id"]))
    outcome = run_suite(Relation(con, "SELECT * FROM t"), "m", MERGED_IDS_SUITE)
    assert outcome.failed_labels == ["ExpectColumnValuesToNotBeNull(surviving_id)"]
    assert "does not exist" in outcome.failed[0]["sample"]


def test_a_row_count_sees_the_whole_relation() -> None:
    con, _ = _table(pd.concat([activation()] * 3, ignore_index=True))
    outcome = run_suite(Relation(con, "SELECT * FROM t"), "a", activation_suite(IDS, 12))
    assert "ExpectTableRowCountToEqual" not in outcome.failed_labels
    assert outcome.failed_labels == ["ExpectColumnValuesToBeUnique(internal_customer_id)"]
    assert outcome.failed[0]["unexpected_count"] == 12


# --- GX built ahead of the first check ---------------------------------------------------------


def test_warm_up_builds_gx_once_on_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gx_suite, "_STATE", {})
    monkeypatch.setattr(gx_suite, "_WARM_UP", [])
    gx_suite.warm_up_in_background()
    gx_suite.warm_up_in_background()
    assert len(gx_suite._WARM_UP) == 1
    thread = gx_suite._WARM_UP[0]
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert {"gx", "batch_definition"} <= set(gx_suite._STATE)
    # A check afterwards validates with the context the warm-up built.
    built = gx_suite._STATE["batch_definition"]
    outcome = gx_suite.run_suite(
        pd.DataFrame({"x": [1, None]}),
        "warm_up",
        [Expectation("ExpectColumnValuesToNotBeNull", column="x")],
    )
    assert not outcome.success
    assert outcome.results[0]["unexpected_count"] == 1
    assert gx_suite._STATE["batch_definition"] is built
    # Once GX is built, nothing is started again.
    monkeypatch.setattr(gx_suite, "_WARM_UP", [])
    gx_suite.warm_up_in_background()
    assert gx_suite._WARM_UP == []


def test_a_failed_warm_up_is_left_for_the_first_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gx_suite, "_STATE", {})
    monkeypatch.setattr(gx_suite, "_WARM_UP", [])
    unhandled: list[BaseException | None] = []
    monkeypatch.setattr("threading.excepthook", lambda args: unhandled.append(args.exc_value))

    def broken() -> dict[str, object]:
        raise RuntimeError("no GX here")

    monkeypatch.setattr(gx_suite, "_gx", broken)
    gx_suite.warm_up_in_background()
    gx_suite._WARM_UP[0].join(timeout=60)
    assert unhandled == []
    assert "batch_definition" not in gx_suite._STATE
    with pytest.raises(RuntimeError, match="no GX here"):
        gx_suite.run_suite(
            pd.DataFrame({"x": [1]}),
            "warm_up",
            [Expectation("ExpectColumnValuesToNotBeNull", column="x")],
        )
