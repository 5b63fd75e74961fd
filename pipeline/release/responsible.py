"""The dataset card's responsible-data part: faces by licence, consent and source, the policy
in force, and the erasures since the previous release (counts and reasons, never identities)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl

from pipeline.config import Options
from pipeline.corpus.erasures import read_erasures

GIVEN = "given"


def responsible_data(repo: Path, faces: pl.DataFrame, options: Options, previous: Path | None) -> dict:
    """``previous``: the previous release's card (JSON), whose erasure ids are not counted again."""
    policy = options.policy
    log = read_erasures(repo / policy.erasures if policy.erasures else None)
    seen = set()
    if previous is not None and previous.is_file():
        old = json.loads(previous.read_text(encoding="utf-8"))
        seen = set((old.get("responsible") or {}).get("erasure_ids", []))
    new = [e for e in log.erasures if e.erasure_id not in seen]
    policy_json = {k: v for k, v in options.to_json()["policy"].items() if k != "erasures"}
    return {
        "policy": policy_json,
        "faces_by": {column: _counts(faces, column) for column in ("license", "consent", "source")},
        "erasure_ids": [e.erasure_id for e in log.erasures],
        "erasures_since_previous": {
            "previous": previous.stem if previous else None,
            "erasures": len(new),
            "faces": sum(len(e.face_ids) for e in new),
            "videos": sum(len(e.video_ids) for e in new if e.scope == "video"),
            "by_reason": dict(sorted(Counter(e.reason for e in new).items())),
            "by_kind": dict(sorted(Counter(e.target_kind for e in new).items())),
        },
    }


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    if column not in frame.columns:
        return {}
    rows = frame.group_by(column).len().sort(column, nulls_last=True).rows()
    return {("(none)" if value is None else str(value)): int(n) for value, n in rows}


def responsible_lines(r: dict | None) -> list[str]:
    if not r:
        return []
    p, e = r["policy"], r["erasures_since_previous"]
    consent = r["faces_by"]["consent"]
    notices = [
        f"- **{n} faces carry consent `{value}`**, not `{GIVEN}`: released because `policy.allowed_consent` "
        f"({', '.join(p['allowed_consent'])}) accepts it; use them only as that consent allows"
        for value, n in consent.items()
        if value != GIVEN
    ]
    return [
        "## Responsible data",
        "",
        f"- policy in force: require_consent {p['require_consent']}, allowed_consent {p['allowed_consent'] or 'any'}, "
        f"require_license {p['require_license']}, allowed_licenses {p['allowed_licenses'] or 'any'}, require_source {p['require_source']}",
        *notices,
        *[f"- faces by {column} `{k}`: {v}" for column, counts in r["faces_by"].items() for k, v in counts.items()],
        f"- erasures since {e['previous'] or 'the start'}: {e['erasures']} ({e['faces']} faces, {e['videos']} whole videos)",
        *[f"  - reason `{reason}`: {n}" for reason, n in e["by_reason"].items()],
        "",
    ]
