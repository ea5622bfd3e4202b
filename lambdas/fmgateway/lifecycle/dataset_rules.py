"""What Bedrock takes as training data, per base model and customization type: the record format and the documented
limits, as a table with its sources (checked 2026-12-07 against stored copies of the AWS pages below; where AWS's
revisions disagree, the current one is used and the other noted).

Sources:
- [PREP] https://docs.aws.amazon.com/bedrock/latest/userguide/model-customization-prepare.html ("Model requirements
  for training and validation datasets": Titan, Claude 3 Haiku, Llama, Cohere)
- [TXT] https://docs.aws.amazon.com/bedrock/latest/userguide/preparing-text-data.html (prompt/completion; Claude 3
  Haiku's system + messages; the Converse format for Llama 3.2/3.3; "approximately 6 characters per token")
- [CPT] https://docs.aws.amazon.com/bedrock/latest/userguide/dataset-prep-continued-pretraining.html (``{"input"}``)
- [NOVA-FT] https://docs.aws.amazon.com/nova/latest/userguide/fine-tune-prepare-data-understanding.html (Nova:
  ``bedrock-conversation-2024``, 8 to 20k samples, 32k context, reserved keywords)
- [DIST] https://docs.aws.amazon.com/bedrock/latest/userguide/distillation-prepare-datasets.html (at most 15K prompts or
  pairs; Anthropic and Llama students take single-turn prompts, Nova multi-turn) and
  https://docs.aws.amazon.com/bedrock/latest/userguide/prequisites-model-distillation.html (students and regions)
- [SUPPORTED] https://docs.aws.amazon.com/bedrock/latest/userguide/custom-model-supported.html (types and regions)

Not found in the documentation, so not enforced: Titan Text's record counts (a Service Quotas value per account),
per-record limits for distillation prompts. The current distillation page says Anthropic models cannot be distilled at
present, so Claude 3 Haiku is not listed as a student.
"""

from __future__ import annotations

import math
from typing import NamedTuple

FINE_TUNING, CONTINUED_PRE_TRAINING, DISTILLATION = "FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"
# the dataset formats of ``fmgw datasets build --format`` and the customization type each one feeds
FORMATS = {"fine-tuning": FINE_TUNING, "continued-pretraining": CONTINUED_PRE_TRAINING, "conversation": DISTILLATION}
CHARS_PER_TOKEN = 6  # [TXT]: "Use approximately 6 characters per token to estimate the number of tokens"
CONVERSATION_SCHEMA = "bedrock-conversation-2024"
NOVA_RESERVED = ("User:", "Bot:", "Assistant:", "System:", "<image>", "<video>", "[EOS]")  # [NOVA-FT]
GB, MB = 1024**3, 1024**2


class Limits(NamedTuple):
    """Documented limits of one customization type for one base model (None: none documented)."""

    min_records: int | None = None
    max_train_records: int | None = None
    max_validation_records: int | None = None
    max_total_records: int | None = None  # training plus validation
    max_record_tokens: int | None = None  # input plus output
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    max_train_bytes: int | None = None
    max_validation_bytes: int | None = None
    source: str = ""


class BaseModel(NamedTuple):
    """A base model that can be customized: its record format for fine-tuning, its limits per type, whether it takes
    multi-turn records as a distillation student, and the regions where its customization runs."""

    model_id: str
    record_format: str  # prompt-completion | claude-messages | conversation (its fine-tuning records)
    limits: dict[str, Limits]
    regions: tuple[str, ...]
    multi_turn_student: bool = False
    reserved_words: tuple[str, ...] = ()


_TITAN_FT = Limits(max_record_tokens=4096, max_train_bytes=1 * GB, max_validation_bytes=100 * MB, source="[PREP]")
_TITAN_CPT = Limits(max_record_tokens=4096, max_train_bytes=10 * GB, max_validation_bytes=100 * MB, source="[PREP] [CPT]")
_LLAMA_FT = Limits(
    min_records=100,
    max_total_records=10_000,
    max_record_tokens=16_000,
    max_input_tokens=16_000,
    max_output_tokens=16_000,
    source="[PREP]",
)
_STUDENT = Limits(min_records=100, max_total_records=15_000, source="[DIST]")
_NOVA_FT = Limits(min_records=8, max_total_records=20_000, max_record_tokens=32_000, source="[NOVA-FT]")
_US_EAST, _US_WEST, _BOTH = ("us-east-1",), ("us-west-2",), ("us-east-1", "us-west-2")

