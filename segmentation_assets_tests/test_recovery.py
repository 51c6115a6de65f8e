"""Segmentation recovers the archetypes the synthetic generator planted (ground truth beside it)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from sklearn.metrics import adjusted_rand_score

from segmentation_assets import export_folder, identity, ingest, warehouse
from segmentation_assets.ebq.generator import generate_ebq_export, read_ground_truth
from segmentation_assets.profiles import build_profiles
from segmentation_assets.segmentation.model import SegmentationConfig, fit_segmentation

START, AS_OF = dt.date(2025, 1, 1), dt.date(2025, 12, 31)


def test_planted_archetypes_are_recovered(tmp_path: Path) -> None:
    root = generate_ebq_export(
        tmp_path / "export", n_customers=1500, start_date=START, end_date=AS_OF, seed=5
    ).root
    con = warehouse.connect(":memory:")
    views = export_folder.register_views(con, root)
    ingest.ingest_window(con, views, START, AS_OF + dt.timedelta(days=1))
    ingest.snapshot_customer_tables(con, views, AS_OF)
    identity.ensure_identity_tables(con)
    identity.write_merged_ids(con, AS_OF, 365)
    profiles = build_profiles(con, AS_OF, 365).profiles

    truth = read_ground_truth(root).to_pandas().set_index("customer_id")["archetype"]
    labels_true = profiles["customer_id"].map(truth)
    assert labels_true.notna().all()  # every profiled customer is a surviving ground-truth id

    result = fit_segmentation(profiles, SegmentationConfig())
    ari = adjusted_rand_score(labels_true, result.labels)
    assert result.k == truth.nunique() == 6
    assert ari > 0.5, ari
    # Each planted archetype has a home: most of its customers share one segment.
    crosstab = pd.crosstab(labels_true, result.labels)
    assert (crosstab.max(axis=1) / crosstab.sum(axis=1)).min() > 0.5
