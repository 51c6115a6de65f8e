"""The robustness stage's own logic on the pipeline world: stored base result, sampled windows."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

import segmentation_assets.assets  # noqa: F401  (the package re-exports the asset under the name)
from segmentation_assets.profiles import build_profiles, profiled_customers
from segmentation_assets.resources import PipelineSettingsResource
from segmentation_assets.robustness import window_sample
from segmentation_assets_tests.dagster.conftest import AS_OF, WINDOW_DAYS, PipelineWorld

stage = sys.modules["segmentation_assets.assets.robustness"]

#: Columns that depend on the population the profiles are built for (quintiles, value model).
POPULATION_COLUMNS = {
    "rfm_recency_score",
    "rfm_frequency_score",
    "rfm_monetary_score",
    "rfm_segment",
    "expected_purchases",
    "p_alive",
    "churn_risk",
    "predicted_clv",
}


@pytest.fixture()
def con(pipeline_world: PipelineWorld, tmp_path: Path):
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_world.warehouse, copy)
    connection = duckdb.connect(str(copy))
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


def _settings(**overrides: object) -> PipelineSettingsResource:
    """The conftest world's analytical settings (see ``small_world``), with ``overrides``."""
    values: dict[str, object] = {
        "window_days": WINDOW_DAYS,
        "k_min": 3,
        "k_max": 6,
        "bootstrap_samples": 5,
        "robustness_sample_size": 2000,
        "sensitivity_windows_days": [45],
    }
    return PipelineSettingsResource(**{**values, **overrides})


def _stored(con, as_of=AS_OF):
    params = {"d": as_of}
    profiles = con.execute(
        "SELECT * FROM profiles WHERE as_of_date = $d ORDER BY customer_id", params
    ).df()
    assignments = con.execute(
        "SELECT customer_id, segment_id, membership_confidence FROM segment_assignments "
        "WHERE as_of_date = $d ORDER BY customer_id",
        params,
    ).df()
    segments = con.execute("SELECT * FROM segments WHERE as_of_date = $d", params).df()
    ids = dict(zip(segments["segment_index"].astype(int), segments["segment_id"], strict=True))
    return profiles, assignments, ids


def test_assess_date_reproduces_what_the_stage_wrote(con) -> None:
    settings = _settings()
    result = stage.assess_date(con, AS_OF, settings)
    assert result.base_source == "stored model"
    stored = con.execute(
        "SELECT * FROM segment_robustness WHERE as_of_date = $d ORDER BY segment_index",
        {"d": AS_OF},
    ).df()
    numeric = ["bootstrap_jaccard", "feature_jaccard_min", "window_jaccard", "robustness_score"]
    assert np.allclose(stored[numeric], result.scores[numeric], equal_nan=True)
    assert stored["tier"].tolist() == result.scores["tier"].tolist()


def test_base_result_without_a_stored_model_refits_the_same_clusters(con) -> None:
    profiles, assignments, ids = _stored(con)
    config = _settings().segmentation().with_fixed_k(len(ids))
    stored, source = stage.base_result(con, AS_OF, profiles, assignments, ids, config)
    assert source == "stored model"
    con.execute("DELETE FROM segmentation_models")
    refit, source = stage.base_result(con, AS_OF, profiles, assignments, ids, config)
    assert source == "refit"
    assert np.array_equal(refit.labels, stored.labels)


def test_base_result_names_settings_and_clusters_that_disagree(con) -> None:
    profiles, assignments, ids = _stored(con)
    config = _settings().segmentation().with_fixed_k(len(ids))
    # The k range only chooses k; with k fixed it does not matter.
    stage.base_result(
        con, AS_OF, profiles, assignments, ids, config.model_copy(update={"k_range": (2, 9)})
    )
    other_seed = config.model_copy(update={"random_state": config.random_state + 1})
    with pytest.raises(
        RuntimeError, match=r"other settings \(random_state.*re-materialize clusters"
    ):
        stage.base_result(con, AS_OF, profiles, assignments, ids, other_seed)
    moved = assignments.copy()
    moved.loc[0, "segment_id"] = next(v for v in ids.values() if v != moved.loc[0, "segment_id"])
    with pytest.raises(RuntimeError, match="does not reproduce the stored clusters"):
        stage.base_result(con, AS_OF, profiles, moved, ids, config)
    with pytest.raises(RuntimeError, match="different customers"):
        stage.base_result(con, AS_OF, profiles, assignments.iloc[1:], ids, config)


def test_window_profiles_are_the_population_rows_of_the_sampled_customers(con) -> None:
    settings = _settings(robustness_sample_size=100)
    profiles, assignments, ids = _stored(con)
    config = settings.segmentation().with_fixed_k(len(ids))
    base, _ = stage.base_result(con, AS_OF, profiles, assignments, ids, config)
    alt = stage.window_profiles(con, AS_OF, base, settings)
    assert sorted(alt) == [45]
    everyone = build_profiles(con, AS_OF, 45, settings.value_model()).profiles
    assert len(everyone) > 100  # the sample is a real subset
    expected_ids = window_sample(
        profiled_customers(con, AS_OF, 45),
        base.assignments["customer_id"],
        45,
        sample_size=100,
        random_state=settings.random_state,
    )
    sample = alt[45]
    assert sample["customer_id"].tolist() == list(expected_ids)
    full = everyone.set_index("customer_id").loc[sample["customer_id"]].reset_index()
    own = [c for c in sample.columns if c not in POPULATION_COLUMNS]
    pd.testing.assert_frame_equal(sample[own], full[own])
    # The value model fitted on the sample stays close to the population's.
    assert (sample["churn_risk"] - full["churn_risk"]).abs().mean() < 0.1
    # A sample as large as the window is every customer both have, built as the profiles stage
    # builds them (population columns included).
    whole = stage.window_profiles(con, AS_OF, base, _settings(robustness_sample_size=10_000))[45]
    pd.testing.assert_frame_equal(whole, everyone)
