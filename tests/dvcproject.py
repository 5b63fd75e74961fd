"""A real git + DVC project in a temp folder, built from this repo's dvc.yaml and params.yaml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "facecorpus test",
    "GIT_AUTHOR_EMAIL": "test@facecorpus.invalid",
    "GIT_COMMITTER_NAME": "facecorpus test",
    "GIT_COMMITTER_EMAIL": "test@facecorpus.invalid",
}


def sh(cwd: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, **GIT_ENV, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{argv} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def make_project(root: Path, remote: Path, params_update: dict | None = None) -> Path:
    """Copy the pipeline's DVC definition and code into ``root``; git + dvc init; a local remote."""
    root.mkdir(parents=True)
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    (root / "data").mkdir()
    shutil.copy(REPO / "data" / ".gitignore", root / "data" / ".gitignore")
    (root / "models").mkdir()
    shutil.copy(REPO / "models" / ".gitignore", root / "models" / ".gitignore")
    for name in ("pipeline", "schemas"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "uncommitted"))
    if params_update:
        update_params(root, params_update)
    sh(root, "git", "init", "-q")
    sh(root, "dvc", "init", "-q")
    sh(root, "dvc", "config", "core.analytics", "false")
    sh(root, "dvc", "remote", "add", "-d", "store", str(remote))
    return root


def update_params(root: Path, update: dict) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    for section, values in update.items():
        params.setdefault(section, {}).update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def commit_all(root: Path, message: str) -> None:
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", message)
