"""Read a released dataset: manifests as polars LazyFrames, crops from the tar shards.

    from pipeline.dataset import load
    ds = load("https://github.com/org/facecorpus-data", rev="v1.0")   # any git repo DVC can read
    ds = load("data/release")                                           # a local copy (dvc get / import / pull)
    faces = ds.faces.filter((pl.col("split") == "train") & (pl.col("status") == "ok")).collect()  # kept faces
    image = ds.read_crop(faces["face_id"][0])                           # RGB uint8 HxWx3
    for sample in ds.iter_samples():                                    # shard by shard, no torch needed
        ...

A torch ``IterableDataset`` can wrap :meth:`Dataset.iter_samples` as it is.
From a repo, ``load`` fetches the release folder at ``rev`` once through
``dvc.api.DVCFileSystem`` (git + the DVC remote) into a local cache folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import polars as pl

from pipeline.fsutil import check_published
from schemas.manifests import CROP_LOCATIONS, FACES_MANIFEST, SHARD_INDEX, TRACKS_MANIFEST, VIDEOS_MANIFEST

# A repository names its release folder in its params.yaml (pack.out), read at the revision asked for.
PARAMS_FILE = "params.yaml"
DEFAULT_CACHE = Path("~/.cache/facecorpus/releases")


@dataclass(frozen=True)
class Sample:
    """One face for training: its crop (RGB) and its manifest fields."""

    face_id: str
    image_rgb: np.ndarray
    fields: dict


class Dataset:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for name in (FACES_MANIFEST, VIDEOS_MANIFEST, SHARD_INDEX, CROP_LOCATIONS):
            if not (self.root / name).is_file():
                raise FileNotFoundError(f"{self.root} is not a facecorpus release: {name} is missing")
        check_published(self.root, [FACES_MANIFEST, VIDEOS_MANIFEST, TRACKS_MANIFEST, SHARD_INDEX, CROP_LOCATIONS])
        self._locations: dict[str, tuple[str, int, int]] | None = None

    @property
    def faces(self) -> pl.LazyFrame:
        return pl.scan_parquet(self.root / FACES_MANIFEST)

    @property
    def videos(self) -> pl.LazyFrame:
        return pl.scan_parquet(self.root / VIDEOS_MANIFEST)

    @property
    def tracks(self) -> pl.LazyFrame:
        """One row per face track (``tracks.parquet``); faces carry their ``track_id``."""
        return pl.scan_parquet(self.root / TRACKS_MANIFEST)

    @property
    def shards(self) -> pl.DataFrame:
        return pl.read_parquet(self.root / SHARD_INDEX)

    def read_crop_bytes(self, face_id: str) -> bytes:
        """The encoded crop (PNG/JPEG/WebP bytes), read straight from its shard by offset."""
        if self._locations is None:
            rows = pl.read_parquet(self.root / CROP_LOCATIONS).select("face_id", "shard", "offset_bytes", "size_bytes").rows()
            self._locations = {face: (shard, offset, size) for face, shard, offset, size in rows}
        shard, offset, size = self._locations[face_id]
        with open(self.root / shard, "rb") as fh:
            fh.seek(offset)
            return fh.read(size)

    def read_crop(self, face_id: str) -> np.ndarray:
        return _decode(self.read_crop_bytes(face_id))

    def iter_samples(self, shards: list[str] | None = None) -> Iterator[Sample]:
        """Every face, streamed shard by shard in order (WebDataset layout: image, then json)."""
        for shard in shards or self.shards["shard"].to_list():
            yield from _iter_tar(self.root / shard)

    def verify(self) -> None:
        """Raise ValueError when a shard's sha256 differs from the index."""
        for shard, digest in self.shards.select("shard", "sha256").rows():
            actual = hashlib.sha256((self.root / shard).read_bytes()).hexdigest()
            if actual != digest:
                raise ValueError(f"{shard}: sha256 {actual} does not match the shard index ({digest})")


def _iter_tar(path: Path) -> Iterator[Sample]:
    image: np.ndarray | None = None
    with tarfile.open(path, mode="r|") as tar:
        for member in tar:
            data = tar.extractfile(member).read()
            if member.name.endswith(".json"):
                fields = json.loads(data)
                yield Sample(fields["face_id"], image, fields)
            else:
                image = _decode(data)


def _decode(data: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load(path_or_repo: str | Path, rev: str | None = None, path: str | None = None, cache_dir: Path | None = None) -> Dataset:
    """A released dataset from a local folder, or from a git repo (URL or path) at ``rev``
    (``path``: the release folder in the repo; unset: its params.yaml's ``pack.out``)."""
    local = Path(path_or_repo)
    if rev is None and local.is_dir() and (local / FACES_MANIFEST).is_file():
        return Dataset(local)
    return Dataset(fetch(str(path_or_repo), rev, path, cache_dir))


def fetch(repo: str, rev: str | None, path: str | None = None, cache_dir: Path | None = None) -> Path:
    """Copy ``path`` of ``repo`` at ``rev`` (through git and the DVC remote) into the cache; reuse it after."""
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(repo, rev=rev)
    path = path or release_path(fs)
    resolved = fs.repo.scm.get_rev() if rev is None else fs.repo.scm.resolve_rev(rev)
    key = hashlib.sha256(f"{repo}|{resolved}|{path}".encode()).hexdigest()[:16]
    target = (cache_dir or DEFAULT_CACHE).expanduser() / key
    if not (target / FACES_MANIFEST).is_file():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted fetch
        partial.parent.mkdir(parents=True, exist_ok=True)
        fs.get(path, str(partial), recursive=True)
        partial.rename(target)
    return target


def release_path(fs) -> str:
    """The release folder of the repository ``fs`` shows: its params.yaml's ``pack.out``."""
    import yaml

    with fs.open(PARAMS_FILE) as fh:
        params = yaml.safe_load(fh) or {}
    out = (params.get("pack") or {}).get("out")
    if not out:
        raise FileNotFoundError(f"{PARAMS_FILE} of that revision names no release folder (pack.out)")
    return out
