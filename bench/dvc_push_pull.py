"""dvc push / pull time: the packed release (tar shards) versus the same crops as loose files.

    .venv/bin/python bench/dvc_push_pull.py [--fixtures ../shared/fixtures] [--faces 5000]

Extracts the fixtures once, then grows the dataset to ``--faces`` distinct crops
(each a real crop with one pixel changed, so every file is unique), packs it,
and times, in the same run, ``dvc add`` + ``dvc push`` and a cold ``dvc pull``
(empty cache and workspace) for two git+DVC repos with local remotes: one
tracking the packed release folder, one tracking the loose crops folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import polars as pl

from pipeline.config import ExtractOptions
from pipeline.fsutil import atomic_write_bytes, sha256_bytes
from pipeline.release.pack import pack_dataset
from pipeline.runs.extract import run_extract
from schemas.manifests import FACES_MANIFEST

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.corpus import FIXTURES, fixture_corpus  # noqa: E402


def sh(cwd: Path, *argv: str) -> float:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def grow(dataset: Path, target_faces: int) -> None:
    """Append copies of the real faces, each crop with one pixel changed, up to ``target_faces`` rows."""
    faces = pl.read_parquet(dataset / FACES_MANIFEST)
    rows, base = faces.to_dicts(), faces.to_dicts()
    n = 0
    while len(rows) < target_faces:
        row = dict(base[n % len(base)])
        image = cv2.imread(str(dataset / row["crop_path"]))
        image[0, 0] = [(n // 65536) % 256, (n // 256) % 256, n % 256]
        data = cv2.imencode(".png", image)[1].tobytes()
        sha = sha256_bytes(data)
        row.update(face_id=f"{row['face_id'][:24]}{n:08x}", crop_sha256=sha, crop_path=f"crops/{sha[:2]}/{sha}.png")
        atomic_write_bytes(dataset / row["crop_path"], data)
        rows.append(row)
        n += 1
    pl.DataFrame(rows, schema=faces.schema).write_parquet(dataset / FACES_MANIFEST)


def push_pull(work: Path, name: str, folder: Path) -> tuple[int, float, float]:
    repo, remote = work / f"repo_{name}", work / f"remote_{name}"
    repo.mkdir()
    shutil.copytree(folder, repo / "data")
    sh(repo, "git", "init", "-q")
    sh(repo, "dvc", "init", "-q")
    sh(repo, "dvc", "remote", "add", "-d", "store", str(remote))
    files = sum(1 for p in (repo / "data").rglob("*") if p.is_file())
    push_s = sh(repo, "dvc", "add", "-q", "data") + sh(repo, "dvc", "push", "-q")
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc" / "cache")
    pull_s = sh(repo, "dvc", "pull", "-q")
    return files, push_s, pull_s


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--faces", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = fixture_corpus(args.fixtures, work / "corpus")
        dataset = work / "dataset"
        run_extract(ExtractOptions(corpus=str(corpus), out=str(dataset)))
        grow(dataset, args.faces)
        release = work / "release"
        pack_dataset(dataset, release)
        loose = work / "loose"
        shutil.copytree(dataset / "crops", loose / "crops")
        shutil.copy(dataset / FACES_MANIFEST, loose / FACES_MANIFEST)
        print(f"{'layout':<8}{'files':>8}{'MB':>8}{'add+push s':>12}{'pull s':>9}")
        results = {}
        for name, folder in (("packed", release), ("loose", loose)):
            size_mb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6
            files, push_s, pull_s = push_pull(work, name, folder)
            results[name] = (push_s, pull_s)
            print(f"{name:<8}{files:>8}{size_mb:>8.1f}{push_s:>12.2f}{pull_s:>9.2f}")
        print(
            f"loose/packed: push {results['loose'][0] / results['packed'][0]:.1f}x, pull {results['loose'][1] / results['packed'][1]:.1f}x"
        )


if __name__ == "__main__":
    main()
