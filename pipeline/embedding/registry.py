"""The embedders by name: each one's identity (label and model file sha256) and its one loaded instance."""

from __future__ import annotations

import functools
import importlib
import threading
from dataclasses import dataclass
from pathlib import Path

from pipeline.embedding.base import Embedder, EmbedderConfig
from pipeline.fsutil import sha256_file

EMBEDDERS: dict[str, str] = {
    "dlib": "pipeline.embedding.dlib_resnet",
    "arcface": "pipeline.embedding.arcface",
}
# curate.embedder's choices: an embedder, or none (no identities).
EMBED_CHOICES = (*EMBEDDERS, "none")
_lock = threading.Lock()
_loaded: dict[EmbedderConfig, Embedder] = {}


@dataclass(frozen=True)
class EmbedderIdentity:
    """What goes into the embed stage's fingerprint and the manifests: name, label, model file and its sha256."""

    name: str
    label: str
    model_path: Path
    model_sha256: str

    @property
    def version(self) -> str:
        return f"{self.label}:{self.model_sha256[:16]}"


def _module(name: str):
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedder {name!r}; choose one of {', '.join(EMBEDDERS)}")
    return importlib.import_module(EMBEDDERS[name])


@functools.cache
def _file_sha(path: Path) -> str:
    return sha256_file(path)


def embedder_identity(config: EmbedderConfig) -> EmbedderIdentity:
    """The model ``config`` names (an error naming where it was looked for when absent); nothing is loaded."""
    path, label = _module(config.name).model_identity(config)
    return EmbedderIdentity(config.name, label, path, _file_sha(path))


def same_person_distance(name: str) -> float:
    return float(_module(name).SAME_PERSON_DISTANCE)


def make_embedder(config: EmbedderConfig) -> Embedder:
    """The embedder ``config`` names, loaded once per process and config."""
    with _lock:
        if config not in _loaded:
            module = _module(config.name)
            _loaded[config] = module.load(config, module.model_identity(config)[0])
        return _loaded[config]
