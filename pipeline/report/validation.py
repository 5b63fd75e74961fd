"""The validation result in plain words: per suite, what was checked and what failed, how many
rows, and example offending rows with their paths (the failing keys of ``validation.json``
joined back to the manifests: a face's uri, frame and crop path, a video's uri), so a reader
need not decode a GX result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.report.caps import EXAMPLE_ROWS
from pipeline.report.data import Tables

# Columns added to an example from the manifests, by the key it carries.
JOINS = {
    "face_id": ("faces", ("uri", "frame_index", "pts_s", "crop_path")),
    "video_id": ("videos", ("uri", "status", "error")),
    "track_id": ("tracks", ("uri",)),
    "crop_path": ("faces", ("uri", "frame_index", "face_id")),
}


@dataclass(frozen=True)
class FailedCheck:
    check: str
    severity: str
    statement: str
    unexpected: int | None
    rows: int | None
    observed: str  # an aggregate's observed value, or the GX exception
    examples: tuple[dict, ...]  # offending rows: the failing values and the joined paths


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    rows: int
    checks: int
    failed: tuple[FailedCheck, ...]


@dataclass(frozen=True)
class ValidationView:
    source: Path
    passed: bool
    suites: tuple[SuiteResult, ...]
    data_docs: Path | None
    problem: str  # why there is no result (no validation.json, unreadable); empty when there is


def read_validation(report_json: Path, tables: Tables) -> ValidationView:
    if not report_json.is_file():
        return ValidationView(report_json, False, (), None, f"no validation result at {report_json}: run `facecorpus validate`")
    try:
        body = json.loads(report_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return ValidationView(report_json, False, (), None, f"{report_json} is not readable JSON ({exc})")
    suites = tuple(_suite(name, entry, tables) for name, entry in (body.get("suites") or {}).items())
    docs = report_json.parent / body["data_docs"] if body.get("data_docs") else None
    return ValidationView(report_json, bool(body.get("passed")), suites, docs, "")


def _suite(name: str, entry: dict, tables: Tables) -> SuiteResult:
    results = (entry.get("result") or {}).get("results") or []
    failed = tuple(_failed(r, tables) for r in results if not r.get("success"))
    return SuiteResult(name, int(entry.get("rows") or 0), len(results), failed)


def _failed(result: dict, tables: Tables) -> FailedCheck:
    config = result.get("expectation_config") or {}
    meta = config.get("meta") or {}
    body = result.get("result") or {}
    # The index list carries the row's key (a crop's path, a face's id) with the failing values; the plain
    # list only the values (a pair of sha256s, say), so it is the fallback.
    raw = body.get("partial_unexpected_index_list") or body.get("partial_unexpected_list") or []
    samples = [s if isinstance(s, dict) else {"value": s} for s in raw[:EXAMPLE_ROWS]]
    observed = body.get("observed_value")
    exception = _exception(result.get("exception_info") or {})
    return FailedCheck(
        check=meta.get("check", config.get("type", "?")),
        severity="warning" if config.get("severity") == "warning" else "error",  # GX's own field: critical | warning
        statement=meta.get("statement", config.get("type", "")),
        unexpected=body.get("unexpected_count"),
        rows=body.get("element_count"),
        observed=exception or ("" if observed is None else str(observed)[:300]),
        examples=tuple(_joined(s, tables) for s in samples),
    )


def _exception(info: dict) -> str:
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    messages = [str(e.get("exception_message")) for e in entries if e.get("raised_exception")]
    return f"the check raised: {messages[0][:300]}" if messages else ""


def _joined(sample: dict, tables: Tables) -> dict:
    """The failing values, then the manifest columns that say where the row is."""
    row = {k: v for k, v in sample.items()}
    for key, (table_name, columns) in JOINS.items():
        value = sample.get(key)
        table = getattr(tables, table_name)
        if value is None or table is None or key not in table.columns:
            continue
        match = table.filter(pl.col(key) == value).head(1)
        for column in columns:
            if column in match.columns and match.height and column not in row:
                row[column] = match[column][0]
    return row
