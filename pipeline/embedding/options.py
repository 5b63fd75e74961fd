"""Curation II's options: the embedder, identities and splits (params.yaml ``curate``: ``pipeline/config/:CurateOptions``
inherits them, as ``ValidateOptions`` inherits the contract's limits), and the training view's group filters
(``select``: ``SelectOptions`` inherits them)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.embedding.registry import EMBED_CHOICES
from schemas.params import option

# dlib costs ~100 ms per face here: 3 faces per track let one blurred or turned face not decide its identity.
DEFAULT_PER_TRACK = 3


@dataclass(frozen=True)
class EmbedOptions:
    embedder: str = option("dlib", "identity embedder: dlib, arcface (a local pack under extract.models_root), none", choices=EMBED_CHOICES)
    embed_per_track: int = option(DEFAULT_PER_TRACK, "embed each track by this many of its best faces (by quality_score)")
    identity_max_distance: float = option(0.0, "tracks closer than this (unit vectors) are one person; 0: the embedder's own")
    split_train: float = option(0.8, "share of groups (an identity, else a fake's original, else a video) hashed into train")
    split_val: float = option(0.1, "share of groups hashed into val")
    split_test: float = option(0.1, "share of groups hashed into test")
    reassign_splits: bool = option(False, "hash new groups into the ratios, ignoring the corpus's split (recorded groups never move)")

    def check_groups(self) -> None:
        if (
            self.embed_per_track < 1
            or self.identity_max_distance < 0
            or abs(self.split_train + self.split_val + self.split_test - 1) > 1e-6
        ):
            raise ValueError(f"curate: embed_per_track >= 1, identity_max_distance >= 0, split ratios summing to 1: {self}")


@dataclass(frozen=True)
class SelectGroupOptions:
    split: str | None = option(None, "only faces whose split_assigned is this (train, val, test, or a corpus split); unset: all")
    min_identity_faces: int = option(0, "only faces of identities with at least this many kept faces in the dataset; 0: any face")
    balanced_pairs: bool = option(False, "only paired faces: each fake face with its original face, as many real as fake")
