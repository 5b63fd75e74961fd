"""The DVC side of an erasure: old releases' objects in the local cache and the default remote.

A release is a DVC directory output (``pack.out``): one ``.dir`` object listing each
file's md5. Old releases are found through every commit's ``dvc.lock`` (tagged or not)
that names that output. An erasure deletes, by md5, every old shard that holds an erased crop from the
cache and the remote, and puts there instead a repacked shard without the erased
members (recorded in the erasure log, so an old release still serves its other faces).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class ReleaseFiles:
    """One revision's release folder: its ``.dir`` md5 and ``{relpath: md5}``."""

    rev: str
    dir_md5: str
    files: dict[str, str]


class DvcStore:
    """The project's local DVC cache and its default (or named) remote, by md5."""

    def __init__(self, repo: Path, remote: str | None = None) -> None:
        from dvc.repo import Repo

        self.root = Path(repo).resolve()
        self.repo = Repo(str(self.root))
        self.cache = self.repo.cache.local
        try:
            self.remote = self.repo.cloud.get_remote_odb(remote, "push")
        except Exception:  # no remote configured: only the cache is reached
            self.remote = None

    @property
    def stores(self) -> list[tuple[str, object]]:
        return [("cache", self.cache), *([("remote", self.remote)] if self.remote is not None else [])]

    def read(self, md5: str) -> bytes | None:
        """The object's bytes from the cache, else the remote; None when neither holds it."""
        for _, odb in self.stores:
            path = odb.oid_to_path(md5)
            if odb.fs.exists(path):
                return odb.fs.cat_file(path)
        return None

    def delete(self, md5: str) -> list[str]:
        """Delete the object everywhere; the stores it was in."""
        gone = []
        for name, odb in self.stores:
            path = odb.oid_to_path(md5)
            if odb.fs.exists(path):
                odb.fs.rm_file(path)
                gone.append(name)
        return gone

    def put(self, data: bytes) -> str:
        """Store ``data`` in the cache and the remote; its md5."""
        import hashlib

        md5 = hashlib.md5(data).hexdigest()
        for _, odb in self.stores:
            path = odb.oid_to_path(md5)
            if not odb.fs.exists(path):
                odb.fs.makedirs(odb.fs.parent(path), exist_ok=True)
                odb.fs.pipe_file(path, data)
        return md5

    def objects(self) -> Iterator[tuple[str, str, bytes]]:
        """(store, md5, bytes) of every object the cache and the remote hold (``.dir`` listings included)."""
        for name, odb in self.stores:
            for md5 in odb.all():
                yield name, md5, odb.fs.cat_file(odb.oid_to_path(md5))

    def releases(self, out: str) -> list[ReleaseFiles]:
        """The release folder ``out`` as every commit's dvc.lock (tags and untagged commits alike,
        and the working tree's) names it, once per distinct ``.dir`` object, oldest first."""
        found: dict[str, ReleaseFiles] = {}
        commits = _git(self.root, "rev-list", "--all", "--reverse").split()
        for rev in [*commits, None]:
            md5 = _out_md5(_lock(self.root, rev), out)
            listing = self.read(md5) if md5 and md5 not in found else None
            if listing is not None:
                found[md5] = ReleaseFiles(rev or "workspace", md5, {e["relpath"]: e["md5"] for e in json.loads(listing)})
        return list(found.values())


def _lock(root: Path, rev: str | None) -> dict:
    """dvc.lock at ``rev`` (None: the working tree's); empty when there is none."""
    if rev is None:
        text = (root / "dvc.lock").read_text(encoding="utf-8") if (root / "dvc.lock").is_file() else ""
    else:
        result = subprocess.run(["git", "show", f"{rev}:dvc.lock"], cwd=root, capture_output=True, text=True)
        text = result.stdout if result.returncode == 0 else ""
    return yaml.safe_load(text) or {}


def _out_md5(lock: dict, out: str) -> str | None:
    for stage in (lock.get("stages") or {}).values():
        for entry in stage.get("outs") or []:
            if entry.get("path") == out and str(entry.get("md5", "")).endswith(".dir"):
                return entry["md5"]
    return None


def _git(root: Path, *argv: str) -> str:
    result = subprocess.run(["git", *argv], cwd=root, capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else ""
