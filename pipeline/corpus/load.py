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
- a DFDC ``metadata.json`` (``{file: {label, original, split}}``); root = its folder;
- any other file: a corpus of that one input; root = its folder (nothing else in it is read).

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
    else:  # one media file: a corpus of that input alone (probing decides whether it is one)
        rows = [(location.name, {})]
    return Corpus(root, _sorted(_row_entry(root, uri, fields) for uri, fields in rows))


def _row_entry(root: Path, uri: str, fields: dict) -> CorpusEntry:
    if "_problem" in fields:
        clean = {name: _text(fields.get(name)) for name in CORPUS_FIELDS}
        return CorpusEntry(uri, root / "\ufffd", clean, problem=fields["_problem"])
    return _entry(root, uri, fields)


def _from_folder(root: Path) -> Corpus:
    labelled = dict(_dfdc_rows(root / DFDC_METADATA)) if (root / DFDC_METADATA).is_file() else {}
    entries = []
    sidecars: dict[Path, Sidecar] = {}
    for path in _walk(root):
        rel = path.relative_to(root)
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


def _walk(root: Path) -> list[Path]:
    """Every non-hidden file name under ``root`` (regular or not: a FIFO, a dangling link,
    a link loop are inputs that fail visibly). Links to folders are not followed, so a
    link loop cannot make the walk endless; a folder that cannot be listed is skipped."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(folder, d))]
        found += [Path(folder) / name for name in files if not name.startswith(".")]
    return sorted(found)


# What an OS call on a hostile name raises: OSError (name too long, link loop, permission),
# ValueError (a NUL byte), RuntimeError (pathlib's "Symlink loop" on Python 3.11).
PATH_ERRORS = (OSError, ValueError, RuntimeError)


def _entry(root: Path, uri: str, fields: dict) -> CorpusEntry:
    clean = {name: _text(fields.get(name)) for name in CORPUS_FIELDS}
    try:
        return _checked_entry(root, uri, clean)
    except PATH_ERRORS as exc:
        return CorpusEntry(uri, root / "\ufffd", clean, problem=f"{printable(uri)}: unusable path ({path_error(exc)})")


def _checked_entry(root: Path, uri: str, clean: dict[str, str | None]) -> CorpusEntry:
    if "\x00" in uri:
        raise ValueError("NUL byte in the name")
    candidate = Path(uri)
    joined = Path(os.path.normpath(candidate if candidate.is_absolute() else root / candidate))
    if not joined.is_relative_to(root):
        return CorpusEntry(uri, joined, clean, problem=f"{printable(uri)}: path escapes the corpus root")
    rel = joined.relative_to(root).as_posix()
    if not joined.resolve().is_relative_to(root):  # a link pointing outside
        return CorpusEntry(rel, joined, clean, problem=f"{printable(rel)}: path escapes the corpus root")
    if not joined.exists():
        reason = "dangling link" if joined.is_symlink() else "file not found"
        return CorpusEntry(rel, joined, clean, problem=f"{printable(rel)}: {reason}")
    return CorpusEntry(rel, joined, clean)


def path_error(exc: BaseException) -> str:
    """A short, deterministic reason for an OS error on a path (no temp paths)."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    text = str(exc)
    return "link loop" if "loop" in text.lower() else text


def printable(text: str, limit: int = 120) -> str:
    """``text`` with control characters escaped and cut to ``limit`` characters, for messages."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else f"{shown[: limit - 20]}...({len(text)} characters)"


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
    """(uri, fields) per row; a row whose uri is missing, empty or not a string gets the
    uri ``<manifest>#row=N`` and a ``_problem`` field saying what is wrong."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            rows = _jsonl_rows(path)
        else:
            frame = pl.read_csv(path, infer_schema=False) if suffix == ".csv" else pl.read_parquet(path)
            if "uri" not in frame.columns:
                raise CorpusError(f"{path}: a corpus manifest needs a 'uri' column (has {', '.join(frame.columns)})")
            rows = frame.select(["uri", *[c for c in frame.columns if c in CORPUS_FIELDS]]).to_dicts()
    except (OSError, UnicodeDecodeError, pl.exceptions.PolarsError) as exc:
        raise CorpusError(f"{path}: not a readable corpus manifest ({exc})") from exc
    if rows and all(isinstance(r, dict) and "uri" not in r for r in rows):
        raise CorpusError(f"{path}: a corpus manifest needs a 'uri' column (has {', '.join(sorted(rows[0]))})")
    return [_row(path, number, row) for number, row in enumerate(rows, start=1)]


def _jsonl_rows(path: Path) -> list[object]:
    rows: list[object] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            rows.append(_BadLine(number, f"not JSON ({exc.msg})"))
    return rows


@dataclass(frozen=True)
class _BadLine:
    number: int
    reason: str


def _row(path: Path, number: int, row: object) -> tuple[str, dict]:
    where = f"{path.name}#row={number}"
    if isinstance(row, _BadLine):
        return f"{path.name}#line={row.number}", {"_problem": f"{path.name} line {row.number}: {row.reason}"}
    if not isinstance(row, dict):
        return where, {"_problem": f"{path.name} row {number}: not an object ({type(row).__name__})"}
    uri = row.pop("uri", None)
    fields = {k: v for k, v in row.items() if k in CORPUS_FIELDS}
    if uri is None or (isinstance(uri, str) and not uri.strip()):
        return where, fields | {"_problem": f"{path.name} row {number}: empty uri"}
    if not isinstance(uri, str):
        shown = printable(json.dumps(uri, default=str), 60)
        return where, fields | {"_problem": f"{path.name} row {number}: uri is not a string ({type(uri).__name__} {shown})"}
    return uri, fields
