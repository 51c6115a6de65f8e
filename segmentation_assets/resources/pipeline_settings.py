"""The analytical settings every stage reads, in one place (shown in the UI's resource pane).

One resource instead of per-asset run config keeps the stages consistent: the profile window that
``merged_ids`` resolves over is the one ``profiles`` aggregates, and the k range that ``clusters``
searches is the one ``robustness`` refits with.
"""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from segmentation_assets.economics import CampaignEconomics, ValidationCriteria
from segmentation_assets.profiles import ValueModelSettings
from segmentation_assets.segmentation.model import SegmentationConfig


class PipelineSettingsResource(ConfigurableResource):
    """Window, value model, clustering, robustness, validation and campaign economics."""

    window_days: int = Field(
        default=365, ge=7, description="Profile window ending at the as-of date."
    )
    clv_horizon_months: int = Field(default=12, ge=1)
    monthly_discount_rate: float = Field(default=0.01, ge=0, lt=1)

    n_clusters: int | None = Field(
        default=None, description="Fixed k; None chooses k from the data."
    )
    k_min: int = 3
    k_max: int = 10
    random_state: int = 42
    include_features: list[str] | None = None
    exclude_features: list[str] = []

    bootstrap_samples: int = Field(default=50, ge=2)
    robustness_sample_size: int = Field(default=20_000, ge=100)
    sensitivity_windows_days: list[int] = [90, 180]
    native_threads: int | None = Field(
        default=1,
        ge=1,
        description="Native (OpenMP/BLAS) threads of the k-means fits of clusters and robustness; "
        "None: the libraries' default (every core). On a few shared cores one thread is fastest: "
        "idle OpenMP threads spin on cores DuckDB or another run is using.",
    )
    parallel_fits: int = Field(
        default=2,
        ge=1,
        description="k-means fits run at once, in threads, by the k selection of clusters and the "
        "refits of robustness; each keeps native_threads. Above 1, robustness also builds its window "
        "profiles while it refits. The results are the same for any value.",
    )

    min_segment_size: int = 20
    max_segment_size_pct: float = 0.4
    min_total_clv: float = 5000.0
    min_avg_clv: float = 100.0
    min_feature_stability: float = 0.5
    min_overall_robustness: float = 0.6
    min_expected_roi: float = 1.0

    cost_per_contact: float = 0.5
    gross_margin: float = 0.3
    min_actionable_dimensions: int = 1

    def value_model(self) -> ValueModelSettings:
        return ValueModelSettings(
            horizon_months=self.clv_horizon_months, monthly_discount_rate=self.monthly_discount_rate
        )

    def segmentation(self) -> SegmentationConfig:
        return SegmentationConfig(
            n_clusters=self.n_clusters,
            k_range=(self.k_min, self.k_max),
            random_state=self.random_state,
            include_features=tuple(self.include_features) if self.include_features else None,
            exclude_features=tuple(self.exclude_features),
        )

    def criteria(self) -> ValidationCriteria:
        return ValidationCriteria(
            min_segment_size=self.min_segment_size,
            max_segment_size_pct=self.max_segment_size_pct,
            min_total_clv=self.min_total_clv,
            min_avg_clv=self.min_avg_clv,
            min_feature_stability=self.min_feature_stability,
            min_overall_robustness=self.min_overall_robustness,
            min_expected_roi=self.min_expected_roi,
        )

    def economics(self) -> CampaignEconomics:
        return CampaignEconomics(
            cost_per_contact=self.cost_per_contact,
            gross_margin=self.gross_margin,
            clv_horizon_months=self.clv_horizon_months,
        )
