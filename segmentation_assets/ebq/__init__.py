"""The EBQ (Bloomreach Engagement BigQuery export) input contract and a synthetic generator.

:mod:`segmentation_assets.ebq.schema` is the contract every source must meet;
:mod:`segmentation_assets.ebq.generator` writes a deterministic, realistic export that meets it.
Neither module imports Dagster, so both are usable from scripts and tests alone.
"""
