"""One module per stage; each asset is thin: read inputs, call domain code, write, attach metadata."""

from segmentation_assets.assets.actionability import actionability
from segmentation_assets.assets.identity import merged_ids
from segmentation_assets.assets.ingest import raw_events
from segmentation_assets.assets.profiles import profiles
from segmentation_assets.assets.report import report
from segmentation_assets.assets.robustness import robustness
from segmentation_assets.assets.segments import clusters

STAGE_ASSETS = [raw_events, merged_ids, profiles, clusters, robustness, actionability, report]

__all__ = [
    "STAGE_ASSETS",
    "actionability",
    "clusters",
    "merged_ids",
    "profiles",
    "raw_events",
    "report",
    "robustness",
]
