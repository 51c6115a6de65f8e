"""Scale and speed runs of the real pipeline, with recorded results (never timed tests)."""
