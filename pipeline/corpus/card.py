"""What a corpus's dataset card states that its data cannot tell (params.yaml ``card``): its intended
use and its limitations. ``facecorpus release`` refuses while either is unset: the card never invents them.
A section of ``pipeline/config/:Options`` (defined here, below the config, as ``policy`` is)."""

from __future__ import annotations

from dataclasses import dataclass, field


def _required(help: str):  # pipeline/config/'s option(..., required=True): no default, the help its flag shows
    return field(default=None, metadata={"help": help, "choices": None, "required": True})


@dataclass(frozen=True)
class CardOptions:
    """params.yaml ``card``: the intended use and limitations, in the card's words."""

    intended_use: str | None = _required("what the dataset is for (and not for), in the card's words")
    limitations: str | None = _required("known gaps and biases of the corpus and the pipeline, in the card's words")
