"""Chat models from a one-string spec: ``'rules'`` (default, offline) or ``'<provider>:<model>'``.

Hosted providers are optional extras, imported only when a spec names them::

    pip install 'segmentation_assets[openai]'      # openai:gpt-4o-mini
    pip install 'segmentation_assets[anthropic]'   # anthropic:claude-3-5-haiku-latest
    pip install 'segmentation_assets[ollama]'      # ollama:llama3.1 (local server)

Construction goes through :func:`langchain.chat_models.init_chat_model` with ``temperature=0``, a
request timeout and the SDK's ``max_retries`` (OpenAI and Anthropic SDKs retry timeouts, connection
errors, 429 and 5xx with exponential backoff and honour ``Retry-After``). API keys are read by the
provider SDKs from the environment only (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``); this module checks
that the variable is set, never reads its value into a parameter and never logs it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.rate_limiters import BaseRateLimiter

from segmentation_assets.llm.rules_model import RULES_MODEL_NAME, RulesChatModel

logger = logging.getLogger(__name__)

RULES = "rules"


class ProviderNotInstalledError(ImportError):
    """The spec names a provider whose optional extra is not installed."""


class MissingCredentialsError(RuntimeError):
    """The provider's API key environment variable is not set."""


@dataclass(frozen=True)
class ProviderInfo:
    """How to reach one provider: its integration package, the extra, and its key variable."""

    package: str
    extra: str
    key_env: str | None


PROVIDERS: dict[str, ProviderInfo] = {
    "openai": ProviderInfo("langchain_openai", "openai", "OPENAI_API_KEY"),
    "anthropic": ProviderInfo("langchain_anthropic", "anthropic", "ANTHROPIC_API_KEY"),
    "ollama": ProviderInfo("langchain_ollama", "ollama", None),
}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec."""

    provider: str
    model: str

    @property
    def spec(self) -> str:
        """The canonical spec string (cache keys use it)."""
        return RULES if self.provider == RULES else f"{self.provider}:{self.model}"


def parse_model_spec(spec: str) -> ModelSpec:
    """Parse ``'rules'`` or ``'<provider>:<model>'``; the provider is not checked here."""
    text = spec.strip()
    if text in ("", RULES):
        return ModelSpec(RULES, RULES_MODEL_NAME)
    provider, sep, model = text.partition(":")
    if not sep or not provider or not model:
        raise ValueError(
            f"model spec {spec!r} must be 'rules' or '<provider>:<model>', e.g. 'openai:gpt-4o-mini'"
        )
    return ModelSpec(provider.strip().lower(), model.strip())


def _package_installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def install_hint(provider: str) -> str:
    """The pip command that installs a provider's extra."""
    return f"pip install 'segmentation_assets[{PROVIDERS[provider].extra}]'"


def build_chat_model(
    spec: str = RULES,
    *,
    timeout: float = 60.0,
    max_retries: int = 2,
    rate_limiter: BaseRateLimiter | None = None,
    base_url: str | None = None,
) -> BaseChatModel:
    """Build the chat model a spec names; nothing is imported or contacted before this call.

    Raises ``ValueError`` for an unknown provider, :class:`ProviderNotInstalledError` (naming the
    extra to install) when the integration package is missing, and :class:`MissingCredentialsError`
    when the provider's key variable is unset. ``base_url`` points a provider at a compatible
    endpoint (a proxy, a local server, a test stub).
    """
    parsed = parse_model_spec(spec)
    if parsed.provider == RULES:
        return RulesChatModel(rate_limiter=rate_limiter)
    info = PROVIDERS.get(parsed.provider)
    if info is None:
        raise ValueError(
            f"unsupported provider {parsed.provider!r} in {spec!r}; "
            f"supported: {RULES}, {', '.join(f'{p}:<model>' for p in PROVIDERS)}"
        )
    if not _package_installed(info.package):
        raise ProviderNotInstalledError(
            f"model spec {parsed.spec!r} needs the '{info.extra}' extra "
            f"(package {info.package.replace('_', '-')}); install it with: "
            f"{install_hint(parsed.provider)}"
        )
    if info.key_env is not None and not os.environ.get(info.key_env):
        raise MissingCredentialsError(
            f"model spec {parsed.spec!r} needs the {info.key_env} environment variable"
        )

    kwargs: dict[str, Any] = {"temperature": 0.0}
    if rate_limiter is not None:
        kwargs["rate_limiter"] = rate_limiter
    if base_url is not None:
        kwargs["base_url"] = base_url
    if parsed.provider == "ollama":
        # ChatOllama has no SDK-level retries; the evaluator still retries unparseable answers.
        kwargs["client_kwargs"] = {"timeout": timeout}
    else:
        kwargs["timeout"] = timeout
        kwargs["max_retries"] = max_retries

    from langchain.chat_models import init_chat_model

    logger.info(
        "building chat model %s (timeout=%ss, max_retries=%s)", parsed.spec, timeout, max_retries
    )
    return init_chat_model(parsed.model, model_provider=parsed.provider, **kwargs)
