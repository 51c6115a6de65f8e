"""Only aggregate statistics reach a prompt: no customer ids, emails or names."""

from __future__ import annotations

import random
import re
import statistics

import pytest
from pydantic import ValidationError

from segmentation_assets.llm import SegmentSummary, TraitComparison, render_messages
from segmentation_assets.llm.prompts import extract_payload
from segmentation_assets_tests.llm.conftest import make_summary

FIRST = ["Alice", "Bohdan", "Chiara", "Dmitri", "Esther", "Farouk", "Greta", "Hiroshi"]
LAST = ["Novak", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Kowalski", "Haddad"]


def _customers(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        rows.append(
            {
                "customer_id": f"cust-{seed:02d}{i:06d}",
                "email": f"{first.lower()}.{last.lower()}{i}@example.com",
                "name": f"{first} {last}",
                "net_revenue": rng.uniform(0, 900),
                "recency_days": rng.uniform(1, 300),
                "top_category": rng.choice(["Garden", "Home", "Toys"]),
            }
        )
    return rows


def _summarise(members: list[dict], population: list[dict]) -> SegmentSummary:
    """What the pipeline does: aggregate members against the population, drop the rows."""
    traits = []
    for name in ("net_revenue", "recency_days"):
        seg = statistics.fmean(r[name] for r in members)
        pop = statistics.fmean(r[name] for r in population)
        sd = statistics.pstdev(r[name] for r in population)
        traits.append(
            TraitComparison(
                name=name,
                segment_value=seg,
                population_value=pop,
                standardized_difference=(seg - pop) / sd,
            )
        )
    mix: dict[str, float] = {}
    for r in members:
        mix[r["top_category"]] = mix.get(r["top_category"], 0.0) + 1 / len(members)
    revenue = sum(r["net_revenue"] for r in members)
    return SegmentSummary(
        segment_id=2,
        name="High spenders",
        size=len(members),
        share=len(members) / len(population),
        population_size=len(population),
        total_net_revenue=revenue,
        avg_net_revenue=revenue / len(members),
        traits=traits,
        categorical_mix={"top_category": mix},
        robustness_score=0.7,
    )


def test_rendered_prompt_contains_no_customer_level_data() -> None:
    population = _customers(400, seed=11)
    members = sorted(population, key=lambda r: -r["net_revenue"])[:80]
    summary = _summarise(members, population)
    messages = render_messages(summary)
    text = "\n".join(str(m.content) for m in messages)

    assert not re.search(r"cust-\d{8}", text)
    assert not re.search(r"[\w.+-]+@[\w-]+\.\w+", text)
    for row in members:
        assert row["customer_id"] not in text
        assert row["email"] not in text
        assert row["name"] not in text
    for word in FIRST + LAST:
        assert word not in text
    for word in ("customer_id", 'email"', "customer_ids"):
        assert word not in text

    payload = extract_payload(messages)
    assert set(payload) == {"min_dimensions", "segment"}
    assert set(payload["segment"]) == set(SegmentSummary.model_fields)
    for trait in payload["segment"]["traits"]:
        assert set(trait) == set(TraitComparison.model_fields)
    # every number in the prompt is an aggregate of the members, not a row value
    row_values = {round(r["net_revenue"], 6) for r in population}
    assert round(payload["segment"]["avg_net_revenue"], 6) not in row_values


def test_summary_rejects_row_level_fields() -> None:
    fields = make_summary().model_dump()
    with pytest.raises(ValidationError, match="customer_ids"):
        SegmentSummary.model_validate({**fields, "customer_ids": ["cust-00000001"]})
    with pytest.raises(ValidationError, match="emails"):
        SegmentSummary.model_validate({**fields, "emails": ["a@example.com"]})


@pytest.mark.parametrize(
    ("update", "match"),
    [
        ({"name": "Contact jane.doe@example.com"}, "email address"),
        ({"validation_reasons": ["failed for bob@shop.io"]}, "email address"),
        ({"categorical_mix": {"top_category": {"x@y.com": 1.0}}}, "email address"),
        ({"categorical_mix": {"customer_id": {"cust-1": 1.0}}}, "not a categorical registry trait"),
        ({"segment_id": "seg 1; drop table"}, "segment_id"),
        ({"size": 20_000}, "cannot exceed population_size"),
    ],
)
def test_summary_rejects_identifying_or_inconsistent_content(update: dict, match: str) -> None:
    fields = {**make_summary().model_dump(), **update}
    with pytest.raises(ValidationError, match=match):
        SegmentSummary(**fields)


def test_trait_comparisons_only_accept_registry_traits() -> None:
    with pytest.raises(ValidationError, match="not a numeric trait"):
        TraitComparison(
            name="email", segment_value=1, population_value=1, standardized_difference=0
        )
    with pytest.raises(ValidationError, match="not a numeric trait"):
        TraitComparison(
            name="top_category", segment_value=1, population_value=1, standardized_difference=0
        )
    filled = TraitComparison(
        name="churn_risk", segment_value=0.5, population_value=0.3, standardized_difference=0.8
    )
    assert (filled.label, filled.unit) == ("Churn risk", "probability 0-1")


def test_prompt_uses_registry_definitions_of_present_traits_only() -> None:
    summary = make_summary()
    system = str(render_messages(summary)[0].content)
    assert "Distinct category_level_1 values viewed or bought." in system  # category_breadth
    assert "Share of the customer's category interactions" in system  # top_category_share
    assert "BG/NBD probability" not in system  # p_alive is not in this summary
    assert "- win_back (Win-back)" in system  # the play catalogue is rendered
