"""``facecorpus release vX.Y``: a validated, pushed, tagged dataset version with a dataset card.

Refuses (nothing tagged, nothing pushed) when: the tag exists; the git work tree
has changes other than ``dvc.lock``; the DVC pipeline is not up to date; or a
validation report (the dataset's, ``data/reports/validation.json``, or the packed
release's, ``data/reports_release/validation.json``) failed an error-level
expectation. Otherwise: writes the dataset card (``releases/<version>.md`` and
``.json``), pushes the DVC-tracked data to the remote, commits ``dvc.lock`` and
the card, and tags the commit.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import polars as pl
import yaml

from pipeline.fsutil import atomic_write_bytes

RELEASES_DIR = "releases"
RELEASE_DIR = Path("data/release")
REPORT = Path("data/reports/validation.json")
RELEASE_REPORT = Path("data/reports_release/validation.json")
VERSION_RE = re.compile(r"^v\d+(\.\d+)*$")


class ReleaseRefused(RuntimeError):
    """The release cannot be made; the message says why. Nothing was tagged or pushed."""


def _run(repo: Path, *argv: str) -> str:
    result = subprocess.run(argv, cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise ReleaseRefused(f"`{' '.join(argv)}` failed: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def release(version: str, repo: Path = Path("."), remote: str | None = None, params_file: Path = Path("params.yaml")) -> dict:
    repo = Path(repo).resolve()
    _check_ready(version, repo)
    card = dataset_card(version, repo, params_file)
    stem = repo / RELEASES_DIR / version
    atomic_write_bytes(stem.with_suffix(".json"), (json.dumps(card, indent=1, sort_keys=True) + "\n").encode())
    atomic_write_bytes(stem.with_suffix(".md"), card_markdown(card).encode())
    _run(repo, "dvc", "push", *(["-r", remote] if remote else []))
    _run(repo, "git", "add", "dvc.lock", f"{RELEASES_DIR}/{version}.json", f"{RELEASES_DIR}/{version}.md")
    _run(repo, "git", "commit", "-m", f"Release {version}")
    _run(repo, "git", "tag", "-a", version, "-m", f"facecorpus dataset {version}")
    return card


def _check_ready(version: str, repo: Path) -> None:
    if not VERSION_RE.match(version):
        raise ReleaseRefused(f"{version!r} is not a version like v1.0")
    if _run(repo, "git", "tag", "--list", version).strip():
        raise ReleaseRefused(f"tag {version} already exists")
    dirty = [line[3:] for line in _run(repo, "git", "status", "--porcelain").splitlines() if line[3:] != "dvc.lock"]
    if dirty:
        raise ReleaseRefused(f"the work tree has uncommitted changes: {', '.join(dirty)}")
    status = json.loads(_run(repo, "dvc", "status", "--json") or "{}")
    if status:
        raise ReleaseRefused(f"the DVC pipeline is not up to date (run `dvc repro`): {', '.join(sorted(status))}")
    for path in (REPORT, RELEASE_REPORT):
        if not (repo / path).is_file():
            raise ReleaseRefused(f"no validation report at {path}: run the validate and pack stages")
        report = json.loads((repo / path).read_text(encoding="utf-8"))
        if not report.get("passed"):
            failed = [c["check"] for c in report.get("errors", [])]
            raise ReleaseRefused(f"validation failed: {', '.join(failed) or 'see ' + str(path)}")


def dataset_card(version: str, repo: Path, params_file: Path) -> dict:
    release_dir = repo / RELEASE_DIR
    faces = pl.read_parquet(release_dir / "faces.parquet")
    videos = pl.read_parquet(release_dir / "videos.parquet")
    shards = pl.read_parquet(release_dir / "shard_index.parquet")
    report = json.loads((repo / REPORT).read_text(encoding="utf-8"))
    params = yaml.safe_load((repo / params_file).read_text(encoding="utf-8"))
    ok = videos.filter(pl.col("status") == "ok")
    card = {
        "version": version,
        "counts": {"videos": videos.height, "videos_ok": ok.height, "videos_failed": videos.height - ok.height,
                   "faces": faces.height, "shards": shards.height, "shard_bytes": int(shards["size_bytes"].sum() or 0)},
        "sources": _value_counts(videos, "source"),
        "licenses": _value_counts(videos, "license"),
        "consent": _value_counts(videos, "consent"),
        "labels": _value_counts(faces, "label"),
        "parameters": params,
        "detectors": sorted(faces["detector_version"].unique().to_list()) or sorted(ok["detector_version"].unique().to_list()),
        "presets": sorted(faces["preset"].unique().to_list()),
        "shards_sha256": dict(shards.select("shard", "sha256").rows()),
        "validation": {
            "passed": report.get("passed"),
            "errors": [c["check"] for c in report.get("errors", [])],
            "warnings": [c["check"] for c in report.get("warnings", [])],
            "suites": {name: s["rows"] for name, s in report.get("suites", {}).items()},
            "data_docs": f"{REPORT.parent.as_posix()}/{report['data_docs']}" if report.get("data_docs") else None,
        },
        "video_ids": sorted(videos["video_id"].to_list()),
    }
    card["changes"] = _changes(repo, card)
    return card


def _value_counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    counts = frame.group_by(column).len().sort(column, nulls_last=True).rows()
    return {("(none)" if value is None else str(value)): int(n) for value, n in counts}


def _changes(repo: Path, card: dict) -> dict:
    previous = sorted((repo / RELEASES_DIR).glob("*.json"), key=lambda p: [int(x) for x in p.stem[1:].split(".")])
    previous = [p for p in previous if p.stem != card["version"]]
    if not previous:
        return {"previous": None}
    old = json.loads(previous[-1].read_text(encoding="utf-8"))
    before, after = set(old["video_ids"]), set(card["video_ids"])
    changed_params = sorted(k for k in set(old["parameters"]) | set(card["parameters"]) if old["parameters"].get(k) != card["parameters"].get(k))
    return {
        "previous": old["version"],
        "videos_added": len(after - before),
        "videos_removed": len(before - after),
        "faces_delta": card["counts"]["faces"] - old["counts"]["faces"],
        "parameter_sections_changed": changed_params,
        "detectors_changed": old["detectors"] != card["detectors"],
    }


def card_markdown(card: dict) -> str:
    c, ch = card["counts"], card["changes"]
    lines = [
        f"# facecorpus dataset {card['version']}", "",
        f"{c['faces']} faces from {c['videos_ok']} videos ({c['videos_failed']} inputs failed), in {c['shards']} shards ({c['shard_bytes']} bytes).", "",
        "## Sources, licences, consent", "",
        *[f"- source `{k}`: {v} videos" for k, v in card["sources"].items()],
        *[f"- licence `{k}`: {v} videos" for k, v in card["licenses"].items()],
        *[f"- consent `{k}`: {v} videos" for k, v in card["consent"].items()], "",
        "## Models and parameters", "",
        *[f"- detector `{d}`" for d in card["detectors"]],
        *[f"- preset `{p}`" for p in card["presets"]],
        "", "```yaml", yaml.safe_dump(card["parameters"], sort_keys=True).strip(), "```", "",
        "## Validation", "",
        f"- passed: {card['validation']['passed']} (warnings: {', '.join(card['validation']['warnings']) or 'none'})",
        f"- suites: {', '.join(f'{k} ({v} rows)' for k, v in card['validation']['suites'].items())}",
        f"- Data Docs: [{card['validation']['data_docs']}](../{card['validation']['data_docs']})", "",
        "## Changes since the previous release", "",
    ]
    if ch["previous"] is None:
        lines.append("- first release")
    else:
        lines += [f"- previous: {ch['previous']}", f"- videos added: {ch['videos_added']}, removed: {ch['videos_removed']}",
                  f"- faces: {ch['faces_delta']:+d}", f"- parameter sections changed: {', '.join(ch['parameter_sections_changed']) or 'none'}",
                  f"- detector changed: {ch['detectors_changed']}"]
    return "\n".join(lines) + "\n"
