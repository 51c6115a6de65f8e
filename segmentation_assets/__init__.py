"""Customer segmentation for Bloomreach Engagement BigQuery (EBQ) data as Dagster assets."""
