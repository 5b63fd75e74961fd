"""Corpus input: what videos there are, and the fields that travel with each.

Three ways to describe a corpus:
- a folder, walked recursively; every regular, non-hidden file is an input, and
  probing (not the extension) decides whether it is a video or an image. A
  ``metadata.json`` at the root in DFDC form supplies fields for the files it names;
  a ``facecorpus.yaml`` sidecar in any folder supplies licence, consent, source (any
  corpus field): ``defaults:`` for every file in its folder and below (the nearest
  sidecar wins), ``files: {name: {...}}`` for single files of its folder::

      defaults: {license: CC-BY-4.0, consent: given, source: "studio shoot 2024-05"}
      files:
        interview_07.mp4: {consent: withdrawn, subject: s07}

- a corpus manifest (``.csv``, ``.jsonl`` or ``.parquet``) with ``uri`` and the
  optional :data:`~schemas.manifests.CORPUS_FIELDS`; root = the manifest's folder;
- a DFDC ``metadata.json`` (``{file: {label, original, split}}``); root = its folder.

Relative uris resolve against the root and may not escape it. Entries that are
bad (missing file, path outside the root) still become entries, with ``problem``
set, so they reach ``videos.parquet`` as failed rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline.errors import CorpusError
from schemas.manifests import CORPUS_FIELDS

DFDC_METADATA = "metadata.json"
SIDECAR = "facecorpus.yaml"
MANIFEST_SUFFIXES = (".csv", ".jsonl", ".parquet")


@dataclass(frozen=True)
class CorpusEntry:
    """One input. ``uri`` is relative to the corpus root, POSIX separators."""

    uri: str
    path: Path
    fields: dict[str, str | None] = field(default_factory=dict)
    problem: str | None = None


@dataclass(frozen=True)
class Corpus:
    root: Path
    entries: tuple[CorpusEntry, ...]


def load_corpus(location: Path) -> Corpus:
    """Read a corpus folder, manifest or DFDC metadata.json into sorted entries."""
    location = Path(location)
    if location.is_dir():
        return _from_folder(location.resolve())
    if not location.is_file():
        raise CorpusError(f"corpus {location} does not exist")
    root = location.resolve().parent
    if location.name == DFDC_METADATA:
        rows = _dfdc_rows(location)
    elif location.suffix.lower() in MANIFEST_SUFFIXES:
        rows = _manifest_rows(location)
    else:
        raise CorpusError(f"corpus {location}: expected a folder, a {'/'.join(MANIFEST_SUFFIXES)} manifest or {DFDC_METADATA}")
    return Corpus(root, _sorted(_entry(root, uri, fields) for uri, fields in rows))


def _from_folder(root: Path) -> Corpus:
    labelled = dict(_dfdc_rows(root / DFDC_METADATA)) if (root / DFDC_METADATA).is_file() else {}
    entries = []
    sidecars: dict[Path, Sidecar] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or (not path.is_file() and not _is_special(path)):
            continue
        uri = rel.as_posix()
        if uri == DFDC_METADATA or rel.name == SIDECAR:
            continue
        fields = {**labelled.get(uri, {}), **_sidecar_fields(root, rel, sidecars)}
        entries.append(_entry(root, uri, fields))
    return Corpus(root, _sorted(entries))


@dataclass(frozen=True)
class Sidecar:
    """One folder's ``facecorpus.yaml``: fields for its folder and below, and per file."""

    defaults: dict
    files: dict[str, dict]


def _sidecar_fields(root: Path, rel: Path, cache: dict[Path, Sidecar]) -> dict:
    """The fields the sidecars give ``rel``: the root's defaults, then each deeper folder's, then its own entry."""
    fields: dict = {}
    folders = [Path(*rel.parts[:depth]) for depth in range(len(rel.parts))]
    for folder in folders:
        if folder not in cache:
            cache[folder] = _read_sidecar(root / folder / SIDECAR)
        fields |= cache[folder].defaults
    return fields | cache[folders[-1]].files.get(rel.name, {})


def _read_sidecar(path: Path) -> Sidecar:
    if not path.is_file():
        return Sidecar({}, {})
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CorpusError(f"{path}: not a readable {SIDECAR} ({exc})") from exc
    defaults, files = (data.get(k) or {} for k in ("defaults", "files")) if isinstance(data, dict) else (None, None)
    if not isinstance(defaults, dict) or not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise CorpusError(f"{path}: expected `defaults: {{field: value}}` and `files: {{name: {{field: value}}}}`")
    unknown = sorted({*defaults, *(k for v in files.values() for k in v)} - set(CORPUS_FIELDS)) or sorted(set(data) - {"defaults", "files"})
    if unknown:
        raise CorpusError(f"{path}: unknown key {unknown[0]!r} (sections: defaults, files; fields: {', '.join(CORPUS_FIELDS)})")
    return Sidecar(defaults, files)


def _is_special(path: Path) -> bool:
    """A FIFO, a dangling link or another non-regular, non-folder file: an input that
    will fail, visibly, rather than vanish."""
    return not path.is_dir() and (path.exists() or path.is_symlink())


def _entry(root: Path, uri: str, fields: dict) -> CorpusEntry:
    clean = {name: _text(fields.get(name)) for name in CORPUS_FIELDS}
    candidate = Path(uri)
    joined = Path(os.path.normpath(candidate if candidate.is_absolute() else root / candidate))
    if not joined.is_relative_to(root):
        return CorpusEntry(uri, joined, clean, problem=f"{uri}: path escapes the corpus root")
    rel = joined.relative_to(root).as_posix()
    if not joined.resolve().is_relative_to(root):  # a link pointing outside
        return CorpusEntry(rel, joined, clean, problem=f"{rel}: path escapes the corpus root")
    if not joined.exists():
        return CorpusEntry(rel, joined, clean, problem=f"{rel}: file not found")
    return CorpusEntry(rel, joined, clean)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN from a CSV gap
        return None
    return str(value)


def _sorted(entries) -> tuple[CorpusEntry, ...]:
    return tuple(sorted(entries, key=lambda e: e.uri))


def _dfdc_rows(path: Path) -> list[tuple[str, dict]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{path}: not a readable DFDC metadata.json ({exc})") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise CorpusError(f"{path}: expected {{file: {{label, original, split}}}}")
    return [(name, info) for name, info in data.items()]


def _manifest_rows(path: Path) -> list[tuple[str, dict]]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pl.read_csv(path, infer_schema=False)
        elif suffix == ".jsonl":
            frame = pl.read_ndjson(path, infer_schema_length=None)
        else:
            frame = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise CorpusError(f"{path}: not a readable corpus manifest ({exc})") from exc
    if "uri" not in frame.columns:
        raise CorpusError(f"{path}: a corpus manifest needs a 'uri' column (has {', '.join(frame.columns)})")
    keep = [c for c in frame.columns if c in CORPUS_FIELDS]
    rows = frame.select(["uri", *keep]).to_dicts()
    return [(str(row.pop("uri")), row) for row in rows]
