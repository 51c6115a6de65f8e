"""Pydantic inputs and outputs of the segment-evaluation chain.

:class:`SegmentSummary` is the ONLY thing a model ever sees about a segment: aggregate statistics and
trait comparisons, never customer ids, emails, names or any row-level data. It forbids unknown fields
(so a ``customer_ids`` list cannot slip in), accepts only traits from the registry, and rejects any text
that looks like an email address.

:class:`ActionabilityVerdict` is the structured-output schema every provider answers with. Its
provenance fields (``segment_id``, ``provider``, ``model_name``, ``prompt_version``, ``cached``,
``fell_back``, ``fallback_reason``, ``model_spec``) are hidden from the JSON schema the model sees and
are always overwritten by the caller, so a model cannot claim them.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from segmentation_assets.llm.plays import PLAYS_BY_ID, PlayId
from segmentation_assets.traits import CATEGORICAL_TRAITS, NUMERIC_TRAITS, TRAITS_BY_NAME

ConfidenceLevel = Literal["high", "medium", "low"]
DIMENSIONS: tuple[str, ...] = ("who", "what", "when", "how")

#: Anything shaped like an email address; no input string may contain one.
EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_SEGMENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _check_text(value: str, what: str) -> str:
    if EMAIL_PATTERN.search(value):
        raise ValueError(
            f"{what} looks like it contains an email address; summaries are aggregate-only"
        )
    return value


class TraitComparison(BaseModel):
    """One numeric trait: the segment mean next to the population mean.

    ``label`` and ``unit`` default to the registry's when omitted. ``standardized_difference`` is
    (segment mean - population mean) / population standard deviation.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    label: str = ""
    unit: str = ""
    segment_value: float
    population_value: float
    standardized_difference: float

    @model_validator(mode="before")
    @classmethod
    def _fill_from_registry(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            known = TRAITS_BY_NAME.get(data["name"])
            if known is not None:
                data = {"label": known.label, "unit": known.unit, **data}
        return data

    @field_validator("name")
    @classmethod
    def _numeric_registry_trait(cls, name: str) -> str:
        if name not in NUMERIC_TRAITS:
            raise ValueError(
                f"{name!r} is not a numeric trait of the registry (segmentation_assets.traits)"
            )
        return name


class SegmentSummary(BaseModel):
    """Aggregate statistics of one segment; the whole input of the chain.

    ``categorical_mix`` maps a categorical registry trait (``top_category``, ``primary_device``,
    ``rfm_segment`` ...) to the share of members per value. ``expected_roi`` and ``best_play_roi``
    come from the ROI model when one ran; the verdict copies ``expected_roi`` and never invents one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    segment_id: int | str
    name: str = Field(min_length=1, max_length=120)
    size: int = Field(ge=0)
    share: float = Field(ge=0.0, le=1.0)
    population_size: int = Field(ge=1)
    total_net_revenue: float
    avg_net_revenue: float
    total_predicted_clv: float | None = None
    avg_predicted_clv: float | None = None
    avg_churn_risk: float | None = Field(default=None, ge=0.0, le=1.0)
    traits: list[TraitComparison] = Field(default_factory=list)
    categorical_mix: dict[str, dict[str, float]] = Field(default_factory=dict)
    robustness_score: float | None = Field(default=None, ge=0.0, le=1.0)
    robustness_tier: str | None = Field(default=None, max_length=40)
    requires_monitoring: bool = False
    validation_passed: bool = True
    validation_reasons: list[str] = Field(default_factory=list)
    expected_roi: float | None = None
    best_play: PlayId | None = None
    best_play_roi: float | None = None

    @field_validator("segment_id")
    @classmethod
    def _plain_segment_id(cls, value: int | str) -> int | str:
        if isinstance(value, str) and not _SEGMENT_ID_PATTERN.match(value):
            raise ValueError("segment_id must be 1-64 characters of letters, digits, _ . : -")
        return value

    @field_validator("traits")
    @classmethod
    def _unique_traits(cls, traits: list[TraitComparison]) -> list[TraitComparison]:
        names = [t.name for t in traits]
        if len(names) != len(set(names)):
            raise ValueError("each trait may appear once in a summary")
        return traits

    @field_validator("categorical_mix")
    @classmethod
    def _categorical_registry_traits(
        cls, mix: dict[str, dict[str, float]]
    ) -> dict[str, dict[str, float]]:
        for trait_name, shares in mix.items():
            if trait_name not in CATEGORICAL_TRAITS:
                raise ValueError(
                    f"categorical_mix key {trait_name!r} is not a categorical registry trait "
                    f"({', '.join(CATEGORICAL_TRAITS)})"
                )
            for value, share in shares.items():
                _check_text(value, f"categorical_mix[{trait_name!r}] value")
                if len(value) > 80:
                    raise ValueError(f"categorical_mix[{trait_name!r}] value is too long")
                if not (0.0 <= share <= 1.0) or math.isnan(share):
                    raise ValueError(
                        f"categorical_mix[{trait_name!r}][{value!r}] must be in [0, 1]"
                    )
        return mix

    @model_validator(mode="after")
    def _aggregate_only(self) -> SegmentSummary:
        if self.size > self.population_size:
            raise ValueError("size cannot exceed population_size")
        _check_text(self.name, "name")
        if self.robustness_tier is not None:
            _check_text(self.robustness_tier, "robustness_tier")
        for reason in self.validation_reasons:
            _check_text(reason, "validation_reasons")
        return self

    # -- convenience for rules and prompts ------------------------------------------------------
    def trait(self, name: str) -> TraitComparison | None:
        """The comparison for trait ``name``, or None when the summary does not carry it."""
        for t in self.traits:
            if t.name == name:
                return t
        return None

    def dominant(
        self, categorical: str, *, exclude: tuple[str, ...] = ()
    ) -> tuple[str, float] | None:
        """The most common value of a categorical trait among members and its share (ties: alpha)."""
        shares = {
            k: v for k, v in self.categorical_mix.get(categorical, {}).items() if k not in exclude
        }
        if not shares:
            return None
        value = min(shares, key=lambda k: (-shares[k], k))
        return value, shares[value]


class DimensionAssessment(BaseModel):
    """Whether one actionability dimension is supported, with the statistics that show it."""

    supported: bool = Field(description="True when the segment statistics support this dimension.")
    evidence: str = Field(
        description=(
            "One or two sentences citing trait names and their segment and population values "
            "(or size/share/category mix) from the input. No invented numbers."
        )
    )


class ActionabilityDimensions(BaseModel):
    """The four questions a CRM team must be able to answer before running a campaign."""

    who: DimensionAssessment = Field(
        description="WHO: big enough to address and distinguishable from the rest of the base."
    )
    what: DimensionAssessment = Field(
        description="WHAT: a category concentration or value trait that sets the offer."
    )
    when: DimensionAssessment = Field(
        description="WHEN: recency, churn risk, purchase rhythm or lifecycle stage gives the timing."
    )
    how: DimensionAssessment = Field(
        description="HOW: email engagement or device mix gives the channel."
    )

    def supported_count(self) -> int:
        """How many of the four dimensions are supported."""
        return sum(getattr(self, d).supported for d in DIMENSIONS)


class BusinessExplanation(BaseModel):
    """The segment explained for a marketer."""

    executive_summary: str = Field(description="Two or three sentences for a marketing lead.")
    key_characteristics: list[str] = Field(
        description="3-6 bullet points, each citing a trait label with segment vs population value."
    )
    recommended_campaign: PlayId = Field(description="One play id from the play catalogue.")
    business_hypothesis: str = Field(
        description="Why the recommended play should change these customers' behaviour."
    )
    expected_roi: float | None = Field(
        default=None,
        description="Copy expected_roi from the input exactly; null when the input has none.",
    )
    confidence_level: ConfidenceLevel = Field(
        description=(
            "high if robustness_score >= 0.75 and validation passed; medium if robustness_score "
            ">= 0.6; otherwise low."
        )
    )
    confidence_justification: str = Field(
        description="Why this confidence level, citing robustness_score/tier and validation."
    )


class ActionabilityVerdict(BaseModel):
    """The verdict on one segment: actionability, recommendation and business explanation."""

    dimensions: ActionabilityDimensions
    is_actionable: bool = Field(
        description="True when at least the minimum number of dimensions is supported."
    )
    reasoning: str = Field(description="Why the segment is or is not actionable.")
    recommended_action: str = Field(description="The concrete next step for the CRM team.")
    explanation: BusinessExplanation

    # Provenance: filled by the caller, hidden from the schema the model answers with.
    segment_id: SkipJsonSchema[int | str | None] = None
    model_spec: SkipJsonSchema[str | None] = None
    provider: SkipJsonSchema[str | None] = None
    model_name: SkipJsonSchema[str | None] = None
    prompt_version: SkipJsonSchema[str | None] = None
    cached: SkipJsonSchema[bool] = False
    fell_back: SkipJsonSchema[bool] = False
    fallback_reason: SkipJsonSchema[str | None] = None


#: The fields the caller owns; excluded when a verdict is cached or sent as a tool call.
PROVENANCE_FIELDS: frozenset[str] = frozenset(
    {
        "segment_id",
        "model_spec",
        "provider",
        "model_name",
        "prompt_version",
        "cached",
        "fell_back",
        "fallback_reason",
    }
)


def answer_payload(verdict: ActionabilityVerdict) -> dict[str, Any]:
    """The model-facing part of a verdict (no provenance) as JSON-ready data."""
    return verdict.model_dump(mode="json", exclude=set(PROVENANCE_FIELDS))


def known_play(play_id: str) -> bool:
    """Whether ``play_id`` is in the catalogue."""
    return play_id in PLAYS_BY_ID
