"""The pure numeric segmentation domain: features, k selection, k-means, naming, stable ids.

No Dagster and no I/O here: every function takes and returns numpy / pandas objects, so the assets
stay thin and this package can be tested on synthetic frames.
"""

from segmentation_assets.segmentation.features import (
    FeatureTransformer,
    SegmentationError,
    resolve_features,
)
from segmentation_assets.segmentation.k_selection import KSelection, select_k
from segmentation_assets.segmentation.model import (
    ASSIGNMENT_COLUMNS,
    SegmentationConfig,
    SegmentationModel,
    SegmentationResult,
    fit_segmentation,
    score_new_customers,
)
from segmentation_assets.segmentation.naming import describe_segments, name_segments
from segmentation_assets.segmentation.stable_ids import (
    StableIds,
    assign_stable_ids,
    migration_table,
    previous_segments_frame,
)

__all__ = [
    "ASSIGNMENT_COLUMNS",
    "FeatureTransformer",
    "KSelection",
    "SegmentationConfig",
    "SegmentationError",
    "SegmentationModel",
    "SegmentationResult",
    "StableIds",
    "assign_stable_ids",
    "describe_segments",
    "fit_segmentation",
    "migration_table",
    "name_segments",
    "previous_segments_frame",
    "resolve_features",
    "score_new_customers",
    "select_k",
]
