"""The embedder's options, fields of params.yaml's ``curate`` section (``pipeline/config.py:CurateOptions``
inherits them, as ``ValidateOptions`` inherits the contract's limits)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.embedding.registry import EMBED_CHOICES

# dlib costs ~100 ms per face here: 3 faces per track let one blurred or turned face not decide its identity.
DEFAULT_PER_TRACK = 3


def _option(default, help: str, choices: tuple[str, ...] | None = None):
    return field(default=default, metadata={"help": help, "choices": choices, "required": False})


@dataclass(frozen=True)
class EmbedOptions:
    embedder: str = _option("dlib", "identity embedder: dlib, arcface (a local pack under extract.models_root), none", EMBED_CHOICES)
    embed_per_track: int = _option(DEFAULT_PER_TRACK, "embed each track by this many of its best faces (by quality_score)")
    identity_max_distance: float = _option(0.0, "tracks closer than this (unit vectors) are one person; 0: the embedder's own")
