"""``facecorpus release vX.Y``: a validated, pushed, tagged dataset version with a dataset card.

Refuses (nothing tagged, nothing pushed) when: the tag exists; the git work tree
has changes other than ``dvc.lock``; the DVC pipeline is not up to date; or a
validation report (the dataset's, under ``validate.reports_dir``, or the packed
release's, under ``pack.reports_dir``, both from params.yaml) failed an
error-level expectation. Otherwise: writes the dataset card
(``releases/<version>.md`` and ``.json``, ``pipeline/release/card.py``), pushes
the DVC-tracked data to the remote, commits ``dvc.lock`` and the card, and tags
the commit.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from pipeline.config import load_params
from pipeline.corpus.policy import PolicyOptions
from pipeline.fsutil import atomic_write_bytes
from pipeline.release.card import RELEASES_DIR, ReleasePaths, card_markdown, dataset_card

VERSION_RE = re.compile(r"^v\d+(\.\d+)*$")


class ReleaseRefused(RuntimeError):
    """The release cannot be made; the message says why. Nothing was tagged or pushed."""


def _run(repo: Path, *argv: str) -> str:
    result = subprocess.run(argv, cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise ReleaseRefused(f"`{' '.join(argv)}` failed: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def release(version: str, repo: Path, params_file: Path, remote: str | None = None) -> dict:
    """Release the DVC project at ``repo`` as ``version``; its paths come from ``params_file``."""
    repo = Path(repo).resolve()
    options = load_params(repo / params_file)
    paths = ReleasePaths.of(repo, options)
    _check_ready(version, repo, paths, options.policy)
    card = dataset_card(version, repo, paths, options)
    folder = repo / RELEASES_DIR
    atomic_write_bytes(folder / f"{version}.json", (json.dumps(card, indent=1, sort_keys=True) + "\n").encode())
    atomic_write_bytes(folder / f"{version}.md", card_markdown(card).encode())
    _run(repo, "dvc", "push", *(["-r", remote] if remote else []))
    _run(repo, "git", "add", "dvc.lock", f"{RELEASES_DIR}/{version}.json", f"{RELEASES_DIR}/{version}.md")
    _run(repo, "git", "commit", "-m", f"Release {version}")
    _run(repo, "git", "tag", "-a", version, "-m", f"facecorpus dataset {version}")
    return card


def _check_ready(version: str, repo: Path, paths: ReleasePaths, policy: PolicyOptions) -> None:
    if not VERSION_RE.match(version):
        raise ReleaseRefused(f"{version!r} is not a version like v1.0")
    if _run(repo, "git", "tag", "--list", version).strip():
        raise ReleaseRefused(f"tag {version} already exists")
    dirty = [line[3:] for line in _run(repo, "git", "status", "--porcelain").splitlines() if line[3:] != "dvc.lock"]
    if dirty:
        raise ReleaseRefused(f"the work tree has uncommitted changes: {', '.join(dirty)}")
    _check_policy(paths.release_dir, policy)
    status = json.loads(_run(repo, "dvc", "status", "--json") or "{}")
    if status:
        raise ReleaseRefused(f"the DVC pipeline is not up to date (run `dvc repro`): {', '.join(sorted(status))}")
    for path in (paths.report, paths.release_report):
        if not path.is_file():
            raise ReleaseRefused(f"no validation report at {path.relative_to(repo)}: run the validate and pack stages")
        report = json.loads(path.read_text(encoding="utf-8"))
        if not report.get("passed"):
            failed = [c["check"] for c in report.get("errors", [])]
            raise ReleaseRefused(f"validation failed: {', '.join(failed) or 'see ' + str(path)}")


def _check_policy(release_dir: Path, policy: PolicyOptions) -> None:
    """Refuse when a released face's video lacks what the policy (params.yaml ``policy``) requires."""
    import polars as pl

    from schemas.manifests import FACES_MANIFEST

    faces = release_dir / FACES_MANIFEST
    if not policy.active or not faces.is_file():
        return
    videos = pl.read_parquet(faces, columns=["uri", "license", "consent", "source"]).group_by("uri").agg(pl.len(), pl.all().first())
    broken = [(row["uri"], row["len"], policy.violation(row)) for row in videos.sort("uri").iter_rows(named=True)]
    broken = [b for b in broken if b[2] is not None]
    if broken:
        listed = "; ".join(f"{uri} ({n} faces): {why}" for uri, n, why in broken[:5])
        raise ReleaseRefused(f"{sum(b[1] for b in broken)} released faces break the policy: {listed}")