BASE_MODELS: dict[str, BaseModel] = {
    model.model_id: model
    for model in (
        BaseModel(
            "amazon.titan-text-express-v1",
            "prompt-completion",
            {FINE_TUNING: _TITAN_FT, CONTINUED_PRE_TRAINING: _TITAN_CPT},
            _BOTH,
        ),
        BaseModel(
            "amazon.titan-text-lite-v1",
            "prompt-completion",
            {FINE_TUNING: _TITAN_FT, CONTINUED_PRE_TRAINING: _TITAN_CPT},
            _BOTH,
        ),
        BaseModel(
            "anthropic.claude-3-haiku-20240307-v1:0",
            "claude-messages",
            {
                FINE_TUNING: Limits(
                    min_records=32,
                    max_train_records=10_000,
                    max_validation_records=1_000,
                    max_total_records=10_000,
                    max_record_tokens=32_000,
                    max_train_bytes=10 * GB,
                    max_validation_bytes=1 * GB,
                    source="[PREP] [TXT]",
                )
            },
            _US_WEST,
        ),
        BaseModel(
            "meta.llama3-1-8b-instruct-v1:0", "prompt-completion", {FINE_TUNING: _LLAMA_FT, DISTILLATION: _STUDENT}, _US_WEST
        ),
        BaseModel(
            "meta.llama3-1-70b-instruct-v1:0", "prompt-completion", {FINE_TUNING: _LLAMA_FT, DISTILLATION: _STUDENT}, _US_WEST
        ),
        BaseModel("meta.llama3-2-1b-instruct-v1:0", "conversation", {FINE_TUNING: _LLAMA_FT, DISTILLATION: _STUDENT}, _US_WEST),
        BaseModel("meta.llama3-2-3b-instruct-v1:0", "conversation", {FINE_TUNING: _LLAMA_FT, DISTILLATION: _STUDENT}, _US_WEST),
        BaseModel("meta.llama3-3-70b-instruct-v1:0", "conversation", {FINE_TUNING: _LLAMA_FT, DISTILLATION: _STUDENT}, _US_WEST),
        *(
            BaseModel(
                f"amazon.nova-{size}-v1:0",
                "conversation",
                {FINE_TUNING: _NOVA_FT, DISTILLATION: _STUDENT},
                _US_EAST,
                multi_turn_student=True,
                reserved_words=NOVA_RESERVED,
            )
            for size in ("micro", "lite", "pro")
        ),
    )
}


class UnknownBaseModel(ValueError):
    """A base model the table does not hold, or a type it does not take (the message names what it does take)."""


def base_model(model_id: str) -> BaseModel:
    """The table's entry for a model id, with or without a geography prefix (``us.``) or a customization suffix
    (``:0:8k``, ``:300k``)."""
    head, _, rest = model_id.partition(".")
    name = rest if head in ("us", "eu", "apac", "global") and rest else model_id
    while name:
        if name in BASE_MODELS:
            return BASE_MODELS[name]
        name = name.rpartition(":")[0]
    known = ", ".join(sorted(BASE_MODELS))
    raise UnknownBaseModel(f"{model_id}: not a base model that Bedrock customizes with text datasets (known: {known})")


def limits_for(model: BaseModel, dataset_format: str) -> Limits:
    """The limits of the customization type ``dataset_format`` feeds; refused when the model does not take it."""
    kind = FORMATS[dataset_format]
    if kind not in model.limits:
        takes = ", ".join(name for name, value in FORMATS.items() if value in model.limits)
        raise UnknownBaseModel(f"{model.model_id} does not take {kind} (its formats: {takes})")
    return model.limits[kind]


def estimated_tokens(text: str) -> int:
    """Tokens of a text with no count of its own, as the documentation estimates them."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)
