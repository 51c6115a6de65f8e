"""Python entry points for notebooks and scripts: run the real asset graph, get DataFrames back.

:func:`run_pipeline` maps a :class:`PipelineConfig` onto the project's
:class:`~segmentation_assets.settings.Settings` and
:class:`~segmentation_assets.resources.PipelineSettingsResource`, builds the same Definitions the
Dagster UI loads (:func:`segmentation_assets.definitions.build_definitions`) and materializes every
stage in-process through :func:`segmentation_assets.runner.run_as_of` (ingest the window, then the
main job for the as-of date) on a DuckDB file. It then reads the stage tables back into a
:class:`PipelineResult`. There is one code path: what a notebook gets is what ``make run`` and the
nightly schedule write.

Failures raise: an invalid configuration raises ``pydantic.ValidationError`` (a ``ValueError``)
before anything runs, and a failed stage raises :class:`PipelineError` whose ``stage`` names the
asset or check that failed. There is no ``success=False`` result to forget to look at.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segmentation_assets.economics import ValidationCriteria
from segmentation_assets.partitions import PARTITIONS_START_DATE
from segmentation_assets.reporting import (
    ReportData,
    build_report_json,
    plot_clv_and_churn,
    plot_k_selection,
    plot_migration,
    plot_rfm_grid,
    plot_robustness_scores,
    plot_segment_distribution,
    plot_segment_value,
    plot_trait_heatmap,
    sample_report_data,
)
from segmentation_assets.reporting.data import segment_sort_key, to_jsonable
from segmentation_assets.runner import PipelineError, RunSummary
from segmentation_assets.settings import Settings

if TYPE_CHECKING:
    from segmentation_assets.resources import PipelineSettingsResource

__all__ = [
    "MIN_SYNTHETIC_CUSTOMERS",
    "PipelineConfig",
    "PipelineError",
    "PipelineResult",
    "ReportData",
    "build_report_data",
    "export_results_to_dict",
    "format_pipeline_summary",
    "plot_clv_and_churn",
    "plot_k_selection",
    "plot_migration",
    "plot_rfm_grid",
    "plot_robustness_scores",
    "plot_segment_distribution",
    "plot_segment_value",
    "plot_trait_heatmap",
    "quick_segmentation",
    "run_pipeline",
    "sample_report_data",
]

#: Fewer synthetic customers cannot give meaningful segments: with the default validation
#: criteria (at least 20 customers per segment) five segments already need 100 active customers,
#: and k selection by silhouette and prediction strength needs several points per candidate k.
MIN_SYNTHETIC_CUSTOMERS = 100

#: Bootstrap refits when ``run_sensitivity=False``: enough for a rough Jaccard per segment, an
#: order of magnitude cheaper than the full 50 of the nightly run.
QUICK_BOOTSTRAP_SAMPLES = 10

#: quick_segmentation's synthetic world: its last 120 days of data, profiled over the same window.
#: Four months hold several purchases of the regular archetypes and the planted lapsers' silence,
#: at about a third of the ingest and generation cost of a full year.
QUICK_WINDOW_DAYS = 120

#: The project's defaults (settings.py), so the API and `make run` cannot drift apart.
_DEFAULTS = {name: info.default for name, info in Settings.model_fields.items()}
_DEFAULT_SYNTHETIC_END: date = _DEFAULTS["synthetic_end_date"]
_STAGES_WITHOUT_REPORT = (
    "raw_events",
    "merged_ids",
    "profiles",
    "clusters",
    "robustness",
    "actionability",
)
#: PipelineSettingsResource fields that PipelineConfig sets from its own fields.
_MANAGED_SETTINGS = frozenset(
    {
        "window_days",
        "n_clusters",
        "k_min",
        "k_max",
        "random_state",
        "bootstrap_samples",
        "sensitivity_windows_days",
        *ValidationCriteria.model_fields,
    }
)


class PipelineConfig(BaseModel):
    """What to segment and how; every field has a working default (synthetic data, auto k).

    Data:
        data_source: ``"synthetic"`` (generated, deterministic by ``data_seed``) or
            ``"ebq_export"`` (an EBQ export folder at ``export_path``, one sub-folder or file per
            table, Parquet or NDJSON).
        n_customers, data_seed, synthetic_start_date, synthetic_end_date: the synthetic world.
        as_of_date: the date segmented; defaults to the synthetic data's last day and is required
            for ``ebq_export``.
        window_days: profile window (days) ending at the as-of date.

    Segmentation:
        n_clusters: a fixed number of segments, or None to choose k from the data in ``k_range``.
        auto_select_k: True chooses k from the data; False requires ``n_clusters``. Left unset,
            it follows ``n_clusters``.
        random_state: seed of every clustering and resampling choice.

    Robustness and validation:
        run_sensitivity: False skips the time-window sensitivity refits and uses
            :data:`QUICK_BOOTSTRAP_SAMPLES` bootstrap samples (unless ``bootstrap_samples`` is set).
        validation_criteria: :class:`~segmentation_assets.economics.ValidationCriteria` or a dict
            of its fields.
        pipeline_overrides: any other
            :class:`~segmentation_assets.resources.PipelineSettingsResource` field, e.g.
            ``{"cost_per_contact": 0.3, "exclude_features": ["mobile_share"]}``.

    Actionability:
        llm_model: ``"rules"`` (offline, deterministic) or a provider model such as
            ``"openai:gpt-4o-mini"`` (needs the provider's extra and API key).
        use_llm: True requires a provider ``llm_model``; False requires ``"rules"``. Left unset, it
            follows ``llm_model``.

    Output and running:
        generate_report: False skips the ``report`` stage (no HTML/JSON/activation files).
        warehouse_path: the DuckDB file; None uses a temporary folder that lives as long as the
            result (reports and synthetic data go there too).
        reports_dir, synthetic_dir: default to ``reports/`` and ``synthetic/`` beside the warehouse.
        max_threads: caps the OpenMP/BLAS thread pools of scikit-learn and NumPy during the run.
            1 is fastest for small data on a busy machine: k-means threads that wait for a shared
            core spin instead of sleeping (measured 10x slower on 2 shared cores).
        verbose: print progress (ingest range, each finished step).
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    data_source: Literal["synthetic", "ebq_export"] = "synthetic"
    export_path: Path | None = None
    n_customers: int = Field(default=_DEFAULTS["synthetic_customers"], ge=MIN_SYNTHETIC_CUSTOMERS)
    data_seed: int = _DEFAULTS["synthetic_seed"]
    synthetic_start_date: date = _DEFAULTS["synthetic_start_date"]
    synthetic_end_date: date = _DEFAULT_SYNTHETIC_END
    as_of_date: date | None = None
    window_days: int = Field(default=_DEFAULTS["window_days"], ge=7)

    n_clusters: int | None = Field(default=None, ge=2)
    auto_select_k: bool | None = None
    k_range: tuple[int, int] = (3, 10)
    random_state: int = 42

    run_sensitivity: bool = True
    bootstrap_samples: int | None = Field(default=None, ge=2)
    # A dict is accepted (and typed as accepted) for notebooks; it is always stored as the model.
    validation_criteria: ValidationCriteria | dict[str, Any] = Field(
        default_factory=ValidationCriteria
    )
    pipeline_overrides: dict[str, Any] = Field(default_factory=dict)

    use_llm: bool | None = None
    llm_model: str = "rules"

    generate_report: bool = True
    warehouse_path: Path | None = None
    reports_dir: Path | None = None
    synthetic_dir: Path | None = None
    max_threads: int | None = Field(default=None, ge=1)
    verbose: bool = False

    @field_validator("k_range")
    @classmethod
    def _check_k_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] < 2 or value[1] < value[0]:
            raise ValueError(f"k_range must satisfy 2 <= low <= high, got {value}")
        return value

    @field_validator("validation_criteria", mode="before")
    @classmethod
    def _criteria_model(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        # ValidationCriteria ignores unknown keys; a misspelt criterion must not pass silently.
        unknown = sorted(set(value) - set(ValidationCriteria.model_fields))
        if unknown:
            raise ValueError(f"unknown validation criteria {unknown}")
        return ValidationCriteria.model_validate(value)

    @field_validator("pipeline_overrides")
    @classmethod
    def _check_overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            return value  # no Dagster import just to validate an empty dict
        from segmentation_assets.resources import PipelineSettingsResource

        unknown = sorted(set(value) - set(PipelineSettingsResource.model_fields))
        if unknown:
            raise ValueError(f"unknown pipeline setting(s) {unknown}")
        managed = sorted(set(value) & _MANAGED_SETTINGS)
        if managed:
            raise ValueError(
                f"{managed} have their own PipelineConfig fields (window_days, n_clusters, "
                "k_range, random_state, bootstrap_samples, run_sensitivity, validation_criteria)"
            )
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> PipelineConfig:
        # k: fixed or chosen, never both and never neither.
        if self.auto_select_k is None:
            self.auto_select_k = self.n_clusters is None
        if self.auto_select_k and self.n_clusters is not None:
            raise ValueError(
                f"n_clusters={self.n_clusters} conflicts with auto_select_k=True; "
                "set auto_select_k=False to fix k, or drop n_clusters to choose k from the data"
            )
        if not self.auto_select_k and self.n_clusters is None:
            raise ValueError("auto_select_k=False needs n_clusters (the fixed number of segments)")
        synthetic = self.data_source == "synthetic"
        if synthetic and self.n_clusters is not None and self.n_customers < 10 * self.n_clusters:
            raise ValueError(
                f"n_customers={self.n_customers} is too few for {self.n_clusters} segments: "
                f"use at least {10 * self.n_clusters} (10 per segment)"
            )
        # LLM: one source of truth (llm_model); use_llm only confirms it.
        if self.use_llm is None:
            self.use_llm = self.llm_model != "rules"
        if self.use_llm and self.llm_model == "rules":
            raise ValueError(
                "use_llm=True needs a provider model, e.g. llm_model='openai:gpt-4o-mini'"
            )
        if not self.use_llm and self.llm_model != "rules":
            raise ValueError(
                f"llm_model={self.llm_model!r} conflicts with use_llm=False; "
                "set use_llm=True or llm_model='rules'"
            )
        # Data and dates.
        first_partition = date.fromisoformat(PARTITIONS_START_DATE)
        if self.data_source == "ebq_export":
            if self.export_path is None:
                raise ValueError("data_source='ebq_export' needs export_path (the export folder)")
            if not self.export_path.is_dir():
                raise ValueError(f"EBQ export folder {self.export_path} does not exist")
            if self.as_of_date is None:
                raise ValueError("data_source='ebq_export' needs as_of_date (the date segmented)")
        else:
            if self.synthetic_end_date < self.synthetic_start_date:
                raise ValueError(
                    f"synthetic_end_date {self.synthetic_end_date} is before "
                    f"synthetic_start_date {self.synthetic_start_date}"
                )
            if self.as_of_date is None:
                self.as_of_date = self.synthetic_end_date
            if not self.synthetic_start_date <= self.as_of_date <= self.synthetic_end_date:
                raise ValueError(
                    f"as_of_date {self.as_of_date} is outside the synthetic data "
                    f"({self.synthetic_start_date} .. {self.synthetic_end_date})"
                )
        if self.as_of_date < first_partition:
            raise ValueError(f"as_of_date must be on or after {PARTITIONS_START_DATE}")
        return self

    @property
    def criteria(self) -> ValidationCriteria:
        """The validation criteria as the model (a dict given at construction is converted)."""
        return ValidationCriteria.model_validate(self.validation_criteria)

    @property
    def resolved_as_of_date(self) -> date:
        """The as-of date the run segments (always set after validation)."""
        assert self.as_of_date is not None  # the validator fills it or raises
        return self.as_of_date

    def pipeline_settings(self) -> PipelineSettingsResource:
        """The analytical settings every stage reads, as the Dagster resource."""
        from segmentation_assets.resources import PipelineSettingsResource

        if self.bootstrap_samples is not None:
            bootstrap = self.bootstrap_samples
        elif self.run_sensitivity:
            bootstrap = PipelineSettingsResource.model_fields["bootstrap_samples"].default
        else:
            bootstrap = QUICK_BOOTSTRAP_SAMPLES
        values: dict[str, Any] = {
            "window_days": self.window_days,
            "n_clusters": None if self.auto_select_k else self.n_clusters,
            "k_min": self.k_range[0],
            "k_max": self.k_range[1],
            "random_state": self.random_state,
            "bootstrap_samples": bootstrap,
            **self.criteria.model_dump(),
            **self.pipeline_overrides,
        }
        if not self.run_sensitivity:
            values["sensitivity_windows_days"] = []
        return PipelineSettingsResource(**values)

    def settings(self, workdir: Path) -> Settings:
        """The project settings for a run whose default files live under ``workdir``."""
        warehouse = self.warehouse_path or workdir / "warehouse.duckdb"
        return Settings(
            warehouse_path=warehouse,
            reports_dir=self.reports_dir or warehouse.parent / "reports",
            synthetic_dir=self.synthetic_dir or warehouse.parent / "synthetic",
            source=self.data_source,
            export_path=self.export_path,
            synthetic_customers=self.n_customers,
            synthetic_seed=self.data_seed,
            synthetic_start_date=self.synthetic_start_date,
            synthetic_end_date=self.synthetic_end_date,
            window_days=self.window_days,
            default_as_of_date=self.resolved_as_of_date,
            llm_model=self.llm_model,
        )


@dataclass(frozen=True, eq=False)
class PipelineResult:
    """One as-of date's segmentation, read back from the warehouse the assets wrote.

    Every DataFrame holds the rows of ``as_of_date`` with the stored columns (``as_of_date``
    dropped), sorted by segment or customer id. JSON text columns (``defining_traits``,
    ``dimensions``, ``key_characteristics``, ``reasons``, ``critical_features``) stay JSON text as
    stored; :func:`export_results_to_dict` and ``report`` give them parsed.

    Attributes:
        config: the configuration that produced it.
        as_of_date: the date segmented.
        summary: counts and paths as the CLI prints them (:class:`~segmentation_assets.runner.RunSummary`).
        profiles: one row per customer (value, rhythm, engagement, RFM, CLV, churn risk).
        segments: one row per segment (id, name, description, size, share, value, CLV, churn).
        assignments: customer_id → segment_id with distance and membership confidence.
        robustness_scores: ``segment_robustness`` (bootstrap / feature / window / temporal
            Jaccard, score, tier, monitoring flag).
        viabilities: ``segment_validation`` (validation criteria, play, ROI, pass/fail, reasons).
        actionability_evaluations: ``segment_actionability`` verdicts (WHO/WHAT/WHEN/HOW, valid,
            actionable, production-ready, provider).
        explanations: the business explanation of each segment (summary, characteristics,
            campaign, hypothesis, expected ROI, confidence).
        report_data: the report's input, for the ``plot_*`` functions.
        report: the JSON report as written by the report stage (None with ``generate_report=False``).
        report_paths: ``html``, ``json``, ``activation_csv``, ``activation_parquet`` (empty without
            a report).
        warehouse_path: the DuckDB file (query it for anything else; temporary unless configured).
        data_source: where the data came from, as the report states it.
    """

    config: PipelineConfig
    as_of_date: date
    summary: RunSummary
    profiles: pd.DataFrame = field(repr=False)
    segments: pd.DataFrame = field(repr=False)
    assignments: pd.DataFrame = field(repr=False)
    robustness_scores: pd.DataFrame = field(repr=False)
    viabilities: pd.DataFrame = field(repr=False)
    actionability_evaluations: pd.DataFrame = field(repr=False)
    explanations: pd.DataFrame = field(repr=False)
    report_data: ReportData = field(repr=False)
    report: dict[str, Any] | None = field(repr=False)
    report_paths: dict[str, Path]
    warehouse_path: Path
    data_source: str
    # Keeps a temporary warehouse folder (and the report files in it) alive as long as the result;
    # it is deleted when the result is garbage-collected or the interpreter exits.
    _workdir: tempfile.TemporaryDirectory[str] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def valid_segments(self) -> list[str]:
        """Segments that pass every validation criterion (size, value, stability, ROI)."""
        return _ids(self.viabilities, "passed")

    @property
    def actionable_segments(self) -> list[str]:
        """Segments the actionability judge found actionable on enough WHO/WHAT/WHEN/HOW axes."""
        return _ids(self.actionability_evaluations, "is_actionable")

    @property
    def production_ready_segments(self) -> list[str]:
        """Segments that are both valid and actionable, as the actionability stage recorded."""
        return _ids(self.actionability_evaluations, "production_ready")


def _ids(frame: pd.DataFrame, flag: str) -> list[str]:
    chosen = frame.loc[frame[flag].fillna(False).astype(bool), "segment_id"]
    return sorted((str(s) for s in chosen), key=segment_sort_key)


@contextmanager
def _thread_limit(max_threads: int | None) -> Iterator[None]:
    if max_threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    # Limits the pools of libraries already loaded: call after the asset modules imported
    # scikit-learn and NumPy (building the Definitions does).
    with threadpool_limits(limits=max_threads):
        yield


def _dagster_instance() -> Any:
    """The persistent instance when DAGSTER_HOME is set (runs show in the UI), else ephemeral."""
    from dagster import DagsterInstance

    home = os.environ.get("DAGSTER_HOME")
    if home:
        Path(home).mkdir(parents=True, exist_ok=True)
        return DagsterInstance.get()
    return DagsterInstance.ephemeral()


def run_pipeline(config: PipelineConfig | None = None) -> PipelineResult:
    """Materialize every stage for the configured as-of date and return what they wrote.

    Runs the project's real asset graph in this process (the ingest range run, then the main job
    ``segmentation_pipeline`` with all asset checks) against ``config.warehouse_path`` or a
    temporary DuckDB file. A re-run on the same warehouse ingests only missing days and replaces
    the as-of date's partition (idempotent). Keep one data source per warehouse file.

    Raises:
        PipelineError: a stage (or a blocking check) failed; ``.stage`` names it, the message
            gives the underlying error, ``.details`` the full text.
    """
    config = config or PipelineConfig()
    from segmentation_assets.definitions import build_definitions, build_source
    from segmentation_assets.runner import run_as_of

    workdir = None if config.warehouse_path else tempfile.TemporaryDirectory(prefix="segmentation_")
    try:
        settings = config.settings(Path(workdir.name) if workdir else Path.cwd())
        pipeline_settings = config.pipeline_settings()
        defs = build_definitions(settings, pipeline_settings)
        progress: Callable[[str], None] = (
            (lambda line: print(line, flush=True)) if config.verbose else (lambda _line: None)
        )
        as_of = config.resolved_as_of_date
        with _thread_limit(config.max_threads):
            summary = run_as_of(
                defs,
                _dagster_instance(),
                as_of,
                warehouse_path=str(settings.warehouse_path),
                window_days=settings.window_days,
                progress=progress,
                stages=None if config.generate_report else _STAGES_WITHOUT_REPORT,
            )
        run_facts = {
            "as_of_date": as_of.isoformat(),
            "window_days": pipeline_settings.window_days,
            "data_source": build_source(settings).describe(),
            "llm_model": settings.llm_model,
            "configuration": pipeline_settings.model_dump(mode="json"),
        }
        result = _read_result(config, settings.warehouse_path, as_of, summary, run_facts, workdir)
    except BaseException:
        if workdir is not None:
            workdir.cleanup()
        raise
    if config.verbose:
        print(summary.format(), flush=True)
    return result


def _read_result(
    config: PipelineConfig,
    warehouse_path: Path,
    as_of: date,
    summary: RunSummary,
    run_facts: dict[str, Any],
    workdir: tempfile.TemporaryDirectory[str] | None,
) -> PipelineResult:
    from importlib.metadata import version

    from segmentation_assets.llm.prompts import PROMPT_VERSION
    from segmentation_assets.report_data import load_report_data
    from segmentation_assets.warehouse import connect, table_exists

    con = connect(warehouse_path)
    try:
        params = {"d": as_of}

        def table(name: str, order: str = "segment_id") -> pd.DataFrame:
            return con.execute(
                f"SELECT * EXCLUDE (as_of_date) FROM {name} WHERE as_of_date = $d ORDER BY {order}",
                params,
            ).df()

        model_row = con.execute(
            "SELECT model_version FROM segmentation_models WHERE as_of_date = $d", params
        ).fetchone()
        # The same run facts the report stage records, so plots and exports label runs alike.
        run = {
            **run_facts,
            "model_version": model_row[0] if model_row else "unknown",
            "prompt_version": PROMPT_VERSION,
            "generated_by": f"segmentation_assets {version('segmentation_assets')}",
        }
        report_data = load_report_data(con, as_of, run)
        actionability = table("segment_actionability")
        report_paths: dict[str, Path] = {}
        report: dict[str, Any] | None = None
        if config.generate_report and table_exists(con, "report_runs"):
            row = con.execute(
                "SELECT html_path, json_path, activation_csv_path, activation_parquet_path "
                "FROM report_runs WHERE as_of_date = $d",
                params,
            ).fetchone()
            if row:
                keys = ("html", "json", "activation_csv", "activation_parquet")
                report_paths = {k: Path(v) for k, v in zip(keys, row, strict=True)}
                report = json.loads(report_paths["json"].read_text(encoding="utf-8"))
        return PipelineResult(
            config=config,
            as_of_date=as_of,
            summary=summary,
            profiles=table("profiles", "customer_id"),
            segments=table("segments"),
            assignments=table("segment_assignments", "customer_id"),
            robustness_scores=table("segment_robustness"),
            viabilities=table("segment_validation"),
            actionability_evaluations=actionability[
                [c for c in actionability.columns if c not in _EXPLANATION_COLUMNS[1:]]
            ],
            explanations=actionability[list(_EXPLANATION_COLUMNS)],
            report_data=report_data,
            report=report,
            report_paths=report_paths,
            warehouse_path=warehouse_path,
            data_source=str(run_facts["data_source"]),
            _workdir=workdir,
        )
    finally:
        con.close()


#: The explanation part of ``segment_actionability`` (segment_id first).
_EXPLANATION_COLUMNS = (
    "segment_id",
    "executive_summary",
    "key_characteristics",
    "recommended_campaign",
    "business_hypothesis",
    "expected_roi",
    "confidence_level",
    "confidence_justification",
)


def quick_segmentation(
    n_customers: int = 500, n_clusters: int = 5, seed: int = 42, **config: Any
) -> PipelineResult:
    """Segment a small synthetic world fast: the full pipeline with light robustness settings.

    ``n_customers`` synthetic customers over the last :data:`QUICK_WINDOW_DAYS` days of 2025,
    exactly ``n_clusters`` segments, ``seed`` for both the data and the clustering, few bootstrap
    samples, no time-window sensitivity, one native thread per pool, the offline rules model and a
    temporary warehouse. Any other :class:`PipelineConfig` field can be passed as a keyword.
    """
    values: dict[str, Any] = {
        "n_customers": n_customers,
        "n_clusters": n_clusters,
        "auto_select_k": False,
        "data_seed": seed,
        "random_state": seed,
        "synthetic_start_date": _DEFAULT_SYNTHETIC_END - timedelta(days=QUICK_WINDOW_DAYS - 1),
        "synthetic_end_date": _DEFAULT_SYNTHETIC_END,
        "window_days": QUICK_WINDOW_DAYS,
        "run_sensitivity": False,
        "max_threads": 1,
        **config,
    }
    return run_pipeline(PipelineConfig(**values))


def build_report_data(result: PipelineResult) -> ReportData:
    """The report's input for a result, so every ``plot_*`` function works on it."""
    return result.report_data


def format_pipeline_summary(result: PipelineResult) -> str:
    """A plain-text summary: the run's counts, then one line per segment."""
    segments = result.segments.set_index("segment_id")
    robustness = result.robustness_scores.set_index("segment_id")
    plays = result.explanations.set_index("segment_id")["recommended_campaign"]
    valid = set(result.valid_segments)
    actionable = set(result.actionable_segments)
    ready = set(result.production_ready_segments)
    k_how = "fixed" if not result.config.auto_select_k else "chosen from the data"
    lines = [
        f"Segmentation as of {result.as_of_date} ({result.data_source})",
        result.summary.format(),
        f"k                          {len(segments)} ({k_how})",
        f"valid / actionable         {len(valid)} / {len(actionable)}",
        "",
        f"{'segment':<10} {'name':<34} {'size':>6} {'share':>6} {'avg CLV':>9} "
        f"{'robust':>6}  status            play",
    ]
    for segment_id in sorted(segments.index, key=segment_sort_key):
        seg = segments.loc[segment_id]
        score = robustness["robustness_score"].get(segment_id)
        status = (
            "production-ready"
            if segment_id in ready
            else "valid"
            if segment_id in valid
            else "actionable"
            if segment_id in actionable
            else "-"
        )
        lines.append(
            f"{segment_id:<10} {str(seg['name'])[:34]:<34} {int(seg['size']):>6} "
            f"{float(seg['share']):>6.1%} {float(seg['avg_predicted_clv']):>9.2f} "
            f"{_fmt(score):>6}  {status:<17} {plays.get(segment_id, '')}"
        )
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    number = to_jsonable(value)
    return "n/a" if number is None else f"{float(number):.2f}"


def export_results_to_dict(
    result: PipelineResult, *, include_assignments: bool = False
) -> dict[str, Any]:
    """Everything about the run as plain JSON data (``json.dumps`` works on it).

    Top level: ``as_of_date``, ``data_source``, ``config``, ``summary`` counts, the
    ``valid_segments`` / ``actionable_segments`` / ``production_ready_segments`` id lists,
    ``segments`` (per segment: value, CLV, traits, robustness, validation, ROI, verdict,
    explanation and play, as in the JSON report), ``k_selection``, ``report_paths`` and, with
    ``include_assignments``, ``assignments`` (customer_id → segment_id; large for big data).
    """
    report = build_report_json(result.report_data)
    summary = result.summary
    out: dict[str, Any] = {
        "as_of_date": result.as_of_date.isoformat(),
        "data_source": result.data_source,
        "config": result.config.model_dump(mode="json"),
        "summary": {
            "customers_profiled": summary.customers_profiled,
            "segments_found": summary.segments_found,
            "valid_segments": len(result.valid_segments),
            "actionable_segments": len(result.actionable_segments),
            "production_ready_segments": len(result.production_ready_segments),
        },
        "valid_segments": result.valid_segments,
        "actionable_segments": result.actionable_segments,
        "production_ready_segments": result.production_ready_segments,
        "segments": report["segments"],
        "k_selection": report["k_selection"],
        "model_version": report["run"]["model_version"],
        "report_paths": {k: str(v) for k, v in result.report_paths.items()},
    }
    if include_assignments:
        out["assignments"] = dict(
            zip(
                result.assignments["customer_id"].astype(str),
                result.assignments["segment_id"].astype(str),
                strict=True,
            )
        )
    cleaned: dict[str, Any] = to_jsonable(out)
    return cleaned
