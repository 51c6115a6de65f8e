"""Asset checks, per stage: Great Expectations suites, cheap SQL invariants, and schema, volume and
drift guards. ``ALL_CHECKS`` is what the Definitions register; docs/checks.md lists every check
with what it guards, its severity and whether it blocks."""

from segmentation_assets.checks.drift_checks import DRIFT_CHECKS
from segmentation_assets.checks.ingest_checks import INGEST_CHECKS
from segmentation_assets.checks.profile_checks import PROFILE_CHECKS
from segmentation_assets.checks.schema_checks import SCHEMA_CHECKS
from segmentation_assets.checks.segment_checks import SEGMENT_CHECKS
from segmentation_assets.checks.volume_checks import VOLUME_CHECKS

ALL_CHECKS = [
    *INGEST_CHECKS,
    *PROFILE_CHECKS,
    *SEGMENT_CHECKS,
    *VOLUME_CHECKS,
    *DRIFT_CHECKS,
    *SCHEMA_CHECKS,
]

__all__ = ["ALL_CHECKS"]
