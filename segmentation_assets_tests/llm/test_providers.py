"""Model specs, lazy provider construction and the play catalogue."""

from __future__ import annotations

import pytest

from segmentation_assets.llm import (
    PLAYS,
    MissingCredentialsError,
    ProviderNotInstalledError,
    RulesChatModel,
    build_chat_model,
    estimate_cost,
    parse_model_spec,
    play,
)
from segmentation_assets.llm import providers as providers_module
from segmentation_assets.llm.plays import PlayId
from segmentation_assets.llm.rules_model import RULES_MODEL_NAME


@pytest.mark.parametrize(
    ("spec", "provider", "model", "canonical"),
    [
        ("rules", "rules", RULES_MODEL_NAME, "rules"),
        ("", "rules", RULES_MODEL_NAME, "rules"),
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini", "openai:gpt-4o-mini"),
        (" Anthropic:claude-3-5-haiku-latest ", "anthropic", "claude-3-5-haiku-latest", None),
        ("ollama:llama3.1:8b", "ollama", "llama3.1:8b", "ollama:llama3.1:8b"),
    ],
)
def test_parse_model_spec(spec: str, provider: str, model: str, canonical: str | None) -> None:
    parsed = parse_model_spec(spec)
    assert (parsed.provider, parsed.model) == (provider, model)
    assert parsed.spec == (canonical or f"{provider}:{model}")


@pytest.mark.parametrize("spec", ["gpt-4o", "openai:", ":gpt-4o"])
def test_malformed_spec_is_a_clear_error(spec: str) -> None:
    with pytest.raises(ValueError, match="'rules' or '<provider>:<model>'"):
        parse_model_spec(spec)


def test_rules_spec_builds_the_offline_model() -> None:
    assert isinstance(build_chat_model(), RulesChatModel)
    assert isinstance(build_chat_model("rules"), RulesChatModel)


def test_unknown_provider_is_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported provider 'acme'"):
        build_chat_model("acme:big-model")


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
def test_missing_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    monkeypatch.setattr(providers_module, "_package_installed", lambda package: False)
    with pytest.raises(ProviderNotInstalledError, match=rf"segmentation_assets\[{provider}\]"):
        build_chat_model(f"{provider}:some-model")


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers_module, "_package_installed", lambda package: True)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingCredentialsError, match="ANTHROPIC_API_KEY"):
        build_chat_model("anthropic:claude-3-5-haiku-latest")


def test_provider_extras_are_actually_optional() -> None:
    """The real check: with no extra installed, the error says what to install."""
    if providers_module._package_installed("langchain_anthropic"):
        pytest.skip("langchain-anthropic is installed here")
    with pytest.raises(ImportError, match=r"pip install 'segmentation_assets\[anthropic\]'"):
        build_chat_model("anthropic:claude-3-5-haiku-latest")


def test_cost_estimate() -> None:
    assert estimate_cost("rules", 10, 10) == 0.0
    assert estimate_cost("ollama:llama3.1", 10_000, 10_000) == 0.0
    assert estimate_cost("openai:gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert estimate_cost("openai:unknown-model", 100, 100) is None
    assert estimate_cost("openai:unknown-model", 100, 100, {"openai:unknown-model": (1, 1)}) == (
        pytest.approx(0.0002)
    )


def test_catalogue_is_complete_and_documented() -> None:
    ids = [p.id for p in PLAYS]
    assert len(ids) == len(set(ids)) == len(PlayId.__args__)  # type: ignore[attr-defined]
    for p in PLAYS:
        assert p.description and p.applies_when and p.channel and p.timing and p.success_metric
    assert play("win_back").name == "Win-back"
    with pytest.raises(KeyError, match="known plays"):
        play("free_lunch")
