"""The detectors by name: each one's identity (model file and its sha256) and its one loaded instance.

Concrete detectors import :mod:`pipeline.detection.base` and never this module;
this module imports them lazily (onnxruntime and insightface load only when a
detector is asked for). A detector's identity, ``detector_version``, is its label
plus its model file's sha256 prefix: it goes into face ids, stage fingerprints
and the manifests, and is computed here only.
"""

from __future__ import annotations

import functools
import importlib
import threading
from dataclasses import replace
from pathlib import Path
from types import ModuleType

from pipeline.detection.base import Detector, DetectorConfig
from pipeline.detection.pins import UNPINNED, check_model
from pipeline.errors import ModelNotFoundError
from pipeline.fsutil import atomic_write_bytes, sha256_file

# name -> the module implementing it: ``model_identity(config) -> (model path, label)``
# (its packaged model; ``DetectorConfig.model_file`` replaces the file, see ``model_identity`` here),
# ``load(config, model_path) -> Detector`` and ``runtime_key() -> str`` (what, beside
# the config, makes a loaded instance differ: the execution device).
DETECTORS: dict[str, str] = {
    "centerface": "pipeline.detection.centerface",
    "insightface": "pipeline.detection.scrfd",
}
_lock = threading.Lock()
_loaded: dict[tuple[DetectorConfig, str], Detector] = {}


def _module(name: str) -> ModuleType:
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
    return importlib.import_module(DETECTORS[name])


@functools.cache
def _file_sha(path: Path) -> str:
    return sha256_file(path)


def model_identity(config: DetectorConfig) -> tuple[Path, str]:
    """(model file, label): ``config.model_file`` when set (the project's copy, which dvc.yaml's
    detect stage depends on), else the detector's packaged model."""
    module = _module(config.name)
    if not config.model_file:
        return module.model_identity(config)
    path = Path(config.model_file).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(
            f"{path}: no {config.name} model file (extract.model_file); "
            "`facecorpus models --params params.yaml` (the DVC models stage) copies the detector's packaged model there"
        )
    return path, module.file_label(path)


def packaged_model_path(config: DetectorConfig) -> Path:
    """The model file the detector ships with or finds in its pack (``model_file`` ignored)."""
    return _module(config.name).model_identity(replace(config, model_file=None))[0]


def provide_model_file(config: DetectorConfig) -> tuple[Path, bool]:
    """(``config.model_file``, whether it was copied now): the packaged model is copied there
    when the file is absent; a file already there is the project's model and is kept."""
    if not config.model_file:
        raise ValueError("extract.model_file is not set: the detector uses its packaged model, there is nothing to provide")
    path = Path(config.model_file).expanduser()
    if path.is_file():
        return path, False
    atomic_write_bytes(path, packaged_model_path(config).read_bytes())
    return path, True


def model_path(config: DetectorConfig) -> Path:
    """The model file ``config`` names (an error naming where it was looked for when absent)."""
    return model_identity(config)[0]


def detector_version(config: DetectorConfig) -> str:
    """The detector's identity: its label and its model file's sha256 prefix (no model is loaded)."""
    path, label = model_identity(config)
    sha = _file_sha(path)
    pinned = check_model(path, sha, config.allow_unknown_model)
    return f"{label}:{sha[:16]}" if pinned else f"{label}:{UNPINNED}:{sha[:16]}"


def model_sha256(config: DetectorConfig) -> str:
    return _file_sha(model_path(config))


def make_detector(config: DetectorConfig) -> Detector:
    """The detector ``config`` names, loaded once per process and config, then reused."""
    module = _module(config.name)
    key = (config, module.runtime_key())
    with _lock:
        if key not in _loaded:
            path = model_identity(config)[0]
            check_model(path, sha256_file(path), config.allow_unknown_model)  # the bytes about to load
            _loaded[key] = module.load(config, path)
        return _loaded[key]
