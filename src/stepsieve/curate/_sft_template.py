"""The chat template that makes TRL's SFTTrainer put loss exactly on the kept steps.

TRL (``assistant_only_loss=True``) trains on the tokens a chat template marks with
``{% generation %}``. Stock templates mark every assistant message, ignoring ``weight``;
this one marks only assistant messages of weight 1 (absent counts as 1, OpenAI's default),
renders consecutive assistant messages as one turn (so the split ``trl-sft`` makes where the
weight changes adds no end-of-turn), and puts the turn's end (the eos token) inside the
block of a trained message that ends a turn, so the model learns where turns really end.
It renders plain text (tasks and tool results on their own lines, tool calls as
``> name arguments``), for a model without a template of its own, such as the embedded
policy; for a model with one, put the same ``weight`` test and ``{% generation %}`` block
around its assistant content (docs/curation.md shows how).
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["sft_chat_template", "vlm_chat_template"]


def sft_chat_template() -> str:
    """The Jinja text of the weighted plain-text SFT template (``templates/weighted_plain.jinja``)."""
    return files("stepsieve.curate").joinpath("templates/weighted_plain.jinja").read_text(encoding="utf-8")


def vlm_chat_template() -> str:
    """The weighted Qwen2-VL / Qwen2.5-VL template (``templates/weighted_qwen2_vl.jinja``) for
    ``trl-vision`` rows: TRL's ``qwen2_5_vl_training.jinja`` with ``{% generation %}`` only
    around weight-1 assistant messages and a weight split rendered as one turn."""
    return files("stepsieve.curate").joinpath("templates/weighted_qwen2_vl.jinja").read_text(encoding="utf-8")
