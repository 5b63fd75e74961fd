"""``facecorpus audit``: prove the erasures in the log. Exits non-zero on any find.

Scans (1) the working tree: the dataset folder (manifests, crops, work, curation,
run records, reports), the detect work, the snapshot folder, the training view and
the release folder: every file's sha256 and, for tar shards, every member's,
against the erased crops; every Parquet cell, and every other file's bytes, for an
erased face id (or a video id erased whole); (2) the DVC cache and the default
remote: every object's sha256 and every tar member's, and every HTML page (old
releases' reports) for an erased face id: a page naming one sits beside the images
that show it (``privacy/reports.py``). Old releases' manifests in the cache keep the
erased ids (no face image), so that an old release can name the erasure behind a
sample it no longer serves: the cache scan reads no Parquet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.config import Options
from pipeline.corpus.erasures import SCOPE_VIDEO, DenyList, read_erasures
from pipeline.privacy.dvcstore import DvcStore
from pipeline.privacy.scrub import is_text
from pipeline.privacy.sweep import is_tar, tar_members


@dataclass(frozen=True)
class Finding:
    store: str  # tree, cache or remote
    location: str  # a path, or an md5 (and a tar member)
    what: str


@dataclass(frozen=True)
class Erased:
    crops: frozenset[str]
    ids: frozenset[str]

    @classmethod
    def of(cls, log: DenyList) -> Erased:
        videos = {v for e in log.erasures if e.scope == SCOPE_VIDEO for v in e.video_ids}
        return cls(log.crops, frozenset(log.faces | videos))


def audit(options: Options, repo: Path | None = None, remote: str | None = None) -> tuple[int, list[Finding]]:
    """(erasures checked, findings): every place an erased crop's bytes or an erased id still is."""
    if not options.policy.erasures:
        raise ValueError("policy.erasures is not set: audit needs the erasure log's path")
    log = read_erasures(Path(options.policy.erasures))
    erased = Erased.of(log)
    findings = [f for root in tree_roots(options) for f in scan_tree(root, erased)]
    if repo is not None:
        store = DvcStore(repo, remote)
        for name, md5, data in store.objects():
            findings += [Finding(name, f"{md5}{where}", what) for where, what in _bytes_findings(data, erased)]
            if is_html(data):
                findings += [Finding(name, md5, f"an old report page names erased id {i}") for i in sorted(_named(data, erased.ids))[:3]]
    return len(log.erasures), findings


def tree_roots(options: Options) -> list[Path]:
    extract = options.extract
    candidates = [extract.out_dir, extract.detect_dir, options.corpus.snapshot_dir, options.select.out, options.pack.out]
    roots = sorted({Path(p).resolve() for p in candidates if p and Path(p).is_dir()})
    return [r for r in roots if not any(r != o and r.is_relative_to(o) for o in roots)]


def scan_tree(root: Path, erased: Erased) -> Iterator[Finding]:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for where, what in _bytes_findings(data, erased):
            yield Finding("tree", f"{path}{where}", what)
        hits = _parquet_ids(path, erased.ids) if path.suffix == ".parquet" else _named(data, erased.ids)
        for found in sorted(hits)[:3]:
            yield Finding("tree", str(path), f"names erased id {found}")


def is_html(data: bytes) -> bool:
    return data[:15].lower() == b"<!doctype html>"


def _named(data: bytes, ids: frozenset[str]) -> set[str]:
    return {i for i in ids if i.encode() in data}


def _bytes_findings(data: bytes, erased: Erased) -> Iterator[tuple[str, str]]:
    if hashlib.sha256(data).hexdigest() in erased.crops:
        yield "", "bytes of an erased crop"
    elif is_tar(data):
        for member in tar_members(data):
            if member.sha256 in erased.crops:
                yield f" member {member.name}", "bytes of an erased crop in a tar shard"


def _parquet_ids(path: Path, ids: frozenset[str]) -> set[str]:
    """Erased ids found in any text (or list of text) column of the Parquet file at ``path``."""
    if not ids:
        return set()
    table = pq.read_table(path)
    wanted = pa.array(sorted(ids), pa.string())
    found: set[str] = set()
    for column in table.columns:
        values = pc.list_flatten(column) if pa.types.is_list(column.type) else column
        if is_text(values.type):
            found |= set(pc.filter(values, pc.is_in(values, value_set=wanted)).to_pylist())
    return found
