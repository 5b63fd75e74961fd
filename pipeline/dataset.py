"""Read a released dataset: manifests as polars LazyFrames, crops from the tar shards.

    from pipeline.dataset import load
    ds = load("https://github.com/org/facecorpus-data", rev="v1.0")   # any git repo DVC can read
    ds = load("data/release")                                           # a local copy (dvc get / import / pull)
    import polars as pl
    faces = ds.split("train").filter(pl.col("status") == "ok").collect()  # kept faces of the train split
    ds.identities, ds.pairs, ds.splits                                  # who is who, fake -> original faces, groups
    image = ds.read_crop(faces["face_id"][0])                           # RGB uint8 HxWx3
    mask = ds.read_mask(face_id)                                        # an aligned fake's difference mask, or None
    for sample in ds.iter_samples():                                    # shard by shard, no torch needed
        ...

A torch ``IterableDataset`` can wrap :meth:`Dataset.iter_samples` as it is.
From a repo, ``load`` fetches the release folder at ``rev`` once through
``dvc.api.DVCFileSystem`` (git + the DVC remote) into a local cache folder.

Erasures (``facecorpus forget``) reach old releases: a shard that held an erased
face is gone from the DVC cache and remote, replaced by a repack without it. ``load``
follows the replacement that the repository's erasure log (params.yaml
``policy.erasures``, read at the newest revision) records; an erased face then
raises :class:`~pipeline.errors.ErasedSampleError` naming the erasure record (or is
skipped: ``iter_samples(skip_erased=True)``), and every other face loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.corpus.erasures import DenyList, read_erasures
from pipeline.errors import ErasedSampleError
from pipeline.fsutil import cache_root, check_published
from schemas.manifests import (
    CROP_LOCATIONS,
    EMBEDDINGS_MANIFEST,
    FACES_MANIFEST,
    IDENTITIES_MANIFEST,
    IDENTITIES_SCHEMA,
    MASK_MEMBER,
    PAIRS_MANIFEST,
    PAIRS_SCHEMA,
    SHARD_INDEX,
    SPLITS_MANIFEST,
    SPLITS_SCHEMA,
    TAR_BLOCK,
    TRACKS_MANIFEST,
    VIDEOS_MANIFEST,
    embeddings_schema,
)

# A repository names its release folder in its params.yaml (pack.out), read at the revision asked for.
PARAMS_FILE = "params.yaml"
# Written by fetch into a fetched release: {"shards": {shard: erasure_id}, "erasures": {erasure_id: description}}.
ERASED_SHARDS = "_erased_shards.json"
# Fetched releases, under the user cache folder (fsutil.cache_root) unless load is given cache_dir.
RELEASES_CACHE = "releases"


@dataclass(frozen=True)
class Sample:
    """One face for training: its crop (RGB), its manifest fields and, for a face of a frame-aligned
    fake, its difference mask (see :meth:`Dataset.read_mask`; None for any other face)."""

    face_id: str
    image_rgb: np.ndarray
    fields: dict
    mask: np.ndarray | None = None


class Dataset:
    def __init__(self, root: Path, erasures: DenyList | None = None) -> None:
        """``erasures``: the erasure log, to name the erasure behind a shard missing from a local copy."""
        self.root = Path(root)
        for name in (FACES_MANIFEST, VIDEOS_MANIFEST, SHARD_INDEX, CROP_LOCATIONS):
            if not (self.root / name).is_file():
                raise FileNotFoundError(f"{self.root} is not a facecorpus release: {name} is missing")
        check_published(self.root, [FACES_MANIFEST, VIDEOS_MANIFEST, TRACKS_MANIFEST, SHARD_INDEX, CROP_LOCATIONS])
        self._locations: dict[str, tuple[str, int, int]] | None = None
        marker = self.root / ERASED_SHARDS
        self._erased = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else {"shards": {}, "erasures": {}}
        self._log = erasures or DenyList()
        self._repacked: dict[str, dict[str, tuple[int, int]]] = {}

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
    def identities(self) -> pl.LazyFrame:
        """The live identities (merged ones are aliases: see ``identity_aliases``) with their tracks,
        faces and videos; ``source`` is ``subject`` where the corpus named the person."""
        return self._table(IDENTITIES_MANIFEST, IDENTITIES_SCHEMA).filter(pl.col("alias_of").is_null()).drop("centroid")

    @property
    def identity_aliases(self) -> dict[str, str]:
        """Merged identity id -> the id it now means (an id found in older data resolves through this)."""
        rows = self._table(IDENTITIES_MANIFEST, IDENTITIES_SCHEMA).filter(pl.col("alias_of").is_not_null())
        return dict(rows.select("identity_id", "alias_of").collect().iter_rows())

    @property
    def splits(self) -> pl.LazyFrame:
        """The split of every group key (``identity:<id>``, ``video:<id>``) and its group."""
        return self._table(SPLITS_MANIFEST, SPLITS_SCHEMA)

    @property
    def pairs(self) -> pl.LazyFrame:
        """Fake-to-original face pairs: ``face_id`` (fake) -> ``original_face_id``, with IoU, time gap, mirrored, split,
        ``paired_by`` (``aligned``: same frame and affine, pixel-aligned crops; ``matched``) and, for aligned pairs,
        the difference mask (``mask_path``; in a release, the shard member ``<face_id>.mask.png``) and its scalars."""
        return self._table(PAIRS_MANIFEST, PAIRS_SCHEMA)

    @property
    def embeddings(self) -> pl.LazyFrame:
        """face_id, embedder, vector: the embedded faces (the best few of each track)."""
        return self._table(EMBEDDINGS_MANIFEST, embeddings_schema(128))

    def split(self, name: str) -> pl.LazyFrame:
        """The faces whose group fell in split ``name`` (``split_assigned``)."""
        return self.faces.filter(pl.col("split_assigned") == name)

    def _table(self, name: str, empty: pa.Schema) -> pl.LazyFrame:
        """A corpus table; an empty one of its schema for a release made before it existed."""
        path = self.root / name
        if not path.is_file():
            return pl.from_arrow(empty.empty_table()).lazy()
        check_published(self.root, [name])  # a torn or hand-edited table is refused, as the core tables are
        return pl.scan_parquet(path)

    @property
    def shards(self) -> pl.DataFrame:
        return pl.read_parquet(self.root / SHARD_INDEX)

    def read_crop_bytes(self, face_id: str) -> bytes:
        """The encoded crop (PNG/JPEG/WebP bytes), read straight from its shard by offset."""
        shard, offset, size = self._crop_location(face_id)
        with open(self.root / shard, "rb") as fh:
            fh.seek(offset)
            return fh.read(size)

    def read_mask(self, face_id: str) -> np.ndarray | None:
        """The difference mask of a face of a frame-aligned fake: HxW uint8, the crop's size, 0 where the
        fake's crop is as its original's and 255 where 1 - SSIM reaches 1 (``pairs``: ``mask_mean_diff``,
        ``mask_changed_share``); None for a face that has none (a real face, a fake detected on its own).
        Read from the shard member that follows the face's crop."""
        shard, offset, size = self._crop_location(face_id)
        with open(self.root / shard, "rb") as fh:
            fh.seek(offset + -(-size // TAR_BLOCK) * TAR_BLOCK)  # the next member's header, after the padded crop
            header = fh.read(TAR_BLOCK)
            try:
                member = tarfile.TarInfo.frombuf(header, tarfile.ENCODING, "surrogateescape")
            except tarfile.HeaderError:  # the end of the archive
                return None
            if member.name != f"{face_id}.{MASK_MEMBER}":
                return None
            return _decode_mask(fh.read(member.size))

    def _crop_location(self, face_id: str) -> tuple[str, int, int]:
        """(shard, offset, size) of the face's crop member: from the locations table, or from the shard's
        repack when an erasure replaced it (its error when the face was erased)."""
        if self._locations is None:
            rows = pl.read_parquet(self.root / CROP_LOCATIONS).select("face_id", "shard", "offset_bytes", "size_bytes").rows()
            self._locations = {face: (shard, offset, size) for face, shard, offset, size in rows}
        shard, offset, size = self._locations[face_id]
        if shard in self._erased["shards"] or not (self.root / shard).is_file():
            offset, size = self._in_repacked(face_id, shard)
        return shard, offset, size

    def _in_repacked(self, face_id: str, shard: str) -> tuple[int, int]:
        """(offset, size) of the face's image in a shard repacked by an erasure; the erasure's error when it is gone."""
        if not (self.root / shard).is_file():
            erasure = self._log.erasure_of(face_id=face_id)
            if erasure is None:
                raise FileNotFoundError(f"{self.root / shard}: shard missing (not pulled?); face {face_id} cannot be read")
            raise ErasedSampleError(f"face {face_id} was erased: {erasure.describe()}")
        if shard not in self._repacked:
            self._repacked[shard] = _tar_index(self.root / shard)
        found = self._repacked[shard].get(face_id)
        if found is None:
            erasure_id = self._erased["shards"].get(shard)
            what = self._erased["erasures"].get(erasure_id, f"erasure {erasure_id}")
            raise ErasedSampleError(f"face {face_id} was erased from {shard}: {what}")
        return found

    def read_crop(self, face_id: str) -> np.ndarray:
        return _decode(self.read_crop_bytes(face_id))

    def iter_samples(self, shards: list[str] | None = None, skip_erased: bool = False) -> Iterator[Sample]:
        """Every face, streamed shard by shard in order (WebDataset layout: image, then json). A face an
        erasure removed raises ErasedSampleError naming the erasure, or is left out with ``skip_erased``."""
        for shard in shards or self.shards["shard"].to_list():
            if shard not in self._erased["shards"] and (self.root / shard).is_file():
                yield from _iter_tar(self.root / shard)
                continue
            faces = pl.read_parquet(self.root / CROP_LOCATIONS).filter(pl.col("shard") == shard)["face_id"].to_list()
            # A face whose crop member went with an erased face's byte-identical crop is not present either.
            repacked = _iter_tar(self.root / shard) if (self.root / shard).is_file() else iter(())
            present = {s.face_id: s for s in repacked if s.image_rgb is not None}
            for face_id in faces:
                if face_id in present:
                    yield present[face_id]
                elif not skip_erased:
                    self._in_repacked(face_id, shard)  # raises the erasure's error

    def verify(self) -> None:
        """Raise ValueError when a shard's sha256 differs from the index."""
        for shard, digest in self.shards.select("shard", "sha256").rows():
            actual = hashlib.sha256((self.root / shard).read_bytes()).hexdigest()
            if actual != digest:
                raise ValueError(f"{shard}: sha256 {actual} does not match the shard index ({digest})")


def _iter_tar(path: Path) -> Iterator[Sample]:
    """A shard's samples: each face's members are its crop, its mask (an aligned fake's), then its JSON."""
    image: np.ndarray | None = None
    mask: np.ndarray | None = None
    with tarfile.open(path, mode="r|") as tar:
        for member in tar:
            data = tar.extractfile(member).read()
            if member.name.endswith(".json"):
                fields = json.loads(data)
                yield Sample(fields["face_id"], image, fields, mask)
                image = mask = None
            elif _is_mask(member.name):
                mask = _decode_mask(data)
            else:
                image = _decode(data)


def _tar_index(path: Path) -> dict[str, tuple[int, int]]:
    """{face_id: (offset, size)} of the crop members of a tar shard (not the JSONs, not the masks)."""
    with tarfile.open(path, mode="r:") as tar:
        crops = (m for m in tar if m.isfile() and not m.name.endswith(".json") and not _is_mask(m.name))
        return {m.name.split(".", 1)[0]: (m.offset_data, m.size) for m in crops}


def _is_mask(member: str) -> bool:
    return member.endswith(f".{MASK_MEMBER}")


def _decode(data: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _decode_mask(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)


def load(
    path_or_repo: str | os.PathLike[str],
    rev: str | None = None,
    path: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    erasures: str | os.PathLike[str] | None = None,
) -> Dataset:
    """A released dataset from a local folder, or from a git repo (URL or path) at ``rev``
    (``path``: the release folder in the repo; unset: its params.yaml's ``pack.out``). ``erasures``:
    the erasure log, for a local copy whose erased shards are missing (a ``dvc pull`` of an old tag).
    Paths take a ``str`` or any path-like (``~`` expanded)."""
    where = os.fspath(path_or_repo)
    local = Path(where).expanduser()
    if rev is None and local.is_dir() and (local / FACES_MANIFEST).is_file():
        return Dataset(local, read_erasures(Path(os.fspath(erasures)).expanduser() if erasures is not None else None))
    repo = str(local) if local.is_dir() else where  # a local clone, else a URL as given
    return Dataset(fetch(repo, rev, path, cache_dir))


def fetch(repo: str, rev: str | None, path: str | None = None, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Copy ``path`` of ``repo`` at ``rev`` (through git and the DVC remote) into the cache; reuse it after."""
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(repo, rev=rev)
    path = path or release_path(fs)
    resolved = fs.repo.scm.get_rev() if rev is None else fs.repo.scm.resolve_rev(rev)
    key = hashlib.sha256(f"{repo}|{resolved}|{path}".encode()).hexdigest()[:16]
    target = (Path(os.fspath(cache_dir)).expanduser() if cache_dir is not None else cache_root() / RELEASES_CACHE) / key
    if not (target / FACES_MANIFEST).is_file():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted fetch
        partial.parent.mkdir(parents=True, exist_ok=True)
        _get_release(fs, path, partial, lambda: erasure_log(repo))
        partial.rename(target)
    return target


def _get_release(fs, path: str, into: Path, log) -> None:
    """Copy every file of ``path``; a file whose object an erasure deleted is replaced by the
    erasure's repack (from the remote), and recorded in ``_erased_shards.json``."""
    erased: dict = {"shards": {}, "erasures": {}}
    for rpath, info in sorted(fs.find(path, detail=True).items()):
        local = into / Path(rpath).relative_to(path)
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            fs.get_file(rpath, str(local))
            continue
        except Exception as exc:
            md5 = (info.get("dvc_info") or {}).get("md5")
            erasure = next((e for e in log().erasures if md5 in e.shard_md5), None)
            if erasure is None:
                raise FileNotFoundError(f"{rpath} (md5 {md5}) could not be fetched from the DVC remote: {exc}") from exc
        replacement = erasure.replacement(md5)
        if replacement:
            odb = fs.repo.cloud.get_remote_odb(None, "pull")
            local.write_bytes(odb.fs.cat_file(odb.oid_to_path(replacement)))
        erased["shards"][Path(rpath).relative_to(path).as_posix()] = erasure.erasure_id
        erased["erasures"][erasure.erasure_id] = erasure.describe()
    (into / ERASED_SHARDS).write_text(json.dumps(erased, indent=1, sort_keys=True), encoding="utf-8")


def erasure_log(repo: str) -> DenyList:
    """The erasure log of ``repo`` at its newest revision (params.yaml ``policy.erasures``); empty when none."""
    import io

    import pyarrow.parquet as pq
    import yaml
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(repo)
    with fs.open(PARAMS_FILE) as fh:
        log = ((yaml.safe_load(fh) or {}).get("policy") or {}).get("erasures")
    if not log or not fs.exists(log):
        return DenyList()
    with fs.open(log, "rb") as fh:
        return read_erasures(None, pq.read_table(io.BytesIO(fh.read())))


def release_path(fs) -> str:
    """The release folder of the repository ``fs`` shows: its params.yaml's ``pack.out``."""
    import yaml

    with fs.open(PARAMS_FILE) as fh:
        params = yaml.safe_load(fh) or {}
    out = (params.get("pack") or {}).get("out")
    if not out:
        raise FileNotFoundError(f"{PARAMS_FILE} of that revision names no release folder (pack.out)")
    return out
