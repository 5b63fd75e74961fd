"""Stage fingerprints: a stage's work for a video is reused only under the same fingerprint.

A fingerprint hashes the stage's code (the bytes of the modules it runs), its
model (via the detector version, which holds the model file's sha256), its
parameters and its inputs (the fingerprint of the stage it reads from).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from pathlib import Path


@functools.cache
def code_version(*modules: str) -> str:
    """sha256 prefix over the source bytes of ``modules`` (dotted names), in order."""
    digest = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(name)
        digest.update(name.encode())
        digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()[:16]


def fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]
