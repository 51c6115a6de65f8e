"""Read one as-of date's stage tables from the warehouse into the report's :class:`ReportData`."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from segmentation_assets.reporting.data import ReportData

#: The fields the report's k-selection plot reads.
_K_COLUMNS = [
    "k",
    "silhouette",
    "calinski_harabasz",
    "davies_bouldin",
    "prediction_strength",
    "chosen",
]


def rfm_grid_frame(con: Any, as_of: date) -> pd.DataFrame:
    """Customers and average net revenue per (recency score, frequency score) of ``as_of``.

    The average divides an exact sum: net revenue summed as DECIMAL(38, 9), to the nano-unit.
    ``avg`` over a double column sums in parallel in no fixed order, so the same profiles gave
    averages that differed in their last digits from run to run (76.27006983939846 against
    76.27006983940383 at a million customers), and the report JSON was not the same bytes.
    """
    return con.execute(
        "SELECT rfm_recency_score, rfm_frequency_score, count(*) AS customers, "
        "CAST(sum(CAST(net_revenue AS DECIMAL(38, 9))) AS DOUBLE) / count(net_revenue) "
        "AS avg_net_revenue FROM profiles WHERE as_of_date = $d GROUP BY ALL ORDER BY ALL",
        {"d": as_of},
    ).df()


def load_report_data(con: Any, as_of: date, run: dict[str, Any]) -> ReportData:
    params = {"d": as_of}

    def table(name: str, order: str = "segment_id") -> pd.DataFrame:
        return con.execute(
            f"SELECT * EXCLUDE (as_of_date) FROM {name} WHERE as_of_date = $d ORDER BY {order}",
            params,
        ).df()

    k_scores = table("k_selection_scores", "k")
    # An empty frame makes the report say "k fixed by configuration".
    k_scores = pd.DataFrame() if bool(k_scores["fixed_k"].all()) else k_scores[_K_COLUMNS]
    validation = table("segment_validation").rename(
        columns={"roi": "expected_roi", "cost": "campaign_cost"}
    )
    rfm_grid = rfm_grid_frame(con, as_of)
    migration = con.execute(
        "SELECT from_segment_id, to_segment_id, customers FROM segment_migration "
        "WHERE as_of_date = $d ORDER BY ALL",
        params,
    ).df()
    return ReportData(
        run=run,
        segments=table("segments"),
        trait_profile=table("segment_trait_profile", "segment_id, trait"),
        k_scores=k_scores,
        robustness=table("segment_robustness"),
        validation=validation,
        actionability=table("segment_actionability"),
        rfm_grid=rfm_grid,
        migration=migration,
        assignments=con.execute(
            "SELECT customer_id, segment_id FROM segment_assignments WHERE as_of_date = $d "
            "ORDER BY customer_id",
            params,
        ).df(),
    )
