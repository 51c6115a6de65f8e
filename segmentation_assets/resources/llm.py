"""The LLM resource: which chat model judges actionability (offline rules model by default).

Provider models are built lazily inside the asset, so no key is needed unless a provider is used;
keys come only from the provider's own environment variables and are never logged.
"""

from __future__ import annotations

from dagster import ConfigurableResource


class LLMResource(ConfigurableResource):
    """``model``: 'rules' (offline, deterministic) or '<provider>:<model>' e.g. 'openai:gpt-4o-mini'."""

    model: str = "rules"
    max_concurrency: int = 4
    timeout_seconds: float = 60.0
    max_retries: int = 3
