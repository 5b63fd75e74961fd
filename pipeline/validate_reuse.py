"""Reusing the last validation of an unchanged dataset (the ingest flow's reruns).

A scheduled ingest that finds nothing new leaves the dataset as it was; validating
it again would cost seconds of fixed Great Expectations overhead for the same
outcome. :func:`reuse_key` is a sha256 over everything a validation reads or is
configured by: the two manifests' bytes, each file under ``crops/`` (relative
path, size, mtime, ctime, inode: a deleted, added or rewritten crop changes it),
the limits, the partition size, the suites run, whether Data Docs are built, the
versions of Great Expectations, OpenCV, numpy, polars and pyarrow, and the source
of the contracts, schemas and validation code. A report whose stored key equals
the dataset's current key is returned as it was. Only the dataset suites can be
reused: the ``shards`` suite reads a release folder that the key does not cover.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import great_expectations as gx
import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.fingerprint import code_version
from pipeline.fsutil import sha256_file
from schemas.contracts.limits import ContractLimits

CODE_MODULES = (
    "pipeline.validate",
    "pipeline.validate_arrow",
    "pipeline.validate_columns",
    "pipeline.validate_files",
    "pipeline.validate_gx",
    "pipeline.validate_merge",
    "pipeline.validate_reuse",
    "schemas.manifests",
    "schemas.contracts.base",
    "schemas.contracts.videos",
    "schemas.contracts.faces",
    "schemas.contracts.crops",
    "schemas.contracts.run",
    "schemas.contracts.shards",
    "schemas.contracts.limits",
)
MANIFESTS = ("videos.parquet", "faces.parquet")
CROPS_DIR = "crops"


def reuse_key(dataset_dir: Path, limits: ContractLimits, partition_rows: int, suites: Sequence[str], build_docs: bool) -> str:
    digest = hashlib.sha256()
    settings = {
        "limits": limits.as_dict(),
        "partition_rows": partition_rows,
        "suites": list(suites),
        "build_docs": build_docs,
        "libraries": [gx.__version__, cv2.__version__, np.__version__, pl.__version__, pa.__version__],
        "code": code_version(*CODE_MODULES),
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
