"""``facecorpus release vX.Y``: a validated, pushed, tagged dataset version with a dataset card.

Transactional. Every check runs first and refuses with nothing written: the version
is not like ``v1`` or ``v1.0``; the tag exists; no git identity (``git var``
fails as ``git commit`` would); the git work tree has changes other than the
pipeline's own outputs (``dvc.lock``, the metrics and plots folders); the DVC
pipeline is not up to date; a validation report (the dataset's, under
``validate.reports_dir``, or the packed release's, under ``pack.reports_dir``)
failed an error-level expectation; a released face breaks the policy (``policy``); the card's ``card.intended_use`` or
``card.limitations`` is unset; no DVC remote. Then it writes the card
(``releases/<version>.md`` and ``.json``, ``pipeline/release/card.py``),
commits ``dvc.lock``, the metrics, the plots and the card, tags the commit, and
pushes the DVC-tracked data last. When any step after the checks fails, it undoes
what it did (the tag deleted, the commit and the staging reset, the card files
removed) so that the same command can be run again once the cause is fixed. The commit is
tagged twice: ``<version>`` (what people type) and ``release@v<X.Y.Z>`` (the
version as semver in GTO's form, which ``dvc artifacts get . release --rev vX.Y.Z``
and model-registry tools read for dvc.yaml's ``release`` artifact).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Options, load_params
from pipeline.corpus.policy import PolicyOptions
from pipeline.fsutil import atomic_write_bytes
from pipeline.release.card import RELEASES_DIR, ReleasePaths, card_markdown, dataset_card

VERSION_RE = re.compile(r"^v\d+(\.\d+)*$")
NOTHING_DONE = "nothing was written, committed, tagged or pushed"
ARTIFACT = "release"  # dvc.yaml artifacts: the packed release (pack.out)


def artifact_version(version: str) -> str:
    """The release's artifact version, semver as GTO wants it: v1 -> v1.0.0, v1.2 -> v1.2.0."""
    parts = version.removeprefix("v").split(".")
    if len(parts) > 3:
        raise ReleaseRefused(f"{version!r} has more than three parts; an artifact version is vMAJOR.MINOR.PATCH")
    return "v" + ".".join([*parts, "0", "0"][:3])


def artifact_tag(version: str) -> str:
    return f"{ARTIFACT}@{artifact_version(version)}"


class ReleaseRefused(RuntimeError):
    """The release cannot be made; the message says why and what was left as it was."""


@dataclass(frozen=True)
class _Step:
    """What a release did so far, so that a failure can undo it."""

    head: str
    card_files: tuple[Path, ...]


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
    try:
        _check_ready(version, repo, paths, options, remote)
    except ReleaseRefused as exc:
        raise ReleaseRefused(f"{exc}; {NOTHING_DONE}") from None
    head = _run(repo, "git", "rev-parse", "HEAD").strip()
    card = dataset_card(version, repo, paths, options, head)
    folder = repo / RELEASES_DIR
    files = (folder / f"{version}.json", folder / f"{version}.md")
    step = _Step(head, files)
    try:
        atomic_write_bytes(files[0], (json.dumps(card, indent=1, sort_keys=True) + "\n").encode())
        atomic_write_bytes(files[1], card_markdown(card).encode())
        _run(repo, "git", "add", "--", "dvc.lock", *_output_paths(repo, options), *(f.relative_to(repo).as_posix() for f in files))
        _run(repo, "git", "commit", "-q", "-m", f"Release {version}")
        _run(repo, "git", "tag", "-a", version, "-m", f"facecorpus dataset {version}")
        _run(repo, "git", "tag", "-a", artifact_tag(version), "-m", f"facecorpus dataset {version} (the {ARTIFACT} artifact)")
        _run(repo, "dvc", "push", *(["-r", remote] if remote else []))
    except (ReleaseRefused, OSError) as exc:
        _undo(repo, version, step)
        raise ReleaseRefused(
            f"{exc}; undone: no tag, no commit, the card removed (DVC objects already copied to the remote, "
            "if any, are content-addressed and unreferenced); fix the cause and run the same command again"
        ) from None
    return card


def _undo(repo: Path, version: str, step: _Step) -> None:
    """Back to the state before the release: tag deleted, HEAD and index reset, card files removed."""
    subprocess.run(["git", "tag", "-d", version, artifact_tag(version)], cwd=repo, capture_output=True)
    subprocess.run(["git", "reset", "-q", "--mixed", step.head], cwd=repo, capture_output=True)
    for path in step.card_files:
        path.unlink(missing_ok=True)


def _output_paths(repo: Path, options: Options) -> list[str]:
    """The pipeline's outputs that git tracks and a release commits: the metrics and plots folders."""
    return [d for d in (options.dvc.metrics_dir, options.dvc.plots_dir) if d and (repo / d).exists()]


def _dirty(repo: Path, options: Options) -> list[str]:
    """Changed or untracked paths other than dvc.lock and the metrics and plots the stages wrote."""
    outputs = tuple(f"{d.rstrip('/')}/" for d in _output_paths(repo, options))
    lines = _run(repo, "git", "status", "--porcelain", "--untracked-files=all").splitlines()
    paths = [line[3:].strip('"') for line in lines]
    return [p for p in paths if p != "dvc.lock" and not p.startswith(outputs)]


def _check_ready(version: str, repo: Path, paths: ReleasePaths, options: Options, remote: str | None) -> None:
    if not VERSION_RE.match(version):
        raise ReleaseRefused(f"{version!r} is not a version like v1 or v1.0")
    for tag in (version, artifact_tag(version)):
        if _run(repo, "git", "tag", "--list", tag).strip():
            raise ReleaseRefused(f"tag {tag} already exists")
    _check_identity(repo)
    dirty = _dirty(repo, options)
    if dirty:
        raise ReleaseRefused(f"the work tree has uncommitted changes: {', '.join(dirty)} (commit them or stash them)")
    _check_policy(paths.release_dir, options.policy)
    _check_card_fields(options)
    _check_remote(repo, remote)
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


def _check_identity(repo: Path) -> None:
    for who in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
        if subprocess.run(["git", "var", who], cwd=repo, capture_output=True).returncode != 0:
            raise ReleaseRefused(
                "git has no identity to commit the release with: run `git config --global user.name 'Your Name'` "
                "and `git config --global user.email you@example.com` (or without --global, for this repository)"
            )


def _check_card_fields(options: Options) -> None:
    for key in ("intended_use", "limitations"):
        if not (getattr(options.card, key) or "").strip():
            raise ReleaseRefused(f"card.{key} is not set in the params file: the dataset card states it, it is never invented")


def _check_remote(repo: Path, remote: str | None) -> None:
    if remote:
        names = [line.split()[0] for line in _run(repo, "dvc", "remote", "list").splitlines() if line.strip()]
        if remote not in names:
            raise ReleaseRefused(f"no DVC remote named {remote!r} (remotes: {', '.join(names) or 'none'})")
    elif not subprocess.run(["dvc", "remote", "default"], cwd=repo, capture_output=True, text=True).stdout.strip():
        raise ReleaseRefused("the project has no default DVC remote: `dvc remote add -d NAME URL`, or pass --remote")


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
