"""dvc.yaml runs the same CLI on params.yaml: a real git repo, a real DVC project, real runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import yaml

REPO = Path(__file__).resolve().parents[1]


def sh(cwd: Path, *argv: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{argv}: {result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_dvc_repro_runs_the_stages_and_reruns_only_what_a_parameter_touches(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(REPO / name, project / name)
    for name in ("pipeline", "schemas"):
        shutil.copytree(REPO / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    sh(project, "git", "init", "-q")
    sh(project, "dvc", "init", "-q")

    first = sh(project, "dvc", "repro")
    assert "Running stage 'sample_corpus'" in first and "Running stage 'extract'" in first
    faces = pl.read_parquet(project / "data" / "dataset" / "faces.parquet")
    assert faces.height > 20 and faces["preset"].unique().to_list() == ["arcface:112:margin=0"]
    assert "up to date" in sh(project, "dvc", "repro")

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["extract"].update(preset="ffhq", size=256)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    second = sh(project, "dvc", "repro")
    assert "Stage 'sample_corpus' didn't change" in second and "Running stage 'extract'" in second
    faces = pl.read_parquet(project / "data" / "dataset" / "faces.parquet")
    assert faces["preset"].unique().to_list() == ["ffhq:256:margin=0"]
