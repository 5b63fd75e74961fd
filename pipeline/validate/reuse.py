"""Reusing the last validation of an unchanged dataset (the ingest flow's reruns).

A scheduled ingest that finds nothing new leaves the dataset as it was; validating
it again would cost seconds of fixed Great Expectations overhead for the same
outcome. :func:`reuse_key` is a sha256 over everything a validation reads or is
configured by: the two manifests' bytes, each file under ``crops/`` (relative
path, size, mtime, ctime, inode: a deleted, added or rewritten crop changes it),
the limits, the partition size, the suites run, whether Data Docs are built, the
versions of Great Expectations, OpenCV, numpy, polars and pyarrow, and the source
of every module of ``pipeline.validate`` and ``schemas``. A report whose stored key equals
the dataset's current key is returned as it was. Only the dataset suites can be
reused: the ``shards`` suite reads a release folder that the key does not cover.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import great_expectations as gx
import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.alignment.crops import CROPS_DIR
from pipeline.fsutil import sha256_file
from schemas.contracts.limits import ContractLimits
from schemas.manifests import FACES_MANIFEST, SPLITS_MANIFEST, TRACKS_MANIFEST, VIDEOS_MANIFEST

# The code a validation runs: every module of these packages (found, not listed by hand).
CODE_PACKAGES = ("pipeline.validate", "schemas")
MANIFESTS = (VIDEOS_MANIFEST, FACES_MANIFEST, TRACKS_MANIFEST, SPLITS_MANIFEST)


def reuse_key(dataset_dir: Path, limits: ContractLimits, partition_rows: int, suites: Sequence[str], build_docs: bool) -> str:
    digest = hashlib.sha256()
    settings = {
        "limits": limits.as_dict(),
        "partition_rows": partition_rows,
        "suites": list(suites),
        "build_docs": build_docs,
        "libraries": [gx.__version__, cv2.__version__, np.__version__, pl.__version__, pa.__version__],
        "code": code_digest(CODE_PACKAGES),
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for name in MANIFESTS:
        path = Path(dataset_dir) / name
        digest.update(f"{name}:{sha256_file(path) if path.is_file() else '-'}\n".encode())
    for line in _crop_files(Path(dataset_dir) / CROPS_DIR):
        digest.update(line.encode())
    return digest.hexdigest()


def _crop_files(root: Path) -> list[str]:
    """One ``path size mtime_ns ctime_ns inode`` line per entry under ``root`` (links
    not followed: a dangling one is an entry too), sorted. ctime and inode catch a
    rewrite that kept size and mtime (``cp -p``, ``rsync -t``)."""
    lines = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            stat = path.lstat()
            lines.append(f"{path.relative_to(root).as_posix()} {stat.st_size} {stat.st_mtime_ns} {stat.st_ctime_ns} {stat.st_ino}\n")
    return sorted(lines)


@functools.cache
def code_digest(packages: tuple[str, ...]) -> str:
    """sha256 prefix over the source of every module in ``packages`` (sorted by path)."""
    digest = hashlib.sha256()
    for name in packages:
        root = Path(importlib.import_module(name).__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{name}/{path.relative_to(root).as_posix()}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
