"""What a corpus's dataset card states that its data cannot tell (params.yaml ``card``): its intended
use and its limitations. ``facecorpus release`` refuses while either is unset: the card never invents them.
A section of ``pipeline/config/:Options`` (defined here, below the config, as ``policy`` is)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.params import option


@dataclass(frozen=True)
class CardOptions:
    """params.yaml ``card``: the intended use and limitations, in the card's words."""

    intended_use: str | None = option(None, "what the dataset is for (and not for), in the card's words", required=True)
    limitations: str | None = option(None, "known gaps and biases of the corpus and the pipeline, in the card's words", required=True)
