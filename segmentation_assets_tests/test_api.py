"""The Python API (segmentation_assets.api) on one small synthetic world.

One ``quick_segmentation`` run is shared by the tests that read its result. Re-materializing the
graph directly for the same inputs is not repeated here: the whole-graph tests already prove a
re-run gives identical tables, and the mapping of the configuration onto the stage settings is
checked both on the resource and in the run facts the report stage recorded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from matplotlib.figure import Figure
from pydantic import ValidationError

import segmentation_assets
from segmentation_assets import (
    PipelineConfig,
    PipelineError,
    PipelineResult,
    build_report_data,
    export_results_to_dict,
    format_pipeline_summary,
    plot_robustness_scores,
    plot_segment_distribution,
    quick_segmentation,
    run_pipeline,
)
from segmentation_assets.api import QUICK_BOOTSTRAP_SAMPLES, QUICK_WINDOW_DAYS

AS_OF = dt.date(2025, 12, 31)
# Relaxed from 0.5 so this world has valid and invalid segments (feature stabilities here range
# from about 0.25 to 0.46): production-ready = valid AND actionable is then not trivially empty.
CRITERIA = {"min_feature_stability": 0.3}


@pytest.fixture(autouse=True, scope="module")
def _ephemeral_dagster() -> Iterator[None]:
    # `make test` exports DAGSTER_HOME for the project instance; these runs must not land there.
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DAGSTER_HOME", raising=False)
        yield


@pytest.fixture(scope="module")
def quick() -> PipelineResult:
    # Default warehouse: a temporary folder that lives as long as the result.
    return quick_segmentation(validation_criteria=CRITERIA)


def test_quick_segmentation_honours_n_clusters(quick: PipelineResult) -> None:
    assert len(quick.segments) == 5
    assert quick.summary.segments_found == 5
    assert quick.segments["segment_id"].is_unique
    assert quick.config.auto_select_k is False
    assert quick.as_of_date == AS_OF
    assert quick.summary.customers_profiled == len(quick.profiles) > 400  # of 500 generated


def test_assignments_cover_every_profile_exactly_once(quick: PipelineResult) -> None:
    assignments = quick.assignments
    assert assignments["customer_id"].is_unique
    assert set(assignments["customer_id"]) == set(quick.profiles["customer_id"])
    sizes = assignments["segment_id"].value_counts().sort_index()
    expected = quick.segments.set_index("segment_id")["size"].sort_index()
    assert sizes.to_dict() == expected.to_dict()


def test_api_frames_equal_the_tables_the_assets_wrote(quick: PipelineResult) -> None:
    con = duckdb.connect(str(quick.warehouse_path), read_only=True)
    try:

        def table(name: str, order: str = "segment_id") -> pd.DataFrame:
            return con.execute(
                f"SELECT * EXCLUDE (as_of_date) FROM {name} WHERE as_of_date = ? ORDER BY {order}",
                [AS_OF],
            ).df()

        pairs = {
            "segments": (quick.segments, table("segments")),
            "segment_assignments": (
                quick.assignments,
                table("segment_assignments", "customer_id"),
            ),
            "profiles": (quick.profiles, table("profiles", "customer_id")),
            "segment_robustness": (quick.robustness_scores, table("segment_robustness")),
            "segment_validation": (quick.viabilities, table("segment_validation")),
        }
        stored_actionability = table("segment_actionability")
    finally:
        con.close()
    for name, (from_api, from_assets) in pairs.items():
        pd.testing.assert_frame_equal(from_api, from_assets, obj=name)
    # actionability_evaluations + explanations split segment_actionability without losing a column.
    explained = quick.actionability_evaluations.merge(quick.explanations, on="segment_id")
    assert set(explained.columns) == set(stored_actionability.columns)
    pd.testing.assert_frame_equal(
        explained[stored_actionability.columns], stored_actionability, obj="segment_actionability"
    )
    # The settings quick_segmentation documents reached the stages.
    assert quick.report is not None
    configuration = quick.report["run"]["configuration"]
    assert configuration["window_days"] == QUICK_WINDOW_DAYS
    assert configuration["n_clusters"] == 5
    assert configuration["bootstrap_samples"] == QUICK_BOOTSTRAP_SAMPLES
    assert configuration["sensitivity_windows_days"] == []
    assert configuration["min_feature_stability"] == CRITERIA["min_feature_stability"]


def test_production_ready_is_valid_and_actionable(quick: PipelineResult) -> None:
    valid, actionable = set(quick.valid_segments), set(quick.actionable_segments)
    assert valid and valid != set(quick.segments["segment_id"])  # a real mix, not all or none
    assert set(quick.production_ready_segments) == valid & actionable
    assert quick.summary.production_ready_segments == len(quick.production_ready_segments)
    # The report the report stage wrote says the same.
    assert quick.report is not None
    assert quick.report["production_ready_segments"] == quick.production_ready_segments
    assert quick.report["valid_segments"] == quick.valid_segments


def test_report_files_and_summary(quick: PipelineResult) -> None:
    assert set(quick.report_paths) == {"html", "json", "activation_csv", "activation_parquet"}
    assert all(path.is_file() for path in quick.report_paths.values())
    assert json.loads(quick.report_paths["json"].read_text()) == quick.report
    activation = pd.read_csv(quick.report_paths["activation_csv"])
    assert len(activation) == len(quick.assignments)
    text = format_pipeline_summary(quick)
    assert f"customers profiled         {len(quick.profiles):,}" in text
    for segment_id, name in zip(quick.segments["segment_id"], quick.segments["name"], strict=True):
        assert segment_id in text and str(name)[:34] in text
    assert "k                          5 (fixed)" in text


def test_export_results_to_dict_is_json(quick: PipelineResult) -> None:
    exported = export_results_to_dict(quick, include_assignments=True)
    text = json.dumps(exported, allow_nan=False)
    assert json.loads(text) == exported
    assert [s["segment_id"] for s in exported["segments"]] == list(quick.segments["segment_id"])
    assert exported["production_ready_segments"] == quick.production_ready_segments
    assert exported["summary"]["customers_profiled"] == len(quick.profiles)
    assert exported["config"]["n_clusters"] == 5
    assert len(exported["assignments"]) == len(quick.assignments)
    assert "assignments" not in export_results_to_dict(quick)


def test_plots_work_on_a_result(quick: PipelineResult) -> None:
    data = build_report_data(quick)
    assert list(data.segments["segment_id"]) == list(quick.segments["segment_id"])
    for plot in (plot_segment_distribution, plot_robustness_scores):
        figure = plot(data)
        assert isinstance(figure, Figure) and figure.axes


def test_package_exports_the_api() -> None:
    for name in segmentation_assets.__all__:
        assert getattr(segmentation_assets, name) is not None
    with pytest.raises(AttributeError):
        _ = segmentation_assets.no_such_name  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"auto_select_k": False}, "auto_select_k=False needs n_clusters"),
        ({"n_clusters": 4, "auto_select_k": True}, "conflicts with auto_select_k=True"),
        ({"n_customers": 50}, "n_customers"),
        ({"n_customers": 150, "n_clusters": 20}, "too few for 20 segments"),
        ({"k_range": (5, 3)}, "k_range"),
        ({"data_source": "ebq_export"}, "needs export_path"),
        ({"use_llm": True}, "use_llm=True needs a provider model"),
        ({"as_of_date": "2026-02-01"}, "outside the synthetic data"),
        ({"pipeline_overrides": {"bootstrap_sample": 3}}, "unknown pipeline setting"),
        ({"pipeline_overrides": {"n_clusters": 3}}, "have their own PipelineConfig fields"),
        ({"validation_criteria": {"min_segment_size": -1}}, "min_segment_size"),
        ({"validation_criteria": {"min_total_cvl": 1.0}}, "unknown validation criteria"),
        ({"n_cluster": 5}, "n_cluster"),  # a typo is an error, not a silent default
    ],
)
def test_bad_configuration_is_a_clear_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PipelineConfig(**kwargs)  # type: ignore[arg-type]


def test_configuration_maps_onto_the_pipeline_settings(tmp_path: Path) -> None:
    config = PipelineConfig(
        n_customers=300,
        k_range=(3, 6),
        run_sensitivity=False,
        validation_criteria={"min_expected_roi": 0.5},
        pipeline_overrides={"cost_per_contact": 0.2},
    )
    assert config.auto_select_k is True and config.as_of_date == AS_OF
    resource = config.pipeline_settings()
    assert resource.n_clusters is None and (resource.k_min, resource.k_max) == (3, 6)
    assert resource.bootstrap_samples == QUICK_BOOTSTRAP_SAMPLES
    assert resource.sensitivity_windows_days == []
    assert resource.min_expected_roi == 0.5 and resource.cost_per_contact == 0.2
    settings = config.settings(tmp_path)
    assert settings.warehouse_path == tmp_path / "warehouse.duckdb"
    assert settings.reports_dir == tmp_path / "reports"
    assert settings.default_as_of_date == AS_OF and settings.llm_model == "rules"
    full = PipelineConfig().pipeline_settings()
    assert full.bootstrap_samples == 50 and full.sensitivity_windows_days == [90, 180]


def test_quick_segmentation_rejects_too_few_customers_before_running() -> None:
    with pytest.raises(ValidationError, match="n_customers"):
        quick_segmentation(n_customers=30)


def test_a_failing_stage_raises_pipeline_error_naming_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # An export folder with a customer table but no purchase table: raw_events refuses it. (Slow:
    # raw_events' retry policy retries even this permanent error twice, after 5 s and 10 s.)
    export = tmp_path / "export"
    (export / "customers_properties").mkdir(parents=True)
    pd.DataFrame({"internal_customer_id": ["c1"]}).to_parquet(
        export / "customers_properties" / "part-0.parquet"
    )
    config = PipelineConfig(
        data_source="ebq_export",
        export_path=export,
        as_of_date=dt.date(2025, 3, 1),
        window_days=7,
        warehouse_path=tmp_path / "warehouse.duckdb",
    )
    with pytest.raises(PipelineError) as caught:
        run_pipeline(config)
    assert caught.value.stage == "raw_events"
    assert "no 'purchase' table" in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1
    assert caught.value.details and "IngestError" in caught.value.details
    # Dagster's multi-page ERROR log stays out of the console; the exception carries the cause.
    assert "STEP_FAILURE" not in capfd.readouterr().err
